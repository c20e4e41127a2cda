// http/date.hpp: HTTP dates (IMF-fixdate, RFC 9110 5.6.7) and a per-thread clock string.
//
//   "Sun, 06 Nov 1994 08:49:37 GMT"      (always 29 bytes, always GMT)
//
// Why: every response carries a Date header, and formatting it with strftime
// per request is measurable at stage 4's request rates. current_http_date()
// keeps one formatted string per thread and rebuilds it only when the second
// changes, so a request costs one clock read (vDSO, no syscall) and no allocation.
//
// Who may call: any thread. current_http_date() and current_clf_date() return
// views into thread_local storage: valid on the calling thread until its next
// call in a later second. Nothing here blocks; nothing is async-signal-safe.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace serverlab::http {

inline constexpr std::size_t kHttpDateLength = 29;

// Writes the IMF-fixdate of `t` into out[0..29) (no terminator). Returns 29.
std::size_t format_http_date(std::time_t t, char* out);
std::string http_date(std::time_t t);

// Parses the three formats RFC 9110 requires a recipient to accept: IMF-fixdate,
// the obsolete RFC 850 form ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
// ("Sun Nov  6 08:49:37 1994"). nullopt on anything else.
std::optional<std::time_t> parse_http_date(std::string_view text);

// The current time as an IMF-fixdate, refreshed once a second per thread.
std::string_view current_http_date();
// The current time as an access-log date, "10/Oct/2000:13:55:36 +0000" (UTC).
std::string_view current_clf_date();

}  // namespace serverlab::http
