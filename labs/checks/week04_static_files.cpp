// Lab 04 (week 4): static files. Checks normalize_path (serverlab/http/uri.hpp), the
// gate that keeps every response inside the document root, and StaticFiles::serve_path
// (serverlab/http/static_files.hpp), which turns a safe path into a file, a redirect or
// an error. Tags: [safe-path] [serve-static].
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "lab_support.hpp"
#include "serverlab/http/config.hpp"
#include "serverlab/http/file_cache.hpp"
#include "serverlab/http/static_files.hpp"
#include "serverlab/http/uri.hpp"

using serverlab::http::normalize_path;

TEST_CASE("normalize_path keeps ordinary paths and resolves dot segments", "[safe-path]") {
  CHECK(normalize_path("/") == std::optional<std::string>("/"));
  CHECK(normalize_path("/index.html") == std::optional<std::string>("/index.html"));
  CHECK(normalize_path("/a/b/../c") == std::optional<std::string>("/a/c"));
  CHECK(normalize_path("/a/./b") == std::optional<std::string>("/a/b"));
  CHECK(normalize_path("/a//b") == std::optional<std::string>("/a/b"));
  CHECK(normalize_path("/dir/") == std::optional<std::string>("/dir/"));
  CHECK(normalize_path("/a%20b") == std::optional<std::string>("/a b"));
}

TEST_CASE("normalize_path refuses every way out of the root", "[safe-path]") {
  const char* attacks[] = {
      "/..",        "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/%2E%2E/x",
      "/a%2f..%2f..%2fb",  // an encoded '/' may not forge a separator
      "/a%00.txt",         // NUL
      "/a\\..\\b",         // backslashes
      "relative",          // not origin-form
      "",                  //
      "/bad%zz",           // a broken escape
  };
  for (const char* raw : attacks) {
    INFO("path: " << labcheck::escaped(raw));
    CHECK_FALSE(normalize_path(raw).has_value());
  }
}

namespace {

struct Site {
  labcheck::TempDir root;
  serverlab::http::HttpConfig config;
  std::optional<serverlab::http::FileCache> cache;
  std::optional<serverlab::http::StaticFiles> files;

  Site() {
    root.write("hello.txt", "hello, world\n");
    root.write("docs/index.html", "<p>docs</p>");
    root.mkdir("empty");
    config.root = root.path();
    cache.emplace(config.root);
    files.emplace(config, *cache);
  }

  serverlab::http::Response get(std::string_view normalized, std::string_view query = "") {
    serverlab::http::Request request;
    request.method_token = "GET";
    request.method = serverlab::http::Method::Get;
    request.target = normalized;
    request.path = normalized;
    request.query = query;
    request.host = "lab";
    serverlab::http::Response response;
    files->serve_path(request, normalized, response);
    return response;
  }
};

std::string headers(const serverlab::http::Response& r) { return std::string(r.extra_headers); }

}  // namespace

TEST_CASE("a file under the root is served with its length", "[serve-static]") {
  Site site;
  serverlab::http::Response r = site.get("/hello.txt");
  CHECK(r.status == 200);
  CHECK(r.content_length == 13u);
  CHECK(r.content_type.starts_with("text/plain"));
}

TEST_CASE("a missing file is 404, and a file named as a directory is 404", "[serve-static]") {
  Site site;
  CHECK(site.get("/nope.txt").status == 404);
  CHECK(site.get("/hello.txt/").status == 404);
}

TEST_CASE("a directory without its slash is redirected, keeping the query", "[serve-static]") {
  Site site;
  serverlab::http::Response r = site.get("/docs", "q=1");
  CHECK(r.status == 301);
  INFO("headers: " << labcheck::escaped(headers(r)));
  CHECK(headers(r).find("Location: /docs/?q=1\r\n") != std::string::npos);
}

TEST_CASE("a directory with its slash serves its index.html", "[serve-static]") {
  Site site;
  serverlab::http::Response r = site.get("/docs/");
  CHECK(r.status == 200);
  CHECK(r.content_length == 11u);
  CHECK(r.content_type.starts_with("text/html"));
}
