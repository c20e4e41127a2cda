// access_log_timer.hpp: the loop timer that writes buffered access-log lines
// (http/access_log.hpp, --access-log-flush) while the server is idle.
//
//   flush_access_logs_on_timer(loop);  // once, before loop.run()
//
// The timer calls AccessLog::flush_due(), which writes every log whose oldest
// line has waited its flush interval, and re-arms itself for the moment the
// next one is due (a second at most: a reload may open a log). A
// busy server flushes from write() as well; this timer covers the last lines
// before a quiet spell. Who may call: the loop's thread. Stages 4 and 5.
#pragma once

#include "event_loop.hpp"
#include "serverlab/http/access_log.hpp"

namespace serverlab {

inline void flush_access_logs_on_timer(EventLoop& loop) {
  const int wait_ms = http::AccessLog::flush_due(http::AccessLog::kMaxFlushWaitMs);
  loop.run_after(static_cast<std::uint64_t>(wait_ms) + 1,
                 [&loop] { flush_access_logs_on_timer(loop); });
}

}  // namespace serverlab
