// The form processor: render_form_page (pure) and the GET /-/form route of
// HttpService. Decoding ('+', %XX), repeated names, and escaping of everything
// a user typed.
#include "serverlab/http/form.hpp"

#include <gtest/gtest.h>

#include "http_test_support.hpp"
#include "serverlab/http/service.hpp"

namespace serverlab::http {
namespace {

using test::extra_header;
using test::ParsedRequest;

// The <tr> rows of a form page, as "name=value" pairs of the cell text.
std::vector<std::string> rows(const std::string& page) {
  std::vector<std::string> out;
  for (std::size_t at = page.find("<tr><td>"); at != std::string::npos;
       at = page.find("<tr><td>", at + 1)) {
    std::size_t mid = page.find("</td><td>", at);
    std::size_t end = page.find("</td></tr>", mid);
    out.push_back(page.substr(at + 8, mid - at - 8) + "=" + page.substr(mid + 9, end - mid - 9));
  }
  return out;
}

TEST(FormPage, PercentEncodingAndPlusAreDecoded) {
  EXPECT_EQ(rows(render_form_page("name=Ada+Lovelace&city=K%C3%B6ln&sum=1%2B1%3D2")),
            (std::vector<std::string>{"name=Ada Lovelace", "city=K\xC3\xB6ln", "sum=1+1=2"}));
}

TEST(FormPage, RepeatedNamesAreKeptInOrder) {
  EXPECT_EQ(rows(render_form_page("topic=io&x=1&topic=http&topic=")),
            (std::vector<std::string>{"topic=io", "x=1", "topic=http", "topic="}));
}

TEST(FormPage, MarkupComesBackEscaped) {
  std::string page = render_form_page("%3Cb%3E=%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E&q='&a=%26");
  EXPECT_EQ(page.find("<script>"), std::string::npos) << page;
  EXPECT_EQ(page.find("<b>"), std::string::npos) << page;
  EXPECT_EQ(rows(page), (std::vector<std::string>{
                            "&lt;b&gt;=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
                            "q=&#39;", "a=&amp;"}));
}

TEST(FormPage, ControlBytesAreShownAsReplacementCharacters) {
  EXPECT_EQ(rows(render_form_page("a=x%00y%1Bz%0Aw")),
            (std::vector<std::string>{"a=x\xEF\xBF\xBDy\xEF\xBF\xBDz\nw"}));
}

TEST(FormPage, NoFieldsSaysSoAndLinksToTheForm) {
  std::string page = render_form_page("");
  EXPECT_TRUE(rows(page).empty());
  EXPECT_NE(page.find("No fields were sent"), std::string::npos) << page;
  EXPECT_NE(page.find("href=\"/form.html\""), std::string::npos) << page;
  EXPECT_NE(render_form_page("a=1").find("1 field received"), std::string::npos);
}

class FormRoute : public ::testing::Test {
 protected:
  FormRoute() {
    root_.write("-/form", "a file under the root");
    config_.root = root_.path();
  }
  Response get(const std::string& target, const std::string& method = "GET") {
    if (!service_) service_ = std::make_unique<HttpService>(config_);
    ParsedRequest req(method + " " + target + " HTTP/1.1\r\nHost: t\r\n\r\n");
    Response r;
    service_->handle(req.request, r);
    return r;
  }
  test::TempDir root_;
  HttpConfig config_;
  std::unique_ptr<HttpService> service_;
};

TEST_F(FormRoute, AnswersWithTheFieldsAsHtmlThatNoCacheStores) {
  Response r = get("/-/form?name=Ada&note=%3Cscript%3E");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kHtmlType);
  EXPECT_EQ(rows(std::string(r.text)), (std::vector<std::string>{"name=Ada", "note=&lt;script&gt;"}));
  EXPECT_EQ(extra_header(r, "Cache-Control"), "no-store");
  EXPECT_EQ(r.content_length, r.text.size());
}

TEST_F(FormRoute, HeadHasTheLengthButNoBodyAndPostIs405) {
  Response head = get("/-/form?a=1", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_FALSE(head.send_body);
  EXPECT_EQ(head.content_length, get("/-/form?a=1").content_length);
  EXPECT_EQ(get("/-/form", "POST").status, 405);
}

TEST_F(FormRoute, AdminOffLeavesThePathToTheFiles) {
  config_.admin = "off";
  Response r = get("/-/form?a=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(test::body_of(r), "a file under the root");
}

}  // namespace
}  // namespace serverlab::http
