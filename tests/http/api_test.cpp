// The /api/notes resource (--api on) on every HTTP stage: create, list, read,
// replace, delete; 400 on malformed JSON, 415 on a wrong Content-Type, 411 on
// a chunked body, 413 over --max-body, 404 and 405 with Allow.
//
// Stage 5's workers each keep their own notes, so every test talks over ONE
// keep-alive connection (one worker); stage 2 closes after each response and
// the client reconnects (one process there).
#include <nlohmann/json.hpp>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_server_with({"--api", "on", "--max-body", "4096"});
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    }
  }
  // Sends `raw` on the test's connection (reconnecting when the server closed it).
  HttpResponse send(const std::string& raw, bool head_request = false) {
    if (!client_ || closed_) {
      client_.emplace(HttpClient::connect(*server_));
      closed_ = false;
    }
    HttpResponse r;
    if (client_->send(raw)) {
      if (auto got = client_->read_response(head_request)) r = *got;
    }
    closed_ = r.status == 0 || r.closes();
    return r;
  }
  HttpResponse call(std::string_view method, std::string_view target, std::string_view body = "",
                    std::string_view type = "application/json") {
    std::string extra;
    if (!type.empty()) extra += "Content-Type: " + std::string(type) + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
      extra += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return send(request(method, target, extra) + std::string(body));
  }
  static nlohmann::json json_of(const HttpResponse& r) {
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  std::unique_ptr<testing::ServerProcess> server_;
  std::optional<HttpClient> client_;
  bool closed_ = false;
};

TEST_F(Api, CreateReadListReplaceDelete) {
  HttpResponse empty = call("GET", "/api/notes");
  ASSERT_EQ(empty.status, 200) << empty.wire();
  EXPECT_TRUE(empty.header("Content-Type").value_or("").starts_with("application/json"));
  EXPECT_EQ(json_of(empty), nlohmann::json::parse(R"({"notes":[]})"));

  HttpResponse created = call("POST", "/api/notes", R"({"title":"first","body":"hello \u00e9"})");
  ASSERT_EQ(created.status, 201) << created.wire();
  nlohmann::json note = json_of(created);
  ASSERT_TRUE(note.is_object()) << created.body;
  const std::string id = std::to_string(note["id"].get<std::uint64_t>());
  EXPECT_EQ(created.header("Location").value_or(""), "/api/notes/" + id);
  EXPECT_EQ(note["title"], "first");
  EXPECT_EQ(note["body"], "hello \xC3\xA9");

  HttpResponse second = call("POST", "/api/notes", R"({"title":"second"})");
  ASSERT_EQ(second.status, 201) << second.wire();
  EXPECT_EQ(json_of(second)["body"], "");

  HttpResponse one = call("GET", "/api/notes/" + id);
  ASSERT_EQ(one.status, 200) << one.wire();
  EXPECT_EQ(json_of(one), note);

  HttpResponse list = call("GET", "/api/notes");
  ASSERT_EQ(list.status, 200) << list.wire();
  ASSERT_EQ(json_of(list)["notes"].size(), 2U) << list.body;
  EXPECT_EQ(json_of(list)["notes"][0], note);

  HttpResponse put = call("PUT", "/api/notes/" + id, R"({"title":"changed","body":"b"})");
  ASSERT_EQ(put.status, 200) << put.wire();
  EXPECT_EQ(json_of(call("GET", "/api/notes/" + id))["title"], "changed");

  HttpResponse del = call("DELETE", "/api/notes/" + id);
  EXPECT_EQ(del.status, 204) << del.wire();
  EXPECT_FALSE(del.has("Content-Length")) << del.wire();
  EXPECT_TRUE(del.body.empty());
  EXPECT_EQ(call("GET", "/api/notes/" + id).status, 404);
  EXPECT_EQ(call("DELETE", "/api/notes/" + id).status, 404);
  EXPECT_EQ(json_of(call("GET", "/api/notes"))["notes"].size(), 1U);
}

