// proxy_fixture.cpp: see proxy_fixture.hpp.
#include "proxy_fixture.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "serverlab/socket.hpp"

namespace serverlab::proxytest {

FakeBackend::FakeBackend(Behaviour behaviour) : behaviour_(std::move(behaviour)) {
  listen_ = listen_tcp("127.0.0.1", 0);
  port_ = local_address(listen_.get()).port();
  thread_ = std::thread([this] { run(); });
}

FakeBackend::~FakeBackend() {
  stop_ = true;
  thread_.join();
}

void FakeBackend::run() {
  while (!stop_) {
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    Fd conn(fd);
    behaviour_(conn.get(), *this);
  }
}

std::string FakeBackend::read_head(int fd) {
  std::string head;
  const auto until = std::chrono::steady_clock::now() + 5s;
  char c = 0;
  while (head.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::recv(fd, &c, 1, 0) != 1) return "";
    head += c;
  }
  return head.find("\r\n\r\n") == std::string::npos ? "" : head;
}

bool FakeBackend::send_all(int fd, std::string_view bytes) { return testing::send_all(fd, bytes); }

namespace {
std::string bin(const char* var, const char* fallback) {
  return testing::binary_from_env(var, fallback);
}
}  // namespace

std::string proxy_bin() { return bin("HTTP_PROXY_BIN", HTTP_PROXY_DEFAULT_BIN); }
std::string epoll_bin() { return bin("HTTP_EPOLL_BIN", HTTP_EPOLL_DEFAULT_BIN); }
std::string seq_bin() { return bin("HTTP_SEQ_BIN", HTTP_SEQ_DEFAULT_BIN); }

std::unique_ptr<ServerProcess> start_proxy(const std::vector<std::string>& upstreams,
                                           const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {proxy_bin(), "--port", "0", "--log-level", "warn"};
  for (const auto& u : upstreams) {
    argv.push_back("--upstream");
    argv.push_back(u);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(argv);
}

std::unique_ptr<ServerProcess> start_server(const std::string& path, const std::string& root,
                                            const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {path, "--port", "0", "--root", root, "--log-level", "warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(argv);
}

std::optional<HttpResponse> fetch(const ServerProcess& server, std::string_view raw,
                                  std::chrono::milliseconds deadline) {
  HttpClient c = HttpClient::connect(server);
  if (!c.send(raw)) return std::nullopt;
  return c.read_response(raw.substr(0, 5) == "HEAD ", deadline);
}

std::string get_request(std::string_view path, std::string_view extra) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: proxy.test\r\n" + std::string(extra) +
         "\r\n";
}

double metric(const std::string& text, const std::string& sample) {
  std::size_t at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + sample.size() + 2, nullptr);
}

std::string upstream_sample(std::string_view family, const std::string& address) {
  return std::string(family) + "{upstream=\"" + address + "\"}";
}

std::string metrics_text(const ServerProcess& proxy) {
  auto r = fetch(proxy, get_request("/-/metrics"));
  return r ? r->body : std::string();
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

}  // namespace serverlab::proxytest
