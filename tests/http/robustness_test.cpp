// Hostile and oversized input: request smuggling payloads, malformed headers and
// every size limit (default and configured). Each is refused with the right
// status, the connection is closed after it (nothing smuggled is answered), and
// the server goes on serving (HttpTest::TearDown checks a fresh 200).
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

// The request a smuggling payload tries to sneak in; if it is ever answered,
// closes_after() reports the extra response bytes.
constexpr std::string_view kSmuggled = "GET /sub/page.txt HTTP/1.1\r\nHost: x\r\n\r\n";

class Rejects : public HttpTest {
 protected:
  explicit Rejects(Variant v = Variant::kDefault) : HttpTest(v) {}

  // Sends `raw` on a fresh connection; expects `status` and then a close.
  void expect_refused(std::string_view raw, std::initializer_list<int> statuses) {
    HttpClient c = connect();
    ASSERT_TRUE(c.send(raw));
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error() << "\nrequest: " << testing::escape_bytes(raw);
    bool ok = false;
    for (int s : statuses) ok = ok || r->status == s;
    std::string wanted;
    for (int s : statuses) wanted += std::to_string(s) + " ";
    EXPECT_TRUE(ok) << "wanted " << wanted << "\nrequest: " << testing::escape_bytes(raw)
                    << "\nresponse: " << r->wire();
    EXPECT_TRUE(r->closes()) << "an error that ends the connection says Connection: close\n"
                             << r->wire();
    EXPECT_TRUE(closes_after(c)) << "request: " << testing::escape_bytes(raw);
  }
};

class Smuggling : public Rejects {};

TEST_F(Smuggling, ContentLengthWithTransferEncodingIs400AndCloses) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
          std::string(kSmuggled),
      {400});
}

TEST_F(Smuggling, TransferEncodingChunkedThenContentLengthIs400AndCloses) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Content-Length: 45\r\n\r\n0\r\n\r\n" +
          std::string(kSmuggled),
      {400});
}

TEST_F(Smuggling, DuplicateDifferingContentLengthIs400AndCloses) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
      "Content-Length: 39\r\n\r\n" +
          std::string(kSmuggled),
      {400});
}

TEST_F(Smuggling, ContentLengthListWithDifferentValuesIs400AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 39\r\n\r\n" +
                     std::string(kSmuggled),
                 {400});
}

TEST_F(Smuggling, SignedContentLengthIs400AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n", {400});
}

TEST_F(Smuggling, NonNumericContentLengthIs400AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", {400});
}

TEST_F(Smuggling, TransferEncodingOtherThanChunkedIs501AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" +
                     std::string(kSmuggled),
                 {501});
}

TEST_F(Smuggling, ChunkedThatIsNotTheFinalCodingIsRefused) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
      "0\r\n\r\n" +
          std::string(kSmuggled),
      {400, 501});
}

TEST_F(Smuggling, ObsFoldIs400AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Folded: one\r\n two\r\n\r\n", {400});
}

TEST_F(Smuggling, ObsFoldedTransferEncodingIs400AndCloses) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Pad: a\r\n Transfer-Encoding: chunked"
      "\r\n\r\n0\r\n\r\n" +
          std::string(kSmuggled),
      {400});
}

TEST_F(Smuggling, SpaceBeforeColonIs400AndCloses) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n"
      "0\r\n\r\n" +
          std::string(kSmuggled),
      {400});
}

TEST_F(Smuggling, BareCarriageReturnInAHeaderIs400AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: 39\r\n\r\n" +
                     std::string(kSmuggled),
                 {400});
}

TEST_F(Smuggling, NulInAHeaderValueIs400AndCloses) {
  using namespace std::string_literals;
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"s, {400});
}

TEST_F(Smuggling, DuplicateHostIs400AndCloses) {
  expect_refused("GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", {400});
}

TEST_F(Smuggling, MalformedChunkSizeIs400AndCloses) {
  expect_refused(
      "GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "zz\r\nhello\r\n0\r\n\r\n",
      {400});
}

// The contract's default limits.
class DefaultLimits : public Rejects {};

TEST_F(DefaultLimits, RequestLineLongerThan8KiBIs414) {
  expect_refused(request("GET", "/" + std::string(9000, 'a')), {414});
}

TEST_F(DefaultLimits, HeaderSectionLargerThan16KiBIs431) {
  expect_refused(request("GET", "/hello.txt", "X-Big: " + std::string(17000, 'b') + "\r\n"), {431});
}

