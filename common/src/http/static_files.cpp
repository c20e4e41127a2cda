#include "serverlab/http/static_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <random>
#include <vector>

#include "serverlab/http/date.hpp"
#include "serverlab/http/mime.hpp"
#include "serverlab/http/uri.hpp"
#include "serverlab/log.hpp"

namespace serverlab::http {
namespace {

constexpr std::size_t kMaxRanges = 16;  // more than this: serve the whole file (200)

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Does any entity-tag in `list` (If-Match / If-None-Match syntax) match `ours`?
// Strong comparison: neither tag may be weak. "*" matches any current representation.
bool etag_matches(std::string_view list, std::string_view ours, bool strong) {
  list = trim(list);
  if (list == "*") return true;
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i >= list.size()) break;
    bool weak = false;
    if (list.substr(i, 2) == "W/") {
      weak = true;
      i += 2;
    }
    if (i >= list.size() || list[i] != '"') return false;
    std::size_t end = list.find('"', i + 1);
    if (end == std::string_view::npos) return false;
    std::string_view tag = list.substr(i, end - i + 1);
    if (tag == ours && !(strong && weak)) return true;
    i = end + 1;
  }
  return false;
}

struct Range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// Parses "bytes=0-4,10-,-5" against a representation of `size` bytes. Returns
// nullopt when the header is malformed (then it is ignored); otherwise the
// satisfiable ranges (possibly none: 416).
std::optional<std::vector<Range>> parse_ranges(std::string_view header, std::uint64_t size) {
  header = trim(header);
  if (header.size() < 6 || !iequals(header.substr(0, 6), "bytes=")) return std::nullopt;
  std::string_view specs = header.substr(6);
  std::vector<Range> ranges;
  std::size_t count = 0;
  while (!specs.empty()) {
    std::size_t comma = specs.find(',');
    std::string_view spec = trim(specs.substr(0, comma));
    specs = comma == std::string_view::npos ? std::string_view{} : specs.substr(comma + 1);
    if (spec.empty()) continue;
    if (++count > kMaxRanges) return std::nullopt;
    std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    std::string_view a = trim(spec.substr(0, dash)), b = trim(spec.substr(dash + 1));
    if (a.empty()) {  // suffix: the last N bytes
      auto n = parse_u64(b);
      if (!n) return std::nullopt;
      if (*n == 0 || size == 0) continue;
      ranges.push_back({size - std::min(*n, size), size - 1});
      continue;
    }
    auto first = parse_u64(a);
    if (!first) return std::nullopt;
    std::uint64_t last = size == 0 ? 0 : size - 1;
    if (!b.empty()) {
      auto l = parse_u64(b);
      if (!l || *l < *first) return std::nullopt;
      last = std::min(*l, last);
    }
    if (*first >= size) continue;  // unsatisfiable
    ranges.push_back({*first, last});
  }
  if (count == 0) return std::nullopt;
  return ranges;
}

// The request headers serve_file() reads, found in one pass over the headers
// (the first of each name, as Request::header() would return) instead of six
// lookups that each scan them all. Names are told apart by length first.
struct FileHeaders {
  std::optional<std::string_view> if_match, if_unmodified_since, if_none_match,
      if_modified_since, range, if_range;
};

FileHeaders file_headers(const Request& request) {
  FileHeaders h;
  for (const Header& header : request.headers) {
    std::optional<std::string_view>* slot = nullptr;
    switch (header.name.size()) {
      case 5:
        if (iequals(header.name, "Range")) slot = &h.range;
        break;
      case 8:
        if (iequals(header.name, "If-Match")) slot = &h.if_match;
        else if (iequals(header.name, "If-Range")) slot = &h.if_range;
        break;
      case 13:
        if (iequals(header.name, "If-None-Match")) slot = &h.if_none_match;
        break;
      case 17:
        if (iequals(header.name, "If-Modified-Since")) slot = &h.if_modified_since;
        break;
      case 19:
        if (iequals(header.name, "If-Unmodified-Since")) slot = &h.if_unmodified_since;
        break;
      default:
        break;
    }
    if (slot != nullptr && !*slot) *slot = header.value;
  }
  return h;
}

