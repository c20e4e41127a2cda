// conformance.hpp: the shared scaffolding of the black-box HTTP conformance suite.
//
// Why: one suite judges every HTTP stage (and a student's binary) against the
// same rules, the HTTP contract of this repository. Everything a test
// needs is here: a document root built in a temporary directory with files of
// known content, the servers under test (one per flag set, started on first use
// and shared by every test that wants that flag set), and a fixture with request
// helpers.
//
// Which binary: $SERVERLAB_SERVER_BIN when set (graders point it at a student's
// server), else $SERVERLAB_DEFAULT_SERVER_BIN (what ctest registers). Server
// arguments: $SERVERLAB_DEFAULT_SERVER_ARGS then $SERVERLAB_SERVER_ARGS (both
// space-separated), then `--port 0 --root <tmp> --log-level warn` and the flags of
// the variant.
//
// Docroot layout (made once per test process, removed at exit):
//
//   <tmp>/
//     root/                 --root
//       index.html hello.txt empty.txt style.css app.js image.png logo.svg data.xyzzy SHOUT.TXT
//       big.bin             4 MiB, every byte value, position-dependent
//       sub/                index.html, page.txt
//       plain/              no index: zeta.txt mid.txt alpha.txt a&b<c>.txt sized.bin nested/
//       -/health            a plain file shadowed by the admin route
//       .env .git/config plain/.hidden.txt .well-known/probe.txt   (dotfiles)
//       link-in.txt   -> hello.txt                 (inside the root: served)
//       link-out.txt  -> ../outside/secret.txt     (outside: refused)
//       link-out-dir  -> ../outside                (outside: refused)
//       link-prefix.txt -> ../rootx/secret.txt     (sibling sharing the root's prefix)
//     outside/secret.txt    the content no response may ever carry
//     rootx/secret.txt      same content
//     errors/404.html       --error-pages
//
// Who may call: GoogleTest's main thread only. Functions block on sockets with
// deadlines.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"

namespace serverlab::conformance {

using namespace std::chrono_literals;

// The shared test client (tests/support/http_client.hpp), by its short names.
using testing::BodyPart;
using testing::HttpClient;
using testing::HttpResponse;
using testing::iequals;
using testing::parse_multipart;
using testing::split_list;

// File contents the tests compare against.
inline constexpr std::string_view kHello = "Hello, conformance!\n";
inline constexpr std::string_view kSubIndex = "<!doctype html><title>sub</title><p>SUB-INDEX</p>\n";
inline constexpr std::string_view kSubPage = "a page in sub\n";
inline constexpr std::string_view kSecret = "OUTSIDE-THE-ROOT-SECRET-5d1c9e\n";
inline constexpr std::string_view kCustom404 = "<!doctype html><p>CUSTOM-404-PAGE</p>\n";
inline constexpr std::string_view kShadowHealth = "file-under-dash-health\n";
inline constexpr std::string_view kDotEnv = "DOTFILE-SECRET=7a41c2\n";  // root/.env, .git/config
inline constexpr std::string_view kWellKnown = "well-known-probe\n";
inline constexpr int kMaxAgeSeconds = 3600;
inline constexpr std::size_t kBigSize = 4 * 1024 * 1024;
inline constexpr std::size_t kSizedBin = 12345;
inline constexpr std::string_view kHost = "conformance.test";

struct Docroot {
  std::string base;         // the temp dir
  std::string root;         // base/root (what --root gets)
  std::string error_pages;  // base/errors
  std::string big;          // the content of big.bin
  long hello_mtime = 0;     // seconds since the epoch (fixed by the suite)
};
const Docroot& docroot();

// Flag sets; one server process per variant, started on first use.
enum class Variant {
  kDefault,       // nothing extra
  kAutoindexOff,  // --autoindex off
  kErrorPages,    // --error-pages <tmp>/errors
  kAdminOff,      // --admin off
  kSmallLimits,  // --max-body 1024 --max-request-line 1024 --max-header-bytes 2048 --max-headers 20
  kShortTimeouts,  // --header-timeout 1 --keepalive-timeout 1
  kKeepaliveMax3,  // --max-keepalive-requests 3
  kDotfilesAllow,  // --dotfiles allow
  kCacheMaxAge,    // --cache-max-age kMaxAgeSeconds
  kErrorLog,       // --log-level info --error-log-rate kErrorLogRate (a private server per test)
};
inline constexpr int kErrorLogRate = 5;
inline constexpr int kSmallMaxBody = 1024;
inline constexpr int kSmallMaxRequestLine = 1024;
inline constexpr int kSmallMaxHeaderBytes = 2048;
inline constexpr int kSmallMaxHeaders = 20;

// The server binary under test ($SERVERLAB_SERVER_BIN, else the registered one).
std::string server_binary();

// The running server for a variant (restarted, with a test failure, if it died).
testing::ServerProcess& server(Variant v);
// A server of the test's own (e.g. to stop it mid-test); the caller owns it.
std::unique_ptr<testing::ServerProcess> start_private_server(Variant v);
// A server of the test's own started with the default variant's arguments plus `flags`.
std::unique_ptr<testing::ServerProcess> start_server_with(const std::vector<std::string>& flags);

// HTTP-date of a time_t, e.g. "Thu, 02 Jan 2020 03:04:05 GMT".
std::string http_date(long seconds);
// Parses an IMF-fixdate; nullopt when it is not one.
std::optional<long> parse_http_date(std::string_view text);

// A plain request: "METHOD target HTTP/1.1\r\nHost: ...\r\n<extra>\r\n".
// `extra` holds complete header lines, each ending in \r\n.
std::string request(std::string_view method, std::string_view target, std::string_view extra = "");

// The value of `name` in a Prometheus text body (/-/metrics; -1 when absent).
double metric(const std::string& text, const std::string& name);

// A fixture for tests that start a server of their own with flags of their own
// (start()); after the test the server must stop cleanly (exit 0).
class PrivateServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    }
  }
  testing::ServerProcess& start(const std::vector<std::string>& flags) {
    server_ = start_server_with(flags);
    return *server_;
  }
  std::unique_ptr<testing::ServerProcess> server_;
};

class HttpTest : public ::testing::Test {
 protected:
  explicit HttpTest(Variant v = Variant::kDefault) : variant_(v) {}

  testing::ServerProcess& srv() { return server(variant_); }
  HttpClient connect() { return HttpClient::connect(srv()); }

  // Sends raw bytes on a fresh connection and reads one response. On failure the
  // test fails (non-fatally) with the reason and an HttpResponse with status 0 is returned.
  HttpResponse exchange(std::string_view raw, bool head_request = false,
                    std::chrono::milliseconds deadline = 5s);
  HttpResponse get(std::string_view target, std::string_view extra = "") {
    return exchange(request("GET", target, extra));
  }
  HttpResponse head(std::string_view target, std::string_view extra = "") {
    return exchange(request("HEAD", target, extra), true);
  }

  // After every test: a fresh connection must still get a 200 for /hello.txt.
  void TearDown() override;

 private:
  Variant variant_;
};

// Asserts the connection is closed by the server within a bound after a response
// (everything received after the response is reported).
::testing::AssertionResult closes_after(HttpClient& c, std::chrono::milliseconds deadline = 3s);

}  // namespace serverlab::conformance
