// The middleware chain seen from outside, on every HTTP stage: request IDs
// (taken, made, echoed, logged as JSON), the JSON access log, and rate limiting
// (429 with Retry-After per client address, the global bucket, and a flood of
// distinct source addresses in 127.0.0.0/8 that must not grow the table).
//
// Each test starts its own server with the flags it needs (they are all off by
// default). Stage 5 keeps one limiter per worker process, so the tests that
// count a client's requests send them on ONE keep-alive connection, which a
// single worker serves; stage 2 closes after each response, and the client
// reconnects (one process there).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "conformance.hpp"
#include "serverlab/sys_error.hpp"

namespace serverlab::conformance {
namespace {

// One client address that keeps its connection open while the server allows it,
// and opens a new one from the same address when the server closed it (stage 2).
class Client {
 public:
  Client(const testing::ServerProcess& server, std::string source)
      : server_(server),
        source_(std::move(source)),
        c_(HttpClient::connect_from(server_, source_)) {}
  HttpResponse send(const std::string& raw) {
    if (closed_) {
      c_ = HttpClient::connect_from(server_, source_);
      closed_ = false;
    }
    HttpResponse r;
    if (c_.send(raw)) {
      if (auto got = c_.read_response()) r = *got;
    }
    closed_ = r.status == 0 || r.closes();
    return r;
  }
  HttpResponse get(std::string_view target, std::string_view extra = "") {
    return send(request("GET", target, extra));
  }

 private:
  const testing::ServerProcess& server_;
  std::string source_;
  HttpClient c_;
  bool closed_ = false;
};

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << "not a JSON line: " << line << " (" << e.what() << ")";
    }
  }
  return out;
}

const nlohmann::json* find_id(const std::vector<nlohmann::json>& lines, const std::string& id) {
  for (const auto& j : lines)
    if (j.value("request_id", "") == id) return &j;
  return nullptr;
}

class Middleware : public PrivateServerTest {};

TEST_F(Middleware, RequestIdsAreTakenOrMadeEchoedAndLoggedAsJson) {
  static int n = 0;
  const std::string log = docroot().base + "/access-json-" + std::to_string(++n) + ".log";
  auto& srv = start({"--request-id", "on", "--access-log-format", "json", "--access-log", log});
  Client c(srv, "127.0.0.1");

  HttpResponse taken = c.get("/hello.txt", "X-Request-Id: client-id-42\r\nUser-Agent: t\"q\r\n");
  ASSERT_EQ(taken.status, 200) << taken.wire();
  EXPECT_EQ(taken.header("X-Request-Id").value_or(""), "client-id-42") << taken.wire();

  HttpResponse made = c.get("/missing.txt");
  EXPECT_EQ(made.status, 404) << made.wire();
  const std::string made_id = made.header("X-Request-Id").value_or("");
  EXPECT_EQ(made_id.size(), 25U) << made.wire();

  HttpResponse bad = c.get("/hello.txt", "X-Request-Id: has\x01control\r\n");
  const std::string replaced = bad.header("X-Request-Id").value_or("");
  EXPECT_EQ(replaced.size(), 25U) << bad.wire();
  EXPECT_NE(replaced, made_id);

  // A head that cannot be parsed still gets an ID, in the response and the log.
  HttpClient raw = HttpClient::connect(srv);
  raw.send("NOT HTTP AT ALL\r\n\r\n");
  auto garbage = raw.read_response();
  ASSERT_TRUE(garbage) << raw.error();
  EXPECT_EQ(garbage->status, 400) << garbage->wire();
  const std::string error_id = garbage->header("X-Request-Id").value_or("");
  EXPECT_FALSE(error_id.empty()) << garbage->wire();

  // A file log is buffered (written within --access-log-flush, 1 s): wait, 10 s at most,
  // for the three lines (stage 5's workers each write their own).
  auto lines = json_lines(log);
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       (!find_id(lines, "client-id-42") || !find_id(lines, made_id) || !find_id(lines, error_id)) &&
       std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    lines = json_lines(log);
  }
  const nlohmann::json* first = find_id(lines, "client-id-42");
  ASSERT_NE(first, nullptr) << "no log line with the client's ID in " << log;
  EXPECT_EQ((*first)["status"], 200);
  EXPECT_EQ((*first)["request"], "GET /hello.txt HTTP/1.1");
  EXPECT_EQ((*first)["peer"], "127.0.0.1");
  EXPECT_EQ((*first)["bytes"], kHello.size());
  EXPECT_EQ((*first)["user_agent"], "t\"q");
  ASSERT_NE(find_id(lines, made_id), nullptr);
  EXPECT_EQ((*find_id(lines, made_id))["status"], 404);
  ASSERT_NE(find_id(lines, error_id), nullptr) << "the 400 has no log line with its ID";
  EXPECT_EQ((*find_id(lines, error_id))["status"], 400);
}

