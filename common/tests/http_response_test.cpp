// Response heads, HTTP dates and access-log lines, byte for byte.
#include "serverlab/http/response.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "serverlab/http/access_log.hpp"
#include "serverlab/http/date.hpp"

namespace serverlab::http {
namespace {

TEST(ResponseHead, FormatsAFileResponseExactly) {
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.content_length = 1234;
  r.last_modified = "Sun, 06 Nov 1994 08:49:37 GMT";
  r.etag = "\"2ed4e2a1-4d2\"";
  r.accept_ranges = true;
  Buffer out;
  append_response_head(out, r, true, "Mon, 07 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(out.view(),
            "HTTP/1.1 200 OK\r\n"
            "Server: serverlab\r\n"
            "Date: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 1234\r\n"
            "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "ETag: \"2ed4e2a1-4d2\"\r\n"
            "Accept-Ranges: bytes\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(ResponseHead, ErrorWithExtraHeadersAndClose) {
  Response r;
  r.status = 405;
  r.add_header("Allow", "GET, HEAD");
  Buffer out;
  append_response_head(out, r, false, "D");
  EXPECT_EQ(out.view(),
            "HTTP/1.1 405 Method Not Allowed\r\nServer: serverlab\r\nDate: D\r\n"
            "Content-Length: 0\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n");
}

TEST(ResponseHead, ResetKeepsNothingButCapacity) {
  Response r;
  r.status = 404;
  r.add_header("X", "y");
  r.set_owned_body("text/plain", "body");
  r.reset();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.extra_headers.empty());
  EXPECT_TRUE(r.text.empty());
  EXPECT_EQ(r.content_length, 0u);
  EXPECT_TRUE(r.send_body);
}

// text may point into owned_text, so a copy would point into the original.
static_assert(!std::is_copy_constructible_v<Response> && !std::is_copy_assignable_v<Response>);

TEST(ResponseMove, ATextInOwnedTextPointsIntoTheNewOwner) {
  for (const std::string& body : {std::string("short"), std::string(200, 'x')}) {  // SSO, heap
    auto from = std::make_unique<Response>();
    from->status = 404;
    from->set_owned_body("text/plain", body);
    from->text = std::string_view(from->owned_text).substr(1);  // part of it, too
    Response to(std::move(*from));
    from.reset();  // the old owner's bytes are gone: ASan would catch a read of them
    EXPECT_EQ(to.status, 404);
    EXPECT_EQ(to.text, body.substr(1));
    EXPECT_GE(to.text.data(), to.owned_text.data());
    EXPECT_LE(to.text.data() + to.text.size(), to.owned_text.data() + to.owned_text.size());

    Response assigned;
    assigned = std::move(to);
    EXPECT_EQ(assigned.text, body.substr(1));
    EXPECT_EQ(assigned.text.data(), assigned.owned_text.data() + 1);
    EXPECT_TRUE(to.text.empty());  // the moved-from Response is a fresh one
  }
}

TEST(ResponseMove, ATextElsewhereIsKeptAsItIs) {
  static constexpr std::string_view kStatic = "static body";
  Response from;
  from.text = kStatic;
  from.owned_text = "unrelated";
  Response to(std::move(from));
  EXPECT_EQ(to.text.data(), kStatic.data());
}

TEST(ReasonPhrase, KnowsEveryStatusTheServersSend) {
  for (int s : {200, 206, 301, 304, 400, 403, 404, 405, 408, 412, 413, 414, 416, 431, 501, 505})
    EXPECT_NE(reason_phrase(s), "Unknown") << s;
  EXPECT_EQ(reason_phrase(416), "Range Not Satisfiable");
  EXPECT_EQ(reason_phrase(299), "Unknown");
}

TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(HttpDate, ParsesTheThreeFormats) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
}

TEST(HttpDate, RejectsGarbage) {
  for (const char* bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 36 Nov 1994 08:49:37 GMT", "Sun, 06 Nox 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 28:49:37 GMT"})
    EXPECT_FALSE(parse_http_date(bad).has_value()) << bad;
}

TEST(HttpDate, CurrentDateRoundTrips) {
  std::string_view now = current_http_date();
  ASSERT_EQ(now.size(), kHttpDateLength);
  auto parsed = parse_http_date(now);
  ASSERT_TRUE(parsed);
  EXPECT_LE(std::abs(*parsed - std::time(nullptr)), 2);
}

TEST(AccessLogFormat, WritesCombinedLogFormat) {
  std::string line;
  AccessLog::format(line,
                    {"10.0.0.1", "GET /a.html HTTP/1.1", 200, 2326, "http://r/", "curl/8.0", ""},
                    "10/Oct/2000:13:55:36 +0000");
  EXPECT_EQ(line,
            "10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a.html HTTP/1.1\" 200 2326 "
            "\"http://r/\" \"curl/8.0\"\n");
}

TEST(AccessLogFormat, EmptyFieldsAreDashesAndQuotesAreEscaped) {
  std::string line;
  AccessLog::format(line, {"::1", "", 400, 0, "", "a\"b\\c\x01", ""}, "D");
  EXPECT_EQ(line, "::1 - - [D] \"-\" 400 - \"-\" \"a\\\"b\\\\c\\x01\"\n");
}

TEST(AccessLogFormat, ClientCertificateSubjectIsTheUserFieldAsOneToken) {
  std::string line;
  AccessLog::format(line, {"::1", "GET / HTTP/1.1", 200, 0, "", "", "CN=a b,O=x\"[y]"}, "D");
  EXPECT_EQ(line, "::1 - CN=a\\x20b,O=x\\x22\\x5By\\x5D [D] \"GET / HTTP/1.1\" 200 - \"-\" \"-\"\n");
}

}  // namespace
}  // namespace serverlab::http