TEST_F(Api, HeadHasNoBody) {
  HttpResponse h = send(request("HEAD", "/api/notes"), true);
  EXPECT_EQ(h.status, 200) << h.wire();
  EXPECT_TRUE(h.body.empty());
}

TEST_F(Api, MalformedJsonIs400AndTheConnectionGoesOn) {
  for (std::string_view bad : {"{", "not json", "[1,2]", R"({"title":5})", R"({"body":"x"})",
                               R"({"title":""})", R"({"title":"t","body":7})", "\xff\xfe"}) {
    HttpResponse r = call("POST", "/api/notes", bad);
    EXPECT_EQ(r.status, 400) << bad << "\n" << r.wire();
    EXPECT_TRUE(json_of(r).contains("error")) << r.body;
  }
  EXPECT_EQ(json_of(call("GET", "/api/notes"))["notes"].size(), 0U);
}

TEST_F(Api, WrongContentTypeIs415) {
  EXPECT_EQ(call("POST", "/api/notes", R"({"title":"t"})", "text/plain").status, 415);
  EXPECT_EQ(call("POST", "/api/notes", R"({"title":"t"})", "").status, 415);
  EXPECT_EQ(call("POST", "/api/notes", R"({"title":"t"})", "application/json; charset=utf-8").status,
            201);
  EXPECT_EQ(call("POST", "/api/notes", R"({"title":"t"})", "Application/JSON").status, 201);
}

TEST_F(Api, UnknownIdsAre404AndWrongMethods405WithAllow) {
  for (std::string_view target : {"/api/notes/999", "/api/notes/abc", "/api/notes/0",
                                  "/api/notes/-1", "/api/notes/1/x", "/api/notes/"}) {
    EXPECT_EQ(call("GET", target).status, 404) << target;
  }
  HttpResponse put_list = call("PUT", "/api/notes", R"({"title":"t"})");
  EXPECT_EQ(put_list.status, 405) << put_list.wire();
  EXPECT_EQ(put_list.header("Allow").value_or(""), "GET, HEAD, POST");
  HttpResponse post_one = call("POST", "/api/notes/1", R"({"title":"t"})");
  EXPECT_EQ(post_one.status, 405) << post_one.wire();
  EXPECT_EQ(post_one.header("Allow").value_or(""), "GET, HEAD, PUT, DELETE");
}

TEST_F(Api, BodiesStayWithinTheLimits) {
  std::string big = R"({"title":"t","body":")" + std::string(5000, 'x') + "\"}";
  HttpResponse r = call("POST", "/api/notes", big);
  EXPECT_EQ(r.status, 413) << r.wire();
  closed_ = true;  // a refused body ends the connection
  HttpResponse chunked = send(request("POST", "/api/notes",
                                      "Content-Type: application/json\r\n"
                                      "Transfer-Encoding: chunked\r\n") +
                              "5\r\n{\"a\":\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 411) << chunked.wire();
  closed_ = true;
  // A body that arrives in pieces, after Expect: 100-continue, is read whole.
  HttpClient c = HttpClient::connect(*server_);
  std::string body = R"({"title":"slow"})";
  c.send(request("POST", "/api/notes",
                 "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n"));
  auto interim = c.read_response();
  ASSERT_TRUE(interim) << c.error();
  EXPECT_EQ(interim->status, 100);
  c.send_slowly(body, 3, 5ms);
  auto done = c.read_response();
  ASSERT_TRUE(done) << c.error();
  EXPECT_EQ(done->status, 201) << done->wire();
}

TEST_F(Api, OffByDefault) {
  auto plain = start_server_with({});
  HttpClient c = HttpClient::connect(*plain);
  c.send(request("GET", "/api/notes"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 404) << r->wire();
  EXPECT_EQ(plain->stop(), 0);
}

}  // namespace
}  // namespace serverlab::conformance
