// Range requests (RFC 9110 section 14): single, suffix and open ranges -> 206
// with Content-Range; several ranges -> multipart/byteranges (or the whole 200);
// unsatisfiable -> 416 with `bytes */LEN`; If-Range.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Ranges : public HttpTest {
 protected:
  HttpResponse range(std::string_view spec, std::string_view path = "/hello.txt") {
    return get(path, "Range: " + std::string(spec) + "\r\n");
  }
  static std::string len() { return std::to_string(kHello.size()); }
};

TEST_F(Ranges, SingleRangeIs206WithContentRange) {
  HttpResponse r = range("bytes=0-4");
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello.substr(0, 5));
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes 0-4/" + len()) << r.wire();
  EXPECT_EQ(r.header("Content-Length").value_or(""), "5");
}

TEST_F(Ranges, MiddleRangeIs206) {
  HttpResponse r = range("bytes=7-17");
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello.substr(7, 11));
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes 7-17/" + len()) << r.wire();
}

TEST_F(Ranges, SuffixRangeGivesTheLastBytes) {
  HttpResponse r = range("bytes=-6");
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello.substr(kHello.size() - 6));
  std::string first = std::to_string(kHello.size() - 6);
  std::string last = std::to_string(kHello.size() - 1);
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes " + first + "-" + last + "/" + len());
}

TEST_F(Ranges, SuffixLongerThanTheFileGivesTheWholeFile) {
  HttpResponse r = range("bytes=-1000");
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Ranges, OpenRangeRunsToTheEnd) {
  HttpResponse r = range("bytes=7-");
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello.substr(7));
  std::string last = std::to_string(kHello.size() - 1);
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes 7-" + last + "/" + len());
}

TEST_F(Ranges, EndPastTheFileIsClamped) {
  HttpResponse r = range("bytes=5-99999");
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello.substr(5));
  std::string last = std::to_string(kHello.size() - 1);
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes 5-" + last + "/" + len());
}

TEST_F(Ranges, UnsatisfiableRangeIs416WithStarContentRange) {
  HttpResponse r = range("bytes=1000-2000");
  ASSERT_EQ(r.status, 416) << r.wire();
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes */" + len()) << r.wire();
}

TEST_F(Ranges, AnyIntRangeOfAnEmptyFileIs416) {
  HttpResponse r = range("bytes=0-0", "/empty.txt");
  ASSERT_EQ(r.status, 416) << r.wire();
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes */0") << r.wire();
}

TEST_F(Ranges, UnknownRangeUnitIsIgnored) {
  HttpResponse r = range("items=0-4");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Ranges, MultipleRangesAreMultipartByterangesOrTheWholeFile) {
  HttpResponse r = range("bytes=0-1,7-9");
  if (r.status == 200) {
    EXPECT_EQ(r.body, kHello) << "a 200 for several ranges must carry the whole file";
    return;
  }
  ASSERT_EQ(r.status, 206) << r.wire();
  auto type = r.header("Content-Type").value_or("");
  ASSERT_TRUE(type.starts_with("multipart/byteranges")) << r.wire();
  auto parts = parse_multipart(type, r.body);
  ASSERT_TRUE(parts) << "not a well-formed multipart body:\n" << r.wire();
  ASSERT_EQ(parts->size(), 2u) << r.wire();
  EXPECT_EQ((*parts)[0].data, kHello.substr(0, 2));
  EXPECT_EQ((*parts)[0].header("Content-Range").value_or(""), "bytes 0-1/" + len());
  EXPECT_EQ((*parts)[1].data, kHello.substr(7, 3));
  EXPECT_EQ((*parts)[1].header("Content-Range").value_or(""), "bytes 7-9/" + len());
  for (const auto& p : *parts) {
    EXPECT_TRUE(p.header("Content-Type").value_or("").starts_with("text/plain")) << r.wire();
  }
  EXPECT_EQ(r.header("Content-Length").value_or(""), std::to_string(r.body.size()));
}

TEST_F(Ranges, IfRangeWithTheCurrentETagHonoursTheRange) {
  std::string etag = get("/hello.txt").header("ETag").value_or("\"missing\"");
  HttpResponse r = get("/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + etag + "\r\n");
  EXPECT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.body, kHello.substr(0, 5));
}

TEST_F(Ranges, IfRangeWithAnotherETagSendsTheWholeFile) {
  HttpResponse r = get("/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"stale-etag\"\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Ranges, IfRangeWithTheLastModifiedDateHonoursTheRange) {
  HttpResponse r = get("/hello.txt",
                   "Range: bytes=0-4\r\nIf-Range: " + http_date(docroot().hello_mtime) + "\r\n");
  EXPECT_EQ(r.status, 206) << r.wire();
}

TEST_F(Ranges, IfRangeWithAnOlderDateSendsTheWholeFile) {
  HttpResponse r =
      get("/hello.txt", "Range: bytes=0-4\r\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Ranges, RangeOfTheBigFileIsByteExact) {
  constexpr std::size_t kFirst = 1000003, kLast = 3000011;
  HttpResponse r = exchange(
      request("GET", "/big.bin",
              "Range: bytes=" + std::to_string(kFirst) + "-" + std::to_string(kLast) + "\r\n"),
      false, 20s);
  ASSERT_EQ(r.status, 206) << r.wire();
  EXPECT_EQ(r.header("Content-Range").value_or(""), "bytes " + std::to_string(kFirst) + "-" +
                                                        std::to_string(kLast) + "/" +
                                                        std::to_string(kBigSize));
  ASSERT_EQ(r.body.size(), kLast - kFirst + 1);
  EXPECT_TRUE(r.body == docroot().big.substr(kFirst, kLast - kFirst + 1))
      << "the range body differs from the file's bytes";
}

TEST_F(Ranges, HeadWithRangeHasNoBody) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request("HEAD", "/hello.txt", "Range: bytes=0-4\r\nConnection: close\r\n")));
  auto r = c.read_response(true);
  ASSERT_TRUE(r) << c.error();
  EXPECT_TRUE(r->status == 206 || r->status == 200) << r->wire();
  EXPECT_TRUE(closes_after(c));
}

}  // namespace
}  // namespace serverlab::conformance
