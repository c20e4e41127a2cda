// The middleware chain's pieces, one at a time: TokenBucket, RateLimiter (its
// fixed-size table under a flood of addresses, the global bucket, threads),
// Router (exact, prefix, 405 with Allow), request IDs, the JSON access log, and
// HttpService running the chain (429 with Retry-After, X-Request-Id echoed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>
#include <thread>
#include <vector>

#include "http_test_support.hpp"
#include "serverlab/http/access_log.hpp"
#include "serverlab/http/api_notes.hpp"
#include "serverlab/http/auth.hpp"
#include "serverlab/http/rate_limit.hpp"
#include "serverlab/http/request_id.hpp"
#include "serverlab/http/router.hpp"
#include "serverlab/http/service.hpp"

namespace serverlab::http {
namespace {

using test::extra_header;
using test::ParsedRequest;
using test::TempDir;

constexpr std::int64_t kSecond = 1'000'000'000;

// ---------------------------------------------------------------- TokenBucket

TEST(TokenBucket, AdmitsTheBurstThenRefusesUntilRefilled) {
  TokenBucket b(10, 3);  // 10 a second, 3 at once
  std::int64_t t = 5 * kSecond;
  EXPECT_TRUE(b.try_take(t));
  EXPECT_TRUE(b.try_take(t));
  EXPECT_TRUE(b.try_take(t));
  EXPECT_FALSE(b.try_take(t));
  EXPECT_NEAR(b.seconds_until_token(t), 0.1, 1e-9);
  EXPECT_FALSE(b.try_take(t + kSecond / 20));  // half a token back
  EXPECT_TRUE(b.try_take(t + kSecond / 10));   // a whole one
  EXPECT_FALSE(b.try_take(t + kSecond / 10));
}

TEST(TokenBucket, NeverHoldsMoreThanTheBurst) {
  TokenBucket b(100, 2);
  EXPECT_TRUE(b.try_take(0));
  std::int64_t later = 3600 * kSecond;  // an hour idle refills only to 2
  EXPECT_TRUE(b.try_take(later));
  EXPECT_TRUE(b.try_take(later));
  EXPECT_FALSE(b.try_take(later));
}

TEST(TokenBucket, ClockGoingBackwardsAddsNothing) {
  TokenBucket b(1, 1);
  EXPECT_TRUE(b.try_take(10 * kSecond));
  EXPECT_FALSE(b.try_take(5 * kSecond));
  EXPECT_FALSE(b.try_take(10 * kSecond + kSecond / 2));
  EXPECT_TRUE(b.try_take(11 * kSecond));
}

TEST(TokenBucket, HoldsItsRateOverManySteps) {
  TokenBucket b(50, 5);
  int admitted = 0;
  for (int ms = 0; ms < 10'000; ++ms)  // a request every millisecond for 10 s
    admitted += b.try_take(static_cast<std::int64_t>(ms) * kSecond / 1000) ? 1 : 0;
  EXPECT_GE(admitted, 500);  // 5 burst + 50/s * ~10 s
  EXPECT_LE(admitted, 506);
}

// ---------------------------------------------------------------- RateLimiter

RateLimiter::Clock::time_point at(double seconds) {
  return RateLimiter::Clock::time_point(
      std::chrono::duration_cast<RateLimiter::Clock::duration>(std::chrono::duration<double>(seconds)));
}

TEST(RateLimiter, EachClientHasItsOwnBucket) {
  RateLimiter l({2, 2, 0, 0, 256});
  EXPECT_TRUE(l.admit("10.0.0.1", at(1)).admitted);
  EXPECT_TRUE(l.admit("10.0.0.1", at(1)).admitted);
  RateLimiter::Decision refused = l.admit("10.0.0.1", at(1));
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after, 1);
  EXPECT_TRUE(l.admit("10.0.0.2", at(1)).admitted);
  EXPECT_TRUE(l.admit("10.0.0.1", at(1.6)).admitted);  // 0.5 s brings one token back
  EXPECT_EQ(l.refused_client(), 1U);
  EXPECT_EQ(l.refused_global(), 0U);
}

TEST(RateLimiter, RetryAfterRoundsUpToWholeSeconds) {
  RateLimiter l({1, 1, 0, 0, 128});
  // A rate under 1 a second is not possible from flags; 1 a second waits up to 1 s.
  EXPECT_TRUE(l.admit("a", at(0)).admitted);
  EXPECT_EQ(l.admit("a", at(0.01)).retry_after, 1);
}

TEST(RateLimiter, GlobalBucketCoversEveryClient) {
  RateLimiter l({0, 0, 3, 3, 128});
  EXPECT_TRUE(l.admit("10.0.0.1", at(1)).admitted);
  EXPECT_TRUE(l.admit("10.0.0.2", at(1)).admitted);
  EXPECT_TRUE(l.admit("10.0.0.3", at(1)).admitted);
  EXPECT_FALSE(l.admit("10.0.0.4", at(1)).admitted);
  EXPECT_EQ(l.refused_global(), 1U);
  EXPECT_EQ(l.clients_tracked(), 0U);  // no per-client bucket configured
}

TEST(RateLimiter, MemoryStaysBoundedUnderAFloodOfAddresses) {
  RateLimiter l({1, 1, 0, 0, 1024});
  const std::size_t capacity = l.capacity();
  EXPECT_GE(capacity, 1024U);
  EXPECT_LE(capacity, 2048U);
  for (int i = 0; i < 100'000; ++i) {
    std::string address = fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    EXPECT_TRUE(l.admit(address, at(1)).admitted) << address;  // each new address starts full
  }
  EXPECT_EQ(l.clients_tracked(), capacity);
  EXPECT_EQ(l.evictions(), 100'000U - capacity);
}

TEST(RateLimiter, AFloodEvictsTheQuietestNotTheBusiest) {
  RateLimiter l({1, 1, 0, 0, 128});
  // The client of interest is seen just now; the flood's addresses are older.
  for (int i = 0; i < 1000; ++i) l.admit(fmt::format("10.0.{}.{}", i / 256, i % 256), at(1));
  EXPECT_TRUE(l.admit("192.168.1.1", at(2)).admitted);
  EXPECT_FALSE(l.admit("192.168.1.1", at(2)).admitted);  // remembered: its bucket is empty
  EXPECT_FALSE(l.admit("192.168.1.1", at(2.5)).admitted);
}

TEST(RateLimiter, ThreadsShareItSafely) {  // run under TSan by `make tsan`
  RateLimiter l({1000, 1000, 0, 0, 256});
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i)
        if (l.admit(fmt::format("10.0.0.{}", (i + t) % 8), at(1)).admitted) ++admitted;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 8 * 1000);  // 8 clients, 1000 tokens each, no time passes
  EXPECT_EQ(l.refused_client(), 4U * 3000U - 8000U);
}

// ---------------------------------------------------------------- Router

Router::Handler marker(std::string name) {
  return [name](Exchange&, const Request&, Response& r) { r.owned_text = name; };
}

std::string run(const Router& router, Method m, std::string_view path) {
  Router::Found f = router.find(m, path);
  if (f.kind == Router::Found::NotFound) return "none";
  if (f.kind == Router::Found::MethodNotAllowed) return "405 " + std::string(f.allow);
  Exchange ex;
  Request req;
  Response resp;
  (*f.handler)(ex, req, resp);
  return resp.owned_text;
}

TEST(Router, ExactPrefixLongestAndMethods) {
  Router r;
  r.add(Router::Match::Exact, "/-/health", {Method::Get}, marker("health"));
  r.add(Router::Match::Prefix, "/api", {Method::Get}, marker("api"));
  r.add(Router::Match::Prefix, "/api/notes", {Method::Get, Method::Post}, marker("notes"));
  r.add(Router::Match::Prefix, "/api/notes", {Method::Delete}, marker("delete"));
  EXPECT_EQ(run(r, Method::Get, "/-/health"), "health");
  EXPECT_EQ(run(r, Method::Head, "/-/health"), "health");
  EXPECT_EQ(run(r, Method::Post, "/-/health"), "405 GET, HEAD");
  EXPECT_EQ(run(r, Method::Get, "/-/health/x"), "none");  // exact means exact
  EXPECT_EQ(run(r, Method::Get, "/api/notes/7"), "notes");
  EXPECT_EQ(run(r, Method::Get, "/api/notes"), "notes");
  EXPECT_EQ(run(r, Method::Delete, "/api/notes/7"), "delete");
  EXPECT_EQ(run(r, Method::Put, "/api/notes/7"), "405 GET, HEAD, POST, DELETE");
  EXPECT_EQ(run(r, Method::Get, "/api/other"), "api");
  EXPECT_EQ(run(r, Method::Get, "/apix"), "none");  // a prefix stops at a segment boundary
  EXPECT_EQ(run(r, Method::Get, "/"), "none");
}

// ---------------------------------------------------------------- request IDs

TEST(RequestId, ValidationBoundsLengthAndCharacters) {
  EXPECT_TRUE(valid_request_id("abc-123_x.y:z+/=@"));
  EXPECT_TRUE(valid_request_id(std::string(kMaxRequestIdLength, 'a')));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(kMaxRequestIdLength + 1, 'a')));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a\"b"));
  EXPECT_FALSE(valid_request_id(std::string_view("a\0b", 3)));
  EXPECT_FALSE(valid_request_id("a\r\nSet-Cookie: x"));
  EXPECT_FALSE(valid_request_id("caf\xC3\xA9"));
}

