// GET /-/form, the form processor (with --admin on, the default): the submitted
// fields come back as an HTML table, decoded ('+' is a space, %XX a byte),
// repeated names as separate rows in order, and everything HTML-escaped.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Form : public HttpTest {
 protected:
  // The page's table rows, "name=value" with the cells' text as sent.
  static std::vector<std::string> rows(const std::string& page) {
    std::vector<std::string> out;
    for (std::size_t at = page.find("<tr><td>"); at != std::string::npos;
         at = page.find("<tr><td>", at + 1)) {
      std::size_t mid = page.find("</td><td>", at);
      std::size_t end = page.find("</td></tr>", mid);
      if (mid == std::string::npos || end == std::string::npos) break;
      out.push_back(page.substr(at + 8, mid - at - 8) + "=" + page.substr(mid + 9, end - mid - 9));
    }
    return out;
  }
};

TEST_F(Form, FieldsComeBackDecodedAsHtml) {
  HttpResponse r = get("/-/form?name=Ada+Lovelace&city=K%C3%B6ln&sum=1%2B1%3D2");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_TRUE(r.header("Content-Type").value_or("").starts_with("text/html")) << r.wire();
  EXPECT_EQ(rows(r.body),
            (std::vector<std::string>{"name=Ada Lovelace", "city=K\xC3\xB6ln", "sum=1+1=2"}))
      << r.wire();
}

TEST_F(Form, RepeatedNamesAreSeparateRowsInOrder) {
  HttpResponse r = get("/-/form?topic=io&x=1&topic=http");
  EXPECT_EQ(rows(r.body), (std::vector<std::string>{"topic=io", "x=1", "topic=http"})) << r.wire();
}

TEST_F(Form, ScriptComesBackEscaped) {
  HttpResponse r = get("/-/form?note=%3Cscript%3Ealert(1)%3C%2Fscript%3E&%3Cb%3E=%22%27%26");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body.find("<script>"), std::string::npos) << "markup injection\n" << r.wire();
  EXPECT_EQ(rows(r.body), (std::vector<std::string>{"note=&lt;script&gt;alert(1)&lt;/script&gt;",
                                                    "&lt;b&gt;=&quot;&#39;&amp;"}))
      << r.wire();
}

TEST_F(Form, IsNeverStoredByACache) {
  HttpResponse r = get("/-/form?secret=1");
  EXPECT_EQ(r.header("Cache-Control").value_or(""), "no-store") << r.wire();
}

TEST_F(Form, HeadAndEmptyQuery) {
  HttpResponse h = head("/-/form?a=1");
  EXPECT_EQ(h.status, 200) << h.wire();
  EXPECT_TRUE(h.body.empty()) << h.wire();
  HttpResponse empty = get("/-/form");
  EXPECT_EQ(empty.status, 200) << empty.wire();
  EXPECT_TRUE(rows(empty.body).empty()) << empty.wire();
}

class FormAdminOff : public HttpTest {
 protected:
  FormAdminOff() : HttpTest(Variant::kAdminOff) {}
};

TEST_F(FormAdminOff, IsAnOrdinaryMissingFile) {
  HttpResponse r = get("/-/form?a=1");
  EXPECT_EQ(r.status, 404) << r.wire();
}

}  // namespace
}  // namespace serverlab::conformance
