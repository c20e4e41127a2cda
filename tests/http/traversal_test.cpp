// Path traversal: no request may reach a file outside --root, however the path
// is spelled (dot segments, percent-encoded dots and slashes, NUL, backslashes,
// absolute-form targets, symlinks that point out). Each attempt must be refused
// with 400, 403 or 404, and the outside file's content must appear in no
// response at all (HttpTest::exchange checks every response for it).
#include <ostream>

#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

struct Attempt {
  const char* name;
  std::string raw;  // the full request
};
// gtest prints the case by name, not as bytes.
void PrintTo(const Attempt& c, std::ostream* os) { *os << c.name; }

Attempt target(const char* name, std::string_view t) { return {name, request("GET", t)}; }

class Traversal : public HttpTest, public ::testing::WithParamInterface<Attempt> {};

TEST_P(Traversal, IsRefusedAndNeverLeaksTheOutsideFile) {
  HttpResponse r = exchange(GetParam().raw);
  EXPECT_TRUE(r.status == 400 || r.status == 403 || r.status == 404)
      << "expected 400, 403 or 404\nrequest: " << testing::escape_bytes(GetParam().raw)
      << "\nresponse: " << r.wire();
  EXPECT_EQ(r.body.find(kSecret), std::string::npos) << r.wire();
}

INSTANTIATE_TEST_SUITE_P(
    Attempts, Traversal,
    ::testing::Values(
        target("DotDot", "/../outside/secret.txt"),
        target("DotDotFromSubdirectory", "/sub/../../outside/secret.txt"),
        target("ManyDotDots", "/../../../../../../../../etc/passwd"),
        target("EncodedDots", "/%2e%2e/outside/secret.txt"),
        target("EncodedDotsUpperCase", "/%2E%2E/outside/secret.txt"),
        target("EncodedDotsFromSubdirectory", "/sub/%2e%2e/%2e%2e/outside/secret.txt"),
        target("MixedDotAndEncodedDot", "/.%2e/outside/secret.txt"),
        target("EncodedSlash", "/..%2foutside%2fsecret.txt"),
        target("EncodedSlashUpperCase", "/..%2Foutside%2Fsecret.txt"),
        target("EncodedDotsAndSlashes", "/%2e%2e%2foutside%2fsecret.txt"),
        target("DotDotEncodedSlashFromSubdirectory", "/sub/..%2f..%2foutside/secret.txt"),
        target("NulByte", "/hello.txt%00.html"),
        target("NulByteBeforeDotDot", "/%00/../outside/secret.txt"),
        target("Backslashes", "/..\\outside\\secret.txt"),
        target("EncodedBackslashes", "/..%5c..%5coutside%5csecret.txt"),
        target("BackslashFromSubdirectory", "/sub\\..\\..\\outside\\secret.txt"),
        target("OverlongUtf8Dots", "/%c0%ae%c0%ae/outside/secret.txt"),
        target("DoubleEncodedDots", "/%252e%252e/outside/secret.txt"),
        target("DoubleSlashDotDot", "//../outside/secret.txt"),
        target("AbsoluteFormWithDotDot", "http://conformance.test/../outside/secret.txt"),
        target("AbsoluteFormWithEncodedDotDot",
               "http://conformance.test/%2e%2e/outside/secret.txt"),
        target("SymlinkOutOfTheRoot", "/link-out.txt"),
        target("SymlinkedDirectoryOutOfTheRoot", "/link-out-dir/secret.txt"),
        target("SymlinkToASiblingSharingTheRootPrefix", "/link-prefix.txt"),
        target("AbsolutePathIsNotARootEscape", "/etc/passwd")),
    [](const auto& p) { return std::string(p.param.name); });

class TraversalListing : public HttpTest {};

TEST_F(TraversalListing, SymlinkedOutsideDirectoryIsNotListed) {
  HttpResponse r = get("/link-out-dir/");
  EXPECT_TRUE(r.status == 400 || r.status == 403 || r.status == 404) << r.wire();
  EXPECT_EQ(r.body.find("secret.txt"), std::string::npos)
      << "the listing of a directory outside the root leaked\n"
      << r.wire();
}

TEST_F(TraversalListing, DotDotThatStaysInsideTheRootIsHarmless) {
  // /sub/../hello.txt resolves inside the root: a server may serve it or refuse it.
  HttpResponse r = get("/sub/../hello.txt");
  EXPECT_TRUE(r.status == 200 || r.status == 400 || r.status == 404) << r.wire();
  if (r.status == 200) {
    EXPECT_EQ(r.body, kHello);
  }
}

}  // namespace
}  // namespace serverlab::conformance
