// proxy_fixture.hpp: what the proxy's black-box tests share: backends written in
// the test (FakeBackend), starting http-proxy and our own servers on port 0, and
// reading the proxy's /-/metrics.
//
// FakeBackend: a listening socket on 127.0.0.1:0 and one thread that accepts and
// runs the test's behaviour on each connection (one at a time, in order), so a
// test can make a backend misbehave in exactly one way: answer slowly, reset mid
// response, send garbage. The destructor stops the thread (bounded: the behaviour
// must return once its peer is gone or `stopping()` is true).
//
// Who may call: the test's main thread (a FakeBackend's behaviour runs on its own
// thread and must only touch its connection and atomics). Everything blocks with
// deadlines; nothing talks to anything but 127.0.0.1.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "serverlab/fd.hpp"

namespace serverlab::proxytest {

using namespace std::chrono_literals;
using testing::HttpClient;
using testing::HttpResponse;
using testing::ServerProcess;

class FakeBackend {
 public:
  using Behaviour = std::function<void(int fd, FakeBackend& self)>;
  explicit FakeBackend(Behaviour behaviour);
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  bool stopping() const { return stop_.load(); }

  // Helpers for behaviours. read_head: bytes up to and including the blank line
  // (empty on EOF or after 5 s).
  static std::string read_head(int fd);
  static bool send_all(int fd, std::string_view bytes);

 private:
  void run();
  Fd listen_;
  std::uint16_t port_ = 0;
  Behaviour behaviour_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Paths of the binaries under test ($HTTP_PROXY_BIN etc., else the build's).
std::string proxy_bin();
std::string epoll_bin();
std::string seq_bin();

// http-proxy --port 0 --upstream each of `upstreams`, then `extra`.
std::unique_ptr<ServerProcess> start_proxy(const std::vector<std::string>& upstreams,
                                           const std::vector<std::string>& extra = {});
// A backend server of ours serving `root`.
std::unique_ptr<ServerProcess> start_server(const std::string& bin, const std::string& root,
                                            const std::vector<std::string>& extra = {});

// One request on a fresh connection; nullopt when no response came.
std::optional<HttpResponse> fetch(const ServerProcess& server, std::string_view raw,
                                  std::chrono::milliseconds deadline = 5s);
std::string get_request(std::string_view path, std::string_view extra = "");

// A sample's value from Prometheus text: `name{labels}` exactly as rendered
// (e.g. serverlab_proxy_upstream_requests_total{upstream="127.0.0.1:4000"}); -1 if absent.
double metric(const std::string& text, const std::string& sample);
std::string upstream_sample(std::string_view family, const std::string& address);
std::string metrics_text(const ServerProcess& proxy);

// VmRSS of a process in KiB (0 if it cannot be read).
long rss_kib(int pid);

}  // namespace serverlab::proxytest