TEST(RequestId, GeneratedIdsAreValidAndDistinctAcrossThreads) {
  std::set<std::string> ids;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::string id;
      for (int i = 0; i < 1000; ++i) {
        make_request_id(id);
        EXPECT_TRUE(valid_request_id(id)) << id;
        std::lock_guard lock(m);
        ids.insert(id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ids.size(), 4000U);
}

// ---------------------------------------------------------------- access log

TEST(AccessLogJson, EveryLineIsValidJsonWhateverTheClientSent) {
  std::string hostile = "GET /\"},{\"status\":200 \\ \x01\x1b[31m \xff\xc3\xa9 HTTP/1.1";
  AccessLogEntry e{"127.0.0.1", hostile, 404, 123, "", "ua\"\n", "", "id-1", 0.0015};
  std::string line;
  AccessLog::format_json(line, e, "2026-11-30T07:00:00Z");
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line only";
  for (char c : line) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << line;
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-11-30T07:00:00Z");
  EXPECT_EQ(j["peer"], "127.0.0.1");
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["bytes"], 123);
  EXPECT_NEAR(j["duration_ms"].get<double>(), 1.5, 1e-9);
  EXPECT_EQ(j["user_agent"], "ua\"\n");
  EXPECT_EQ(j["request_id"], "id-1");
  // Bytes >= 0x80 come back as the Latin-1 characters of the same values.
  std::string latin1_of_ff = "\xC3\xBF";
  EXPECT_NE(j["request"].get<std::string>().find(latin1_of_ff), std::string::npos);
  EXPECT_EQ(j.size(), 9U);
}

