// http/static_files.hpp: StaticFiles, the handler that maps a GET/HEAD onto the
// document root and returns a response plan (no sockets, no I/O model).
//
//   method? --not GET/HEAD--> 405 (Allow: GET, HEAD), or 501 for unknown methods
//   path    --normalize_path fails (%00, %2F, backslash, climbs)--> 400
//           --a segment starts with '.' (--dotfiles deny; /.well-known/ exempt)--> 404
//   lookup  --missing--> 404   --outside the root / not readable / not a file--> 403
//   dir     --"/dir"--> 301 Location: /dir/?query
//           --"/dir/"--> index.html, else a listing (--autoindex on), else 403
//   file    --If-Match / If-Unmodified-Since fail--> 412
//           --If-None-Match / If-Modified-Since match--> 304
//           --Range (GET; If-Range agrees)--> 206 | multipart/byteranges 206 | 416
//           --> 200
//
// Caching: every 200/206/304 of a file, and every listing, carries
// "Cache-Control: max-age=N" (--cache-max-age N) or "no-cache" (N = 0, the
// default: caches keep the copy but revalidate it with its ETag each time). Error
// responses and redirects carry no Cache-Control.
//
// Dotfiles (--dotfiles deny, the default): the check is on the request's path,
// so "/.git/config" and "/a/.env" are 404 (not 403: their existence is not
// revealed); a symlink with an ordinary name is followed as usual.
//
// Symlinks: followed while they stay inside the root; a file whose real path is
// outside it is refused with 403 (see open_beneath in file_cache.hpp).
// Bodies are never read into memory except for small files the cache inlines:
// the plan names a file region for sendfile(2).
//
// Who may call: any thread, concurrently (const, and FileCache is thread-safe).
// handle() blocks on file-system calls (open/stat) on a cache miss.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "serverlab/http/config.hpp"
#include "serverlab/http/file_cache.hpp"
#include "serverlab/http/request.hpp"
#include "serverlab/http/response.hpp"

namespace serverlab::http {

inline constexpr std::string_view kHtmlType = "text/html; charset=utf-8";
inline constexpr std::string_view kTextType = "text/plain; charset=utf-8";

class StaticFiles {
 public:
  // Loads custom error pages from config.error_pages (NNN.html), if set.
  StaticFiles(const HttpConfig& config, FileCache& cache);

  // The whole decision for one request: method, path, then serve_path.
  void handle(const Request& request, Response& response) const;

  // 405/501 for methods other than GET and HEAD; true when the method is fine.
  bool check_method(const Request& request, Response& response) const;
  // Serves an already normalized path ("/a/b", as normalize_path returns it).
  void serve_path(const Request& request, std::string_view normalized, Response& response) const;

  // An error response: the custom page if one was loaded, else the stock page.
  void error(int status, Response& response) const;

  // Exposed for tests: "Index of" page for a directory under the root.
  std::optional<std::string> listing(std::string_view relative, std::string_view shown) const;

 private:
  void serve_file(const Request& request, std::shared_ptr<const CachedFile> file,
                  Response& response) const;
  // Range (with its If-Range, if sent) for a GET of `file`: true when it answered.
  bool apply_ranges(std::string_view range_header, std::optional<std::string_view> if_range,
                    const std::shared_ptr<const CachedFile>& file, Response& response) const;

  // Adds the Cache-Control header of a cacheable answer (200, 206, 304).
  void mark_cacheable(Response& response) const;

  const HttpConfig& config_;
  FileCache& cache_;
  std::string cache_control_;  // "no-cache" or "max-age=N"; the header's value
  std::string boundary_;       // multipart/byteranges boundary (random per process)
  std::string multipart_type_;  // "multipart/byteranges; boundary=..."
  std::array<std::string, 200> pages_;  // error bodies for 400..599
};

// Percent-encodes every byte outside unreserved characters and '/' (for Location, hrefs).
std::string percent_encode_path(std::string_view path);
// True when a segment of `normalized` (as normalize_path returns it) starts with
// '.', as in "/.env" or "/a/.git/config"; a first segment ".well-known"
// (RFC 8615, e.g. ACME challenges) does not count. What --dotfiles deny refuses.
bool is_dotfile_path(std::string_view normalized);
// Escapes & < > " ' for HTML text and attributes.
std::string html_escape(std::string_view text);

}  // namespace serverlab::http