TEST_F(DefaultLimits, MoreThan100HeadersIs431) {
  std::string extra;
  for (int i = 0; i < 120; ++i) extra += "X-H" + std::to_string(i) + ": v\r\n";
  expect_refused(request("GET", "/hello.txt", extra), {431});
}

TEST_F(DefaultLimits, ContentLengthOver1MiBIs413) {
  // Only the head is sent: the server must refuse from the Content-Length alone.
  expect_refused(request("GET", "/hello.txt", "Content-Length: 2000000\r\n"), {413});
}

// Limits set by flags: --max-request-line 1024 --max-header-bytes 2048
// --max-headers 20 --max-body 1024. Each has a just-under case proving the
// flag, not an accident, decides.
class ConfiguredLimits : public Rejects {
 protected:
  ConfiguredLimits() : Rejects(Variant::kSmallLimits) {}
};

TEST_F(ConfiguredLimits, RequestLineOverMaxRequestLineIs414) {
  expect_refused(request("GET", "/" + std::string(kSmallMaxRequestLine + 100, 'a')), {414});
}

TEST_F(ConfiguredLimits, RequestLineUnderMaxRequestLineIsServed) {
  HttpResponse r = get("/" + std::string(kSmallMaxRequestLine - 200, 'a'));
  EXPECT_EQ(r.status, 404) << r.wire();
}

TEST_F(ConfiguredLimits, HeaderSectionOverMaxHeaderBytesIs431) {
  expect_refused(request("GET", "/hello.txt",
                         "X-Big: " + std::string(kSmallMaxHeaderBytes + 100, 'b') + "\r\n"),
                 {431});
}

TEST_F(ConfiguredLimits, HeaderSectionUnderMaxHeaderBytesIsServed) {
  HttpResponse r =
      get("/hello.txt", "X-Big: " + std::string(kSmallMaxHeaderBytes / 2, 'b') + "\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(ConfiguredLimits, HeaderCountOverMaxHeadersIs431) {
  std::string extra;
  for (int i = 0; i < kSmallMaxHeaders + 5; ++i) extra += "X-H" + std::to_string(i) + ": v\r\n";
  expect_refused(request("GET", "/hello.txt", extra), {431});
}

TEST_F(ConfiguredLimits, HeaderCountUnderMaxHeadersIsServed) {
  std::string extra;
  for (int i = 0; i < kSmallMaxHeaders - 5; ++i) extra += "X-H" + std::to_string(i) + ": v\r\n";
  HttpResponse r = get("/hello.txt", extra);
  EXPECT_EQ(r.status, 200) << r.wire();
}

TEST_F(ConfiguredLimits, ContentLengthOverMaxBodyIs413) {
  expect_refused(
      request("GET", "/hello.txt", "Content-Length: " + std::to_string(kSmallMaxBody * 2) + "\r\n"),
      {413});
}

TEST_F(ConfiguredLimits, BodyUnderMaxBodyIsReadAndDiscarded) {
  std::string body(kSmallMaxBody - 24, 'x');
  HttpResponse r = exchange(
      request("GET", "/hello.txt", "Content-Length: " + std::to_string(body.size()) + "\r\n") +
      body);
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(ConfiguredLimits, ChunkedBodyOverMaxBodyIs413) {
  // Two 1 KiB chunks: the decoder passes the limit inside the second one.
  std::string chunk = "400\r\n" + std::string(1024, 'c') + "\r\n";
  expect_refused(
      request("GET", "/hello.txt", "Transfer-Encoding: chunked\r\n") + chunk + chunk + "0\r\n\r\n",
      {413});
}

TEST_F(ConfiguredLimits, ChunkedBodyUnderMaxBodyIsReadAndDiscarded) {
  std::string chunk = "100\r\n" + std::string(256, 'c') + "\r\n";
  HttpResponse r = exchange(request("GET", "/hello.txt", "Transfer-Encoding: chunked\r\n") + chunk +
                        chunk + "0\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kHello);
}

TEST_F(ConfiguredLimits, ExpectContinueWithOversizedBodyIs413WithoutContinue) {
  HttpClient c = connect();
  ASSERT_TRUE(c.send(request(
      "GET", "/hello.txt",
      "Content-Length: " + std::to_string(kSmallMaxBody * 4) + "\r\nExpect: 100-continue\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 413) << "no 100 Continue for a body that will be refused\n" << r->wire();
  EXPECT_TRUE(closes_after(c));
}

}  // namespace
}  // namespace serverlab::conformance
