#include "conformance.hpp"

#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "serverlab/tls/context.hpp"
#include "temp_dir.hpp"

namespace serverlab::conformance {
namespace {

// Fixed modification time of hello.txt: Thu, 02 Jan 2020 03:04:05 GMT.
constexpr long kHelloMtime = 1577934245;

// Every byte value, and a pattern that shifts with the 64 KiB block so a body
// served from the wrong offset never matches by accident.
std::string make_big() {
  std::string s(kBigSize, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<char>(static_cast<unsigned char>((i ^ (i >> 8) ^ (i >> 16) * 7) & 0xff));
  }
  return s;
}

// A real 1x1 PNG.
constexpr unsigned char kPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

// The docroot and the temporary directory it lives in (removed with it).
struct DocrootStorage {
  testing::TempDir dir{"serverlab-conformance"};
  Docroot d;
};

std::unique_ptr<DocrootStorage> build_docroot() {
  auto s = std::make_unique<DocrootStorage>();
  const testing::TempDir& t = s->dir;
  Docroot& d = s->d;
  d.base = t.path();
  d.root = t.mkdir("root");
  d.error_pages = t.mkdir("errors");
  for (const char* dir : {"root/sub", "root/plain/nested", "root/-", "outside", "rootx"}) {
    t.mkdir(dir);
  }
  t.write("root/index.html", "<!doctype html><title>root</title><p>ROOT-INDEX</p>\n");
  t.write("root/hello.txt", kHello);
  t.set_mtime("root/hello.txt", kHelloMtime);
  d.hello_mtime = kHelloMtime;
  t.write("root/empty.txt", "");
  t.write("root/style.css", "body { color: #123456; }\n");
  t.write("root/app.js", "console.log('conformance');\n");
  t.write("root/image.png", std::string_view(reinterpret_cast<const char*>(kPng), sizeof kPng));
  t.write("root/logo.svg",
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"></svg>\n");
  t.write("root/data.xyzzy", std::string_view("\x01\x02\x03unknown\xff", 11));
  t.write("root/SHOUT.TXT", "LOUD\n");
  d.big = make_big();
  t.write("root/big.bin", d.big);
  t.write("root/sub/index.html", kSubIndex);
  t.write("root/sub/page.txt", kSubPage);
  // Created out of order so a listing sorted by creation order would show it.
  t.write("root/plain/zeta.txt", "z\n");
  t.write("root/plain/mid.txt", "m\n");
  t.write("root/plain/alpha.txt", "a\n");
  t.write("root/plain/a&b<c>.txt", "escaped name\n");
  t.write("root/plain/sized.bin", std::string(kSizedBin, 's'));
  t.write("root/plain/nested/inner.txt", "inner\n");
  t.write("root/-/health", kShadowHealth);
  t.write("root/.env", kDotEnv);
  t.write("root/.git/config", kDotEnv);
  t.write("root/plain/.hidden.txt", kDotEnv);
  t.write("root/.well-known/probe.txt", kWellKnown);
  t.write("outside/secret.txt", kSecret);
  t.write("rootx/secret.txt", kSecret);
  t.write("errors/404.html", kCustom404);
  t.symlink("hello.txt", "root/link-in.txt");
  t.symlink("../outside/secret.txt", "root/link-out.txt");
  t.symlink("../outside", "root/link-out-dir");
  t.symlink("../rootx/secret.txt", "root/link-prefix.txt");
  return s;
}

std::unique_ptr<DocrootStorage>& docroot_storage() {
  static std::unique_ptr<DocrootStorage> d;
  return d;
}

std::vector<std::string> variant_flags(Variant v) {
  switch (v) {
    case Variant::kDefault:
      return {};
    case Variant::kAutoindexOff:
      return {"--autoindex", "off"};
    case Variant::kErrorPages:
      return {"--error-pages", docroot().error_pages};
    case Variant::kAdminOff:
      return {"--admin", "off"};
    case Variant::kSmallLimits:
      return {"--max-body",         std::to_string(kSmallMaxBody),
              "--max-request-line", std::to_string(kSmallMaxRequestLine),
              "--max-header-bytes", std::to_string(kSmallMaxHeaderBytes),
              "--max-headers",      std::to_string(kSmallMaxHeaders)};
    case Variant::kShortTimeouts:
      return {"--header-timeout", "1", "--keepalive-timeout", "1"};
    case Variant::kKeepaliveMax3:
      return {"--max-keepalive-requests", "3"};
    case Variant::kDotfilesAllow:
      return {"--dotfiles", "allow"};
    case Variant::kCacheMaxAge:
      return {"--cache-max-age", std::to_string(kMaxAgeSeconds)};
    case Variant::kErrorLog:
      return {"--log-level", "info", "--error-log-rate", std::to_string(kErrorLogRate)};
  }
  return {};
}

}  // namespace

std::string server_binary() {
  std::string bin = testing::binary_from_env("SERVERLAB_SERVER_BIN", "");
  if (bin.empty()) bin = testing::binary_from_env("SERVERLAB_DEFAULT_SERVER_BIN", "");
  if (bin.empty()) {
    throw std::runtime_error(
        "no server to test: set SERVERLAB_SERVER_BIN=/path/to/server (ctest sets "
        "SERVERLAB_DEFAULT_SERVER_BIN)");
  }
  return bin;
}

namespace {

// HTTPS mode ($SERVERLAB_CONFORMANCE_TLS=1): throwaway certificates made once in
// the docroot's temp dir by tools/make-test-certs.sh; every server gets
// --tls-cert/--tls-key and every HttpClient speaks TLS, trusting the test CA.
// Returns the server flags ({} in plain mode).
std::vector<std::string> tls_flags() {
  const char* on = std::getenv("SERVERLAB_CONFORMANCE_TLS");
  if (on == nullptr || std::string_view(on) != "1") return {};
  static const std::string dir = [] {
    std::string d = docroot().base + "/certs";
    std::string cmd = std::string(SERVERLAB_SOURCE_DIR) + "/tools/make-test-certs.sh '" + d +
                      "' >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    return d;
  }();
  static const tls::TlsContext client = [] {
    tls::ClientOptions o;
    o.ca_file = dir + "/ca.pem";
    return tls::TlsContext::client(o);
  }();
  testing::HttpClient::use_tls(&client);
  return {"--tls-cert", dir + "/server-chain.pem", "--tls-key", dir + "/server.key"};
}

std::vector<std::string> server_argv(Variant v) {
  std::vector<std::string> argv{server_binary()};
  for (const char* var : {"SERVERLAB_DEFAULT_SERVER_ARGS", "SERVERLAB_SERVER_ARGS"}) {
    for (auto& w : testing::env_words(var)) argv.push_back(std::move(w));
  }
  for (const char* a : {"--port", "0", "--log-level", "warn"}) argv.emplace_back(a);
  argv.emplace_back("--root");
  argv.push_back(docroot().root);
  for (auto& f : variant_flags(v)) argv.push_back(std::move(f));
  for (auto& f : tls_flags()) argv.push_back(std::move(f));
  return argv;
}

std::string join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::map<Variant, std::unique_ptr<testing::ServerProcess>>& servers() {
  static std::map<Variant, std::unique_ptr<testing::ServerProcess>> s;
  return s;
}

// Stops every server at the end (a clean SIGTERM exit is part of the contract)
// and removes the docroot.
class SuiteEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    for (auto& [v, s] : servers()) {
      if (!s) continue;
      int status = s->stop();
      if (status != 0) {
        ADD_FAILURE() << "server (variant " << static_cast<int>(v)
                      << ") did not exit 0 on SIGTERM: status " << status << "\nstderr:\n"
                      << s->stderr_text();
      }
    }
    servers().clear();
    docroot_storage().reset();  // removes the directory
  }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SuiteEnvironment);

}  // namespace

