// The non-template parts of WorkerPool: thread naming and failure logging.
#include "thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <exception>

#include "serverlab/log.hpp"

namespace serverlab::detail {

void name_this_thread(const std::string& prefix, std::size_t id) noexcept {
  try {
    // Linux limits thread names to 15 bytes plus the NUL.
    std::string name = prefix + std::to_string(id);
    name.resize(std::min<std::size_t>(name.size(), 15));
    ::pthread_setname_np(::pthread_self(), name.c_str());
  } catch (...) {
    // A thread without a name still works.
  }
}

void log_handler_failure(std::size_t worker, std::exception_ptr failure) noexcept {
  try {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::event(log::Level::Error, "worker handler failed", {{"worker", worker}, {"error", what}});
  } catch (...) {
    // Logging itself failed (out of memory): nothing better to do.
  }
}

}  // namespace serverlab::detail
