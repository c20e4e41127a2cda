// flags.cpp: the command line, the environment and the TOML config file, into the
// values each program registered (flags.hpp says what and in which order). The file
// is parsed by toml++; this file maps its tables and keys onto the flags, checks
// each value's TOML type against the flag's kind, and says where a problem is.
#include "serverlab/flags.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "serverlab/log.hpp"

namespace serverlab {
namespace {

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
  help.set = [this](std::string_view v) -> std::optional<std::string> {
    help_ = v != "false";
    return std::nullopt;
  };
  define(std::move(help), Kind::Builtin);
  Flag config;
  config.name = "config";
  config.value_name = "FILE";
  config.help = "read settings from this TOML file (docs/CONFIG.md); environment and flags win";
  config.set = [this](std::string_view path) { return load_config(std::string(path)); };
  define(std::move(config), Kind::Builtin);
  Flag check;
  check.name = "check-config";
  check.help = "check the flags, environment and --config file, print the verdict, exit 0 or 2";
  check.is_bool = true;
  check.set = [this](std::string_view v) -> std::optional<std::string> {
    check_config_ = v != "false";
    return std::nullopt;
  };
  define(std::move(check), Kind::Builtin);
}

void Flags::define(Flag flag, Kind kind) {
  flag.section = section_;
  flag.kind = kind;
  index_[flag.name] = flags_.size();
  flags_.push_back(std::move(flag));
}

void Flags::add(std::string name, std::string& target, std::string help) {
  define({std::move(name), "TEXT", std::move(help), target.empty() ? "" : target, false,
          [&target](std::string_view v) -> std::optional<std::string> {
            target = std::string(v);
            return std::nullopt;
          }},
         Kind::Text);
}

void Flags::add(std::string name, bool& target, std::string help) {
  define({std::move(name), "", std::move(help), target ? "on" : "", true,
          [&target](std::string_view v) -> std::optional<std::string> {
            if (v == "true" || v == "on" || v == "1" || v == "yes")
              target = true;
            else if (v == "false" || v == "off" || v == "0" || v == "no")
              target = false;
            else
              return "expects true or false";
            return std::nullopt;
          }},
         Kind::Bool);
}

void Flags::add(std::string name, int& target, std::string help, int min, int max) {
  define({std::move(name), "N", std::move(help), std::to_string(target), false,
          [&target, min, max](std::string_view v) -> std::optional<std::string> {
            auto n = parse_integer<int>(v);
            if (!n) return "expects a whole number";
            if (*n < min || *n > max) return fmt::format("must be between {} and {}", min, max);
            target = *n;
            return std::nullopt;
          }},
         Kind::Int);
}

void Flags::add(std::string name, std::uint16_t& target, std::string help) {
  define({std::move(name), "PORT", std::move(help), std::to_string(target), false,
          [&target](std::string_view v) -> std::optional<std::string> {
            auto n = parse_integer<unsigned>(v);
            if (!n || *n > 65535) return "expects a port number from 0 to 65535";
            target = static_cast<std::uint16_t>(*n);
            return std::nullopt;
          }},
         Kind::Port);
}

void Flags::add_size(std::string name, std::uint64_t& target, std::string help) {
  define({std::move(name), "BYTES", std::move(help), std::to_string(target), false,
          [&target](std::string_view v) -> std::optional<std::string> {
            auto n = parse_size(v);
            if (!n) return "expects a byte count such as 4096, 64K or 1M";
            target = *n;
            return std::nullopt;
          }},
         Kind::Size);
}

void Flags::add_seconds(std::string name, double& target, std::string help) {
  define({std::move(name), "SEC", std::move(help), fmt::format("{}", target), false,
          [&target](std::string_view v) -> std::optional<std::string> {
            auto s = parse_seconds(v);
            if (!s) return "expects seconds, such as 5 or 0.5";
            target = *s;
            return std::nullopt;
          }},
         Kind::Seconds);
}

void Flags::add_choice(std::string name, std::string& target, std::vector<std::string> choices,
                       std::string help) {
  std::string value_name = fmt::format("{}", fmt::join(choices, "|"));
  // on|off choices are booleans in the config file: [http] autoindex = false.
  const bool on_off = choices == std::vector<std::string>{"on", "off"} ||
                      choices == std::vector<std::string>{"off", "on"};
  define({std::move(name), value_name, std::move(help), target, false,
          [&target, choices](std::string_view v) -> std::optional<std::string> {
            if (std::find(choices.begin(), choices.end(), v) == choices.end())
              return fmt::format("expects one of: {}", fmt::join(choices, ", "));
            target = std::string(v);
            return std::nullopt;
          }},
         on_off ? Kind::OnOff : Kind::Choice);
}

void Flags::add_check(std::function<std::optional<std::string>()> check) {
  checks_.push_back(std::move(check));
}

void Flags::add_tables(std::string name, TableTaker take) {
  tables_.push_back({std::move(name), std::move(take)});
}

std::string Flags::env_name(std::string_view name) {
  std::string env = "SERVERLAB_";
  for (char c : name) {
    env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return env;
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
  if (from_file && flag.kind == Kind::Builtin)
    return fmt::format("--{} cannot be set in a config file", name);
  if (!value) {
    if (!flag.is_bool) return fmt::format("--{} needs a value ({})", name, flag.value_name);
    value = "true";
  }
  if (auto err = flag.set(*value)) return fmt::format("--{} {}: {}", name, *value, *err);
  set_.push_back(name);
  return std::nullopt;
}

namespace {

// "FILE:LINE:COLUMN" of a node or key in a parsed TOML document.
std::string where(const std::string& path, const toml::source_region& source) {
  return fmt::format("{}:{}:{}", path, source.begin.line, source.begin.column);
}

// A scalar TOML value as text (strings as written), or nullopt for a table, an
// array or a date.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto f = node.as_floating_point()) return fmt::format("{}", f->get());
  return std::nullopt;
}

// The sections a config file may have, whatever the program registers.
constexpr std::string_view kSections[] = {"server", "http", "tls", "limits",
                                          "rate_limit", "auth", "log"};

constexpr std::string_view kOldFormatHint =
    " (settings go in sections, such as [server] port = 8080; the old 'name = value' "
    "format is not read any more: docs/CONFIG.md shows the TOML form)";

// True when no "[section]" line comes before line `line` of the file: a syntax
// error there is most likely an old 'name = value' file.
bool before_any_section(const std::string& path, std::uint32_t line) {
  std::ifstream in(path);
  std::string text;
  for (std::uint32_t n = 1; n < line && std::getline(in, text); ++n) {
    const auto first = text.find_first_not_of(" \t");
    if (first != std::string::npos && text[first] == '[') return false;
  }
  return true;
}

// One [[name]] table as the program's taker sees it.
std::optional<std::string> to_config_table(const std::string& path, const toml::table& table,
                                           ConfigTable& out) {
  out.where = where(path, table.source());
  for (auto&& [key, node] : table) {
    ConfigValue value;
    value.where = where(path, node.source());
    if (auto text = scalar_text(node)) {
      value.text = *text;
    } else if (auto array = node.as_array()) {
      value.is_array = true;
      for (const toml::node& item : *array) {
        auto text_item = scalar_text(item);
        if (!text_item)
          return fmt::format("{}: {}: expects an array of plain values", value.where, key.str());
        value.items.push_back(*text_item);
      }
    } else {
      return fmt::format("{}: {}: nested tables are not allowed here", value.where, key.str());
    }
    out.values.emplace(std::string(key.str()), std::move(value));
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> Flags::load_config(const std::string& path) {
  config_path_ = path;
  if (::access(path.c_str(), R_OK) != 0)
    return fmt::format("cannot read config file '{}': {}", path, std::strerror(errno));
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return fmt::format("{}: {}{}", where(path, e.source()), e.description(),
                       before_any_section(path, e.source().begin.line) ? kOldFormatHint : "");
  }

  // A flag's TOML value as its setter's text, or why the type is wrong.
  auto text_of = [](const Flag& flag,
                    const toml::node& node) -> std::pair<std::string, std::string> {
    switch (flag.kind) {
      case Kind::Bool:
        if (!node.is_boolean()) return {"", "expects true or false (a TOML boolean)"};
        return {node.as_boolean()->get() ? "true" : "false", ""};
      case Kind::OnOff:
        if (!node.is_boolean()) return {"", "expects true or false (a TOML boolean; true is on)"};
        return {node.as_boolean()->get() ? "on" : "off", ""};
      case Kind::Int:
      case Kind::Port:
        if (!node.is_integer()) return {"", "expects a whole number (a TOML integer)"};
        return {*scalar_text(node), ""};
      case Kind::Size:
        if (!node.is_integer() && !node.is_string())
          return {"", "expects a byte count: an integer, or a string such as \"64K\""};
        return {*scalar_text(node), ""};
      case Kind::Seconds:
        if (!node.is_integer() && !node.is_floating_point())
          return {"", "expects seconds: a number such as 5 or 0.5"};
        return {*scalar_text(node), ""};
      default:  // Text, Choice
        if (!node.is_string()) return {"", "expects a string (in double quotes)"};
        return {*scalar_text(node), ""};
    }
  };

  std::map<std::string, std::vector<ConfigTable>, std::less<>> taken;
  for (const Tables& t : tables_) taken[t.name];
  for (auto&& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const std::string at = where(path, section_key.source());
    if (auto array = section_node.as_array(); array && taken.count(section) != 0) {
      for (const toml::node& item : *array) {
        const toml::table* table = item.as_table();
        if (table == nullptr)
          return fmt::format("{}: {} must be written as [[{}]] tables", at, section, section);
        ConfigTable entry;
        if (auto err = to_config_table(path, *table, entry)) return err;
        taken[section].push_back(std::move(entry));
      }
      continue;
    }
    if (section_node.is_array_of_tables())
      return fmt::format("{}: this program takes no [[{}]] tables", at, section);
    const toml::table* table = section_node.as_table();
    if (table == nullptr)
      return fmt::format("{}: '{}' is outside any section{}", at, section, kOldFormatHint);
    // The shared sections, plus any the program put its own flags in ([proxy], [kv]).
    const bool known =
        std::find(std::begin(kSections), std::end(kSections), section) != std::end(kSections) ||
        std::any_of(flags_.begin(), flags_.end(),
                    [&](const Flag& flag) { return flag.section == section; });
    if (!known) {
      return fmt::format(
          "{}: unknown table [{}] (sections: server, http, tls, limits, "
          "rate_limit, auth, log)",
          at, section);
    }
    for (auto&& [key, node] : *table) {
      const std::string name(key.str());
      const std::string key_at = where(path, key.source());
      auto it = index_.find(name);
      if (it == index_.end() || flags_[it->second].kind == Kind::Builtin)
        return fmt::format("{}: unknown key '{}' in [{}]", key_at, name, section);
      Flag& flag = flags_[it->second];
      if (flag.section != section) {
        return fmt::format("{}: '{}' belongs in [{}], not [{}]", key_at, name, flag.section,
                           section);
      }
      const std::string value_at = where(path, node.source());
      auto [text, wrong_type] = text_of(flag, node);
      if (!wrong_type.empty())
        return fmt::format("{}: [{}] {}: {}", value_at, section, name, wrong_type);
      if (auto err = flag.set(text))
        return fmt::format("{}: [{}] {} = {}: {}", value_at, section, name, text, *err);
      flag.where = value_at;
      set_.push_back(name);
    }
  }
  for (const Tables& t : tables_) {
    if (auto err = t.take(taken[t.name])) return err;
  }
  return std::nullopt;
}

std::optional<std::string> Flags::load_environment() {
  for (Flag& flag : flags_) {
    if (flag.kind == Kind::Builtin) continue;
    const std::string env = env_name(flag.name);
    const char* value = std::getenv(env.c_str());
    if (value == nullptr) continue;
    if (auto err = apply(flag.name, std::string_view(value), false))
      return fmt::format("environment {}={}: {}", env, value, *err);
    flag.where.clear();  // the environment overrode the file's value
  }
  return std::nullopt;
}

std::optional<std::string> Flags::run_checks() const {
  for (const auto& check : checks_) {
    auto err = check();
    if (!err) continue;
    // A check names its flag first ("--root '/x': ..."); when the file set that flag,
    // say where, so the file's line is the one to fix.
    for (const Flag& flag : flags_) {
      if (!flag.where.empty() && err->starts_with("--" + flag.name + " "))
        return fmt::format("{}: {}", flag.where, *err);
    }
    return err;
  }
  return std::nullopt;
}

std::optional<std::string> Flags::parse(int argc, const char* const* argv) {
  // The config file is read first, wherever --config stands, then the
  // environment, then the command line: the later wins.
  std::optional<std::string> file;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--check-config") check_config_ = true;  // even when the file is bad
    if (arg == "--config" && i + 1 < argc)
      file = argv[i + 1];
    else if (arg.starts_with("--config="))
      file = std::string(arg.substr(9));
  }
  if (!file) {
    if (const char* env = std::getenv("SERVERLAB_CONFIG"); env != nullptr && *env != '\0')
      file = env;
  }
  if (file) {
    if (auto err = load_config(*file)) return err;
    set_.push_back("config");
  }
  if (auto err = load_environment()) return err;
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
    if (auto it = index_.find(name); it != index_.end()) flags_[it->second].where.clear();
  }
  if (help_) return std::nullopt;  // --help with a bad --root still prints the help
  return run_checks();
}

void Flags::parse_or_exit(int argc, const char* const* argv) {
  auto err = parse(argc, argv);
  if (help_) {
    std::fputs(usage().c_str(), stdout);
    std::exit(0);
  }
  if (err) {
    if (check_config_) {  // nginx -t style: the verdict only, no usage
      std::fprintf(stderr, "%s: %s\n%s: configuration check failed\n", program_.c_str(),
                   err->c_str(), program_.c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n\n%s", program_.c_str(), err->c_str(), usage().c_str());
    }
    std::exit(2);
  }
  if (check_config_) {
    std::printf("%s: configuration OK%s\n", program_.c_str(),
                config_path_.empty() ? "" : fmt::format(" ({})", config_path_).c_str());
    std::exit(0);
  }
}

std::string Flags::usage() const {
  std::string out = fmt::format("Usage: {} [flags]\n{}\n\n", program_, summary_);
  auto line = [&out](const Flag& f) {
    std::string left = "  --" + f.name + (f.value_name.empty() ? "" : " " + f.value_name);
    std::string right = f.help;
    if (!f.default_text.empty()) right += fmt::format(" (default: {})", f.default_text);
    if (left.size() < 30)
      out += fmt::format("{:<30}{}\n", left, right);
    else
      out += fmt::format("{}\n{:<30}{}\n", left, "", right);
  };
  out += "Flags:\n";
  for (const Flag& f : flags_) {
    if (f.kind == Kind::Builtin) line(f);
  }
  out +=
      "\nThe others, by config-file section; each is also read from SERVERLAB_<FLAG>\n"
      "in the environment (--max-body: SERVERLAB_MAX_BODY). See docs/CONFIG.md.\n";
  // The rest grouped by config-file section, in the order the sections first appear.
  std::vector<std::string> sections;
  for (const Flag& f : flags_) {
    if (f.kind != Kind::Builtin &&
        std::find(sections.begin(), sections.end(), f.section) == sections.end())
      sections.push_back(f.section);
  }
  for (const std::string& section : sections) {
    out += fmt::format("\n[{}]\n", section);
    for (const Flag& f : flags_) {
      if (f.kind != Kind::Builtin && f.section == section) line(f);
    }
  }
  return out;
}

bool Flags::was_set(const std::string& name) const {
  return std::find(set_.begin(), set_.end(), name) != set_.end();
}

void add_server_flags(Flags& flags, ServerOptions& options, std::uint16_t default_port) {
  options.port = default_port;
  flags.begin_section("server");
  flags.add("port", options.port, "TCP port to listen on (0: any free port)");
  flags.add("bind", options.bind, "address to listen on (0.0.0.0 or :: for every interface)");
  flags.begin_section("log");
  flags.add_choice("log-level", options.log_level, {"debug", "info", "warn", "error", "off"},
                   "least severe log level written to stderr");
  flags.add_choice("log-format", options.log_format, {"text", "json"},
                   "error-log format: text lines or JSON lines");
  flags.begin_section("limits");
  flags.add_seconds("shutdown-timeout", options.shutdown_timeout,
                    "on SIGINT/SIGTERM, how long in-flight work may take before it is cut off");
  flags.begin_section("server");
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