TEST(AccessLogJson, RequestIdIsLeftOutWhenOff) {
  std::string line;
  AccessLog::format_json(line, {"::1", "GET / HTTP/1.1", 200, 0, "", "", "", "", 0}, "t");
  EXPECT_FALSE(nlohmann::json::parse(line).contains("request_id"));
  line.clear();
  AccessLog::format(line, {"::1", "GET / HTTP/1.1", 200, 0, "", "", "", "abc", 0}, "d");
  EXPECT_TRUE(line.ends_with(" \"abc\"\n")) << line;
}

TEST(AccessLogJson, ClientCertificateSubjectIsTheUserField) {
  std::string line;
  AccessLog::format_json(line, {"::1", "GET / HTTP/1.1", 200, 0, "", "", "CN=alice,O=x y", "", 0},
                         "t");
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["user"], "CN=alice,O=x y");
  line.clear();
  AccessLog::format_json(line, {"::1", "GET / HTTP/1.1", 200, 0, "", "", "", "", 0}, "t");
  EXPECT_FALSE(nlohmann::json::parse(line).contains("user")) << "no certificate, no user key";
}

// ---------------------------------------------------------------- HttpService's chain

class Chain : public ::testing::Test {
 protected:
  Chain() {
    root_.write("hello.txt", "hi\n");
    config_.root = root_.path();
  }
  Response serve(const HttpService& service, std::string_view peer, const std::string& raw,
                 std::string* id_storage = nullptr) {
    ParsedRequest p(raw);
    Response r;
    Exchange ex;
    ex.peer = peer;
    ex.request_id = id_storage;
    service.handle(ex, p.request, r);
    return r;
  }
  TempDir root_;
  HttpConfig config_;
};

TEST_F(Chain, OffByDefault) {
  HttpService service(config_);
  EXPECT_TRUE(service.chain().empty());
  std::string id;
  Response r = serve(service, "1.2.3.4", "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", &id);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(extra_header(r, "X-Request-Id"), "");
}

