// Tests of parse_request and BodyDecoder.
//
// Most cases live in data files, common/tests/fixtures/parser/*.txt, written as
// a short literate format (described in fixtures/parser/README.md):
//
//   ## Absolute-form takes its path from the target       <- one case
//   Prose explaining the rule.                            <- ignored
//   > GET http://h/a HTTP/1.1\r\nHost: x\r\n\r\n          <- input bytes, C escapes
//   @ max_body = 10                                       <- a ParseLimits field
//   = path: /a                                            <- an expectation
//
// Every case is run four ways: in one shot (checking its expectations), as
// every prefix (a prefix of a valid head is Incomplete; an invalid input fails
// with the same status wherever it is cut), fed a byte at a time, and with the
// input ending exactly at a PROT_NONE page so any over-read crashes. Bodies
// after the head are fed to a BodyDecoder whole, split at every byte, and a
// byte at a time.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "serverlab/http/parser.hpp"
#include "serverlab/http/uri.hpp"

namespace serverlab::http {
namespace {

namespace fs = std::filesystem;

std::string escape(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

// ---- The fixture format ------------------------------------------------------

struct Case {
  std::string file;
  int line = 0;
  std::string title;
  std::string input;
  ParseLimits limits;
  std::vector<std::pair<std::string, std::string>> expect;  // in file order

  std::string where() const { return file + ":" + std::to_string(line) + " \"" + title + "\""; }
  bool expects(std::string_view key) const {
    return std::any_of(expect.begin(), expect.end(),
                       [&](const auto& kv) { return kv.first == key; });
  }
};

// gtest prints a failing parameter with this instead of a byte dump.
void PrintTo(const Case& c, std::ostream* os) { *os << c.where(); }

// \r \n \t \0 \\ \s (a space, for trailing ones) \xHH
std::string unescape(std::string_view s, const std::string& where) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (++i == s.size()) throw std::runtime_error(where + ": trailing backslash");
    switch (s[i]) {
      case 'r':
        out.push_back('\r');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 's':
        out.push_back(' ');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case 'x': {
        if (i + 2 >= s.size() || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0) {
          throw std::runtime_error(where + ": bad \\x escape");
        }
        out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
        i += 2;
        break;
      }
      default:
        throw std::runtime_error(where + ": unknown escape \\" + std::string(1, s[i]));
    }
  }
  return out;
}

std::vector<Case> parse_fixture(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Case> cases;
  std::string text;
  int line_no = 0;
  const std::string file = path.filename().string();
  while (std::getline(in, text)) {
    ++line_no;
    const std::string where = file + ":" + std::to_string(line_no);
    if (text.rfind("## ", 0) == 0) {
      Case c;
      c.file = file;
      c.line = line_no;
      c.title = text.substr(3);
      cases.push_back(std::move(c));
      continue;
    }
    if (cases.empty()) continue;  // the file's introduction
    Case& c = cases.back();
    if (text == ">" || text.rfind("> ", 0) == 0) {
      c.input += unescape(text.size() > 2 ? std::string_view(text).substr(2) : "", where);
    } else if (text.rfind("@ ", 0) == 0) {
      std::istringstream fields(text.substr(2));
      std::string key, eq;
      std::uint64_t value = 0;
      if (!(fields >> key >> eq >> value) || eq != "=") {
        throw std::runtime_error(where + ": expected '@ limit = N'");
      }
      if (key == "max_request_line")
        c.limits.max_request_line = value;
      else if (key == "max_header_bytes")
        c.limits.max_header_bytes = value;
      else if (key == "max_headers")
        c.limits.max_headers = value;
      else if (key == "max_body")
        c.limits.max_body = value;
      else
        throw std::runtime_error(where + ": unknown limit " + key);
    } else if (text.rfind("= ", 0) == 0) {
      const std::size_t colon = text.find(':');
      if (colon == std::string::npos) throw std::runtime_error(where + ": expected '= key: value'");
      std::string value = text.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      c.expect.emplace_back(text.substr(2, colon - 2), unescape(value, where));
    }
  }
  return cases;
}

// Next to this source file. __FILE__ is relative (to the build directory) when
// ccache rewrites paths under CCACHE_BASEDIR, so a relative one is tried against
// each directory above this executable.
fs::path fixture_dir() {
  const fs::path here = fs::path(__FILE__).parent_path() / "fixtures" / "parser";
  if (here.is_absolute()) return here;
  std::error_code ec;
  for (fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
       !ec && dir.has_relative_path(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / here)) return (dir / here).lexically_normal();
  }
  return here;
}

