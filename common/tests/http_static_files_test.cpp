// StaticFiles: the response plan for each rule of the static-file handler,
// against a temporary document root. No sockets: the plan is inspected directly.
#include "serverlab/http/static_files.hpp"

#include <gtest/gtest.h>


#include "http_test_support.hpp"
#include "serverlab/http/date.hpp"

namespace serverlab::http {
namespace {

using test::body_of;
using test::extra_header;
using test::ParsedRequest;
using test::TempDir;

class StaticFilesTest : public ::testing::Test {
 protected:
  StaticFilesTest() {
    root_.write("hello.txt", "hello, world\n");
    root_.write("digits.txt", "0123456789");
    root_.write("big.bin", std::string(100 * 1024, 'x') + "END");
    root_.write("style.css", "body{}");
    root_.write("dir/index.html", "<p>index</p>");
    root_.write("list/a&b<c>.txt", "amp");
    root_.write("list/zeta.txt", "z");
    root_.write("list/alpha.txt", "alpha");
    root_.mkdir("list/sub");
    root_.write(".env", "SECRET=1");
    root_.write(".git/config", "[core]");
    root_.write("list/.hidden.txt", "hidden");
    root_.write("a/.b/c.txt", "deep");
    root_.write(".well-known/acme.txt", "token");
    outside_.write("secret.txt", "TOP SECRET");
    root_.symlink(outside_.path("secret.txt"), "escape.txt");
    root_.symlink(root_.path("hello.txt"), "inside-link.txt");
    config_.root = root_.path();
  }

