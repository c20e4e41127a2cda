// The bundled site (www/, what `make run` serves): every local link and
// resource of every page exists, either as a file under www/ or as one of the
// server's own /-/ routes, and the form posts where the form processor listens.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "serverlab/http/config.hpp"

namespace serverlab::http {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> pages() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(default_document_root())) {
    if (e.path().extension() == ".html") out.push_back(e.path());
  }
  return out;
}

TEST(WwwSite, EveryLocalLinkResolves) {
  const fs::path root = default_document_root();
  const std::set<std::string> routes = {"/-/health", "/-/metrics", "/-/form"};
  const std::regex link(R"re((?:href|src|action)="([^"]*)")re");
  auto all = pages();
  ASSERT_FALSE(all.empty()) << root;
  for (const fs::path& page : all) {
    const std::string text = read(page);
    for (std::sregex_iterator it(text.begin(), text.end(), link), end; it != end; ++it) {
      std::string target = (*it)[1];
      if (target.starts_with("http:") || target.starts_with("https:") || target.starts_with("#"))
        continue;
      target = target.substr(0, target.find_first_of("?#"));
      if (routes.count(target) > 0) continue;
      fs::path file = target.starts_with('/') ? root / target.substr(1) : page.parent_path() / target;
      EXPECT_TRUE(fs::exists(file)) << page.filename() << " links to " << target;
    }
  }
}

TEST(WwwSite, TheFormSubmitsToTheFormRouteAndIndexLinksIt) {
  const fs::path root = default_document_root();
  EXPECT_NE(read(root / "form.html").find(R"(<form method="get" action="/-/form">)"),
            std::string::npos);
  const std::string index = read(root / "index.html");
  EXPECT_NE(index.find(R"(href="/form.html")"), std::string::npos);
  EXPECT_EQ(index.find("served by stage 2"), std::string::npos)
      << "every HTTP stage serves the site, not only stage 2";
}

}  // namespace
}  // namespace serverlab::http