TEST_F(Middleware, ProtocolErrorsCarryTheRequestIdInTheErrorLog) {
  auto& srv = start({"--request-id", "on", "--log-level", "info", "--log-format", "json"});
  HttpClient raw = HttpClient::connect(srv);
  raw.send("GET /a HTTP/1.1\r\nBad Header\r\n\r\n");
  auto r = raw.read_response();
  ASSERT_TRUE(r) << raw.error();
  EXPECT_EQ(r->status, 400) << r->wire();
  const std::string id = r->header("X-Request-Id").value_or("");
  ASSERT_FALSE(id.empty()) << r->wire();
  std::string errors;
  for (int i = 0; i < 50 && errors.find(id) == std::string::npos; ++i) {  // stderr may lag
    std::this_thread::sleep_for(20ms);
    errors = srv.stderr_text();
  }
  EXPECT_NE(errors.find("\"request_id\":\"" + id + "\""), std::string::npos) << errors;
}

TEST_F(Middleware, WithoutTheFlagsNothingChanges) {
  auto& srv = start({});
  Client c(srv, "127.0.0.1");
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = c.get("/hello.txt", "X-Request-Id: abc\r\n");
    ASSERT_EQ(r.status, 200) << r.wire();
    EXPECT_FALSE(r.has("X-Request-Id")) << r.wire();
  }
}

TEST_F(Middleware, EachClientAddressHasItsOwnBucket) {
  auto& srv = start({"--rate-limit", "1", "--rate-limit-burst", "3"});
  Client a(srv, "127.0.2.1");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.get("/hello.txt").status, 200) << "request " << i;
  HttpResponse refused = a.get("/hello.txt");
  ASSERT_EQ(refused.status, 429) << refused.wire();
  int retry = std::stoi(refused.header("Retry-After").value_or("0"));
  EXPECT_GE(retry, 1) << refused.wire();
  EXPECT_LE(retry, 1) << "one token a second comes back within a second";
  Client b(srv, "127.0.2.2");  // another address: its own full bucket
  EXPECT_EQ(b.get("/hello.txt").status, 200);
  // After Retry-After, the first client is served again, on the same worker: its
  // /-/metrics counts the refusal.
  std::this_thread::sleep_for(std::chrono::seconds(retry) + 100ms);
  HttpResponse m = a.get("/-/metrics");
  ASSERT_EQ(m.status, 200) << m.wire();
  EXPECT_GE(metric(m.body, "serverlab_rate_limit_refused_client"), 1) << m.body;
  EXPECT_EQ(metric(m.body, "serverlab_rate_limit_refused_global"), 0) << m.body;
}

TEST_F(Middleware, GlobalBucketCountsEveryRequest) {
  auto& srv = start({"--rate-limit-global", "1", "--rate-limit-global-burst", "4"});
  Client c(srv, "127.0.3.1");
  int ok = 0;
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    int status = c.get("/hello.txt").status;
    ok += status == 200 ? 1 : 0;
    refused += status == 429 ? 1 : 0;
  }
  // 4 at once, plus at most a few refilled while the requests ran (1 a second).
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 6);
  EXPECT_EQ(ok + refused, 8);
}

