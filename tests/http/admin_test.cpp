// The reserved /-/ prefix: /-/health and /-/metrics with --admin on (the
// default), and ordinary files under root/-/ with --admin off.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Admin : public HttpTest {};

TEST_F(Admin, HealthIs200OkPlainText) {
  HttpResponse r = get("/-/health");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, "ok\n") << "the admin route, not the file root/-/health\n" << r.wire();
  EXPECT_TRUE(r.header("Content-Type").value_or("").starts_with("text/plain")) << r.wire();
}

TEST_F(Admin, MetricsIsPrometheusText) {
  get("/hello.txt");  // at least one request to count
  HttpResponse r = get("/-/metrics");
  EXPECT_EQ(r.status, 200) << r.wire();
  auto type = r.header("Content-Type").value_or("");
  EXPECT_TRUE(type.starts_with("text/plain")) << type;
  EXPECT_NE(type.find("version=0.0.4"), std::string::npos) << type;
  EXPECT_NE(r.body.find("# TYPE"), std::string::npos) << r.wire();
}

TEST_F(Admin, MetricsCountRequests) {
  // Some sample must change after more requests are served.
  std::string before = get("/-/metrics").body;
  for (int i = 0; i < 3; ++i) get("/hello.txt");
  std::string after = get("/-/metrics").body;
  auto samples = [](const std::string& text) {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto eol = text.find('\n', pos);
      if (eol == std::string::npos) eol = text.size();
      if (text[pos] != '#') out += text.substr(pos, eol - pos) + "\n";
      pos = eol + 1;
    }
    return out;
  };
  EXPECT_NE(samples(before), samples(after)) << "no sample moved after 3 requests:\n" << after;
}

class AdminOff : public HttpTest {
 protected:
  AdminOff() : HttpTest(Variant::kAdminOff) {}
};

TEST_F(AdminOff, HealthPathServesTheFileUnderTheRoot) {
  HttpResponse r = get("/-/health");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kShadowHealth) << r.wire();
}

TEST_F(AdminOff, MetricsIs404) {
  HttpResponse r = get("/-/metrics");
  EXPECT_EQ(r.status, 404) << r.wire();
  EXPECT_EQ(r.body.find("# TYPE"), std::string::npos) << r.wire();
}

}  // namespace
}  // namespace serverlab::conformance
