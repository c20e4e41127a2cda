// Black-box tests of http-prefork: what stage 5 adds on top of the shared conformance suite.
// The scoreboard's numbers add up to the requests made, /server-status renders as JSON, text
// and HTML, the master spreads connections over its workers, respawns a killed worker,
// replaces every worker on SIGHUP without failing a request, recycles a worker after
// --max-requests-per-worker, leaks no descriptor, and leaves no process behind.
//
// Each test starts the real binary on 127.0.0.1 port 0. Loads are bounded in requests and
// time; processes are signalled only by the pids the server itself reports on its board.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "server_process.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using serverlab::Fd;
using serverlab::testing::escape_bytes;
using serverlab::testing::HttpClient;
using serverlab::testing::HttpResponse;
using serverlab::testing::recv_until_eof;
using serverlab::testing::send_all;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string server_binary() {
  return serverlab::testing::server_binary("HTTP_PREFORK_BIN", HTTP_PREFORK_DEFAULT_BIN);
}

// A document root holding a.txt ("alpha\n"), removed with everything in it.
struct DocRoot : TempDir {
  DocRoot() : TempDir("http-prefork-test") { write("a.txt", "alpha\n"); }
};

// One request on a fresh connection (Connection: close), read with the shared strict
// client. nullopt when the connection failed or no complete response with its whole
// body arrived; *wire_out gets the bytes received either way.
std::optional<HttpResponse> fetch(const ServerProcess& server, const std::string& target,
                                  std::string* wire_out = nullptr) {
  std::optional<HttpClient> c;
  try {
    c.emplace(HttpClient::connect(server));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!c->send("GET " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")) {
    return std::nullopt;
  }
  std::optional<HttpResponse> r = c->read_response();
  if (wire_out != nullptr) *wire_out = r ? r->raw : c->extra_bytes();
  if (r && !r->has("Content-Length")) return std::nullopt;  // every answer here is sized
  return r;
}

// /server-status?json, or nullopt when the request or the parse failed.
std::optional<json> try_status_json(const ServerProcess& server, std::string* wire) {
  auto r = fetch(server, "/server-status?json", wire);
  if (!r || r->status != 200) return std::nullopt;
  json parsed = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

json status_json(const ServerProcess& server) {
  std::string wire;
  std::optional<json> status = try_status_json(server, &wire);
  if (!status) {
    ADD_FAILURE() << "GET /server-status?json failed: " << escape_bytes(wire);
    return json::object();
  }
  return *status;
}

// While a worker is being killed, a request the master had already passed to it is lost
// with it; a poll of the board may fail then, and simply tries again.
std::set<int> live_pids(const json& status);
std::set<int> live_pids_or_none(const ServerProcess& server) {
  std::string wire;
  std::optional<json> status = try_status_json(server, &wire);
  return status ? live_pids(*status) : std::set<int>{};
}

std::set<int> live_pids(const json& status) {
  std::set<int> pids;
  if (!status.contains("workers")) return pids;
  for (const json& w : status["workers"]) {
    if (w.value("pid", 0) != 0 && w.value("state", ".") != ".") pids.insert(w["pid"].get<int>());
  }
  return pids;
}

// The process is gone: reaped by its parent, so /proc has no entry for it any more.
bool process_gone(int pid) { return !fs::exists("/proc/" + std::to_string(pid)); }

// Polls `done` every 20 ms until it holds or `deadline` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

// Background clients: `threads` threads each make up to `per_thread` requests (one per
// connection) until stop() or the count runs out, and keep score.
class Load {
 public:
  Load(const ServerProcess& server, int threads, int per_thread) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &server, per_thread] {
        for (int i = 0; i < per_thread && !stop_; ++i) {
          std::string wire;
          auto r = fetch(server, "/a.txt", &wire);
          if (r && r->status == 200 && r->body == "alpha\n") {
            ++ok_;
          } else {
            std::lock_guard lock(mutex_);
            if (failures_.size() < 5) failures_.push_back(escape_bytes(wire));
            ++failed_;
          }
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  std::string failures() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& f : failures_) out += "  [" + f + "]\n";
    return out;
  }

 private:
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> failures_;
};

// Runs the binary to completion (stdout/stderr discarded); its exit status, or -1.
int run_to_exit(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) return -1;
  const auto until = Clock::now() + 10s;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A worker that trips a sanitizer dies and is respawned, which no request may notice: so
// the server's stderr is checked as well as its exit status.
void expect_no_sanitizer_report(const ServerProcess& server) {
  const std::string err = server.stderr_text();
  EXPECT_EQ(err.find("Sanitizer"), std::string::npos) << err;
  EXPECT_EQ(err.find("runtime error"), std::string::npos) << err;
}

void expect_clean_stop(ServerProcess& server) {
  EXPECT_EQ(server.stop(), 0) << server.stderr_text();
  expect_no_sanitizer_report(server);
}

class HttpPrefork : public ::testing::Test {
 protected:
  std::vector<std::string> argv(std::vector<std::string> extra) const {
    std::vector<std::string> a = {server_binary(), "--port",      "0",   "--root",
                                  root_.path(),    "--log-level", "warn"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  DocRoot root_;
};

// ------------------------------------------------------------------ flags

TEST_F(HttpPrefork, HelpExitsZero) { EXPECT_EQ(run_to_exit({server_binary(), "--help"}), 0); }

TEST_F(HttpPrefork, BadFlagExitsTwo) {
  EXPECT_EQ(run_to_exit({server_binary(), "--no-such-flag"}), 2);
  EXPECT_EQ(run_to_exit({server_binary(), "--accept", "telepathy"}), 2);
  EXPECT_EQ(run_to_exit({server_binary(), "--workers", "0"}), 2);
}

// ------------------------------------------------------------------ scoreboard

TEST_F(HttpPrefork, StatusJsonTotalsEqualTheRequestsMade) {
  ServerProcess server(argv({"--workers", "2"}));
  constexpr int kRequests = 30;
  for (int i = 0; i < kRequests; ++i) {
    std::string wire;
    auto r = fetch(server, "/a.txt", &wire);
    ASSERT_TRUE(r && r->status == 200) << escape_bytes(wire);
  }
  // A status request is counted once its response is queued, i.e. after it rendered the
  // board: the first one shows exactly the K requests, the second K + 1.
  json first = status_json(server);
  ASSERT_TRUE(first.contains("totals")) << first.dump();
  EXPECT_EQ(first["totals"]["requests"].get<std::uint64_t>(), std::uint64_t{kRequests})
      << first.dump(2);
  json second = status_json(server);
  EXPECT_EQ(second["totals"]["requests"].get<std::uint64_t>(), std::uint64_t{kRequests} + 1)
      << second.dump(2);

  // The fields are there, and the per-worker rows add up to the totals.
  for (const char* key : {"generation", "uptime_seconds", "start_time", "scoreboard"}) {
    EXPECT_TRUE(second.contains(key)) << key;
  }
  for (const char* key :
       {"bytes", "active_connections", "live_workers", "busy_workers", "idle_workers"}) {
    EXPECT_TRUE(second["totals"].contains(key)) << key;
  }
  EXPECT_EQ(second["totals"]["live_workers"].get<int>(), 2);
  EXPECT_EQ(second["workers"].size(), 4u);  // two slots per worker: room for a generation
  std::uint64_t sum = 0;
  std::uint64_t bytes = 0;
  for (const json& w : second["workers"]) {
    for (const char* key : {"slot", "pid", "state", "generation", "incarnation", "requests",
                            "bytes", "active_connections"}) {
      EXPECT_TRUE(w.contains(key)) << key << " in " << w.dump();
    }
    sum += w["requests"].get<std::uint64_t>();
    bytes += w["bytes"].get<std::uint64_t>();
  }
  EXPECT_EQ(sum, std::uint64_t{kRequests} + 1);
  EXPECT_EQ(bytes, second["totals"]["bytes"].get<std::uint64_t>());
  // Every response carries at least "alpha\n" plus a head.
  EXPECT_GT(bytes, std::uint64_t{kRequests} * 6);
  expect_clean_stop(server);
}

TEST_F(HttpPrefork, StatusAutoIsApacheStyleText) {
  ServerProcess server(argv({"--workers", "2"}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(fetch(server, "/a.txt"));
  std::string wire;
  auto r = fetch(server, "/server-status?auto", &wire);
  ASSERT_TRUE(r && r->status == 200) << escape_bytes(wire);
  EXPECT_EQ(r->header("Content-Type").value_or("").rfind("text/plain", 0), 0u) << r->wire();

  std::map<std::string, std::string> fields;
  std::size_t start = 0;
  while (start < r->body.size()) {
    std::size_t nl = r->body.find('\n', start);
    ASSERT_NE(nl, std::string::npos) << "unterminated line: " << escape_bytes(r->body);
    const std::string line = r->body.substr(start, nl - start);
    const std::size_t colon = line.find(": ");
    ASSERT_NE(colon, std::string::npos) << "not 'Key: value': " << escape_bytes(line);
    fields[line.substr(0, colon)] = line.substr(colon + 2);
    start = nl + 1;
  }
  for (const char* key : {"Total Accesses", "Total kBytes", "Uptime", "ConnsTotal", "BusyWorkers",
                          "IdleWorkers", "Scoreboard"}) {
    EXPECT_TRUE(fields.count(key)) << key << " missing in " << escape_bytes(r->body);
  }
  EXPECT_EQ(fields["Total Accesses"], "3");
  EXPECT_EQ(fields["Scoreboard"].size(), 4u) << fields["Scoreboard"];
  EXPECT_EQ(std::count(fields["Scoreboard"].begin(), fields["Scoreboard"].end(), '.'), 2)
      << "two open slots next to two live workers: " << fields["Scoreboard"];
  expect_clean_stop(server);
}

TEST_F(HttpPrefork, StatusHtmlListsEveryLiveWorker) {
  ServerProcess server(argv({"--workers", "2"}));
  const std::set<int> pids = live_pids(status_json(server));
  ASSERT_EQ(pids.size(), 2u);
  std::string wire;
  auto r = fetch(server, "/server-status", &wire);
  ASSERT_TRUE(r && r->status == 200) << escape_bytes(wire);
  EXPECT_EQ(r->header("Content-Type").value_or("").rfind("text/html", 0), 0u) << r->wire();
  for (int pid : pids) {
    EXPECT_NE(r->body.find("<td>" + std::to_string(pid) + "</td>"), std::string::npos)
        << pid << " not in " << escape_bytes(r->body);
  }
  expect_clean_stop(server);
}

TEST_F(HttpPrefork, StatusIsAnOrdinaryPathWithAdminOff) {
  ServerProcess server(argv({"--workers", "1", "--admin", "off"}));
  auto r = fetch(server, "/server-status?json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->wire();
  expect_clean_stop(server);
}

// ------------------------------------------------------------------ the master's pick

TEST_F(HttpPrefork, LoadSpreadsOverTheWorkers) {
  ServerProcess server(argv({"--workers", "2"}));
  // Sixteen connections open at once: the master gives each to the worker holding fewer.
  std::vector<Fd> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(server.connect());
  for (Fd& c : clients) {
    ASSERT_TRUE(send_all(c.get(), "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  }
  for (Fd& c : clients) {
    const std::string wire = recv_until_eof(c.get(), 5s);
    ASSERT_EQ(wire.rfind("HTTP/1.1 200", 0), 0u) << escape_bytes(wire);
  }
  json status = status_json(server);
  int serving = 0;
  for (const json& w : status["workers"]) {
    if (w["state"] == ".") continue;
    ++serving;
    EXPECT_GT(w["requests"].get<int>(), 0) << "one worker got nothing:\n" << status.dump(2);
    EXPECT_LT(w["requests"].get<int>(), 16) << "one worker got everything:\n" << status.dump(2);
  }
  EXPECT_EQ(serving, 2);
  expect_clean_stop(server);
}

// Workers the board shows serving (not open, not draining): what the pool holds now.
int serving_workers(const json& status) {
  int n = 0;
  if (!status.contains("workers")) return 0;
  for (const json& w : status["workers"]) {
    const std::string state = w.value("state", ".");
    if (state != "." && state != "C") ++n;
  }
  return n;
}

TEST_F(HttpPrefork, PoolGrowsUnderLoadAndShrinksWhenIdle) {
  ServerProcess server(argv({"--workers", "1", "--max-workers", "4", "--min-spare", "1",
                             "--max-spare", "1", "--keepalive-timeout", "60"}));
  EXPECT_EQ(serving_workers(status_json(server)), 1);

  // Step up: keep-alive clients that stay open make every worker busy, so the master is
  // short of spare workers and starts more. New clients keep coming (3 every 250 ms, at most
  // 60), so each new worker gets some and is busy in turn.
  std::vector<HttpClient> held;
  const bool grew = eventually(
      [&] {
        for (int k = 0; k < 3 && held.size() < 60; ++k) {
          HttpClient c = HttpClient::connect(server);
          if (!c.send("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")) return false;
          auto r = c.read_response();
          if (!r || r->status != 200) return false;
          held.push_back(std::move(c));
        }
        std::this_thread::sleep_for(250ms);
        return serving_workers(status_json(server)) >= 3;
      },
      30s);
  json status = status_json(server);
  ASSERT_TRUE(grew) << held.size() << " clients held:\n" << status.dump(2);
  EXPECT_LE(serving_workers(status), 4) << "--max-workers is the ceiling";

  // Step down: the clients leave; the spare workers drain and exit, one a second, down
  // to --workers, while other clients keep being served without a failure.
  held.clear();
  Load load(server, 2, 400);
  const bool shrank = eventually([&] { return serving_workers(status_json(server)) == 1; }, 30s);
  load.stop();
  status = status_json(server);
  EXPECT_TRUE(shrank) << status.dump(2);
  EXPECT_EQ(load.failed(), 0) << load.failures();

  // The master's once-a-second samples show the rise and the fall.
  const std::vector<int> history = status["worker_history"].get<std::vector<int>>();
  ASSERT_FALSE(history.empty());
  EXPECT_GE(*std::max_element(history.begin(), history.end()), 3) << status.dump(2);
  EXPECT_EQ(history.back(), 1) << status.dump(2);
  expect_clean_stop(server);
}

TEST_F(HttpPrefork, ScalingFlagsThatContradictEachOtherExitTwo) {
  EXPECT_EQ(run_to_exit(argv({"--workers", "3", "--max-workers", "2"})), 2);
  EXPECT_EQ(run_to_exit(argv({"--max-workers", "4", "--min-spare", "3", "--max-spare", "2"})), 2);
  EXPECT_EQ(run_to_exit(argv({"--workers", "1", "--max-workers", "2", "--accept", "reuseport"})),
            2);
}

TEST_F(HttpPrefork, MasterHoldsNoDescriptorOfPassedConnections) {
  ServerProcess server(argv({"--workers", "2"}));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(fetch(server, "/a.txt"));  // warm up
  // A worker may answer before the master has closed its copy (the close follows the
  // sendmsg, and the worker can run in between), so a count taken right after a response
  // can include one passed connection: compare counts once the master has caught up.
  int before = server.fd_count();
  ASSERT_GT(before, 0);
  for (int k = 0; k < 10; ++k) {  // 200 ms for the master to close what it passed last
    std::this_thread::sleep_for(20ms);
    before = std::min(before, server.fd_count());
  }
  for (int i = 0; i < 1000; ++i) {
    std::string wire;
    auto r = fetch(server, "/a.txt", &wire);
    ASSERT_TRUE(r && r->status == 200) << "request " << i << ": " << escape_bytes(wire);
  }
  int after = 0;
  EXPECT_TRUE(eventually([&] { return (after = server.fd_count()) <= before; }, 5s))
      << after << " descriptors after 1000 connections, " << before << " before";
  expect_clean_stop(server);
}

TEST_F(HttpPrefork, PausesAcceptingWhileEveryWorkerIsFull) {
  ServerProcess server(argv({"--workers", "1", "--worker-connections", "2"}));
  Fd a = server.connect();
  Fd b = server.connect();
  // Both are served (kept alive), so the single worker is at its limit.
  for (Fd* c : {&a, &b}) {
    ASSERT_TRUE(send_all(c->get(), "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
    const std::string wire = serverlab::testing::recv_until(c->get(), "alpha\n", 5s);
    ASSERT_NE(wire.find("alpha\n"), std::string::npos) << escape_bytes(wire);
  }
  Fd third = server.connect();  // completes in the kernel's backlog
  ASSERT_TRUE(send_all(third.get(), "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  pollfd p{third.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 300), 0) << "a third connection was served past the limit";
  a.reset();  // room again: the master accepts and passes it
  const std::string wire = recv_until_eof(third.get(), 5s);
  EXPECT_EQ(wire.rfind("HTTP/1.1 200", 0), 0u) << escape_bytes(wire);
  expect_clean_stop(server);
}

// The channel to a worker holds a few hundred messages (its send buffer: about 280 on
// Debian's defaults). With the only worker stopped, more clients than that connect:
// the master fills the channel, holds the next connection and stops accepting. Once
// the worker runs again, the master sends the held connection as soon as the channel
// has room and takes the rest from the backlog: every client is answered, none lost.
TEST_F(HttpPrefork, BurstLargerThanTheChannelIsServedInFull) {
  ServerProcess server(argv({"--workers", "1"}));
  const std::set<int> pids = live_pids(status_json(server));
  ASSERT_EQ(pids.size(), 1u);
  const int worker = *pids.begin();
  struct Resume {  // a failed assertion below must not leave our worker stopped
    int pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{worker};
  ASSERT_EQ(::kill(worker, SIGSTOP), 0);

  constexpr int kClients = 450;  // more than the channel holds, fewer than the backlog (511)
  std::vector<Fd> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(server.connect());
    ASSERT_TRUE(send_all(clients.back().get(),
                         "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  }
  std::this_thread::sleep_for(200ms);  // the master fills the channel and holds one
  ASSERT_EQ(::kill(worker, SIGCONT), 0);
  for (int i = 0; i < kClients; ++i) {
    const std::string wire = recv_until_eof(clients[static_cast<std::size_t>(i)].get(), 10s);
    EXPECT_EQ(wire.rfind("HTTP/1.1 200", 0), 0u) << "client " << i << ": " << escape_bytes(wire);
  }
  expect_clean_stop(server);
}

// ------------------------------------------------------------------ process management

TEST_F(HttpPrefork, KilledWorkerIsRespawned) {
  ServerProcess server(argv({"--workers", "2"}));
  const std::set<int> before = live_pids(status_json(server));
  ASSERT_EQ(before.size(), 2u);
  const int victim = *before.begin();
  {
    Load load(server, 2, 2000);
    ASSERT_TRUE(eventually([&] { return load.ok() >= 20; })) << load.failures();
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    std::set<int> now;
    EXPECT_TRUE(eventually([&] {
      now = live_pids_or_none(server);
      return now.size() == 2 && !now.count(victim) && process_gone(victim);
    })) << "live workers after kill -9 of "
        << victim << ": " << json(now).dump();
    load.stop();
  }
  for (int i = 0; i < 10; ++i) {
    std::string wire;
    auto r = fetch(server, "/a.txt", &wire);
    EXPECT_TRUE(r && r->status == 200) << escape_bytes(wire);
  }
  expect_clean_stop(server);
}

class HttpPreforkModes : public HttpPrefork, public ::testing::WithParamInterface<const char*> {};

TEST_P(HttpPreforkModes, SighupReplacesEveryWorkerWithoutAFailedRequest) {
  ServerProcess server(argv({"--workers", "2", "--accept", GetParam()}));
  const json first = status_json(server);
  const std::set<int> old = live_pids(first);
  ASSERT_EQ(old.size(), 2u);
  const auto generation = first["generation"].get<std::uint64_t>();
  {
    Load load(server, 4, 400);
    ASSERT_TRUE(eventually([&] { return load.ok() >= 40; })) << load.failures();
    server.signal(SIGHUP);
    std::set<int> now;
    EXPECT_TRUE(eventually([&] {
      json s = status_json(server);
      now = live_pids(s);
      if (s.value("generation", std::uint64_t{0}) != generation + 1 || now.size() != 2) {
        return false;
      }
      for (int pid : old) {
        if (now.count(pid) || !process_gone(pid)) return false;
      }
      return true;
    })) << "old "
        << json(old).dump() << ", live now " << json(now).dump();
    const int at_switch = load.ok();
    EXPECT_TRUE(eventually([&] { return load.ok() >= at_switch + 40; })) << load.failures();
    load.stop();
    EXPECT_EQ(load.failed(), 0) << load.ok() << " ok; failures:\n" << load.failures();
  }
  expect_clean_stop(server);
}

INSTANTIATE_TEST_SUITE_P(AcceptModes, HttpPreforkModes,
                         ::testing::Values("passfd", "shared", "reuseport"));

TEST_F(HttpPrefork, MaxRequestsPerWorkerRecyclesTheWorker) {
  ServerProcess server(argv({"--workers", "1", "--max-requests-per-worker", "5"}));
  const std::set<int> first = live_pids(status_json(server));
  ASSERT_EQ(first.size(), 1u);
  const int original = *first.begin();
  for (int i = 0; i < 10; ++i) {
    std::string wire;
    auto r = fetch(server, "/a.txt", &wire);
    ASSERT_TRUE(r && r->status == 200) << "request " << i << ": " << escape_bytes(wire);
  }
  std::set<int> now;
  EXPECT_TRUE(eventually([&] {
    now = live_pids(status_json(server));
    return now.size() == 1 && !now.count(original) && process_gone(original);
  })) << "worker "
      << original << " still serving: " << json(now).dump();
  expect_clean_stop(server);
}

TEST_F(HttpPrefork, SigtermStopsMasterAndEveryWorker) {
  ServerProcess server(argv({"--workers", "3"}));
  const std::set<int> pids = live_pids(status_json(server));
  ASSERT_EQ(pids.size(), 3u);
  Fd idle = server.connect();  // an open connection must not hold the stop up
  EXPECT_EQ(server.stop(SIGTERM, 10s), 0) << server.stderr_text();
  expect_no_sanitizer_report(server);
  for (int pid : pids) EXPECT_TRUE(process_gone(pid)) << "worker " << pid << " left behind";
}

TEST_F(HttpPrefork, SigquitFinishesARequestInProgressThenExits) {
  ServerProcess server(argv({"--workers", "2"}));
  const std::set<int> pids = live_pids(status_json(server));
  Fd c = server.connect();
  ASSERT_TRUE(send_all(c.get(), "GET /a.txt HTTP/1.1\r\nHost: t\r\n"));  // head not finished
  std::this_thread::sleep_for(100ms);  // let the worker read the first half
  server.signal(SIGQUIT);
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(send_all(c.get(), "\r\n"));
  const std::string wire = recv_until_eof(c.get(), 5s);
  // The whole response, then EOF (recv_until_eof returns early only at EOF).
  EXPECT_EQ(wire.rfind("HTTP/1.1 200", 0), 0u) << escape_bytes(wire);
  EXPECT_TRUE(wire.ends_with("alpha\n")) << escape_bytes(wire);
  EXPECT_EQ(server.wait(10s), std::optional<int>(0)) << server.stderr_text();
  expect_no_sanitizer_report(server);
  for (int pid : pids) EXPECT_TRUE(process_gone(pid)) << "worker " << pid << " left behind";
}

TEST_F(HttpPrefork, WorkerThatCannotServeTheConfigIsNotRespawned) {
  // The master checked the root at start; then it disappears, so a respawned worker fails
  // with the "fatal config" status. With no worker left to run, the master gives up (1).
  DocRoot doomed;
  ServerProcess server({server_binary(), "--port", "0", "--root", doomed.path(), "--workers", "1",
                        "--log-level", "error"});
  const std::set<int> pids = live_pids(status_json(server));
  ASSERT_EQ(pids.size(), 1u);
  fs::remove_all(doomed.path());
  ASSERT_EQ(::kill(*pids.begin(), SIGKILL), 0);
  EXPECT_EQ(server.wait(10s), std::optional<int>(1)) << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("not respawning"), std::string::npos) << server.stderr_text();
}

}  // namespace
