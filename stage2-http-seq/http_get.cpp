// http_get.cpp: http-get, a small blocking HTTP/1.1 client (stage 2's other end).
//
//   http-get [flags] URL...
//
// Fetches each URL in turn and writes the bodies to stdout (or -o FILE). Redirects,
// retries, timeouts and keep-alive live in http_fetch.hpp; this file is the command
// line: flags, where the bytes go, the progress bar, and one error line per failure.
//
// Exit status: 0 when every URL answered 2xx; 1 when any failed (a network or protocol
// error, or a final status that is not 2xx); 2 for bad usage (flag, URL).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "http_fetch.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/signals.hpp"

namespace {

using serverlab::Flags;
namespace fetch = serverlab::fetch;

constexpr const char* kSummary =
    "Fetches each URL over HTTP/1.1 and writes the bodies, in order, to stdout.\n"
    "  http-get [flags] URL...        e.g. http-get http://127.0.0.1:8080/index.html\n"
    "https:// verifies the server's certificate (against --cacert, else the system's CAs).\n"
    "Short forms: -o FILE (--output), -I (--head), -v (--verbose), -X METHOD, -d DATA.\n"
    "Exit status: 0 all 2xx, 1 a failure (one line on stderr each), 2 bad usage.";

// Flags' parser knows only --long flags and no positional arguments. This splits argv
// into URLs and flags, and spells the short forms long. `takes_value` lists the flags
// that consume the next argument (so `--tries 3` does not make "3" a URL).
struct SplitArgs {
  std::vector<std::string> flag_args{"http-get"};
  std::vector<std::string> urls;
  std::optional<std::string> error;
};

SplitArgs split_args(int argc, char** argv) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kShort = {
      {"-o", "--output"}, {"-I", "--head"}, {"-v", "--verbose"}, {"-X", "--method"},
      {"-d", "--data"},   {"-h", "--help"}};
  static const std::vector<std::string_view> kTakesValue = {
      "--output", "--method", "--data", "--connect-timeout", "--timeout", "--tries",
      "--max-redirects", "--backoff", "--max-backoff", "--cacert", "--config"};
  SplitArgs out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    for (auto [short_form, long_form] : kShort)
      if (arg == short_form) arg = long_form;
    if (arg.empty() || arg[0] != '-' || arg == "-") {
      out.urls.push_back(arg);
      continue;
    }
    if (!arg.starts_with("--")) {
      out.error = fmt::format("unknown flag '{}'", arg);
      return out;
    }
    out.flag_args.push_back(arg);
    bool wants_value = arg.find('=') == std::string::npos &&
                       std::find(kTakesValue.begin(), kTakesValue.end(), arg) != kTakesValue.end();
    if (wants_value && i + 1 < argc) out.flag_args.push_back(argv[++i]);
  }
  return out;
}

[[noreturn]] void usage_error(const Flags& flags, const std::string& why) {
  std::fprintf(stderr, "http-get: %s\n\n%s", why.c_str(), flags.usage().c_str());
  std::exit(2);
}

// "[#########.........]  45%  1.2 MiB" on a terminal's stderr, redrawn in place.
// Drawn only when the body goes to a file and stderr is a terminal.
class ProgressBar {
 public:
  void update(std::uint64_t received, std::optional<std::uint64_t> total) {
    if (received - last_drawn_ < 64 * 1024 && (!total || received != *total)) return;
    last_drawn_ = received;
    double mib = static_cast<double>(received) / (1024.0 * 1024.0);
    if (total && *total > 0) {
      int width = 30;
      int filled = static_cast<int>(static_cast<double>(width) * static_cast<double>(received) /
                                    static_cast<double>(*total));
      std::fprintf(stderr, "\r[%s%s] %3d%% %.1f MiB", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                   std::string(static_cast<std::size_t>(width - filled), '.').c_str(),
                   static_cast<int>(100 * received / *total), mib);
    } else {
      std::fprintf(stderr, "\r%.1f MiB", mib);
    }
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
    last_drawn_ = 0;
  }

 private:
  std::uint64_t last_drawn_ = 0;
  bool drawn_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  serverlab::ignore_sigpipe();

