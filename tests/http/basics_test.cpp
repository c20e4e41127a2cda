// Basic serving: status codes, the headers every response carries, file
// headers, HEAD, MIME types, methods and protocol versions.
#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <ostream>
#include <set>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Basics : public HttpTest {};

TEST_F(Basics, ServesAFileWith200AndItsExactBytes) {
  HttpResponse r = get("/hello.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello) << r.wire();
  EXPECT_EQ(r.header("Content-Length").value_or(""), std::to_string(kHello.size())) << r.wire();
}

TEST_F(Basics, MissingFileIs404) {
  HttpResponse r = get("/no-such-file.txt");
  EXPECT_EQ(r.status, 404) << r.wire();
  EXPECT_EQ(r.header("Content-Type").value_or("").rfind("text/html", 0), 0u)
      << "error responses carry a small HTML page\n"
      << r.wire();
  EXPECT_FALSE(r.body.empty()) << r.wire();
}

TEST_F(Basics, RootServesIndexHtml) {
  HttpResponse r = get("/");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_NE(r.body.find("ROOT-INDEX"), std::string::npos) << r.wire();
}

TEST_F(Basics, ServerHeaderIsServerlab) {
  HttpResponse r = get("/hello.txt");
  EXPECT_EQ(r.header("Server").value_or(""), "serverlab") << r.wire();
}

TEST_F(Basics, DateHeaderIsAnImfFixdateNearNow) {
  HttpResponse r = get("/hello.txt");
  auto date = r.header("Date");
  ASSERT_TRUE(date) << r.wire();
  auto t = parse_http_date(*date);
  ASSERT_TRUE(t) << "Date is not an IMF-fixdate: '" << *date << "'";
  long now = static_cast<long>(std::time(nullptr));
  EXPECT_LE(std::labs(*t - now), 120)
      << "Date '" << *date << "' is far from now (" << http_date(now) << ")";
}

TEST_F(Basics, FileCarriesLastModifiedFromItsMtime) {
  HttpResponse r = get("/hello.txt");
  EXPECT_EQ(r.header("Last-Modified").value_or(""), http_date(docroot().hello_mtime)) << r.wire();
}

TEST_F(Basics, FileCarriesAStrongQuotedETagThatIsStable) {
  HttpResponse a = get("/hello.txt");
  HttpResponse b = get("/hello.txt");
  auto etag = a.header("ETag").value_or("");
  ASSERT_GE(etag.size(), 3u) << a.wire();
  EXPECT_FALSE(etag.starts_with("W/")) << "a file's ETag must be strong: " << etag;
  EXPECT_EQ(etag.front(), '"') << etag;
  EXPECT_EQ(etag.back(), '"') << etag;
  EXPECT_EQ(b.header("ETag").value_or(""), etag) << "same file, same ETag";
  HttpResponse other = get("/sub/page.txt");
  EXPECT_NE(other.header("ETag").value_or(""), etag) << "different files, different ETags";
}

TEST_F(Basics, FileCarriesAcceptRangesBytes) {
  HttpResponse r = get("/hello.txt");
  EXPECT_EQ(r.header("Accept-Ranges").value_or(""), "bytes") << r.wire();
}

TEST_F(Basics, KeepsOneValueForEachCoreHeader) {
  HttpResponse r = get("/hello.txt");
  for (const char* name : {"Date", "Server", "Content-Length", "Connection", "Content-Type", "ETag",
                           "Last-Modified"}) {
    EXPECT_EQ(r.header_count(name), 1u) << name << "\n" << r.wire();
  }
}

TEST_F(Basics, HeadHasTheSameHeadersAsGetAndNoBody) {
  HttpResponse g = get("/hello.txt");
  // Connection: close so the server closes after the head: any body bytes would show.
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("HEAD", "/hello.txt", "Connection: close\r\n")));
  auto h = c.read_response(true);
  ASSERT_TRUE(h) << c.error();
  EXPECT_EQ(h->status, 200) << h->wire();
  EXPECT_TRUE(closes_after(c)) << "HEAD must send no body";
  for (const char* name :
       {"Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges", "Server"}) {
    EXPECT_EQ(h->header(name), g.header(name))
        << name << "\nGET: " << g.wire() << "\nHEAD: " << h->wire();
  }
}

