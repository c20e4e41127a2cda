// echo_bench_test.cpp: black-box tests of the echo-bench load generator.
//
// echo-bench runs as a child process against a small echo peer that lives in this test (a
// thread per connection on 127.0.0.1, port 0). The peer can also misbehave: corrupt one byte,
// or swallow input and never answer. These tests check the harness counts what it claims to
// count (round trips, mismatches, timeouts, refused connections), never how fast anything is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;

enum class Behaviour { Echo, CorruptFirstByte, Swallow };

// A TCP echo peer on 127.0.0.1:<free port>, a thread per connection, stopped by the destructor.
class EchoPeer {
 public:
  explicit EchoPeer(Behaviour behaviour)
      : behaviour_(behaviour), listener_(serverlab::listen_tcp("127.0.0.1", 0)) {
    port_ = serverlab::local_address(listener_.get()).port();
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~EchoPeer() {
    stop_ = true;
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (auto& t : workers_) t.join();
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] { serve(Fd(fd)); });
    }
  }
  void serve(Fd conn) {
    char buf[65536];
    bool first = true;
    while (!stop_) {
      pollfd p{conn.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
      if (n <= 0) return;
      if (behaviour_ == Behaviour::Swallow) continue;
      if (behaviour_ == Behaviour::CorruptFirstByte && first) buf[0] = static_cast<char>(~buf[0]);
      first = false;
      if (!serverlab::testing::send_all(conn.get(), std::string_view(buf, static_cast<std::size_t>(n)))) return;
    }
  }

  Behaviour behaviour_;
  Fd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

struct RunResult {
  int exit_status = -1;
  std::string out;
  nlohmann::json json;
};

// Runs echo-bench with args, collects stdout (bounded by a deadline), parses its JSON.
RunResult run_bench(std::vector<std::string> args) {
  const std::string bin = serverlab::testing::binary_from_env("SERVERLAB_ECHO_BENCH", "echo-bench");
  args.insert(args.begin(), bin);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    int devnull = ::open("/dev/null", O_WRONLY);  // usage text on a bad flag: not wanted here
    if (devnull >= 0) ::dup2(devnull, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  Fd out(pipefd[0]);
  RunResult r;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {  // read(2): a pipe is not a socket
    pollfd p{out.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out.get(), buf, sizeof buf);
    if (n <= 0) break;
    r.out.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  for (int i = 0; i < 200; ++i) {  // the child exits right after closing stdout; wait <= 2 s
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  if (r.exit_status == -1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  return r;
}

std::uint64_t total_errors(const nlohmann::json& j) {
  std::uint64_t sum = 0;
  for (auto& [k, v] : j.at("errors").items()) sum += v.get<std::uint64_t>();
  return sum;
}

TEST(EchoBench, PingPongCountsRoundTripsWithNoErrors) {
  EchoPeer peer(Behaviour::Echo);
  auto r = run_bench({"--addr", peer.addr(), "--connections", "4", "--duration", "0.3",
                      "--warmup", "0.1", "--size", "100"});
  ASSERT_FALSE(r.json.is_discarded()) << "stdout: " << serverlab::testing::escape_bytes(r.out);
  EXPECT_EQ(r.exit_status, 0) << r.out;
  EXPECT_GT(r.json.at("round_trips").get<std::uint64_t>(), 0u) << r.out;
  EXPECT_EQ(total_errors(r.json), 0u) << r.out;
  EXPECT_EQ(r.json.at("message_bytes").get<int>(), 100) << r.out;
  const auto& lat = r.json.at("latency_us");
  EXPECT_GT(lat.at("p50").get<double>(), 0.0) << r.out;
  EXPECT_LE(lat.at("p50").get<double>(), lat.at("p99").get<double>()) << r.out;
  EXPECT_LE(lat.at("p99").get<double>(), lat.at("max").get<double>()) << r.out;
}

TEST(EchoBench, StreamReportsBytesEchoedBack) {
  EchoPeer peer(Behaviour::Echo);
  auto r = run_bench({"--addr", peer.addr(), "--mode", "stream", "--connections", "2",
                      "--duration", "0.3", "--warmup", "0.1"});
  ASSERT_FALSE(r.json.is_discarded()) << "stdout: " << serverlab::testing::escape_bytes(r.out);
  EXPECT_EQ(r.exit_status, 0) << r.out;
  EXPECT_GT(r.json.at("bytes_back").get<std::uint64_t>(), 0u) << r.out;
  EXPECT_GT(r.json.at("mb_per_s").get<double>(), 0.0) << r.out;
  EXPECT_EQ(total_errors(r.json), 0u) << r.out;
}

TEST(EchoBench, CountsAMismatchWhenThePeerCorruptsAByte) {
  EchoPeer peer(Behaviour::CorruptFirstByte);
  auto r = run_bench({"--addr", peer.addr(), "--duration", "0.2", "--warmup", "0"});
  ASSERT_FALSE(r.json.is_discarded()) << "stdout: " << serverlab::testing::escape_bytes(r.out);
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_EQ(r.json.at("errors").at("mismatch").get<int>(), 1) << r.out;
}

TEST(EchoBench, CountsATimeoutWhenThePeerNeverAnswers) {
  EchoPeer peer(Behaviour::Swallow);
  auto r = run_bench({"--addr", peer.addr(), "--duration", "0.2", "--warmup", "0",
                      "--timeout", "0.3"});
  ASSERT_FALSE(r.json.is_discarded()) << "stdout: " << serverlab::testing::escape_bytes(r.out);
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_EQ(r.json.at("errors").at("timeout").get<int>(), 1) << r.out;
  EXPECT_EQ(r.json.at("round_trips").get<int>(), 0) << r.out;
}

TEST(EchoBench, CountsRefusedConnections) {
  std::uint16_t port = 0;
  {
    Fd probe = serverlab::listen_tcp("127.0.0.1", 0);
    port = serverlab::local_address(probe.get()).port();
  }  // closed again: nothing listens there now
  auto r = run_bench({"--addr", "127.0.0.1:" + std::to_string(port), "--connections", "3",
                      "--duration", "0.1", "--warmup", "0"});
  ASSERT_FALSE(r.json.is_discarded()) << "stdout: " << serverlab::testing::escape_bytes(r.out);
  EXPECT_EQ(r.exit_status, 1) << r.out;
  EXPECT_EQ(r.json.at("errors").at("connect").get<int>(), 3) << r.out;
}

TEST(EchoBench, BadFlagExitsTwo) {
  auto r = run_bench({"--no-such-flag"});
  EXPECT_EQ(r.exit_status, 2);
}

}  // namespace
