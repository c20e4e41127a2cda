// HTTP Basic auth (--auth-users) on every HTTP stage, with a users file made by
// serverlab-passwd (found through $SERVERLAB_PASSWD_BIN): 401 with
// WWW-Authenticate without or with wrong credentials, 403 for a user not
// allowed, /-/health open, API reads open and writes guarded; and the password
// never reaches a log.
#include <cstdio>
#include <fstream>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

constexpr std::string_view kAlice = "Authorization: Basic YWxpY2U6b3BlbiBzZXNhbWU=\r\n";  // alice:open sesame
constexpr std::string_view kBob = "Authorization: Basic Ym9iOmh1bnRlcjI=\r\n";            // bob:hunter2
constexpr std::string_view kWrong = "Authorization: Basic YWxpY2U6aHVudGVyMg==\r\n";      // alice:hunter2

// serverlab-passwd's line for `name`, the password piped to its stdin.
std::string passwd_line(const std::string& name, const std::string& password) {
  const char* bin = std::getenv("SERVERLAB_PASSWD_BIN");
  if (bin == nullptr) throw std::runtime_error("SERVERLAB_PASSWD_BIN is not set");
  std::string command = "printf '%s\\n' '" + password + "' | '" + bin + "' --iterations 1000 " + name;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen " + command);
  char buf[512];
  std::string out;
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (::pclose(p) != 0) throw std::runtime_error("serverlab-passwd failed: " + command);
  return out;
}

class Auth : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    users_ = docroot().base + "/users-" + std::to_string(++n) + ".txt";
    log_ = docroot().base + "/auth-access-" + std::to_string(n) + ".log";
    std::ofstream(users_) << passwd_line("alice", "open sesame") << passwd_line("bob", "hunter2");
    server_ = start_server_with({"--auth-users", users_, "--auth-admins", "alice", "--api", "on",
                                 "--access-log", log_, "--log-level", "debug"});
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    }
  }
  HttpResponse call(std::string_view method, std::string_view target, std::string_view extra = "",
                    std::string_view body = "") {
    HttpClient c = HttpClient::connect(*server_);
    std::string head_extra(extra);
    if (!body.empty())
      head_extra += "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n";
    c.send(request(method, target, head_extra) + std::string(body));
    auto r = c.read_response();
    return r.value_or(HttpResponse{});
  }
  std::string users_;
  std::string log_;
  std::unique_ptr<testing::ServerProcess> server_;
};

TEST_F(Auth, AdminEndpointsAskForAnAdmin) {
  HttpResponse none = call("GET", "/-/metrics");
  EXPECT_EQ(none.status, 401) << none.wire();
  EXPECT_EQ(none.header("WWW-Authenticate").value_or(""), "Basic realm=\"serverlab\", charset=\"UTF-8\"");
  EXPECT_EQ(call("GET", "/-/metrics", kWrong).status, 401);
  EXPECT_EQ(call("GET", "/-/metrics", "Authorization: Basic !!!\r\n").status, 401);
  EXPECT_EQ(call("GET", "/-/metrics", kBob).status, 403);
  HttpResponse ok = call("GET", "/-/metrics", kAlice);
  EXPECT_EQ(ok.status, 200) << ok.wire();
  EXPECT_NE(ok.body.find("serverlab_requests_total"), std::string::npos);
  EXPECT_EQ(call("GET", "/-/health").status, 200);
  EXPECT_EQ(call("GET", "/hello.txt").status, 200);
}

TEST_F(Auth, ApiWritesNeedAUserReadsDoNot) {
  EXPECT_EQ(call("GET", "/api/notes").status, 200);
  EXPECT_EQ(call("POST", "/api/notes", "", R"({"title":"x"})").status, 401);
  EXPECT_EQ(call("POST", "/api/notes", kWrong, R"({"title":"x"})").status, 401);
  EXPECT_EQ(call("POST", "/api/notes", kBob, R"({"title":"x"})").status, 201);
}

TEST_F(Auth, PasswordsNeverReachTheLogs) {
  call("GET", "/-/metrics", kAlice);
  call("GET", "/-/metrics", kWrong);
  call("POST", "/api/notes", kBob, R"({"title":"x"})");
  EXPECT_EQ(server_->stop(), 0);
  std::ifstream in(log_);
  std::string access((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(access.find("/-/metrics"), std::string::npos) << access;
  const std::string errors = server_->stderr_text();
  for (std::string_view secret : {"open sesame", "hunter2", "YWxpY2U6b3BlbiBzZXNhbWU=",
                                  "Ym9iOmh1bnRlcjI=", "YWxpY2U6aHVudGVyMg=="}) {
    EXPECT_EQ(access.find(secret), std::string::npos) << secret;
    EXPECT_EQ(errors.find(secret), std::string::npos) << secret;
  }
  server_.reset();
}

TEST_F(Auth, ABadUsersFileIsRefusedAtStart) {
  std::string bad = docroot().base + "/bad-users.txt";
  std::ofstream(bad) << "alice:md5:1:2:3\n";
  std::vector<std::string> argv{server_binary(), "--port", "0", "--auth-users", bad};
  std::string command;
  for (const auto& a : argv) command += "'" + a + "' ";
  int status = std::system((command + "2>/dev/null").c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status;
}

}  // namespace
}  // namespace serverlab::conformance