TEST_F(Basics, HeadOfMissingFileIs404WithoutBody) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("HEAD", "/nope.txt", "Connection: close\r\n")));
  auto h = c.read_response(true);
  ASSERT_TRUE(h) << c.error();
  EXPECT_EQ(h->status, 404) << h->wire();
  EXPECT_TRUE(closes_after(c)) << "HEAD must send no body, not even an error page";
}

struct MimeCase {
  const char* name;
  const char* path;
  std::set<std::string> accepted;  // Content-Type values (lower-cased, spaces removed)
};
// gtest prints the case by name, not as bytes.
void PrintTo(const MimeCase& c, std::ostream* os) { *os << c.name; }

std::string normalize_type(std::string s) {
  std::string out;
  for (char ch : s) {
    if (ch != ' ') out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out;
}

class Mime : public HttpTest, public ::testing::WithParamInterface<MimeCase> {};

TEST_P(Mime, ContentTypeMatchesTheExtension) {
  HttpResponse r = get(GetParam().path);
  ASSERT_EQ(r.status, 200) << r.wire();
  auto type = normalize_type(r.header("Content-Type").value_or("(none)"));
  EXPECT_TRUE(GetParam().accepted.count(type))
      << GetParam().path << " was served as '" << type << "'";
}

INSTANTIATE_TEST_SUITE_P(
    Types, Mime,
    ::testing::Values(
        MimeCase{"Html", "/index.html", {"text/html;charset=utf-8"}},
        MimeCase{"Text", "/hello.txt", {"text/plain;charset=utf-8"}},
        MimeCase{"UpperCaseExtension", "/SHOUT.TXT", {"text/plain;charset=utf-8"}},
        MimeCase{"Css", "/style.css", {"text/css;charset=utf-8"}},
        MimeCase{"JavaScript",
                 "/app.js",
                 {"text/javascript;charset=utf-8", "application/javascript;charset=utf-8"}},
        MimeCase{"Png", "/image.png", {"image/png"}},
        MimeCase{"Svg", "/logo.svg", {"image/svg+xml;charset=utf-8", "image/svg+xml"}},
        MimeCase{"UnknownExtension", "/data.xyzzy", {"application/octet-stream"}}),
    [](const auto& p) { return std::string(p.param.name); });

class Methods : public HttpTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(Methods, KnownButNotAllowedMethodIs405WithAllow) {
  HttpResponse r = exchange(request(GetParam(), "/hello.txt", "Content-Length: 0\r\n"));
  EXPECT_EQ(r.status, 405) << r.wire();
  auto allow = r.header("Allow");
  ASSERT_TRUE(allow) << "405 must carry Allow\n" << r.wire();
  std::set<std::string> methods;
  for (auto& m : split_list(*allow)) methods.insert(m);
  EXPECT_EQ(methods, (std::set<std::string>{"GET", "HEAD"})) << "Allow: " << *allow;
}

INSTANTIATE_TEST_SUITE_P(Static, Methods,
                         ::testing::Values("POST", "PUT", "DELETE", "PATCH", "OPTIONS"));

TEST_F(Basics, UnknownMethodIs501) {
  HttpResponse r = exchange(request("BREW", "/hello.txt"));
  EXPECT_EQ(r.status, 501) << r.wire();
}

TEST_F(Basics, MissingHostOnHttp11Is400) {
  HttpResponse r = exchange("GET /hello.txt HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.wire();
}

TEST_F(Basics, GarbageRequestLineIs400) {
  HttpResponse r = exchange("this is not http\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.wire();
}

TEST_F(Basics, GarbageVersionIs400) {
  HttpResponse r = exchange("GET /hello.txt HTTX/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.wire();
}

TEST_F(Basics, Http20Is505) {
  HttpResponse r = exchange("GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 505) << r.wire();
}

TEST_F(Basics, HigherHttp1MinorIsServedAsHttp11) {
  HttpResponse r = exchange("GET /hello.txt HTTP/1.7\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Basics, Http10NeedsNoHostAndClosesByDefault) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send("GET /hello.txt HTTP/1.0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200) << r->wire();
  EXPECT_EQ(r->body, kHello);
  EXPECT_TRUE(r->closes()) << "an HTTP/1.0 request without keep-alive gets Connection: close\n"
                           << r->wire();
  EXPECT_TRUE(closes_after(c));
}

TEST_F(Basics, EmptyFileIs200WithContentLengthZero) {
  HttpResponse r = get("/empty.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.header("Content-Length").value_or(""), "0") << r.wire();
  EXPECT_EQ(r.body, "");
}

TEST_F(Basics, AbsoluteFormTargetServesItsPath) {
  HttpResponse r = exchange("GET http://conformance.test/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Basics, MethodNamesAreCaseSensitive) {
  HttpResponse r = exchange(request("get", "/hello.txt"));
  EXPECT_TRUE(r.status == 501 || r.status == 400) << "'get' is not GET\n" << r.wire();
}

TEST_F(Basics, HeadOfTheBigFileGivesItsLengthAndNoBody) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("HEAD", "/big.bin", "Connection: close\r\n")));
  auto h = c.read_response(true);
  ASSERT_TRUE(h) << c.error();
  EXPECT_EQ(h->status, 200) << h->wire();
  EXPECT_EQ(h->header("Content-Length").value_or(""), std::to_string(kBigSize));
  EXPECT_TRUE(closes_after(c)) << "HEAD must send no body";
}

TEST_F(Basics, QueryStringIsIgnoredForThePath) {
  HttpResponse r = get("/hello.txt?x=1&y=%2e%2e");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Basics, PercentEncodedPathIsDecoded) {
  HttpResponse r = get("/%68ello.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Basics, SymlinkInsideTheRootIsServed) {
  HttpResponse r = get("/link-in.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Basics, BigBinaryFileIsByteExact) {
  HttpResponse r = exchange(request("GET", "/big.bin"), false, 20s);
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/octet-stream");
  ASSERT_EQ(r.body.size(), kBigSize);
  const std::string& want = docroot().big;
  if (r.body != want) {
    std::size_t i = 0;
    while (i < want.size() && r.body[i] == want[i]) ++i;
    ADD_FAILURE() << "big.bin differs first at byte " << i;
  }
}

// Every response, whatever its status, carries Date, Server, Content-Length and
// Connection (the contract's first header rule).
struct CoreCase {
  const char* name;
  std::string raw;
  int status;
  bool head = false;
};
// gtest prints the case by name, not as bytes.
void PrintTo(const CoreCase& c, std::ostream* os) { *os << c.name; }

class EveryResponse : public HttpTest, public ::testing::WithParamInterface<CoreCase> {};

TEST_P(EveryResponse, CarriesDateServerContentLengthAndConnection) {
  const auto& p = GetParam();
  HttpResponse r = exchange(p.raw, p.head);
  EXPECT_EQ(r.status, p.status) << r.wire();
  for (const char* name : {"Date", "Server", "Content-Length", "Connection"}) {
    EXPECT_TRUE(r.has(name)) << "missing " << name << " on a " << r.status << "\n" << r.wire();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, EveryResponse,
    ::testing::Values(CoreCase{"Ok200", request("GET", "/hello.txt"), 200},
                      CoreCase{"Head200", request("HEAD", "/hello.txt"), 200, true},
                      CoreCase{"Partial206", request("GET", "/hello.txt", "Range: bytes=0-1\r\n"),
                               206},
                      CoreCase{"Moved301", request("GET", "/sub"), 301},
                      CoreCase{"NotModified304",
                               request("GET", "/hello.txt",
                                       "If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT\r\n"),
                               304},
                      CoreCase{"BadRequest400", "GET /hello.txt HTTP/1.1\r\n\r\n", 400},
                      CoreCase{"NotFound404", request("GET", "/nope"), 404},
                      CoreCase{"MethodNotAllowed405",
                               request("POST", "/hello.txt", "Content-Length: 0\r\n"), 405},
                      CoreCase{"PreconditionFailed412",
                               request("GET", "/hello.txt", "If-Match: \"nope\"\r\n"), 412},
                      CoreCase{"RangeNotSatisfiable416",
                               request("GET", "/hello.txt", "Range: bytes=1000-\r\n"), 416},
                      CoreCase{"NotImplemented501", request("BREW", "/hello.txt"), 501},
                      CoreCase{"VersionNotSupported505", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
                      CoreCase{"Listing200", request("GET", "/plain/"), 200}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace serverlab::conformance
