// reload.hpp: what every server needs to re-read its configuration on SIGHUP
// without dropping a request (docs/CONFIG.md, "Reload").
//
//   ConfigLoader<Settings>  defines a program's flags over a fresh Settings and parses
//                           the program's argv: once at start (exit 2 on an error), and
//                           again on each SIGHUP (the error is returned, nothing exits).
//                           A reload therefore sees exactly what a restart would: the
//                           file as it is now, then the environment, then the command line.
//   restart_change          names the first setting that differs and cannot change
//                           without a new listening socket (--port, --bind, ...): such a
//                           reload is refused as a whole, never half-applied.
//   Snapshot<T>             the current shared_ptr<const T> (an HttpService): a connection
//                           takes one when it starts and keeps it to its end, the reloader
//                           swaps in the next one; the old one is freed by the last
//                           connection that holds it.
//
//   ConfigLoader<http::HttpConfig> loader("http-seq", "...", define_flags, argc, argv);
//   http::HttpConfig config = loader.load_or_exit();
//   ...SIGHUP:
//   if (auto next = reload_settings(loader, config, needs_restart)) { config = *next; ... }
//
//   apply_reload            the whole sequence a control signal runs in stages 2-4:
//                           SIGHUP loads and checks the settings (reload_settings),
//                           SIGUSR1 takes the running ones again; then the caller's
//                           `apply` builds and swaps in what serves with them (a new
//                           HttpService); then logging is reconfigured and one line
//                           says what happened.
//
// Who may call: ConfigLoader and reload_settings from the one thread that handles
// signals (they log; they never exit after start-up); Snapshot::get from any thread.
#pragma once

#include <fmt/format.h>

#include <csignal>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "serverlab/flags.hpp"
#include "serverlab/log.hpp"

namespace serverlab {

template <typename Settings>
class ConfigLoader {
 public:
  // `define` registers the program's flags over a Settings it is given (and may set
  // defaults first). argv must outlive the loader (main's argv does).
  using Define = std::function<void(Flags&, Settings&)>;
  ConfigLoader(std::string program, std::string summary, Define define, int argc,
               const char* const* argv)
      : program_(std::move(program)),
        summary_(std::move(summary)),
        define_(std::move(define)),
        argc_(argc),
        argv_(argv) {}

  // Start-up: --help, --check-config and errors exit here (Flags::parse_or_exit).
  Settings load_or_exit() {
    Settings settings{};
    Flags flags(program_, summary_);
    define_(flags, settings);
    flags.parse_or_exit(argc_, argv_);
    file_ = flags.config_path();
    return settings;
  }

  // SIGHUP: the settings as they would be at a restart now, or the reason they are
  // not valid (the same one-line error a start would print, with file:line:column).
  std::pair<std::optional<Settings>, std::string> load() const {
    std::optional<Settings> settings(std::in_place);
    Flags flags(program_, summary_);
    define_(flags, *settings);
    if (auto err = flags.parse(argc_, argv_)) return {std::nullopt, *err};
    return {std::move(settings), ""};
  }

  // The config file read at start ("" when none).
  const std::string& file() const { return file_; }

 private:
  std::string program_;
  std::string summary_;
  Define define_;
  int argc_;
  const char* const* argv_;
  std::string file_;
};

// "--port 8080 -> 9090" when the two values differ, else nullopt: a helper for the
// needs-restart checks.
template <typename T>
std::optional<std::string> changed(std::string_view flag, const T& before, const T& after) {
  if (before == after) return std::nullopt;
  return fmt::format("--{} {} -> {}", flag, before, after);
}

// The listener settings every server shares (--port, --bind): the first that differs.
std::optional<std::string> listener_change(const ServerOptions& before, const ServerOptions& after);

// One SIGHUP: loads the settings again and decides. Returns the new settings, or
// nullopt when the running ones stay (the file is invalid, or `needs_restart` names a
// change this process cannot apply); either way one log line says what happened.
template <typename Settings, typename NeedsRestart>
std::optional<Settings> reload_settings(const ConfigLoader<Settings>& loader,
                                        const Settings& running, NeedsRestart needs_restart) {
  auto [next, error] = loader.load();
  if (!next) {
    log::error("SIGHUP: configuration not reloaded, the running one keeps serving: {}", error);
    return std::nullopt;
  }
  if (std::optional<std::string> change = needs_restart(running, *next)) {
    log::error(
        "SIGHUP: configuration not reloaded, the running one keeps serving: {} cannot "
        "change while the server runs (restart the server to change it)",
        *change);
    return std::nullopt;
  }
  return next;
}

// One SIGHUP or SIGUSR1, start to end:
//   SIGHUP   the settings as a restart would read them (reload_settings: an invalid
//            file or a change that `needs_restart` names is logged and refused);
//   SIGUSR1  the running settings again (the new service reopens the log files);
// then `apply(next)` builds what serves with them and swaps it in; if it throws,
// nothing has changed and the reason is logged. Otherwise `running` becomes the new
// settings, logging is configured from `server_of(running)` and a line says who
// gets them (`audience`: "new connections get it"). Returns true when applied.
// Other signals are ignored (false). The signal-handling thread only.
template <typename Settings, typename NeedsRestart, typename Apply, typename ServerOf>
bool apply_reload(int signo, const ConfigLoader<Settings>& loader, Settings& running,
                  NeedsRestart needs_restart, Apply apply, ServerOf server_of,
                  std::string_view audience) {
  if (signo != SIGHUP && signo != SIGUSR1) return false;
  const char* name = signo == SIGHUP ? "SIGHUP" : "SIGUSR1";
  Settings next = running;
  if (signo == SIGHUP) {
    std::optional<Settings> loaded = reload_settings(loader, running, needs_restart);
    if (!loaded) return false;
    next = std::move(*loaded);
  }
  try {
    apply(static_cast<const Settings&>(next));
  } catch (const std::exception& e) {
    log::error("{}: not applied, the running configuration keeps serving: {}", name, e.what());
    return false;
  }
  running = std::move(next);
  configure_logging(server_of(running));
  if (signo == SIGHUP) {
    log::info("SIGHUP: configuration reloaded; {}", audience);
  } else {
    log::info("SIGUSR1: log files reopened");
  }
  return true;
}

// The current value of something that is replaced as a whole (an HttpService).
// Thread-safe: get() and set() may be called from any thread at once; a value is
// destroyed by whoever drops the last shared_ptr to it (set() does not wait).
template <typename T>
class Snapshot {
 public:
  explicit Snapshot(std::shared_ptr<const T> first) : current_(std::move(first)) {}
  std::shared_ptr<const T> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const T> next) {
    {
      std::lock_guard lock(mutex_);
      current_.swap(next);
    }
    // `next` now holds the old value: released here, outside the lock.
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
};

}  // namespace serverlab
