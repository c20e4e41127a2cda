// Directories: the /dir -> /dir/ redirect, index.html, the generated listing
// (sorted, HTML-escaped, with sizes), --autoindex off, and --error-pages.
#include <regex>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Directories : public HttpTest {};

TEST_F(Directories, DirectoryWithoutSlashRedirectsWith301) {
  HttpResponse r = get("/sub");
  ASSERT_EQ(r.status, 301) << r.wire();
  auto location = r.header("Location").value_or("");
  EXPECT_TRUE(location == "/sub/" || location.ends_with("://" + std::string(kHost) + "/sub/") ||
              location.ends_with(srv().address() + "/sub/"))
      << "Location: " << location;
}

TEST_F(Directories, RedirectKeepsTheQueryString) {
  HttpResponse r = get("/sub?x=1&y=two");
  ASSERT_EQ(r.status, 301) << r.wire();
  EXPECT_TRUE(r.header("Location").value_or("").ends_with("/sub/?x=1&y=two")) << r.wire();
}

TEST_F(Directories, DirectoryWithoutIndexAlsoRedirects) {
  HttpResponse r = get("/plain");
  ASSERT_EQ(r.status, 301) << r.wire();
  EXPECT_TRUE(r.header("Location").value_or("").ends_with("/plain/")) << r.wire();
}

TEST_F(Directories, DirectoryWithSlashServesItsIndexHtml) {
  HttpResponse r = get("/sub/");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kSubIndex);
  EXPECT_TRUE(r.header("Content-Type").value_or("").starts_with("text/html")) << r.wire();
}

TEST_F(Directories, FileInsideASubdirectoryIsServed) {
  HttpResponse r = get("/sub/page.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kSubPage);
}

TEST_F(Directories, FileWithTrailingSlashIsNotServedAsADirectory) {
  HttpResponse r = get("/hello.txt/");
  EXPECT_TRUE(r.status == 404 || r.status == 301 || r.status == 403) << r.wire();
  EXPECT_NE(r.status, 200) << r.wire();
}

TEST_F(Directories, ListingIsHtmlAndNamesEveryEntry) {
  HttpResponse r = get("/plain/");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_TRUE(r.header("Content-Type").value_or("").starts_with("text/html")) << r.wire();
  for (const char* name : {"alpha.txt", "mid.txt", "zeta.txt", "sized.bin", "nested/"}) {
    EXPECT_NE(r.body.find(name), std::string::npos) << name << " missing\n" << r.wire();
  }
}

TEST_F(Directories, ListingIsSortedByName) {
  HttpResponse r = get("/plain/");
  ASSERT_EQ(r.status, 200) << r.wire();
  auto a = r.body.find("alpha.txt");
  auto m = r.body.find("mid.txt");
  auto s = r.body.find("sized.bin");
  auto z = r.body.find("zeta.txt");
  ASSERT_TRUE(a != std::string::npos && m != std::string::npos && s != std::string::npos &&
              z != std::string::npos)
      << r.wire();
  EXPECT_LT(a, m) << r.wire();
  EXPECT_LT(m, s) << r.wire();
  EXPECT_LT(s, z) << r.wire();
}

TEST_F(Directories, ListingEscapesNamesForHtml) {
  HttpResponse r = get("/plain/");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body.find("<c>"), std::string::npos) << "a raw '<c>' is markup injection\n"
                                                   << r.wire();
  EXPECT_EQ(r.body.find("a&b"), std::string::npos) << "a raw '&' must be escaped\n" << r.wire();
  EXPECT_NE(r.body.find("a&amp;b&lt;c&gt;.txt"), std::string::npos)
      << "the escaped name should be shown\n"
      << r.wire();
}

TEST_F(Directories, ListingLinkToAnEscapedNameWorks) {
  // Whatever the listing's href encoding, the percent-encoded name is served.
  HttpResponse r = get("/plain/a%26b%3Cc%3E.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, "escaped name\n");
}

TEST_F(Directories, ListingShowsFileSizes) {
  HttpResponse r = get("/plain/");
  ASSERT_EQ(r.status, 200) << r.wire();
  // The exact byte count, or a rounded K/KiB form of it.
  std::regex size(R"((^|[^0-9.])(12345|12\.1 ?Ki?B?|12 ?Ki?B?|13 ?Ki?B?)([^0-9]|$))");
  EXPECT_TRUE(std::regex_search(r.body, size)) << "no size shown for sized.bin (12345 bytes)\n"
                                               << r.wire();
}

class AutoindexOff : public HttpTest {
 protected:
  AutoindexOff() : HttpTest(Variant::kAutoindexOff) {}
};

TEST_F(AutoindexOff, DirectoryWithoutIndexIs403) {
  HttpResponse r = get("/plain/");
  EXPECT_EQ(r.status, 403) << r.wire();
  EXPECT_EQ(r.body.find("alpha.txt"), std::string::npos) << "no listing may leak\n" << r.wire();
}

TEST_F(AutoindexOff, DirectoryWithIndexIsStillServed) {
  HttpResponse r = get("/sub/");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kSubIndex);
}

class ErrorPages : public HttpTest {
 protected:
  ErrorPages() : HttpTest(Variant::kErrorPages) {}
};

TEST_F(ErrorPages, CustomPageIsServedForA404) {
  HttpResponse r = get("/no-such-file");
  EXPECT_EQ(r.status, 404) << r.wire();
  EXPECT_EQ(r.body, kCustom404) << r.wire();
  EXPECT_TRUE(r.header("Content-Type").value_or("").starts_with("text/html")) << r.wire();
}

TEST_F(ErrorPages, StatusWithoutACustomPageKeepsTheStockPage) {
  HttpResponse r = exchange(request("POST", "/hello.txt", "Content-Length: 0\r\n"));
  EXPECT_EQ(r.status, 405) << r.wire();
  EXPECT_EQ(r.body.find("CUSTOM-404-PAGE"), std::string::npos) << r.wire();
}

TEST_F(ErrorPages, FilesAreServedAsUsual) {
  HttpResponse r = get("/sub/page.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
}

}  // namespace
}  // namespace serverlab::conformance
