#include "serverlab/flags.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "serverlab/log.hpp"

namespace serverlab {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

Flags::Flags(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {
  Flag help;
  help.name = "help";
  help.help = "print this help and exit";
  help.is_bool = true;
  help.set = [this](std::string_view) -> std::optional<std::string> {
    help_ = true;
    return std::nullopt;
  };
  define(std::move(help));
  Flag config;
  config.name = "config";
  config.value_name = "FILE";
  config.help = "read 'name = value' lines from FILE (command-line flags win)";
  config.set = [this](std::string_view path) { return load_config(std::string(path)); };
  define(std::move(config));
}

void Flags::define(Flag flag) {
  flag.section = section_;
  index_[flag.name] = flags_.size();
  flags_.push_back(std::move(flag));
}

void Flags::add(std::string name, std::string& target, std::string help) {
  define({std::move(name), "TEXT", std::move(help), target.empty() ? "" : target, false,
          [&target](std::string_view v) -> std::optional<std::string> {
            target = std::string(v);
            return std::nullopt;
          }});
}

void Flags::add(std::string name, bool& target, std::string help) {
  define({std::move(name), "", std::move(help), target ? "on" : "", true,
          [&target](std::string_view v) -> std::optional<std::string> {
            if (v == "true" || v == "on" || v == "1" || v == "yes") target = true;
            else if (v == "false" || v == "off" || v == "0" || v == "no") target = false;
            else return "expects true or false";
            return std::nullopt;
          }});
}

void Flags::add(std::string name, int& target, std::string help, int min, int max) {
  define({std::move(name), "N", std::move(help), std::to_string(target), false,
          [&target, min, max](std::string_view v) -> std::optional<std::string> {
            auto n = parse_integer<int>(v);
            if (!n) return "expects a whole number";
            if (*n < min || *n > max) return fmt::format("must be between {} and {}", min, max);
            target = *n;
            return std::nullopt;
          }});
}

void Flags::add(std::string name, std::uint16_t& target, std::string help) {
  define({std::move(name), "PORT", std::move(help), std::to_string(target), false,
          [&target](std::string_view v) -> std::optional<std::string> {
            auto n = parse_integer<unsigned>(v);
            if (!n || *n > 65535) return "expects a port number from 0 to 65535";
            target = static_cast<std::uint16_t>(*n);
            return std::nullopt;
          }});
}

void Flags::add_size(std::string name, std::uint64_t& target, std::string help) {
  define({std::move(name), "BYTES", std::move(help), std::to_string(target), false,
          [&target](std::string_view v) -> std::optional<std::string> {
            auto n = parse_size(v);
            if (!n) return "expects a byte count such as 4096, 64K or 1M";
            target = *n;
            return std::nullopt;
          }});
}

void Flags::add_seconds(std::string name, double& target, std::string help) {
  define({std::move(name), "SEC", std::move(help), fmt::format("{}", target), false,
          [&target](std::string_view v) -> std::optional<std::string> {
            auto s = parse_seconds(v);
            if (!s) return "expects seconds, such as 5 or 0.5";
            target = *s;
            return std::nullopt;
          }});
}

void Flags::add_choice(std::string name, std::string& target, std::vector<std::string> choices,
                       std::string help) {
  std::string value_name = fmt::format("{}", fmt::join(choices, "|"));
  define({std::move(name), value_name, std::move(help), target, false,
          [&target, choices](std::string_view v) -> std::optional<std::string> {
            if (std::find(choices.begin(), choices.end(), v) == choices.end())
              return fmt::format("expects one of: {}", fmt::join(choices, ", "));
            target = std::string(v);
            return std::nullopt;
          }});
}

void Flags::add_check(std::function<std::optional<std::string>()> check) {
  checks_.push_back(std::move(check));
}

std::optional<std::uint64_t> Flags::parse_size(std::string_view text) {
  std::uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': case 'k': scale = 1ull << 10; break;
      case 'M': case 'm': scale = 1ull << 20; break;
      case 'G': case 'g': scale = 1ull << 30; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  auto n = parse_integer<std::uint64_t>(text);
  if (!n || *n > UINT64_MAX / scale) return std::nullopt;
  return *n * scale;
}

std::optional<double> Flags::parse_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !(value >= 0) || value > 1e9) return std::nullopt;
  return value;
}