const Docroot& docroot() {
  auto& d = docroot_storage();
  if (!d) d = build_docroot();
  return d->d;
}

testing::ServerProcess& server(Variant v) {
  auto& slot = servers()[v];
  if (slot && !slot->running()) {
    ADD_FAILURE() << "the server (variant " << static_cast<int>(v) << ") died: exit status "
                  << slot->stop() << "\nstderr:\n"
                  << slot->stderr_text() << "\nrestarting it for the next tests";
    slot.reset();
  }
  if (!slot) slot = start_private_server(v);
  return *slot;
}

std::unique_ptr<testing::ServerProcess> start_private_server(Variant v) {
  auto argv = server_argv(v);
  try {
    return std::make_unique<testing::ServerProcess>(argv);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot start '" + join(argv) + "': " + e.what());
  }
}

double metric(const std::string& text, const std::string& name) {
  std::size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

std::unique_ptr<testing::ServerProcess> start_server_with(const std::vector<std::string>& flags) {
  auto argv = server_argv(Variant::kDefault);
  argv.insert(argv.end(), flags.begin(), flags.end());
  try {
    return std::make_unique<testing::ServerProcess>(argv);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot start '" + join(argv) + "': " + e.what());
  }
}

std::string http_date(long seconds) {
  std::time_t t = seconds;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<long> parse_http_date(std::string_view text) {
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 characters.
  if (text.size() != 29) return std::nullopt;
  std::string s(text);
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  long t = static_cast<long>(::timegm(&tm));
  if (http_date(t) != s) return std::nullopt;  // e.g. a wrong weekday or padding
  return t;
}

std::string request(std::string_view method, std::string_view target, std::string_view extra) {
  std::string r;
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  r.append(kHost).append("\r\n").append(extra).append("\r\n");
  return r;
}

HttpResponse HttpTest::exchange(std::string_view raw, bool head_request,
                            std::chrono::milliseconds deadline) {
  HttpClient c = connect();
  if (!c.send(raw)) {
    ADD_FAILURE() << "could not send the request: " << testing::escape_bytes(raw);
    return {};
  }
  auto r = c.read_response(head_request, deadline);
  if (!r) {
    ADD_FAILURE() << "no valid response: " << c.error()
                  << "\nrequest: " << testing::escape_bytes(raw);
    return {};
  }
  if (r->raw.find(kSecret.substr(0, 20)) != std::string::npos) {
    ADD_FAILURE() << "a response carries the content of a file outside the root!\nrequest: "
                  << testing::escape_bytes(raw) << "\nresponse: " << r->wire();
  }
  return *r;
}

void HttpTest::TearDown() {
  HttpResponse r = get("/hello.txt");
  EXPECT_EQ(r.status, 200) << "after this test, a fresh connection no longer gets a 200 for "
                              "/hello.txt: the server stopped serving.\nresponse: "
                           << r.wire();
  EXPECT_EQ(r.body, kHello);
}

::testing::AssertionResult closes_after(HttpClient& c, std::chrono::milliseconds deadline) {
  if (!c.closed_by_peer(deadline)) {
    return ::testing::AssertionFailure()
           << "the server kept the connection open for " << deadline.count()
           << " ms after the response; it must close it. Bytes received meanwhile: '"
           << testing::escape_bytes(c.extra_bytes()) << "'";
  }
  if (!c.extra_bytes().empty()) {
    return ::testing::AssertionFailure()
           << "the server closed, but first sent bytes after the response (a smuggled or "
              "extra response?): '"
           << testing::escape_bytes(c.extra_bytes()) << "'";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace serverlab::conformance