// The bucket holds its configured rate over time, not only its burst: one client
// asks about 4 times faster than the rate for about 2 s on one connection and
// gets burst + rate x elapsed, within 10%. On stage 5 (--workers 2) that
// connection is served by one worker, whose own bucket answers: this is the
// test that per-worker buckets hold the configured rate. The client sends on a
// fixed schedule (a few hundred requests), so the connection stays under
// --max-keepalive-requests and never moves to the other worker.
//
// What a loaded machine can and cannot change: more admissions than burst +
// rate x elapsed are never possible, so that bound is always checked. Fewer are
// possible when the client itself cannot keep up (then it asks slower than the
// rate, and tokens are wasted): the lower bound is checked only when the client
// sent at least twice the rate; otherwise the test says so and is skipped. The
// burst of 20 absorbs a client stall of up to 0.4 s without losing a token.
TEST_F(Middleware, ABucketHoldsItsRateWithinTenPercent) {
  constexpr int kRate = 50;
  constexpr int kBurst = 20;
  auto& srv = start({"--rate-limit-global", std::to_string(kRate), "--rate-limit-global-burst",
                     std::to_string(kBurst)});
  Client c(srv, "127.0.6.1");
  int admitted = 0;
  int refused = 0;
  const auto start_time = std::chrono::steady_clock::now();
  const auto gap = std::chrono::microseconds(1'000'000 / (4 * kRate));
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  };
  for (int i = 0; i < 900 && elapsed() < 2.0; ++i) {
    std::this_thread::sleep_until(start_time + i * gap);
    int status = c.get("/hello.txt").status;
    ASSERT_TRUE(status == 200 || status == 429) << status;
    (status == 200 ? admitted : refused) += 1;
  }
  const double seconds = elapsed();
  const double expected = kBurst + kRate * seconds;
  EXPECT_LE(admitted, expected * 1.1) << admitted << " admitted in " << seconds << " s";
  const double sent_rate = (admitted + refused) / seconds;
  if (sent_rate < 2 * kRate) {
    GTEST_SKIP() << "the client sent only " << sent_rate << " requests/s (machine too busy to "
                 << "ask faster than the rate): the lower bound was not measured";
  }
  EXPECT_GE(admitted, expected * 0.9) << admitted << " admitted in " << seconds << " s, "
                                      << sent_rate << " requests/s sent";
}

TEST_F(Middleware, AFloodOfAddressesKeepsTheTableBounded) {
  // 128 slots; 600 distinct source addresses, one request each. Every new address
  // starts with a full bucket, so all are served, and the table only evicts.
  auto& srv = start({"--rate-limit", "1", "--rate-limit-burst", "1", "--rate-limit-table", "128"});
  constexpr int kAddresses = 600;
  int served = 0;
  for (int i = 0; i < kAddresses; ++i) {
    std::string source = "127.4." + std::to_string(i / 200) + "." + std::to_string(1 + i % 200);
    HttpClient c = HttpClient::connect_from(srv, source);
    c.send(request("GET", "/hello.txt", "Connection: close\r\n"));
    auto r = c.read_response();
    served += (r && r->status == 200) ? 1 : 0;
  }
  EXPECT_EQ(served, kAddresses);
  // Stage 5's workers each have a table: look at a few (fresh addresses, fresh connections).
  bool saw_evictions = false;
  for (int i = 0; i < 4; ++i) {
    Client probe(srv, "127.5.0." + std::to_string(1 + i));
    HttpResponse m = probe.get("/-/metrics");
    ASSERT_EQ(m.status, 200) << m.wire();
    double clients = metric(m.body, "serverlab_rate_limit_clients");
    EXPECT_GE(clients, 1) << m.body;
    EXPECT_LE(clients, 128) << m.body;
    saw_evictions = saw_evictions || metric(m.body, "serverlab_rate_limit_evictions") > 0;
  }
  EXPECT_TRUE(saw_evictions) << "600 addresses through a 128-slot table evicted nothing";
}

}  // namespace
}  // namespace serverlab::conformance