  Response serve(const std::string& target, const std::string& headers = "",
                 const std::string& method = "GET") {
    ParsedRequest req(method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
    if (!files_) {
      cache_ = std::make_unique<FileCache>(config_.root);
      files_ = std::make_unique<StaticFiles>(config_, *cache_);
    }
    Response r;
    files_->handle(req.request, r);
    return r;
  }

  TempDir root_;
  TempDir outside_;
  HttpConfig config_;
  std::unique_ptr<FileCache> cache_;
  std::unique_ptr<StaticFiles> files_;
};

TEST_F(StaticFilesTest, ServesAFileWithItsHeaders) {
  Response r = serve("/hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.content_length, 13u);
  EXPECT_EQ(body_of(r), "hello, world\n");
  EXPECT_TRUE(r.accept_ranges);
  // "<hex mtime>-<hex size>", quoted; 13 bytes is d in hex.
  EXPECT_TRUE(r.etag.starts_with('"') && r.etag.ends_with("-d\"") &&
              r.etag.find_first_not_of("0123456789abcdef", 1) == r.etag.size() - 3)
      << r.etag;
  EXPECT_TRUE(parse_http_date(r.last_modified).has_value()) << r.last_modified;
}

TEST_F(StaticFilesTest, LargeFilesAreAFileRegionNotABufferedCopy) {
  Response r = serve("/big.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.text.empty());
  ASSERT_TRUE(r.file.file);
  EXPECT_EQ(r.file.offset, 0u);
  EXPECT_EQ(r.file.length, 100u * 1024 + 3);
  EXPECT_EQ(r.content_type, "application/octet-stream");
}

TEST_F(StaticFilesTest, QueryStringIsIgnoredForThePath) {
  Response r = serve("/hello.txt?x=../../secret.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), "hello, world\n");
}

TEST_F(StaticFilesTest, RejectsDotDotOutsideRoot) {
  for (const char* target : {"/../secret.txt", "/%2e%2e/secret.txt", "/dir/../../secret.txt",
                             "/..%2fsecret.txt", "/%2E%2E/%2E%2E/etc/passwd"}) {
    Response r = serve(target);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << " -> " << r.status;
    EXPECT_EQ(body_of(r).find("SECRET"), std::string::npos) << target;
  }
}

// The first guard: a path that climbs above the root is refused with exactly
// 400 before any file is looked up. The file cache's real-path check behind it
// would answer 403 or 404, which the conformance suite also accepts, so only
// this test notices when the first guard goes missing.
TEST_F(StaticFilesTest, ClimbingAboveTheRootIs400BeforeAnyLookup) {
  for (const char* target : {"/..", "/../", "/../secret.txt", "/%2e%2e/secret.txt",
                             "/dir/../../secret.txt", "/dir/%2E%2E/..//secret.txt"}) {
    EXPECT_EQ(serve(target).status, 400) << target;
  }
}

TEST_F(StaticFilesTest, RejectsEncodedSlashNulAndBackslash) {
  EXPECT_EQ(serve("/dir%2findex.html").status, 400);
  EXPECT_EQ(serve("/hello.txt%00.css").status, 400);
  EXPECT_EQ(serve("/dir%5cindex.html").status, 400);
}

TEST_F(StaticFilesTest, DotSegmentsInsideTheRootAreResolved) {
  Response r = serve("/dir/./../hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), "hello, world\n");
}

TEST_F(StaticFilesTest, RefusesSymlinkLeadingOutOfRootWith403) {
  Response r = serve("/escape.txt");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(body_of(r).find("SECRET"), std::string::npos);
}

TEST_F(StaticFilesTest, FollowsSymlinkThatStaysInsideRoot) {
  Response r = serve("/inside-link.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), "hello, world\n");
}

TEST_F(StaticFilesTest, MissingFileIs404WithStockPage) {
  Response r = serve("/nope.html");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(body_of(r).find("404 Not Found"), std::string::npos);
  EXPECT_EQ(r.content_length, body_of(r).size());
}

TEST_F(StaticFilesTest, FileWithTrailingSlashIs404) {
  EXPECT_EQ(serve("/hello.txt/").status, 404);
}

TEST_F(StaticFilesTest, CustomErrorPageReplacesStockPage) {
  TempDir pages;
  pages.write("404.html", "<h1>custom not found</h1>");
  config_.error_pages = pages.path();
  Response r = serve("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body_of(r), "<h1>custom not found</h1>");
  EXPECT_NE(body_of(serve("/hello.txt", "", "DELETE")).find("405"), std::string::npos)
      << "statuses without a custom page keep the stock page";
}

TEST_F(StaticFilesTest, KnownButUnsupportedMethodIs405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    Response r = serve("/hello.txt", "", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(extra_header(r, "Allow"), "GET, HEAD") << method;
  }
}

TEST_F(StaticFilesTest, UnknownMethodIs501) {
  EXPECT_EQ(serve("/hello.txt", "", "BREW").status, 501);
}

TEST_F(StaticFilesTest, HeadStatesTheLengthButSendsNoBody) {
  Response get = serve("/hello.txt");
  Response head = serve("/hello.txt", "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_FALSE(head.send_body);
  EXPECT_EQ(head.content_length, get.content_length);
  EXPECT_EQ(head.etag, get.etag);
  EXPECT_EQ(head.content_type, get.content_type);
}

TEST_F(StaticFilesTest, IfNoneMatchWithCurrentEtagIs304) {
  std::string etag(serve("/hello.txt").etag);
  Response r = serve("/hello.txt", "If-None-Match: \"zzz\", " + etag + "\r\n");
  EXPECT_EQ(r.status, 304);
  EXPECT_FALSE(r.send_body);
  EXPECT_EQ(r.etag, etag);
  EXPECT_EQ(serve("/hello.txt", "If-None-Match: W/" + etag + "\r\n").status, 304)
      << "If-None-Match uses the weak comparison";
  EXPECT_EQ(serve("/hello.txt", "If-None-Match: *\r\n").status, 304);
  EXPECT_EQ(serve("/hello.txt", "If-None-Match: \"other\"\r\n").status, 200);
}

TEST_F(StaticFilesTest, IfModifiedSinceNotOlderThanFileIs304) {
  std::string lm(serve("/hello.txt").last_modified);
  EXPECT_EQ(serve("/hello.txt", "If-Modified-Since: " + lm + "\r\n").status, 304);
  EXPECT_EQ(serve("/hello.txt", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n").status,
            200);
  EXPECT_EQ(serve("/hello.txt", "If-Modified-Since: garbage\r\n").status, 200);
}

TEST_F(StaticFilesTest, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  std::string lm(serve("/hello.txt").last_modified);
  Response r = serve("/hello.txt", "If-None-Match: \"other\"\r\nIf-Modified-Since: " + lm + "\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST_F(StaticFilesTest, IfMatchMismatchIs412) {
  std::string etag(serve("/hello.txt").etag);
  EXPECT_EQ(serve("/hello.txt", "If-Match: \"other\"\r\n").status, 412);
  EXPECT_EQ(serve("/hello.txt", "If-Match: W/" + etag + "\r\n").status, 412)
      << "If-Match uses the strong comparison";
  EXPECT_EQ(serve("/hello.txt", "If-Match: " + etag + "\r\n").status, 200);
  EXPECT_EQ(serve("/hello.txt", "If-Match: *\r\n").status, 200);
}

TEST_F(StaticFilesTest, IfUnmodifiedSinceBeforeTheFileIs412) {
  EXPECT_EQ(serve("/hello.txt", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n").status,
            412);
  std::string lm(serve("/hello.txt").last_modified);
  EXPECT_EQ(serve("/hello.txt", "If-Unmodified-Since: " + lm + "\r\n").status, 200);
}

TEST_F(StaticFilesTest, SingleRangeIs206WithContentRange) {
  Response r = serve("/digits.txt", "Range: bytes=2-5\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(body_of(r), "2345");
  EXPECT_EQ(r.content_length, 4u);
  EXPECT_EQ(extra_header(r, "Content-Range"), "bytes 2-5/10");
}

TEST_F(StaticFilesTest, SuffixAndOpenRanges) {
  Response suffix = serve("/digits.txt", "Range: bytes=-3\r\n");
  EXPECT_EQ(body_of(suffix), "789");
  EXPECT_EQ(extra_header(suffix, "Content-Range"), "bytes 7-9/10");
  Response open = serve("/digits.txt", "Range: bytes=8-\r\n");
  EXPECT_EQ(body_of(open), "89");
  Response clamp = serve("/digits.txt", "Range: bytes=5-999\r\n");
  EXPECT_EQ(extra_header(clamp, "Content-Range"), "bytes 5-9/10");
}

TEST_F(StaticFilesTest, RangeOfALargeFileIsAFileRegion) {
  Response r = serve("/big.bin", "Range: bytes=102400-\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.file.offset, 102400u);
  EXPECT_EQ(r.file.length, 3u);
  EXPECT_EQ(body_of(r), "END");
}

TEST_F(StaticFilesTest, SeveralRangesAreMultipartByteranges) {
  Response r = serve("/digits.txt", "Range: bytes=0-1, 8-9\r\n");
  ASSERT_EQ(r.status, 206);
  std::string type(r.content_type);
  ASSERT_TRUE(type.starts_with("multipart/byteranges; boundary=")) << type;
  std::string boundary = type.substr(type.find('=') + 1);
  std::string expected = "--" + boundary +
                         "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Range: bytes 0-1/10\r\n\r\n01\r\n--" +
                         boundary +
                         "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Range: bytes 8-9/10\r\n\r\n89\r\n--" +
                         boundary + "--\r\n";
  EXPECT_EQ(body_of(r), expected);
  EXPECT_EQ(r.content_length, expected.size());
}

TEST_F(StaticFilesTest, UnsatisfiableRangeIs416WithStarLength) {
  Response r = serve("/digits.txt", "Range: bytes=10-20\r\n");
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(extra_header(r, "Content-Range"), "bytes */10");
  EXPECT_EQ(serve("/digits.txt", "Range: bytes=-0\r\n").status, 416);
}

TEST_F(StaticFilesTest, MalformedRangeIsIgnored) {
  for (const char* h : {"Range: bytes=5-2\r\n", "Range: lines=1-2\r\n", "Range: bytes=x-y\r\n"}) {
    Response r = serve("/digits.txt", h);
    EXPECT_EQ(r.status, 200) << h;
    EXPECT_EQ(body_of(r), "0123456789") << h;
  }
}

TEST_F(StaticFilesTest, IfRangeDecidesBetweenPartAndWhole) {
  Response full = serve("/digits.txt");
  std::string etag(full.etag), lm(full.last_modified);
  EXPECT_EQ(serve("/digits.txt", "Range: bytes=0-0\r\nIf-Range: " + etag + "\r\n").status, 206);
  EXPECT_EQ(serve("/digits.txt", "Range: bytes=0-0\r\nIf-Range: " + lm + "\r\n").status, 206);
  Response stale = serve("/digits.txt", "Range: bytes=0-0\r\nIf-Range: \"old\"\r\n");
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(body_of(stale), "0123456789");
}

TEST_F(StaticFilesTest, DirectoryWithoutSlashRedirectsKeepingTheQuery) {
  Response r = serve("/dir?a=1&b=2");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(extra_header(r, "Location"), "/dir/?a=1&b=2");
  EXPECT_EQ(extra_header(serve("/list/sub"), "Location"), "/list/sub/");
}

TEST_F(StaticFilesTest, DirectoryWithIndexServesIt) {
  Response r = serve("/dir/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), "<p>index</p>");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
}

TEST_F(StaticFilesTest, ListingIsSortedEscapedAndSized) {
  Response r = serve("/list/");
  ASSERT_EQ(r.status, 200);
  std::string page = body_of(r);
  auto amp = page.find("a&amp;b&lt;c&gt;.txt</a>");
  auto alpha = page.find(">alpha.txt</a>");
  auto sub = page.find(">sub/</a>");
  auto zeta = page.find(">zeta.txt</a>");
  ASSERT_NE(amp, std::string::npos) << page;
  ASSERT_NE(alpha, std::string::npos) << page;
  EXPECT_LT(amp, alpha);
  EXPECT_LT(alpha, sub);
  EXPECT_LT(sub, zeta);
  EXPECT_NE(page.find("href=\"./a%26b%3Cc%3E.txt\""), std::string::npos) << page;
  EXPECT_EQ(page.find("<c>"), std::string::npos) << "a raw '<' from a file name reached the page";
  EXPECT_NE(page.find(">5</td>"), std::string::npos) << "alpha.txt's size is missing";
  EXPECT_NE(page.find("Index of /list/"), std::string::npos);
}

TEST_F(StaticFilesTest, AutoindexOffMakesListing403) {
  config_.autoindex = "off";
  EXPECT_EQ(serve("/list/").status, 403);
  EXPECT_EQ(serve("/dir/").status, 200) << "an index.html is still served";
}

TEST(DotfilePath, AnySegmentStartingWithADotExceptALeadingWellKnown) {
  for (const char* hidden : {"/.env", "/.git/", "/.git/config", "/a/.b/c.txt", "/a/.b", "/.x/",
                             "/a/b/..c", "/.well-known/.secret", "/a/.well-known/x"}) {
    EXPECT_TRUE(is_dotfile_path(hidden)) << hidden;
  }
  for (const char* plain : {"/", "/a.txt", "/a/b.c/d", "/a./b", "/.well-known/", "/.well-known",
                            "/.well-known/acme-challenge/t", "/-/x"}) {
    EXPECT_FALSE(is_dotfile_path(plain)) << plain;
  }
}

TEST_F(StaticFilesTest, DotfilesAreNotFoundByDefault) {
  for (const char* target : {"/.env", "/.git/config", "/.git/", "/.git", "/a/.b/c.txt",
                             "/list/.hidden.txt", "/%2egit/config", "/sub/../.env"}) {
    Response r = serve(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(body_of(r).find("SECRET"), std::string::npos) << target;
  }
  EXPECT_EQ(serve("/.well-known/acme.txt").status, 200) << "RFC 8615 paths stay public";
}

TEST_F(StaticFilesTest, DotfilesAllowServesThem) {
  config_.dotfiles = "allow";
  EXPECT_EQ(body_of(serve("/.env")), "SECRET=1");
  EXPECT_EQ(body_of(serve("/.git/config")), "[core]");
  EXPECT_EQ(serve("/a/.b/c.txt").status, 200);
}

TEST_F(StaticFilesTest, ListingsShowDotfilesOnlyWhenAllowed) {
  std::string denied = body_of(serve("/list/"));
  EXPECT_EQ(denied.find(".hidden.txt"), std::string::npos) << denied;
  EXPECT_NE(denied.find(">alpha.txt</a>"), std::string::npos) << denied;
  files_.reset();
  config_.dotfiles = "allow";
  std::string allowed = body_of(serve("/list/"));
  EXPECT_NE(allowed.find(">.hidden.txt</a>"), std::string::npos) << allowed;
  EXPECT_EQ(allowed.find("\">./</a>"), std::string::npos) << "'.' is never listed";
}

TEST_F(StaticFilesTest, CacheControlIsNoCacheByDefaultOnEverySuccess) {
  std::string etag(serve("/hello.txt").etag);
  EXPECT_EQ(extra_header(serve("/hello.txt"), "Cache-Control"), "no-cache");
  EXPECT_EQ(extra_header(serve("/hello.txt", "", "HEAD"), "Cache-Control"), "no-cache");
  EXPECT_EQ(extra_header(serve("/big.bin"), "Cache-Control"), "no-cache");
  Response not_modified = serve("/hello.txt", "If-None-Match: " + etag + "\r\n");
  ASSERT_EQ(not_modified.status, 304);
  EXPECT_EQ(extra_header(not_modified, "Cache-Control"), "no-cache");
  Response part = serve("/digits.txt", "Range: bytes=0-1\r\n");
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(extra_header(part, "Cache-Control"), "no-cache");
  EXPECT_EQ(extra_header(serve("/list/"), "Cache-Control"), "no-cache");
}

TEST_F(StaticFilesTest, CacheMaxAgeIsSentOnFilesAnd304s) {
  config_.cache_max_age = 3600;
  std::string etag(serve("/hello.txt").etag);
  EXPECT_EQ(extra_header(serve("/hello.txt"), "Cache-Control"), "max-age=3600");
  Response not_modified = serve("/hello.txt", "If-None-Match: " + etag + "\r\n");
  ASSERT_EQ(not_modified.status, 304);
  EXPECT_EQ(extra_header(not_modified, "Cache-Control"), "max-age=3600");
  Response multi = serve("/digits.txt", "Range: bytes=0-1,4-5\r\n");
  ASSERT_EQ(multi.status, 206);
  EXPECT_EQ(extra_header(multi, "Cache-Control"), "max-age=3600");
}

TEST_F(StaticFilesTest, ErrorsAndRedirectsClaimNoCacheability) {
  config_.cache_max_age = 3600;
  struct Case {
    const char* target;
    const char* headers;
    int status;
  };
  for (const Case& c : {Case{"/missing.txt", "", 404}, Case{"/.env", "", 404},
                        Case{"/escape.txt", "", 403}, Case{"/list", "", 301},
                        Case{"/hello.txt", "If-Match: \"other\"\r\n", 412},
                        Case{"/digits.txt", "Range: bytes=50-60\r\n", 416},
                        Case{"/hello.txt/", "", 404}}) {
    Response r = serve(c.target, c.headers);
    EXPECT_EQ(r.status, c.status) << c.target;
    EXPECT_EQ(r.extra_headers.find("Cache-Control"), std::string::npos)
        << c.target << " " << c.status << ": " << r.extra_headers;
  }
}

}  // namespace
}  // namespace serverlab::http