std::string stock_page(int status) {
  return fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0} {1}</title></head>\n"
      "<body><h1>{0} {1}</h1><hr><address>serverlab</address></body></html>\n",
      status, reason_phrase(status));
}

std::string read_small_file(const std::string& path) {
  std::string out;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() > (1 << 20)) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

int status_for_errno(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return 404;
    case EACCES:
    case EPERM:
    case EXDEV:
    case ELOOP: return 403;
    default: return 500;
  }
}

}  // namespace

std::string percent_encode_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    bool plain = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (plain) out.push_back(c);
    else fmt::format_to(std::back_inserter(out), "%{:02X}", u);
  }
  return out;
}

bool is_dotfile_path(std::string_view normalized) {
  bool first = true;
  while (!normalized.empty()) {
    if (normalized.front() == '/') {
      normalized.remove_prefix(1);
      continue;
    }
    std::size_t end = normalized.find('/');
    std::string_view segment = normalized.substr(0, end);
    if (segment.front() == '.' && !(first && segment == ".well-known")) return true;
    first = false;
    normalized.remove_prefix(segment.size());
  }
  return false;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

StaticFiles::StaticFiles(const HttpConfig& config, FileCache& cache)
    : config_(config),
      cache_(cache),
      cache_control_(config.cache_max_age > 0 ? fmt::format("max-age={}", config.cache_max_age)
                                              : std::string("no-cache")) {
  std::random_device rd;
  boundary_ = fmt::format("serverlab-{:08x}{:08x}", rd(), rd());
  multipart_type_ = "multipart/byteranges; boundary=" + boundary_;
  for (int status = 400; status < 600; ++status) {
    std::string& page = pages_[static_cast<std::size_t>(status - 400)];
    if (!config_.error_pages.empty())
      page = read_small_file(fmt::format("{}/{}.html", config_.error_pages, status));
    if (page.empty()) page = stock_page(status);
  }
}

void StaticFiles::mark_cacheable(Response& r) const {
  r.add_header("Cache-Control", cache_control_);
}

void StaticFiles::error(int status, Response& r) const {
  r.status = status;
  r.content_type = kHtmlType;
  r.last_modified = {};
  r.etag = {};
  r.accept_ranges = false;
  r.file = {};
  r.parts.clear();
  if (status >= 400 && status < 600) r.text = pages_[static_cast<std::size_t>(status - 400)];
  else r.text = {};
  r.content_length = r.text.size();
}

bool StaticFiles::check_method(const Request& request, Response& response) const {
  if (request.method == Method::Get || request.method == Method::Head) return true;
  if (request.method == Method::Unknown) {
    error(501, response);
  } else {
    error(405, response);
    response.add_header("Allow", "GET, HEAD");
  }
  return false;
}

void StaticFiles::handle(const Request& request, Response& response) const {
  if (!check_method(request, response)) return;
  if (is_normal_path(request.path)) return serve_path(request, request.path, response);
  std::optional<std::string> path = normalize_path(request.path);
  if (!path) return error(400, response);
  serve_path(request, *path, response);
}

void StaticFiles::serve_path(const Request& request, std::string_view normalized,
                             Response& response) const {
  if (request.method == Method::Head) response.send_body = false;
  if (!config_.dotfiles_allowed() && is_dotfile_path(normalized)) return error(404, response);
  // [lab04:serve-static:begin]
  // [lab04:serve-static:stub] std::string_view relative;  // below the root, no leading '/'
  // [lab04:serve-static:stub] (void)normalized;
  // [lab04:serve-static:stub] (void)status_for_errno;
  // [lab04:serve-static:stub] return error(501, response);
  bool wants_directory = normalized.ends_with('/');
  std::string_view relative = normalized.substr(1);
  if (wants_directory && !relative.empty()) relative.remove_suffix(1);

  FileCache::Result found = cache_.lookup(relative);
  if (!found.file) return error(status_for_errno(found.error), response);
  if (!found.file->directory) {
    if (wants_directory) return error(404, response);  // "/file.txt/"
    return serve_file(request, std::move(found.file), response);
  }
  if (!wants_directory) {  // "/dir" -> "/dir/", keeping the query
    error(301, response);
    std::string location = percent_encode_path(normalized) + "/";
    if (!request.query.empty()) location.append("?").append(request.query);
    response.add_header("Location", location);
    return;
  }
  // [lab04:serve-static:end]
  std::string index = relative.empty() ? std::string("index.html")
                                       : fmt::format("{}/index.html", relative);
  FileCache::Result index_file = cache_.lookup(index);
  if (index_file.file && !index_file.file->directory)
    return serve_file(request, std::move(index_file.file), response);
  if (!config_.autoindex_on()) return error(403, response);
  std::optional<std::string> page = listing(relative, normalized);
  if (!page) return error(403, response);
  bool head = !response.send_body;
  response.set_owned_body(kHtmlType, std::move(*page));
  response.send_body = !head;
  mark_cacheable(response);
}

void StaticFiles::serve_file(const Request& request, std::shared_ptr<const CachedFile> file,
                             Response& r) const {
  r.content_type = file->content_type;
  r.last_modified = file->last_modified;
  r.etag = file->etag;
  r.accept_ranges = true;

  const FileHeaders h = file_headers(request);
  // Preconditions (RFC 9110 13.2.2): If-Match, else If-Unmodified-Since -> 412.
  if (auto if_match = h.if_match) {
    if (!etag_matches(*if_match, file->etag, true)) return error(412, r);
  } else if (auto ius = h.if_unmodified_since) {
    if (auto date = parse_http_date(*ius); date && file->mtime > *date) return error(412, r);
  }
  // If-None-Match takes precedence over If-Modified-Since -> 304.
  bool not_modified = false;
  if (auto inm = h.if_none_match) {
    not_modified = etag_matches(*inm, file->etag, false);
  } else if (auto ims = h.if_modified_since) {
    auto date = parse_http_date(*ims);
    not_modified = date && file->mtime <= *date;
  }
  if (not_modified) {
    r.status = 304;
    r.content_type = {};
    r.send_body = false;
    r.content_length = file->size;  // what a 200 would carry (RFC 9110 8.6)
    mark_cacheable(r);  // a 304 repeats the 200's Cache-Control (RFC 9110 15.4.5)
    return;
  }
  if (request.method == Method::Get && h.range && apply_ranges(*h.range, h.if_range, file, r)) {
    if (r.status == 206) mark_cacheable(r);  // not on a 416
    return;
  }
  mark_cacheable(r);

  r.status = 200;
  r.content_length = file->size;
  if (file->inlined) r.text = file->bytes;
  else r.file = {file, 0, file->size};
  if (file->inlined) r.file = {std::move(file), 0, 0};  // keeps the bytes alive
}

bool StaticFiles::apply_ranges(std::string_view range_header,
                               std::optional<std::string_view> if_range,
                               const std::shared_ptr<const CachedFile>& file, Response& r) const {
  if (if_range) {
    std::string_view v = trim(*if_range);
    bool matches = false;
    if (v.starts_with('"') || v.starts_with("W/")) {
      matches = v == file->etag;  // strong comparison: a weak tag never matches
    } else if (auto date = parse_http_date(v)) {
      matches = *date == file->mtime;
    }
    if (!matches) return false;  // the whole, current file instead
  }
  auto ranges = parse_ranges(range_header, file->size);
  if (!ranges) return false;  // malformed: ignore the header
  if (ranges->empty()) {
    error(416, r);
    r.add_header("Content-Range", fmt::format("bytes */{}", file->size));
    return true;
  }
  r.status = 206;
  if (ranges->size() == 1) {
    const Range& one = ranges->front();
    std::uint64_t length = one.last - one.first + 1;
    r.add_header("Content-Range", fmt::format("bytes {}-{}/{}", one.first, one.last, file->size));
    r.content_length = length;
    if (file->inlined) {
      r.text = std::string_view(file->bytes).substr(one.first, length);
      r.file = {file, 0, 0};
    } else {
      r.file = {file, one.first, length};
    }
    return true;
  }
  // multipart/byteranges: each part is "--B\r\nheaders\r\n\r\n<bytes>\r\n", then "--B--\r\n".
  r.owned_text.clear();
  std::uint64_t total = 0;
  for (const Range& range : *ranges) {
    std::size_t start = r.owned_text.size();
    fmt::format_to(std::back_inserter(r.owned_text),
                   "{}--{}\r\nContent-Type: {}\r\nContent-Range: bytes {}-{}/{}\r\n\r\n",
                   start == 0 ? "" : "\r\n", boundary_,
                   file->content_type.empty() ? kDefaultMimeType : file->content_type, range.first,
                   range.last, file->size);
    std::uint64_t length = range.last - range.first + 1;
    r.parts.push_back({start, r.owned_text.size() - start, range.first, length});
    total += (r.owned_text.size() - start) + length;
  }
  std::size_t start = r.owned_text.size();
  fmt::format_to(std::back_inserter(r.owned_text), "\r\n--{}--\r\n", boundary_);
  r.parts.push_back({start, r.owned_text.size() - start, 0, 0});
  total += r.owned_text.size() - start;
  r.file = {file, 0, 0};
  r.content_type = multipart_type_;
  r.content_length = total;
  return true;
}

std::optional<std::string> StaticFiles::listing(std::string_view relative,
                                                std::string_view shown) const {
  int error = 0;
  Fd dir = open_beneath(cache_.root_fd(), cache_.root_real(), relative, error);
  if (!dir) return std::nullopt;
  // A fresh descriptor: fdopendir takes it over (and closedir closes it).
  DIR* d = ::fdopendir(dir.get());
  if (d == nullptr) return std::nullopt;
  (void)dir.release();
  struct Item {
    std::string name;
    bool directory = false;
    std::uint64_t size = 0;
    std::time_t mtime = 0;
  };
  std::vector<Item> items;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.starts_with('.') && !config_.dotfiles_allowed()) continue;  // not listed when denied
    Item item{std::string(name)};
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, 0) == 0) {
      item.directory = S_ISDIR(st.st_mode);
      item.size = static_cast<std::uint64_t>(st.st_size);
      item.mtime = st.st_mtim.tv_sec;
    }
    items.push_back(std::move(item));
  }
  ::closedir(d);
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.name < b.name; });

  std::string title = html_escape(shown);
  std::string page = fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {0}</title>\n"
      "<style>body{{font-family:sans-serif}}td{{padding:0 1em}}td.n{{text-align:right}}"
      "</style></head>\n<body><h1>Index of {0}</h1>\n<table>\n"
      "<tr><th>Name</th><th>Last modified (UTC)</th><th>Size</th></tr>\n",
      title);
  if (!relative.empty()) page += "<tr><td><a href=\"../\">../</a></td><td></td><td>-</td></tr>\n";
  for (const Item& item : items) {
    std::string href = "./" + percent_encode_path(item.name) + (item.directory ? "/" : "");
    std::string label = html_escape(item.name) + (item.directory ? "/" : "");
    char when[32] = "";
    std::tm tm{};
    ::gmtime_r(&item.mtime, &tm);
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    std::string size = item.directory ? std::string("-") : std::to_string(item.size);
    fmt::format_to(std::back_inserter(page),
                   "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td></tr>\n",
                   html_escape(href), label, when, size);
  }
  page += "</table>\n<hr><address>serverlab</address></body></html>\n";
  return page;
}

}  // namespace serverlab::http