std::optional<std::string> Flags::apply(const std::string& name,
                                        std::optional<std::string_view> value, bool from_file) {
  auto it = index_.find(name);
  if (it == index_.end()) return fmt::format("unknown flag --{}", name);
  Flag& flag = flags_[it->second];
  if (from_file && (flag.name == "config" || flag.name == "help"))
    return fmt::format("--{} cannot be set in a config file", name);
  if (!value) {
    if (!flag.is_bool) return fmt::format("--{} needs a value ({})", name, flag.value_name);
    value = "true";
  }
  if (auto err = flag.set(*value)) return fmt::format("--{} {}: {}", name, *value, *err);
  set_.push_back(name);
  return std::nullopt;
}

std::optional<std::string> Flags::load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fmt::format("cannot read config file '{}'", path);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string_view line = trim(raw);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = trim(line.substr(0, hash));
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return fmt::format("{}:{}: expected 'name = value'", path, line_no);
    std::string name(trim(line.substr(0, eq)));
    if (name.starts_with("--")) name.erase(0, 2);
    if (auto err = apply(name, trim(line.substr(eq + 1)), true))
      return fmt::format("{}:{}: {}", path, line_no, *err);
  }
  return std::nullopt;
}

std::optional<std::string> Flags::parse(int argc, const char* const* argv) {
  // The config file is read first, wherever --config stands, so flags win.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      if (auto err = apply("config", argv[i + 1], false)) return err;
    } else if (arg.starts_with("--config=")) {
      if (auto err = apply("config", arg.substr(9), false)) return err;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--") || arg.size() == 2)
      return fmt::format("unexpected argument '{}'", arg);
    arg.remove_prefix(2);
    std::string name;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = arg.substr(eq + 1);
    } else {
      name = std::string(arg);
      auto it = index_.find(name);
      bool is_bool = it != index_.end() && flags_[it->second].is_bool;
      if (!is_bool && i + 1 < argc) value = argv[++i];
    }
    if (name == "config") {  // already applied above
      if (!value) return std::string("--config needs a value (FILE)");
      continue;
    }
    if (auto err = apply(name, value, false)) return err;
  }
  if (help_) return std::nullopt;  // --help with a bad --root still prints the help
  for (const auto& check : checks_) {
    if (auto err = check()) return err;
  }
  return std::nullopt;
}

void Flags::parse_or_exit(int argc, const char* const* argv) {
  auto err = parse(argc, argv);
  if (help_) {
    std::fputs(usage().c_str(), stdout);
    std::exit(0);
  }
  if (err) {
    std::fprintf(stderr, "%s: %s\n\n%s", program_.c_str(), err->c_str(), usage().c_str());
    std::exit(2);
  }
}

std::string Flags::usage() const {
  std::string out = fmt::format("Usage: {} [flags]\n{}\n\nFlags:\n", program_, summary_);
  for (const Flag& f : flags_) {
    std::string left = "  --" + f.name + (f.value_name.empty() ? "" : " " + f.value_name);
    std::string right = f.help;
    if (!f.default_text.empty()) right += fmt::format(" (default: {})", f.default_text);
    if (left.size() < 30) out += fmt::format("{:<30}{}\n", left, right);
    else out += fmt::format("{}\n{:<30}{}\n", left, "", right);
  }
  return out;
}

bool Flags::was_set(const std::string& name) const {
  return std::find(set_.begin(), set_.end(), name) != set_.end();
}

void add_server_flags(Flags& flags, ServerOptions& options, std::uint16_t default_port) {
  options.port = default_port;
  flags.add("port", options.port, "TCP port to listen on (0: any free port)");
  flags.add("bind", options.bind, "address to listen on (0.0.0.0 or :: for every interface)");
  flags.add_choice("log-level", options.log_level, {"debug", "info", "warn", "error", "off"},
                   "least severe log level written to stderr");
  flags.add_choice("log-format", options.log_format, {"text", "json"},
                   "error-log format: text lines or JSON lines");
  flags.add_seconds("shutdown-timeout", options.shutdown_timeout,
                    "on SIGINT/SIGTERM, how long in-flight work may take before it is cut off");
}

std::optional<std::string> directory_problem(const std::string& path) {
  if (path.empty()) return std::string("the value is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::string("no such directory");
    return fmt::format("cannot be read ({})", std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return std::string("not a directory");
  if (::access(path.c_str(), R_OK | X_OK) != 0)
    return fmt::format("cannot be read ({})", std::strerror(errno));
  return std::nullopt;
}

void configure_logging(const ServerOptions& options) {
  log::configure(log::parse_level(options.log_level).value_or(log::Level::Info),
                 log::parse_format(options.log_format).value_or(log::Format::Text));
}

}  // namespace serverlab