  fetch::Options options;
  std::string output;
  bool head = false;
  bool verbose = false;
  int max_tries = options.max_tries;
  int max_redirects = options.max_redirects;
  Flags flags("http-get", kSummary);
  flags.add("output", output, "write the bodies to FILE instead of stdout (-o)");
  flags.add("head", head, "send HEAD and print the response heads, not bodies (-I)");
  flags.add("verbose", verbose, "show the exchange on stderr: > sent, < received, * notes (-v)");
  flags.add_choice("method", options.method, {"GET", "HEAD", "POST", "PUT", "DELETE"},
                   "request method (-X); only GET, HEAD, PUT and DELETE are retried");
  flags.add("data", options.body, "request body, sent with Content-Length (-d)");
  flags.add_seconds("connect-timeout", options.connect_timeout,
                    "seconds allowed for each connect (and its TLS handshake)");
  flags.add("cacert", options.ca_file, "https: PEM file of the CAs to trust (default: the system's)");
  flags.add_seconds("timeout", options.total_timeout,
                    "seconds allowed per URL, retries and redirects included");
  flags.add("tries", max_tries, "attempts per hop; a connection error, 503 or 429 is retried (1: never)", 1, 10);
  flags.add("max-redirects", max_redirects, "redirect hops to follow before giving up", 0, 50);
  flags.add_seconds("backoff", options.backoff, "first retry waits about this long, doubling");
  flags.add_seconds("max-backoff", options.max_backoff,
                    "longest single wait; a longer Retry-After gives up instead");

  SplitArgs args = split_args(argc, argv);
  if (args.error) usage_error(flags, *args.error);
  std::vector<const char*> flag_argv;
  for (const std::string& a : args.flag_args) flag_argv.push_back(a.c_str());
  flags.parse_or_exit(static_cast<int>(flag_argv.size()), flag_argv.data());
  if (args.urls.empty()) usage_error(flags, "no URL given");
  options.max_tries = max_tries;
  options.max_redirects = max_redirects;
  if (head) options.method = "HEAD";
  if (verbose) options.trace = stderr;

  std::vector<fetch::Url> urls;
  for (const std::string& text : args.urls) {
    std::string error;
    auto url = fetch::parse_url(text, &error);
    if (!url) usage_error(flags, fmt::format("{}: {}", text, error));
    urls.push_back(*url);
  }

  std::FILE* out = stdout;
  if (!output.empty() && output != "-") {
    out = std::fopen(output.c_str(), "wb");
    if (out == nullptr) {
      std::fprintf(stderr, "http-get: %s: %s\n", output.c_str(), std::strerror(errno));
      return 1;
    }
  }
  const bool show_progress = out != stdout && ::isatty(STDERR_FILENO) == 1 && !verbose;
  ProgressBar bar;

  fetch::Fetcher fetcher(options);
  bool write_failed = false;
  auto sink = [&](std::string_view bytes) {
    if (!head && std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) write_failed = true;
  };
  auto progress = [&](std::uint64_t received, std::optional<std::uint64_t> total) {
    if (show_progress) bar.update(received, total);
  };

  int failures = 0;
  for (const fetch::Url& url : urls) {
    try {
      fetch::Response r = fetcher.fetch(url, sink, progress);
      bar.finish();
      if (head) {
        std::fprintf(out, "%s %d %s\n", r.version.c_str(), r.status, r.reason.c_str());
        for (const auto& [name, value] : r.headers) std::fprintf(out, "%s: %s\n", name.c_str(), value.c_str());
        std::fputc('\n', out);
      }
      if (r.status < 200 || r.status > 299) {
        std::fprintf(stderr, "http-get: %s: server answered %d %s\n", url.to_string().c_str(), r.status,
                     r.reason.c_str());
        ++failures;
      }
    } catch (const fetch::FetchError& e) {
      bar.finish();
      std::fprintf(stderr, "http-get: %s: %s\n", url.to_string().c_str(), e.what());
      ++failures;
    }
  }
  if (std::fflush(out) != 0 || write_failed || (out != stdout && std::fclose(out) != 0)) {
    std::fprintf(stderr, "http-get: writing %s: %s\n", output.empty() ? "stdout" : output.c_str(),
                 std::strerror(errno));
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
