// Conditional requests (RFC 9110 section 13): If-None-Match / If-Modified-Since
// -> 304, If-Match / If-Unmodified-Since -> 412, with the precedence rules and
// the strong/weak comparison each header calls for.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Conditional : public HttpTest {
 protected:
  std::string etag() {
    HttpResponse r = get("/hello.txt");
    EXPECT_TRUE(r.header("ETag")) << r.wire();
    return r.header("ETag").value_or("\"missing\"");
  }
  std::string last_modified() { return http_date(docroot().hello_mtime); }
  static constexpr const char* kLongAgo = "Sat, 01 Jan 2000 00:00:00 GMT";
  static constexpr const char* kFuture = "Fri, 01 Jan 2100 00:00:00 GMT";
};

TEST_F(Conditional, IfNoneMatchWithTheCurrentETagIs304WithoutBody) {
  std::string tag = etag();
  HttpResponse r = get("/hello.txt", "If-None-Match: " + tag + "\r\n");
  EXPECT_EQ(r.status, 304) << r.wire();
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.header("ETag").value_or(""), tag) << "a 304 repeats the ETag\n" << r.wire();
}

TEST_F(Conditional, IfNoneMatchWithAnotherETagIs200) {
  HttpResponse r = get("/hello.txt", "If-None-Match: \"not-the-etag\"\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Conditional, IfNoneMatchListContainingTheETagIs304) {
  HttpResponse r = get("/hello.txt", "If-None-Match: \"a\", " + etag() + ", \"b\"\r\n");
  EXPECT_EQ(r.status, 304) << r.wire();
}

TEST_F(Conditional, IfNoneMatchStarIs304ForAnExistingFile) {
  HttpResponse r = get("/hello.txt", "If-None-Match: *\r\n");
  EXPECT_EQ(r.status, 304) << r.wire();
}

TEST_F(Conditional, IfNoneMatchUsesWeakComparison) {
  HttpResponse r = get("/hello.txt", "If-None-Match: W/" + etag() + "\r\n");
  EXPECT_EQ(r.status, 304) << "W/\"x\" matches \"x\" under weak comparison\n" << r.wire();
}

TEST_F(Conditional, IfNoneMatchOnHeadIs304) {
  HttpResponse r =
      exchange(request("HEAD", "/hello.txt", "If-None-Match: " + etag() + "\r\n"), true);
  EXPECT_EQ(r.status, 304) << r.wire();
}

TEST_F(Conditional, IfModifiedSinceTheLastModificationIs304) {
  HttpResponse r = get("/hello.txt", "If-Modified-Since: " + last_modified() + "\r\n");
  EXPECT_EQ(r.status, 304) << r.wire();
  EXPECT_TRUE(r.body.empty());
}

TEST_F(Conditional, IfModifiedSinceAnOlderDateIs200) {
  HttpResponse r = get("/hello.txt", std::string("If-Modified-Since: ") + kLongAgo + "\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Conditional, IfModifiedSinceThatIsNotADateIsIgnored) {
  HttpResponse r = get("/hello.txt", "If-Modified-Since: yesterday-ish\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(Conditional, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  // The date alone would give 304; the non-matching ETag must win: 200.
  HttpResponse r =
      get("/hello.txt",
          "If-None-Match: \"not-the-etag\"\r\nIf-Modified-Since: " + std::string(kFuture) + "\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  // And the other way round: a matching ETag gives 304 whatever the date says.
  r = get("/hello.txt",
          "If-None-Match: " + etag() + "\r\nIf-Modified-Since: " + std::string(kLongAgo) + "\r\n");
  EXPECT_EQ(r.status, 304) << r.wire();
}

TEST_F(Conditional, IfMatchWithAnotherETagIs412) {
  HttpResponse r = get("/hello.txt", "If-Match: \"not-the-etag\"\r\n");
  EXPECT_EQ(r.status, 412) << r.wire();
}

TEST_F(Conditional, IfMatchWithTheCurrentETagIs200) {
  HttpResponse r = get("/hello.txt", "If-Match: " + etag() + "\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(Conditional, IfMatchStarIs200ForAnExistingFile) {
  HttpResponse r = get("/hello.txt", "If-Match: *\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(Conditional, IfMatchUsesStrongComparison) {
  HttpResponse r = get("/hello.txt", "If-Match: W/" + etag() + "\r\n");
  EXPECT_EQ(r.status, 412) << "a weak tag never matches under strong comparison\n" << r.wire();
}

TEST_F(Conditional, IfUnmodifiedSinceAnOlderDateIs412) {
  HttpResponse r = get("/hello.txt", std::string("If-Unmodified-Since: ") + kLongAgo + "\r\n");
  EXPECT_EQ(r.status, 412) << r.wire();
}

TEST_F(Conditional, IfUnmodifiedSinceTheLastModificationIs200) {
  HttpResponse r = get("/hello.txt", "If-Unmodified-Since: " + last_modified() + "\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(Conditional, IfMatchTakesPrecedenceOverIfUnmodifiedSince) {
  // A matching If-Match means If-Unmodified-Since is not evaluated.
  HttpResponse r = get("/hello.txt", "If-Match: " + etag() +
                                     "\r\nIf-Unmodified-Since: " + std::string(kLongAgo) + "\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(Conditional, IfMatchFailureWinsOverIfNoneMatch) {
  // RFC 9110 13.2.2: If-Match is evaluated first.
  HttpResponse r =
      get("/hello.txt", "If-Match: \"not-the-etag\"\r\nIf-None-Match: " + etag() + "\r\n");
  EXPECT_EQ(r.status, 412) << r.wire();
}

}  // namespace
}  // namespace serverlab::conformance
