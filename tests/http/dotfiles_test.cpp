// Dotfiles: by default (--dotfiles deny) any path with a segment starting with
// '.' is 404, so a root that holds .git/ or .env does not publish them, and
// listings do not name them; /.well-known/ stays public. --dotfiles allow
// serves and lists them like any other file.
#include "conformance.hpp"

namespace serverlab::conformance {
namespace {

class Dotfiles : public HttpTest {};

TEST_F(Dotfiles, DotfilesAreNotFound) {
  for (const char* target : {"/.env", "/.git/config", "/.git/", "/.git", "/plain/.hidden.txt",
                             "/%2eenv", "/%2Egit/config", "/sub/../.env", "/./.env"}) {
    HttpResponse r = get(target);
    EXPECT_EQ(r.status, 404) << target << "\n" << r.wire();
    EXPECT_EQ(r.raw.find(kDotEnv.substr(0, 14)), std::string::npos)
        << target << " leaked a dotfile's content\n" << r.wire();
  }
}

TEST_F(Dotfiles, HeadOfADotfileIsNotFoundToo) {
  EXPECT_EQ(head("/.env").status, 404);
}

TEST_F(Dotfiles, ListingsDoNotNameThem) {
  HttpResponse r = get("/plain/");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body.find(".hidden.txt"), std::string::npos) << r.wire();
  EXPECT_NE(r.body.find("alpha.txt"), std::string::npos) << r.wire();
  HttpResponse top = get("/");  // the root has an index.html: it is served, not listed
  EXPECT_EQ(top.body.find(".git"), std::string::npos) << top.wire();
}

TEST_F(Dotfiles, WellKnownStaysPublic) {
  HttpResponse r = get("/.well-known/probe.txt");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kWellKnown);
}

class DotfilesAllowed : public HttpTest {
 protected:
  DotfilesAllowed() : HttpTest(Variant::kDotfilesAllow) {}
};

TEST_F(DotfilesAllowed, AreServed) {
  HttpResponse r = get("/.env");
  EXPECT_EQ(r.status, 200) << r.wire();
  EXPECT_EQ(r.body, kDotEnv);
  EXPECT_EQ(get("/.git/config").body, kDotEnv);
}

TEST_F(DotfilesAllowed, AreListed) {
  HttpResponse r = get("/plain/");
  ASSERT_EQ(r.status, 200) << r.wire();
  EXPECT_NE(r.body.find(".hidden.txt"), std::string::npos) << r.wire();
}

}  // namespace
}  // namespace serverlab::conformance
