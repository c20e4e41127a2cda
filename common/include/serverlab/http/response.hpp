// http/response.hpp: Response, the plan of one HTTP response, and the code that
// turns its head into bytes.
//
// A handler (StaticFiles, an admin route) fills a Response; it does no I/O.
// The session then formats the head straight into its output Buffer and queues
// the body, which is, in order:
//
//   +------------------+----------------------------+---------------------------+
//   | text (in memory) | file region (sendfile)     | parts... (multipart only) |
//   +------------------+----------------------------+---------------------------+
//
// Header values are string_views into storage that outlives the response: a
// static table, the Response's own strings, or a file-cache entry that `file`
// keeps alive. Reusing one Response per connection (reset() keeps capacity)
// makes a cached-file hit allocation-free.
//
// A Response cannot be copied: `text` may point into `owned_text`, and a copy's
// text would still point into the original. Moving is allowed (a handler's tests
// return one by value) and keeps such a `text` pointing into the new owner.
//
// Who may call: any thread; a Response belongs to one connection. No blocking.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/buffer.hpp"

namespace serverlab::http {

struct CachedFile;  // file_cache.hpp

// "Not Found" for 404; "Unknown" for a code without a registered phrase.
std::string_view reason_phrase(int status);

// A byte range of a file to send with sendfile(2). `file` keeps the descriptor
// open until the bytes are on the wire, even if the cache drops the entry.
struct FileRegion {
  std::shared_ptr<const CachedFile> file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct Response {
  Response() = default;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  Response(Response&& other) noexcept;
  Response& operator=(Response&& other) noexcept;
  ~Response() = default;

  int status = 200;
  bool close = false;      // end the connection after this response (errors, shutdown)
  bool send_body = true;   // false for HEAD and 304: the head still states Content-Length
  std::string_view content_type;
  std::string_view last_modified;
  std::string_view etag;
  bool accept_ranges = false;
  std::string extra_headers;        // preformatted "Name: value\r\n" lines (Location, Allow, ...)
  std::uint64_t content_length = 0;

  std::string_view text;   // body bytes in memory (static, owned_text, or a cache entry's copy)
  std::string owned_text;  // storage for generated bodies (listings, metrics, multipart heads)
  FileRegion file;
  struct Part {            // multipart/byteranges: owned_text[text_offset, +text_length), then
    std::size_t text_offset = 0;  // file bytes [file_offset, +file_length) of `file.file`
    std::size_t text_length = 0;
    std::uint64_t file_offset = 0;
    std::uint64_t file_length = 0;
  };
  std::vector<Part> parts;

  // Back to a fresh 200 with no headers and no body; keeps string/vector capacity.
  void reset();
  // Appends "name: value\r\n" to extra_headers.
  void add_header(std::string_view name, std::string_view value);
  // Sets an in-memory body held in owned_text (copied).
  void set_owned_body(std::string_view content_type_value, std::string body);
};

// Appends the status line and every header, ending with the blank line:
//   HTTP/1.1 200 OK\r\nServer: serverlab\r\nDate: ...\r\n ... Connection: keep-alive\r\n\r\n
// `date` is an IMF-fixdate (current_http_date()). Allocation-free when `out` has room.
void append_response_head(Buffer& out, const Response& response, bool keep_alive,
                          std::string_view date);

// The interim response sent before reading a body announced with Expect: 100-continue.
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace serverlab::http
