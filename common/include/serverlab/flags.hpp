// flags.hpp: the one command-line parser every serverlab program uses.
//
//   Flags flags("echo-server", "TCP echo server (stage 1)");
//   std::uint16_t port = 4000;
//   flags.add("port", port, "TCP port to listen on (0: any free port)");
//   flags.parse_or_exit(argc, argv);
//
// Accepted forms: --name value, --name=value, and for booleans --name,
// --name=true|false. `--help` prints usage to stdout and exits 0. A wrong flag or
// value prints one error line plus the usage to stderr and exits 2.
// A check added with add_check runs after every flag is set and may refuse the
// combination (a directory that does not exist): its message is reported like a
// bad value, one line naming the flag, and the exit status is 2.
// Where values come from, the later winning (docs/CONFIG.md):
//   defaults < the TOML file of --config FILE (or $SERVERLAB_CONFIG)
//            < environment variables SERVERLAB_<FLAG> (--max-body: SERVERLAB_MAX_BODY)
//            < the command line.
// In the file a flag is a key of its section: `--autoindex off` is `[http]
// autoindex = false` (begin_section says which section a flag belongs to). An
// unknown table or key, a value of the wrong TOML type or out of range is an error
// that starts with FILE:LINE:COLUMN. `--check-config` parses everything, runs the
// checks, prints "configuration OK" and exits 0 (or the error and 2), like nginx -t.
// Sizes accept K, M, G suffixes (powers of 1024); durations are seconds and may
// be fractional (0.5).
//
// Reloading: a program that re-reads its file (SIGHUP) builds a fresh Flags over
// fresh values and calls parse() again with the same argv (reload.hpp); a Flags
// object is never parsed into values that are in use.
//
// Not thread-safe; use from main() only.
// Who may call: main() only, before any thread starts (parse_or_exit may exit).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace serverlab {

// One value of a [[route]] or [[upstream]] table: a scalar as text (strings as
// written, booleans "true"/"false", numbers in decimal), or an array of scalars
// in `items`. `where` is "FILE:LINE:COLUMN", for error messages.
struct ConfigValue {
  std::string text;
  std::vector<std::string> items;
  bool is_array = false;
  std::string where;
};
// One [[route]] / [[upstream]] table, as the file wrote it; `where` locates its header.
struct ConfigTable {
  std::string where;
  std::map<std::string, ConfigValue, std::less<>> values;
};

class Flags {
 public:
  Flags(std::string program, std::string summary);

  void add(std::string name, std::string& target, std::string help);
  void add(std::string name, bool& target, std::string help);
  void add(std::string name, int& target, std::string help, int min = 0, int max = 1 << 30);
  void add(std::string name, std::uint16_t& target, std::string help);
  // A byte count: digits with an optional K/M/G suffix.
  void add_size(std::string name, std::uint64_t& target, std::string help);
  // Seconds, fractional allowed, >= 0.
  void add_seconds(std::string name, double& target, std::string help);
  // One of a fixed set of words.
  void add_choice(std::string name, std::string& target, std::vector<std::string> choices,
                  std::string help);

  // Flags added after this call belong to section `name` of the configuration file
  // ("server", "http", "tls", "limits", "rate_limit", "log"); before any call they
  // belong to "server". The section decides where a flag's key lives in a TOML
  // config file ([http] autoindex = false) and groups --help.
  void begin_section(std::string name) { section_ = std::move(name); }

  // The program takes `[[name]]` tables (an array of tables, such as [[route]] or
  // [[upstream]]) from the config file: after the file is read, `take` gets all of
  // them in file order (an empty vector when there are none) and returns nullopt or
  // one error line (start it with the table's `where`). Without a taker, [[name]]
  // in the file is an error. Call before parse().
  using TableTaker = std::function<std::optional<std::string>(const std::vector<ConfigTable>&)>;
  void add_tables(std::string name, TableTaker take);

  // A check of the parsed values, run by parse() after every flag is applied (so the
  // command line has already overridden the config file). It returns nullopt or one
  // line such as "--root /srv/x: no such directory". Checks run in the order added;
  // the first failure is the error. Skipped when parsing failed or --help was given.
  void add_check(std::function<std::optional<std::string>()> check);

  // Parses argv. Returns an error message, or nullopt on success. Handles
  // neither --help nor exiting: parse_or_exit does that.
  std::optional<std::string> parse(int argc, const char* const* argv);
  // The CLI entry: parse, print usage and exit 0 on --help, exit 2 on errors.
  void parse_or_exit(int argc, const char* const* argv);

  std::string usage() const;
  bool help_requested() const { return help_; }
  bool check_config_requested() const { return check_config_; }
  // The config file that was read ("" when none).
  const std::string& config_path() const { return config_path_; }
  // True when the flag was given on the command line, in the environment or in the
  // config file.
  bool was_set(const std::string& name) const;
  // The environment variable that sets flag `name`: SERVERLAB_ + upper case, '-' -> '_'.
  static std::string env_name(std::string_view name);

  // Parses "64K" style sizes and "1.5" style seconds (used by tests, too).
  static std::optional<std::uint64_t> parse_size(std::string_view text);
  static std::optional<double> parse_seconds(std::string_view text);

 private:
  // What a flag's value is: decides which TOML types its key accepts.
  enum class Kind { Builtin, Text, Bool, Int, Port, Size, Seconds, Choice, OnOff };
  struct Flag {
    std::string name;
    std::string value_name;  // shown in usage, e.g. N, BYTES, SEC
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<std::optional<std::string>(std::string_view)> set;  // returns an error
    std::string section = "server";  // config-file section (begin_section)
    Kind kind = Kind::Builtin;
    std::string where = {};  // set from the config file: "FILE:LINE:COLUMN" of its key
  };
  void define(Flag flag, Kind kind);
  std::optional<std::string> apply(const std::string& name, std::optional<std::string_view> value,
                                   bool from_file);
  std::optional<std::string> load_config(const std::string& path);
  std::optional<std::string> load_environment();
  std::optional<std::string> run_checks() const;

  struct Tables {
    std::string name;
    TableTaker take;
  };

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::string> set_;
  std::vector<std::function<std::optional<std::string>()>> checks_;
  std::vector<Tables> tables_;
  bool help_ = false;
  bool check_config_ = false;
  std::string config_path_;
  std::string section_ = "server";
};

// The flags every server shares, with the same names and defaults everywhere.
struct ServerOptions {
  std::uint16_t port = 0;
  std::string bind = "127.0.0.1";
  std::string log_level = "info";
  std::string log_format = "text";
  double shutdown_timeout = 5.0;
};
// Registers --port (with the given default) and --bind in [server], --log-level and
// --log-format in [log], --shutdown-timeout in [limits]; leaves the section at [server].
void add_server_flags(Flags& flags, ServerOptions& options, std::uint16_t default_port);
// What is wrong with `path` as a directory the server must read, or nullopt when it
// is a readable, searchable directory: "the value is empty", "no such directory",
// "not a directory", "cannot be read (Permission denied)". For add_check messages.
std::optional<std::string> directory_problem(const std::string& path);
// Applies --log-level/--log-format to the logger.
void configure_logging(const ServerOptions& options);

}  // namespace serverlab
