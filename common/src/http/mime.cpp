// http/mime.cpp: the extension -> Content-Type table (see mime.hpp).
#include "serverlab/http/mime.hpp"

#include <array>

#include "serverlab/http/request.hpp"

namespace serverlab::http {
namespace {

struct MimeEntry {
  std::string_view extension;  // lower case, no dot
  std::string_view type;
};

// Grouped by kind; a linear scan of ~50 short strings costs less than hashing
// the extension, and the file cache remembers the answer anyway.
constexpr std::array kMimeTable = {
    // text: always with a charset
    MimeEntry{"html", "text/html; charset=utf-8"},
    MimeEntry{"htm", "text/html; charset=utf-8"},
    MimeEntry{"css", "text/css; charset=utf-8"},
    MimeEntry{"js", "text/javascript; charset=utf-8"},
    MimeEntry{"mjs", "text/javascript; charset=utf-8"},
    MimeEntry{"json", "application/json; charset=utf-8"},
    MimeEntry{"map", "application/json; charset=utf-8"},
    MimeEntry{"txt", "text/plain; charset=utf-8"},
    MimeEntry{"text", "text/plain; charset=utf-8"},
    MimeEntry{"log", "text/plain; charset=utf-8"},
    MimeEntry{"xml", "application/xml; charset=utf-8"},
    MimeEntry{"svg", "image/svg+xml; charset=utf-8"},
    MimeEntry{"md", "text/markdown; charset=utf-8"},
    MimeEntry{"markdown", "text/markdown; charset=utf-8"},
    MimeEntry{"csv", "text/csv; charset=utf-8"},
    MimeEntry{"tsv", "text/tab-separated-values; charset=utf-8"},
    MimeEntry{"ics", "text/calendar; charset=utf-8"},
    MimeEntry{"rss", "application/rss+xml; charset=utf-8"},
    MimeEntry{"atom", "application/atom+xml; charset=utf-8"},
    MimeEntry{"webmanifest", "application/manifest+json; charset=utf-8"},
    // images
    MimeEntry{"png", "image/png"},
    MimeEntry{"jpg", "image/jpeg"},
    MimeEntry{"jpeg", "image/jpeg"},
    MimeEntry{"gif", "image/gif"},
    MimeEntry{"webp", "image/webp"},
    MimeEntry{"avif", "image/avif"},
    MimeEntry{"ico", "image/vnd.microsoft.icon"},
    MimeEntry{"bmp", "image/bmp"},
    MimeEntry{"tif", "image/tiff"},
    MimeEntry{"tiff", "image/tiff"},
    // fonts
    MimeEntry{"woff", "font/woff"},
    MimeEntry{"woff2", "font/woff2"},
    MimeEntry{"ttf", "font/ttf"},
    MimeEntry{"otf", "font/otf"},
    // audio and video
    MimeEntry{"mp4", "video/mp4"},
    MimeEntry{"webm", "video/webm"},
    MimeEntry{"ogv", "video/ogg"},
    MimeEntry{"mp3", "audio/mpeg"},
    MimeEntry{"ogg", "audio/ogg"},
    MimeEntry{"oga", "audio/ogg"},
    MimeEntry{"wav", "audio/wav"},
    MimeEntry{"flac", "audio/flac"},
    // applications and archives
    MimeEntry{"pdf", "application/pdf"},
    MimeEntry{"wasm", "application/wasm"},
    MimeEntry{"zip", "application/zip"},
    MimeEntry{"gz", "application/gzip"},
    MimeEntry{"tgz", "application/gzip"},
    MimeEntry{"tar", "application/x-tar"},
    MimeEntry{"bz2", "application/x-bzip2"},
    MimeEntry{"xz", "application/x-xz"},
    MimeEntry{"7z", "application/x-7z-compressed"},
};

}  // namespace

std::string_view mime_type(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return kDefaultMimeType;  // none, or a dotfile
  const std::string_view extension = name.substr(dot + 1);
  for (const MimeEntry& entry : kMimeTable) {
    if (iequals(entry.extension, extension)) return entry.type;
  }
  return kDefaultMimeType;
}

}  // namespace serverlab::http