std::vector<Case> load_cases() {
  std::vector<fs::path> files;
  if (fs::is_directory(fixture_dir())) {
    for (const auto& entry : fs::directory_iterator(fixture_dir())) {
      if (entry.path().extension() == ".txt") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<Case> all;
  for (const auto& f : files) {
    auto cases = parse_fixture(f);
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = load_cases();
  return cases;
}

// ---- Rendering results so they compare and print well ------------------------

std::string show(const ParseResult& r) {
  switch (r.kind) {
    case ParseResult::Incomplete:
      return "incomplete";
    case ParseResult::Done:
      return "done (consumed " + std::to_string(r.consumed) + ")";
    case ParseResult::Error:
      return "error " + std::to_string(r.status);
  }
  return "?";
}

std::string show(const BodyDecoder::Step& s, std::size_t total_consumed) {
  switch (s.state) {
    case BodyDecoder::State::More:
      return "more (consumed " + std::to_string(total_consumed) + ")";
    case BodyDecoder::State::Done:
      return "done (consumed " + std::to_string(total_consumed) + ")";
    case BodyDecoder::State::Error:
      return "error " + std::to_string(s.status);
  }
  return "?";
}

const char* method_name(Method m) {
  switch (m) {
    case Method::Get:
      return "Get";
    case Method::Head:
      return "Head";
    case Method::Post:
      return "Post";
    case Method::Put:
      return "Put";
    case Method::Delete:
      return "Delete";
    case Method::Patch:
      return "Patch";
    case Method::Options:
      return "Options";
    case Method::Trace:
      return "Trace";
    case Method::Connect:
      return "Connect";
    case Method::Unknown:
      return "Unknown";
  }
  return "?";
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

// The value of one expectation key for a parsed request (what the fixture compares).
std::string field(const Request& r, const ParseResult& result, const std::string& key,
                  std::size_t input_size) {
  if (key == "result") {
    if (result.kind == ParseResult::Error) return "error " + std::to_string(result.status);
    return result.kind == ParseResult::Done ? "done" : "incomplete";
  }
  if (key == "consumed") {
    return result.consumed == input_size ? "all" : std::to_string(result.consumed);
  }
  if (key == "method") return method_name(r.method);
  if (key == "method_token") return std::string(r.method_token);
  if (key == "target") return std::string(r.target);
  if (key == "path") return std::string(r.path);
  if (key == "query") return std::string(r.query);
  if (key == "host") return std::string(r.host);
  if (key == "version") return "1." + std::to_string(r.version_minor);
  if (key == "content_length") {
    return r.content_length ? std::to_string(*r.content_length) : "none";
  }
  if (key == "chunked") return yes_no(r.chunked);
  if (key == "keep_alive") return yes_no(r.keep_alive);
  if (key == "expect_continue") return yes_no(r.expect_continue);
  if (key == "headers") return std::to_string(r.headers.size());
  if (key.rfind("header ", 0) == 0) {
    auto v = r.header(key.substr(7));
    return v ? std::string(*v) : "(absent)";
  }
  if (key.rfind("header#", 0) == 0) {  // "header#2": the third header as "Name|value"
    const std::size_t i = std::stoul(key.substr(7));
    if (i >= r.headers.size()) return "(absent)";
    return std::string(r.headers[i].name) + "|" + std::string(r.headers[i].value);
  }
  return "(unknown key '" + key + "')";
}

// Feeds `body` to a fresh decoder in the given pieces; returns the final step
// and the total bytes consumed. Stops at Done/Error like a driver would.
std::pair<BodyDecoder::Step, std::size_t> decode_body(const Request& r, std::uint64_t max_body,
                                                      std::string_view body,
                                                      const std::vector<std::size_t>& cuts) {
  BodyDecoder decoder;
  decoder.start(r, max_body);
  std::size_t total = 0;
  std::size_t from = 0;
  BodyDecoder::Step step;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(body.size());
  for (std::size_t to : ends) {
    step = decoder.feed(body.substr(from, to - from));
    total += step.consumed;
    if (step.state != BodyDecoder::State::More) break;
    EXPECT_EQ(step.consumed, to - from) << "a decoder wanting more must take every byte";
    from = to;
  }
  return {step, total};
}

std::string body_field(const BodyDecoder::Step& s, std::size_t consumed, const std::string& key,
                       std::size_t body_size) {
  if (key == "body") {
    switch (s.state) {
      case BodyDecoder::State::More:
        return "more";
      case BodyDecoder::State::Done:
        return "done";
      case BodyDecoder::State::Error:
        return "error " + std::to_string(s.status);
    }
  }
  // body_consumed
  return consumed == body_size && body_size > 0 ? "all" : std::to_string(consumed);
}

// ---- A page-end buffer: bytes placed so that the next byte is PROT_NONE -------

class GuardedBytes {
 public:
  GuardedBytes() {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* m = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<char*>(m);
    if (mprotect(base_ + page_, page_, PROT_NONE) != 0) throw std::runtime_error("mprotect");
  }
  ~GuardedBytes() { munmap(base_, 2 * page_); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;

  std::size_t capacity() const { return page_; }
  // Copies bytes so they end exactly at the guard page.
  std::string_view place(std::string_view bytes) {
    char* start = base_ + page_ - bytes.size();
    std::memcpy(start, bytes.data(), bytes.size());
    return {start, bytes.size()};
  }

 private:
  std::size_t page_ = 0;
  char* base_ = nullptr;
};

// ---- The data-driven tests ------------------------------------------------------

TEST(ParserFixtures, LoadsEveryFixtureFile) {
  EXPECT_GE(all_cases().size(), 100u) << "fixtures missing from " << fixture_dir();
  for (const Case& c : all_cases()) {
    EXPECT_FALSE(c.input.empty()) << c.where() << " has no input";
    EXPECT_TRUE(c.expects("result")) << c.where() << " has no '= result:' line";
  }
}

class ParserFixture : public testing::TestWithParam<Case> {};

TEST_P(ParserFixture, OneShotMatchesExpectations) {
  const Case& c = GetParam();
  Request r;
  const ParseResult result = parse_request(c.input, r, c.limits);
  const std::string body =
      result.kind == ParseResult::Done ? c.input.substr(result.consumed) : std::string();
  std::optional<std::pair<BodyDecoder::Step, std::size_t>> decoded;
  for (const auto& [key, want] : c.expect) {
    std::string got;
    if (key == "body" || key == "body_consumed") {
      ASSERT_EQ(result.kind, ParseResult::Done) << c.where() << ": body expectations need a head";
      if (!decoded) decoded = decode_body(r, c.limits.max_body, body, {});
      got = body_field(decoded->first, decoded->second, key, body.size());
    } else {
      got = field(r, result, key, c.input.size());
    }
    EXPECT_EQ(got, want) << c.where() << "\n  key:    " << key << "\n  input:  " << escape(c.input)
                         << "\n  result: " << show(result);
  }
}

// Cutting the input anywhere is what a slow client does; the answer must not
// depend on where the cut falls.
TEST_P(ParserFixture, EveryPrefixIsIncompleteUntilTheOneShotAnswer) {
  const Case& c = GetParam();
  Request r;
  const ParseResult full = parse_request(c.input, r, c.limits);
  for (std::size_t n = 0; n < c.input.size(); ++n) {
    const std::string_view prefix(c.input.data(), n);
    const ParseResult got = parse_request(prefix, r, c.limits);
    if (full.kind == ParseResult::Done) {
      if (n < full.consumed) {
        ASSERT_EQ(got.kind, ParseResult::Incomplete)
            << c.where() << ": strict prefix of a valid head gave " << show(got)
            << "\n  prefix: " << escape(prefix);
      } else {
        ASSERT_EQ(show(got), show(full)) << c.where() << "\n  prefix: " << escape(prefix);
      }
    } else if (got.kind != ParseResult::Incomplete) {
      ASSERT_EQ(show(got), show(full))
          << c.where() << ": a prefix failed differently\n  prefix: " << escape(prefix);
    }
  }
}

// What a driver does: append one byte, parse everything buffered, repeat.
TEST_P(ParserFixture, ByteAtATimeFeedingGivesTheSameResult) {
  const Case& c = GetParam();
  Request r;
  const ParseResult full = parse_request(c.input, r, c.limits);
  std::string buffered;
  ParseResult got;
  for (char byte : c.input) {
    buffered.push_back(byte);
    got = parse_request(buffered, r, c.limits);
    if (got.kind != ParseResult::Incomplete) break;
  }
  EXPECT_EQ(show(got), show(full)) << c.where() << "\n  input: " << escape(c.input);
}

// What HttpSession does (see parser.hpp): after Incomplete, call again only when
// a new LF has arrived or the input has reached limit_at. A skipped call must
// never have been Done nor a limit error (414, 431), and the answer at the end is
// the one-shot answer, except that an error inside an unfinished last line may
// still be waiting for its LF.
TEST_P(ParserFixture, SkippingCallsUntilALineEndsGivesTheSameResult) {
  const Case& c = GetParam();
  Request r;
  const ParseResult full = parse_request(c.input, r, c.limits);
  std::size_t scanned = 0;  // bytes already seen when parse_request last said Incomplete
  ParseResult got;
  for (std::size_t n = 1; n <= c.input.size(); ++n) {
    const std::string_view prefix(c.input.data(), n);
    const bool new_line = prefix.find('\n', scanned) != std::string_view::npos;
    const bool due = got.limit_at == 0 || n >= got.limit_at;
    if (scanned == 0 || new_line || due) {
      got = parse_request(prefix, r, c.limits);
      if (got.kind != ParseResult::Incomplete) break;
      scanned = n;
      continue;
    }
    scanned = n;
    const ParseResult skipped = parse_request(prefix, r, c.limits);
    ASSERT_NE(skipped.kind, ParseResult::Done) << c.where() << "\n  prefix: " << escape(prefix);
    if (skipped.kind == ParseResult::Error) {
      ASSERT_NE(skipped.status, 414) << c.where() << "\n  prefix: " << escape(prefix);
      ASSERT_NE(skipped.status, 431) << c.where() << "\n  prefix: " << escape(prefix);
    }
  }
  if (got.kind == ParseResult::Incomplete && full.kind == ParseResult::Error) {
    EXPECT_TRUE(full.status != 414 && full.status != 431) << c.where() << ": " << show(full);
  } else {
    EXPECT_EQ(show(got), show(full)) << c.where() << "\n  input: " << escape(c.input);
  }
}

// Every prefix placed flush against a PROT_NONE page: reading one byte past the
// end is a SIGSEGV, not a silent pass.
TEST_P(ParserFixture, NeverReadsPastTheEndOfInput) {
  const Case& c = GetParam();
  GuardedBytes guarded;
  ASSERT_LE(c.input.size(), guarded.capacity());
  Request r;
  for (std::size_t n = 0; n <= c.input.size(); ++n) {
    const std::string_view prefix(c.input.data(), n);
    const ParseResult expected = parse_request(prefix, r, c.limits);
    const ParseResult got = parse_request(guarded.place(prefix), r, c.limits);
    ASSERT_EQ(show(got), show(expected)) << c.where();
    if (got.kind == ParseResult::Done && n == c.input.size()) {
      // The body too, ending at the guard page.
      const std::string_view body = guarded.place(c.input.substr(got.consumed));
      BodyDecoder decoder;
      decoder.start(r, c.limits.max_body);
      (void)decoder.feed(body);
    }
  }
}

// The cases with body expectations, run once more with the body cut up.
class BodyFixture : public testing::TestWithParam<Case> {};

std::vector<Case> body_cases() {
  std::vector<Case> out;
  for (const Case& c : all_cases()) {
    if (c.expects("body")) out.push_back(c);
  }
  return out;
}

// A body split at every byte (two feeds) and fed a byte at a time decodes like
// the whole body in one feed.
TEST_P(BodyFixture, BodySplitAnywhereDecodesTheSame) {
  const Case& c = GetParam();
  Request r;
  const ParseResult head = parse_request(c.input, r, c.limits);
  ASSERT_EQ(head.kind, ParseResult::Done) << c.where();
  const std::string body = c.input.substr(head.consumed);
  const auto [whole, whole_consumed] = decode_body(r, c.limits.max_body, body, {});
  const std::string want = show(whole, whole_consumed);
  std::vector<std::size_t> every;
  for (std::size_t k = 1; k < body.size(); ++k) {
    const auto [step, consumed] = decode_body(r, c.limits.max_body, body, {k});
    ASSERT_EQ(show(step, consumed), want)
        << c.where() << " split at " << k << "\n  body: " << escape(body);
    every.push_back(k);
  }
  const auto [step, consumed] = decode_body(r, c.limits.max_body, body, every);
  EXPECT_EQ(show(step, consumed), want) << c.where() << " byte at a time";
}

std::string test_name(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.file.substr(0, info.param.file.find('.')) + "_";
  bool upper = true;
  for (char ch : info.param.title) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      name.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch);
      upper = false;
    } else {
      upper = true;
    }
  }
  return name + "_L" + std::to_string(info.param.line);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParserFixture, testing::ValuesIn(all_cases()), test_name);
INSTANTIATE_TEST_SUITE_P(Fixtures, BodyFixture, testing::ValuesIn(body_cases()), test_name);

// ---- Cases too large or too structural for a fixture file ---------------------

std::string get_with(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n" + std::string(extra_headers) +
         "\r\n";
}

TEST(ParseRequest, DefaultLimitsAnswer414ForALongRequestLine) {
  Request r;
  const ParseLimits defaults;
  // "GET " + target + " HTTP/1.1" is 13 bytes plus the target.
  const std::string fits = get_with("/" + std::string(defaults.max_request_line - 14, 'a'));
  EXPECT_EQ(show(parse_request(fits, r)), show({ParseResult::Done, fits.size(), 0}));
  const std::string over = get_with("/" + std::string(defaults.max_request_line - 13, 'a'));
  EXPECT_EQ(show(parse_request(over, r)), "error 414");
  // Not even a line end yet, but already too long: no need to wait for it.
  EXPECT_EQ(show(parse_request(over.substr(0, defaults.max_request_line + 2), r)), "error 414");
}

TEST(ParseRequest, DefaultLimitsAnswer431ForTooManyOrTooLargeHeaders) {
  Request r;
  std::string hundred;
  for (int i = 1; i < 100; ++i) hundred += "X-" + std::to_string(i) + ": v\r\n";  // + Host
  const std::string ok = get_with("/", hundred);
  EXPECT_EQ(parse_request(ok, r).kind, ParseResult::Done);
  EXPECT_EQ(r.headers.size(), 100u);
  EXPECT_EQ(show(parse_request(get_with("/", hundred + "X-101: v\r\n"), r)), "error 431");

  const std::string big = get_with("/", "X-Big: " + std::string(16 * 1024, 'b') + "\r\n");
  EXPECT_EQ(show(parse_request(big, r)), "error 431");
}

TEST(ParseRequest, Answers413ForContentLengthOverTheDefaultMaxBody) {
  Request r;
  EXPECT_EQ(parse_request(get_with("/", "Content-Length: 1048576\r\n"), r).kind, ParseResult::Done);
  EXPECT_EQ(show(parse_request(get_with("/", "Content-Length: 1048577\r\n"), r)), "error 413");
}

TEST(ParseRequest, ViewsPointIntoTheCallersBuffer) {
  const std::string input = get_with("/index.html?q=1", "Accept: */*\r\n");
  Request r;
  ASSERT_EQ(parse_request(input, r).kind, ParseResult::Done);
  const char* lo = input.data();
  const char* hi = input.data() + input.size();
  for (std::string_view v :
       {r.method_token, r.target, r.path, r.query, r.host, r.headers[1].name, r.headers[1].value}) {
    EXPECT_TRUE(v.data() >= lo && v.data() + v.size() <= hi) << "view '" << v << "' copied";
  }
}

TEST(ParseRequest, ReusedRequestForgetsThePreviousOne) {
  Request r;
  ASSERT_EQ(parse_request(get_with("/a",
                                   "Connection: close\r\nContent-Length: 3\r\n"
                                   "Expect: 100-continue\r\n"),
                          r)
                .kind,
            ParseResult::Done);
  ASSERT_EQ(parse_request("GET /b HTTP/1.1\r\nHost: h\r\n\r\n", r).kind, ParseResult::Done);
  EXPECT_EQ(r.path, "/b");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.content_length.has_value());
  EXPECT_FALSE(r.expect_continue);
  EXPECT_EQ(r.headers.size(), 1u);
}

TEST(ParseRequest, DoesNotAllocateOnceTheHeaderVectorIsWarm) {
  std::string many;
  for (int i = 0; i < 20; ++i) many += "X-Header-" + std::to_string(i) + ": some value\r\n";
  const std::string input = get_with("/static/logo.png?v=3", many);
  Request r;
  ASSERT_EQ(parse_request(input, r).kind, ParseResult::Done);  // warms the vector
  const long before = test::allocations();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(parse_request(input, r).kind, ParseResult::Done);
  }
  EXPECT_EQ(test::allocations() - before, 0) << "parse_request allocated on a warm Request";
}

