// Cache-Control: files, listings, their 206s and 304s say how long a cache may
// keep them ("no-cache" by default: keep, but revalidate with the ETag each
// time; "max-age=N" with --cache-max-age N). A 304 repeats the 200's value.
// Errors and redirects never claim to be cacheable.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Caching : public HttpTest {
 protected:
  explicit Caching(Variant v = Variant::kDefault) : HttpTest(v) {}
  // Asserts every cacheable answer carries exactly `expected` as Cache-Control.
  void expect_cacheable_answers_say(const std::string& expected) {
    HttpResponse ok = get("/hello.txt");
    ASSERT_EQ(ok.status, 200) << ok.wire();
    EXPECT_EQ(ok.header_count("Cache-Control"), 1u) << ok.wire();
    EXPECT_EQ(ok.header("Cache-Control").value_or(""), expected) << ok.wire();
    const std::string etag = ok.header("ETag").value_or("");
    const std::string lm = ok.header("Last-Modified").value_or("");
    for (const std::string& condition :
         {"If-None-Match: " + etag + "\r\n", "If-Modified-Since: " + lm + "\r\n"}) {
      HttpResponse nm = get("/hello.txt", condition);
      ASSERT_EQ(nm.status, 304) << condition << nm.wire();
      EXPECT_EQ(nm.header("Cache-Control").value_or("<none>"), expected)
          << "a 304 carries the Cache-Control the 200 would\n" << nm.wire();
    }
    HttpResponse head_r = head("/hello.txt");
    EXPECT_EQ(head_r.header("Cache-Control").value_or("<none>"), expected) << head_r.wire();
    HttpResponse part = get("/big.bin", "Range: bytes=0-99\r\n");
    ASSERT_EQ(part.status, 206) << part.wire();
    EXPECT_EQ(part.header("Cache-Control").value_or("<none>"), expected) << part.wire();
    HttpResponse listing = get("/plain/");
    ASSERT_EQ(listing.status, 200) << listing.wire();
    EXPECT_EQ(listing.header("Cache-Control").value_or("<none>"), expected) << listing.wire();
  }
  // Asserts no error or redirect carries a Cache-Control.
  void expect_errors_say_nothing() {
    struct Case {
      std::string raw;
      int status;
    };
    const std::vector<Case> cases = {
        {request("GET", "/no-such-file"), 404},
        {request("GET", "/.env"), 404},
        {request("GET", "/link-out.txt"), 403},
        {request("GET", "/sub"), 301},
        {request("GET", "/hello.txt", "If-Match: \"nope\"\r\n"), 412},
        {request("GET", "/hello.txt", "Range: bytes=999-\r\n"), 416},
        {request("DELETE", "/hello.txt"), 405},
        {"GET /hello.txt HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400},
    };
    for (const Case& c : cases) {
      HttpResponse r = exchange(c.raw);
      // The status is checked elsewhere (a symlink out of the root may be 403 or 404).
      EXPECT_GE(r.status, 300) << "expected about " << c.status << "\n" << r.wire();
      EXPECT_FALSE(r.has("Cache-Control")) << "an error must not claim cacheability\n" << r.wire();
    }
  }
};

TEST_F(Caching, DefaultIsNoCacheOnEveryCacheableAnswer) { expect_cacheable_answers_say("no-cache"); }

TEST_F(Caching, ErrorsAndRedirectsCarryNone) { expect_errors_say_nothing(); }

class CachingMaxAge : public Caching {
 protected:
  CachingMaxAge() : Caching(Variant::kCacheMaxAge) {}
};

TEST_F(CachingMaxAge, MaxAgeOnEveryCacheableAnswer) {
  expect_cacheable_answers_say("max-age=" + std::to_string(kMaxAgeSeconds));
}

TEST_F(CachingMaxAge, ErrorsAndRedirectsStillCarryNone) { expect_errors_say_nothing(); }

}  // namespace
}  // namespace serverlab::conformance