TEST_F(Chain, RateLimitAnswers429WithRetryAfter) {
  config_.middleware.rate_limit = 1;
  config_.middleware.rate_limit_burst = 2;
  Metrics metrics;
  HttpService service(config_, &metrics);
  const std::string get = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(serve(service, "10.1.1.1", get).status, 200);
  EXPECT_EQ(serve(service, "10.1.1.1", get).status, 200);
  Response refused = serve(service, "10.1.1.1", get);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(extra_header(refused, "Retry-After"), "1");
  EXPECT_EQ(serve(service, "10.1.1.2", get).status, 200);
  std::string text = metrics.render_prometheus();
  EXPECT_NE(text.find("serverlab_rate_limit_refused_client 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("serverlab_rate_limit_clients 2\n"), std::string::npos) << text;
}

TEST_F(Chain, RequestIdIsTakenOrMadeAndEchoed) {
  config_.middleware.request_id = "on";
  HttpService service(config_);
  ASSERT_EQ(service.chain().size(), 1U);
  std::string id;
  Response r = serve(service, "", "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-42\r\n\r\n", &id);
  EXPECT_EQ(id, "abc-42");
  EXPECT_EQ(extra_header(r, "X-Request-Id"), "abc-42");
  Response made = serve(service, "", "GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b\r\n\r\n", &id);
  EXPECT_EQ(made.status, 404);
  EXPECT_TRUE(valid_request_id(id)) << id;
  EXPECT_NE(id, "a b");
  EXPECT_EQ(extra_header(made, "X-Request-Id"), id);
}

TEST_F(Chain, RoutesAreMethodAwareAndStaticFilesKeepTheirRules) {
  HttpService service(config_);
  service.add_route(Router::Match::Prefix, "/api/things", {Method::Post},
                    [](Exchange&, const Request&, Response& r) { r.status = 201; });
  EXPECT_EQ(serve(service, "", "POST /api/things/1 HTTP/1.1\r\nHost: x\r\n\r\n").status, 201);
  Response wrong = serve(service, "", "PUT /api/things HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(extra_header(wrong, "Allow"), "POST");
  Response file_post = serve(service, "", "POST /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(file_post.status, 405);
  EXPECT_EQ(extra_header(file_post, "Allow"), "GET, HEAD");
  EXPECT_EQ(serve(service, "", "BREW /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n").status, 501);
  EXPECT_EQ(serve(service, "", "GET /a/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
  Response health_post = serve(service, "", "POST /-/health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(health_post.status, 405);
  EXPECT_EQ(extra_header(health_post, "Allow"), "GET, HEAD");
}

// ---------------------------------------------------------------- NotesApi

TEST(NotesApi, ThreadsShareTheStoreSafely) {  // run under TSan by `make tsan`
  NotesApi api;
  ParsedRequest post("POST /api/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Response r;
        api.create(post.request, fmt::format(R"({{"title":"t{}-{}"}})", t, i), r);
        EXPECT_EQ(r.status, 201);
        Response list;
        api.list(list);
        auto id = nlohmann::json::parse(r.owned_text)["id"].get<std::uint64_t>();
        if (i % 2 == 0) {
          Response del;
          api.remove(std::to_string(id), del);
          EXPECT_EQ(del.status, 204);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(api.size(), 4U * 100U);
  Response list;
  api.list(list);
  EXPECT_EQ(nlohmann::json::parse(list.owned_text)["notes"].size(), 400U);
}

TEST(NotesApi, IdsAreStrictDecimal) {
  NotesApi api;
  for (std::string_view id : {"", "0", "01", "-1", "+1", "1x", "99999999999999999999", " 1"}) {
    Response r;
    api.get(id, r);
    EXPECT_EQ(r.status, 404) << id;
  }
}

// ---------------------------------------------------------------- auth

TEST(Auth, BasicCredentialsDecodeStrictly) {
  std::string user, password;
  ASSERT_TRUE(parse_basic("Basic YWxpY2U6cyBlOmNyZXQ=", user, password));  // alice:s e:cret
  EXPECT_EQ(user, "alice");
  EXPECT_EQ(password, "s e:cret");
  EXPECT_TRUE(parse_basic("basic YTpi", user, password));  // the scheme is case-insensitive
  EXPECT_EQ(user + "|" + password, "a|b");
  for (std::string_view bad : {"Basic", "Basic ", "Bearer YTpi", "Basic YTpi=", "Basic Y*pi",
                               "Basic YWxpY2U=", "Basic YT=i", "YTpi"})
    EXPECT_FALSE(parse_basic(bad, user, password)) << bad;
}

TEST(Auth, UsersFileLinesAreCheckedAndPasswordsVerified) {
  std::vector<AuthUser> users;
  std::string text = "# users\n" + make_user_line("alice", "pw1", 1000) + "\n\n" +
                     make_user_line("bob", "pw2", 1000) + "\r\n";
  ASSERT_EQ(parse_users(text, users), std::nullopt);
  ASSERT_EQ(users.size(), 2U);
  EXPECT_TRUE(verify_password(users[0], "pw1"));
  EXPECT_FALSE(verify_password(users[0], "pw2"));
  EXPECT_FALSE(verify_password(users[0], ""));
  EXPECT_TRUE(verify_password(users[1], "pw2"));
  // Two lines for the same password differ: each has its own salt.
  EXPECT_NE(make_user_line("a", "x", 1000), make_user_line("a", "x", 1000));
  for (std::string_view bad : {"alice", "alice:md5:1000:00112233445566:00",
                               ":pbkdf2-sha256:1000:0011223344556677:00",
                               "a:pbkdf2-sha256:10:0011223344556677:" /* few iterations */,
                               "a:pbkdf2-sha256:1000:00:" /* short salt */,
                               "a:pbkdf2-sha256:1000:0011223344556677:abcd" /* short hash */}) {
    std::vector<AuthUser> none;
    auto problem = parse_users(bad, none);
    ASSERT_TRUE(problem.has_value()) << bad;
    EXPECT_TRUE(problem->starts_with("line 1: ")) << *problem;
  }
  std::vector<AuthUser> twice;
  std::string line = make_user_line("a", "x", 1000);
  EXPECT_EQ(parse_users(line + "\n" + line, twice).value_or(""), "line 2: user 'a' appears twice");
}

class AuthChain : public Chain {
 protected:
  AuthChain() {
    root_.write("users.txt", make_user_line("alice", "open sesame", 1000) + "\n" +
                                 make_user_line("bob", "hunter2", 1000) + "\n");
    config_.middleware.auth_users = root_.path() + "/users.txt";
    config_.middleware.auth_admins = "alice";
    config_.middleware.api = "on";
  }
  static std::string req(std::string_view method, std::string_view path, std::string_view auth) {
    std::string r = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n";
    if (!auth.empty()) r += "Authorization: " + std::string(auth) + "\r\n";
    return r + "\r\n";
  }
};

TEST_F(AuthChain, AdminPathsNeedAnAdmin) {
  Metrics metrics;
  HttpService service(config_, &metrics);
  Response none = serve(service, "", req("GET", "/-/metrics", ""));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(extra_header(none, "WWW-Authenticate"), "Basic realm=\"serverlab\", charset=\"UTF-8\"");
  EXPECT_EQ(serve(service, "", req("GET", "/-/metrics", "Basic YWxpY2U6d3Jvbmc=")).status, 401);  // alice:wrong
  EXPECT_EQ(serve(service, "", req("GET", "/-/metrics", "Basic bWFsbG9yeTpvcGVuIHNlc2FtZQ==")).status, 401);  // mallory
  EXPECT_EQ(serve(service, "", req("GET", "/-/metrics", "Basic Ym9iOmh1bnRlcjI=")).status, 403);  // bob: not an admin
  EXPECT_EQ(serve(service, "", req("GET", "/-/metrics", "Basic YWxpY2U6b3BlbiBzZXNhbWU=")).status, 200);
  EXPECT_EQ(serve(service, "", req("GET", "/-/metrics", "Basic YWxpY2U6b3BlbiBzZXNhbWU=")).status, 200);  // cached
  EXPECT_EQ(serve(service, "", req("GET", "/-/health", "")).status, 200);  // probes stay open
  EXPECT_EQ(serve(service, "", req("GET", "/-/./metrics", "")).status, 401);  // the normalized path decides
}

TEST_F(AuthChain, ApiWritesNeedAWriterReadsDoNot) {
  HttpService service(config_);
  EXPECT_EQ(serve(service, "", req("GET", "/api/notes", "")).status, 200);
  EXPECT_EQ(serve(service, "", req("DELETE", "/api/notes/1", "")).status, 401);
  EXPECT_EQ(serve(service, "", req("DELETE", "/api/notes/1", "Basic Ym9iOmh1bnRlcjI=")).status, 404);  // any user writes
  EXPECT_EQ(serve(service, "", req("GET", "/hello.txt", "")).status, 200);
}

}  // namespace
}  // namespace serverlab::http