TEST(RequestHelpers, MethodTokensAreCaseSensitiveAndHeaderNamesAreNot) {
  EXPECT_EQ(method_from_token("GET"), Method::Get);
  EXPECT_EQ(method_from_token("DELETE"), Method::Delete);
  EXPECT_EQ(method_from_token("OPTIONS"), Method::Options);
  EXPECT_EQ(method_from_token("get"), Method::Unknown);
  EXPECT_EQ(method_from_token("GETS"), Method::Unknown);
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(iequals("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(iequals("a", "b"));
}

// ---- BodyDecoder, directly -------------------------------------------------------

Request chunked_request() {
  Request r;
  r.chunked = true;
  return r;
}

Request fixed_request(std::uint64_t length) {
  Request r;
  r.content_length = length;
  return r;
}

TEST(BodyDecoder, NoBodyIsDoneAtOnceAndConsumesNothing) {
  BodyDecoder d;
  d.start(Request{}, 100);
  const auto step = d.feed("GET / HTTP/1.1\r\n");
  EXPECT_EQ(step.state, BodyDecoder::State::Done);
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_TRUE(d.done());
}

TEST(BodyDecoder, FixedLengthStopsAtItsLengthAcrossFeeds) {
  BodyDecoder d;
  d.start(fixed_request(10), 100);
  auto step = d.feed("hello");
  EXPECT_EQ(step.state, BodyDecoder::State::More);
  EXPECT_EQ(step.consumed, 5u);
  EXPECT_FALSE(d.done());
  step = d.feed("worldGET /next");
  EXPECT_EQ(step.state, BodyDecoder::State::Done);
  EXPECT_EQ(step.consumed, 5u);
  EXPECT_TRUE(d.done());
}

TEST(BodyDecoder, FixedLengthOverTheLimitFailsWith413) {
  BodyDecoder d;
  d.start(fixed_request(101), 100);
  const auto step = d.feed("x");
  EXPECT_EQ(step.state, BodyDecoder::State::Error);
  EXPECT_EQ(step.status, 413);
}

TEST(BodyDecoder, ChunkedBodyEndingExactlyAtAGuardPageIsDone) {
  GuardedBytes guarded;
  const std::string body = "4;name=\"quoted value\"\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
  for (std::size_t n = 0; n <= body.size(); ++n) {
    BodyDecoder d;
    d.start(chunked_request(), 1000);
    const auto step = d.feed(guarded.place(std::string_view(body).substr(0, n)));
    EXPECT_EQ(step.state, n == body.size() ? BodyDecoder::State::Done : BodyDecoder::State::More)
        << "prefix " << n << ": " << escape(body.substr(0, n));
  }
}

TEST(BodyDecoder, HugeChunkSizesFailBeforeAnyDataArrives) {
  for (std::string size :
       {"10000000000000000", "ffffffffffffffffff", "FFFFFFFFFFFFFFFF", "100001"}) {
    BodyDecoder d;
    d.start(chunked_request(), 1024 * 1024);
    const auto step = d.feed(size);  // no CRLF yet: the size alone is enough
    EXPECT_EQ(step.state, BodyDecoder::State::Error) << size;
    EXPECT_EQ(step.status, 413) << size;
  }
}

TEST(BodyDecoder, SumOfChunksIsLimitedNotJustEachChunk) {
  BodyDecoder d;
  d.start(chunked_request(), 8);
  auto step = d.feed("5\r\nhello\r\n");
  ASSERT_EQ(step.state, BodyDecoder::State::More);
  step = d.feed("4\r\n");
  EXPECT_EQ(step.state, BodyDecoder::State::Error);
  EXPECT_EQ(step.status, 413);
}

TEST(BodyDecoder, EndlessChunkExtensionIsRefused) {
  BodyDecoder d;
  d.start(chunked_request(), 1024);
  const auto step = d.feed("1;" + std::string(8192, 'e'));
  EXPECT_EQ(step.state, BodyDecoder::State::Error);
  EXPECT_EQ(step.status, 400);
}

TEST(BodyDecoder, EndlessTrailersAreRefused) {
  BodyDecoder d;
  d.start(chunked_request(), 1024);
  std::string trailers = "0\r\n";
  for (int i = 0; i < 1000; ++i) trailers += "X-Trailer: 0123456789\r\n";
  const auto step = d.feed(trailers);
  EXPECT_EQ(step.state, BodyDecoder::State::Error);
  EXPECT_EQ(step.status, 431);
}

TEST(BodyDecoder, StaysFailedAfterAnError) {
  BodyDecoder d;
  d.start(chunked_request(), 1024);
  ASSERT_EQ(d.feed("zz").state, BodyDecoder::State::Error);
  const auto again = d.feed("5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(again.state, BodyDecoder::State::Error);
  EXPECT_EQ(again.status, 400);
}

}  // namespace
}  // namespace serverlab::http
