#include "conformance.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace serverlab::conformance {
namespace {

namespace fs = std::filesystem;

// Fixed modification time of hello.txt: Thu, 02 Jan 2020 03:04:05 GMT.
constexpr long kHelloMtime = 1577934245;

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void set_mtime(const std::string& path, long seconds) {
  timespec times[2];
  times[0].tv_sec = seconds;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    throw std::runtime_error("utimensat " + path);
  }
}

void make_symlink(const std::string& target, const std::string& link) {
  if (::symlink(target.c_str(), link.c_str()) != 0) throw std::runtime_error("symlink " + link);
}

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

std::unique_ptr<Docroot> build_docroot() {
  auto d = std::make_unique<Docroot>();
  char tmpl[] = "/tmp/serverlab-conformance-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  d->base = tmpl;
  d->root = d->base + "/root";
  d->error_pages = d->base + "/errors";
  const std::string& r = d->root;
  for (const auto& dir : {r, r + "/sub", r + "/plain", r + "/plain/nested", r + "/-",
                          d->base + "/outside", d->base + "/rootx", d->error_pages}) {
    fs::create_directories(dir);
  }
  write_file(r + "/index.html", "<!doctype html><title>root</title><p>ROOT-INDEX</p>\n");
  write_file(r + "/hello.txt", kHello);
  set_mtime(r + "/hello.txt", kHelloMtime);
  d->hello_mtime = kHelloMtime;
  write_file(r + "/empty.txt", "");
  write_file(r + "/style.css", "body { color: #123456; }\n");
  write_file(r + "/app.js", "console.log('conformance');\n");
  write_file(r + "/image.png", std::string_view(reinterpret_cast<const char*>(kPng), sizeof kPng));
  write_file(r + "/logo.svg",
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\"></svg>\n");
  write_file(r + "/data.xyzzy", std::string_view("\x01\x02\x03unknown\xff", 11));
  write_file(r + "/SHOUT.TXT", "LOUD\n");
  d->big = make_big();
  write_file(r + "/big.bin", d->big);
  write_file(r + "/sub/index.html", kSubIndex);
  write_file(r + "/sub/page.txt", kSubPage);
  // Created out of order so a listing sorted by creation order would show it.
  write_file(r + "/plain/zeta.txt", "z\n");
  write_file(r + "/plain/mid.txt", "m\n");
  write_file(r + "/plain/alpha.txt", "a\n");
  write_file(r + "/plain/a&b<c>.txt", "escaped name\n");
  write_file(r + "/plain/sized.bin", std::string(kSizedBin, 's'));
  write_file(r + "/plain/nested/inner.txt", "inner\n");
  write_file(r + "/-/health", kShadowHealth);
  write_file(d->base + "/outside/secret.txt", kSecret);
  write_file(d->base + "/rootx/secret.txt", kSecret);
  write_file(d->error_pages + "/404.html", kCustom404);
  make_symlink("hello.txt", r + "/link-in.txt");
  make_symlink("../outside/secret.txt", r + "/link-out.txt");
  make_symlink("../outside", r + "/link-out-dir");
  make_symlink("../rootx/secret.txt", r + "/link-prefix.txt");
  return d;
}

std::unique_ptr<Docroot>& docroot_storage() {
  static std::unique_ptr<Docroot> d;
  return d;
}

std::vector<std::string> split_words(const char* text) {
  std::vector<std::string> out;
  if (text == nullptr) return out;
  std::istringstream in(text);
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
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
  }
  return {};
}

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

std::vector<std::string> server_argv(Variant v) {
  std::vector<std::string> argv{server_binary()};
  for (const char* var : {"SERVERLAB_DEFAULT_SERVER_ARGS", "SERVERLAB_SERVER_ARGS"}) {
    for (auto& w : split_words(std::getenv(var))) argv.push_back(std::move(w));
  }
  for (const char* a : {"--port", "0", "--log-level", "warn"}) argv.emplace_back(a);
  argv.emplace_back("--root");
  argv.push_back(docroot().root);
  for (auto& f : variant_flags(v)) argv.push_back(std::move(f));
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
    if (auto& d = docroot_storage()) {
      std::error_code ec;
      fs::remove_all(d->base, ec);
      d.reset();
    }
  }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SuiteEnvironment);

}  // namespace

const Docroot& docroot() {
  auto& d = docroot_storage();
  if (!d) d = build_docroot();
  return *d;
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

Response HttpTest::exchange(std::string_view raw, bool head_request,
                            std::chrono::milliseconds deadline) {
  Client c = connect();
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
  Response r = get("/hello.txt");
  EXPECT_EQ(r.status, 200) << "after this test, a fresh connection no longer gets a 200 for "
                              "/hello.txt: the server stopped serving.\nresponse: "
                           << r.wire();
  EXPECT_EQ(r.body, kHello);
}

::testing::AssertionResult closes_after(Client& c, std::chrono::milliseconds deadline) {
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
