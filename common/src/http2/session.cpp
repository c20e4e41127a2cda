#include "serverlab/http2/session.hpp"

#include <nghttp2/nghttp2.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <new>
#include <vector>

#include "serverlab/http/date.hpp"
#include "serverlab/http/file_cache.hpp"
#include "serverlab/http/request_id.hpp"
#include "serverlab/log.hpp"

namespace serverlab::http2 {

// One request and its response. Lives from the first HEADERS frame of a stream
// until nghttp2 closes the stream.
struct Http2Session::Stream {
  std::int32_t id = 0;
  // The request's fields, copied as nghttp2 decodes them (its buffers are only
  // valid during the callback): name and value bytes back to back in `bytes`,
  // located by `fields` (offsets, not views: `bytes` may move as it grows).
  struct Field {
    std::size_t name_at, name_length, value_at, value_length;
  };
  std::string bytes;
  std::vector<Field> fields;
  std::size_t list_size = 0;  // RFC 9113 6.5.2: name + value + 32 per field
  bool too_large = false;     // over the header-list limits: answered with 431

  http::Response response;    // kept until the stream closes: the body pieces point into it
  // The body, in order: bytes in memory (fd < 0) or a region of an open file.
  struct Piece {
    const char* text = nullptr;
    int fd = -1;
    std::uint64_t offset = 0;  // into text, or into the file
    std::uint64_t length = 0;  // bytes still to send
  };
  std::vector<Piece> body;
  std::size_t next_piece = 0;
  std::uint64_t body_left = 0;  // bytes of all pieces still to send
  std::string header_names;   // lowercased names of the response's extra headers
  // The response head's own bytes. nghttp2 reads the header list without copying
  // it (NO_COPY flags, see make_nv) when it packs the HEADERS frame, so every
  // name and value lives here or in `response` until the stream closes.
  char status[16] = {};       // ":status" digits
  char length[24] = {};       // "content-length" digits
  char date[32] = {};         // "date": the clock's text changes every second

  // Back to a fresh stream for `stream_id`, keeping every buffer's capacity, so a
  // recycled stream serves a request without allocating.
  void reset(std::int32_t stream_id) {
    id = stream_id;
    bytes.clear();
    fields.clear();
    list_size = 0;
    too_large = false;
    response.reset();
    body.clear();
    next_piece = 0;
    body_left = 0;
    header_names.clear();
  }

  std::string_view field_name(const Field& f) const { return {bytes.data() + f.name_at, f.name_length}; }
  std::string_view field_value(const Field& f) const {
    return {bytes.data() + f.value_at, f.value_length};
  }
};

namespace {

std::string_view view(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

// One field of a response's header list. With the NO_COPY flags nghttp2 keeps
// the pointers, not a copy of the bytes, and reads them when it packs the
// HEADERS frame: they must stay valid until then, which the stream guarantees
// (its Response and its own digits live until nghttp2 closes the stream; a
// stream closed before its HEADERS went out never has them read). Its API
// takes non-const pointers but never writes.
nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

// ---- Memory for nghttp2: per-thread free lists of small blocks.
//
// Why: per request nghttp2 allocates and frees about five small blocks (its
// stream, the outbound HEADERS and DATA items, header buffers). With many
// streams in flight glibc's per-thread cache (7 blocks per size) overflows and
// most frees take malloc's slow path: malloc and free were about 7% of a
// request's instructions. Here a freed block goes on a free list of its size
// class and the next allocation of that class pops it: a few instructions.
//
//   block:  [ header: class, capacity ][ the bytes nghttp2 sees ... ]
//           ^ malloc'd                  ^ returned (16-byte aligned)
//
// Limits: classes of 64 B to 2 KiB; larger blocks go straight to malloc. A list
// keeps at most kKeepPerClass blocks (the rest are freed), so a thread holds at
// most about 250 KiB of spare blocks. Per thread (thread_local), so no locks;
// a block freed on another thread simply joins that thread's lists. Sessions
// must be destroyed before their thread ends (the lists go with the thread).
// Under AddressSanitizer the lists are skipped, so it sees every free.
namespace pool {

constexpr std::size_t kHeader = alignof(std::max_align_t);
constexpr std::size_t kClassSize[] = {64, 128, 256, 512, 1024, 2048};
constexpr std::size_t kClasses = std::size(kClassSize);
constexpr std::size_t kLarge = kClasses;  // the class of a block too big for the lists
constexpr std::size_t kKeepPerClass = 64;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUseLists = false;
#else
constexpr bool kUseLists = true;
#endif

struct Header {
  std::size_t size_class;  // 0..kClasses-1, or kLarge
  std::size_t capacity;    // usable bytes after the header
};
static_assert(sizeof(Header) <= kHeader);

Header& header_of(void* p) { return *reinterpret_cast<Header*>(static_cast<char*>(p) - kHeader); }

struct FreeLists {
  void* head[kClasses] = {};  // a free block's first bytes point at the next one
  std::size_t count[kClasses] = {};
  ~FreeLists() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (head[c] != nullptr) {
        void* next = *static_cast<void**>(head[c]);
        std::free(&header_of(head[c]));
        head[c] = next;
      }
    }
  }
};
thread_local FreeLists t_lists;

void* allocate(std::size_t size) {
  std::size_t c = 0;
  while (c < kClasses && kClassSize[c] < size) ++c;
  if (kUseLists && c < kClasses && t_lists.head[c] != nullptr) {
    void* p = t_lists.head[c];
    t_lists.head[c] = *static_cast<void**>(p);
    --t_lists.count[c];
    return p;
  }
  const std::size_t capacity = c < kClasses ? kClassSize[c] : size;
  void* block = std::malloc(kHeader + capacity);
  if (block == nullptr) return nullptr;
  ::new (block) Header{c, capacity};
  return static_cast<char*>(block) + kHeader;
}

void release(void* p) {
  if (p == nullptr) return;
  const std::size_t c = header_of(p).size_class;
  if (kUseLists && c < kClasses && t_lists.count[c] < kKeepPerClass) {
    *static_cast<void**>(p) = t_lists.head[c];
    t_lists.head[c] = p;
    ++t_lists.count[c];
    return;
  }
  std::free(&header_of(p));
}

void* reallocate(void* p, std::size_t size) {
  if (p == nullptr) return allocate(size);
  const std::size_t capacity = header_of(p).capacity;
  if (size <= capacity) return p;
  void* bigger = allocate(size);
  if (bigger == nullptr) return nullptr;  // p stays valid, as realloc(3) leaves it
  std::memcpy(bigger, p, capacity);
  release(p);
  return bigger;
}

// The nghttp2_mem functions (nghttp2 passes its mem_user_data, unused here).
void* mem_malloc(std::size_t size, void*) { return allocate(size); }
void mem_free(void* p, void*) { release(p); }
void* mem_calloc(std::size_t n, std::size_t size, void*) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = allocate(n * size);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}
void* mem_realloc(void* p, std::size_t size, void*) { return reallocate(p, size); }

nghttp2_mem* memory() {
  static nghttp2_mem mem{nullptr, mem_malloc, mem_free, mem_calloc, mem_realloc};
  return &mem;
}

}  // namespace pool

// Headers that belong to one HTTP/1.1 connection and are forbidden in HTTP/2
// (RFC 9113 8.2.2). The HTTP/1.1 code never puts them in extra_headers, but a
// route could.
bool connection_specific(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "transfer-encoding" || lower_name == "upgrade" ||
         lower_name == "proxy-connection";
}

}  // namespace

// The nghttp2 callbacks. Each receives the Http2Session as user_data. They never
// throw (nghttp2 is C): trouble becomes an nghttp2 error code.
struct Http2Session::Callbacks {
  static Http2Session& self(void* user_data) { return *static_cast<Http2Session*>(user_data); }

  // A frame header arrived. Guards against CONTINUATION floods: one header
  // block may not go on for ever, whether in bytes or in (possibly empty) frames.
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
    Http2Session& s = self(user_data);
    if (hd->type == NGHTTP2_HEADERS) {
      s.block_bytes_ = hd->length;
      s.continuations_ = 0;
    } else if (hd->type == NGHTTP2_CONTINUATION) {
      s.block_bytes_ += hd->length;
      ++s.continuations_;
      if (s.continuations_ > s.limits_.max_continuations ||
          s.block_bytes_ > s.limits_.max_header_block) {
        s.flood_code_ = NGHTTP2_ENHANCE_YOUR_CALM;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
    }
    return 0;
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                              void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Session& s = self(user_data);
    try {
      std::unique_ptr<Stream> stream;
      if (s.spare_streams_.empty()) {
        stream = std::make_unique<Stream>();
      } else {  // a recycled one, with its buffers' capacity
        stream = std::move(s.spare_streams_.back());
        s.spare_streams_.pop_back();
      }
      stream->reset(frame->hd.stream_id);
      s.receiving_ = stream.get();
      s.streams_[frame->hd.stream_id] = std::move(stream);
    } catch (const std::bad_alloc&) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_INTERNAL_ERROR);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value,
                       std::size_t value_length, std::uint8_t, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Session& s = self(user_data);
    // A header block arrives in one piece (no other frame may come between its
    // HEADERS and CONTINUATIONs), so its stream is nearly always the one
    // on_begin_headers just opened: no lookup per field.
    Stream* stream = s.receiving_ != nullptr && s.receiving_->id == frame->hd.stream_id
                         ? s.receiving_
                         : s.find(frame->hd.stream_id);
    if (stream == nullptr || stream->too_large) return 0;
    stream->list_size += name_length + value_length + 32;
    if (stream->list_size > s.limits_.max_header_list ||
        stream->fields.size() >= s.limits_.max_headers) {
      stream->too_large = true;  // answered with 431 once the block is complete
      stream->bytes.clear();
      stream->fields.clear();
      return 0;
    }
    try {
      const std::size_t at = stream->bytes.size();
      stream->bytes.append(view(name, name_length));
      stream->bytes.append(view(value, value_length));
      stream->fields.push_back({at, name_length, at + name_length, value_length});
    } catch (const std::bad_alloc&) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets this stream
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Http2Session& s = self(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          if (Stream* stream = s.find(frame->hd.stream_id)) s.respond(*stream);
        }
        break;
      case NGHTTP2_RST_STREAM:
        if (!s.count_reset()) {
          s.flood_code_ = NGHTTP2_ENHANCE_YOUR_CALM;
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      default:
        break;
    }
    return 0;
  }

  // Request body bytes: no route uses them. nghttp2 still opens the windows
  // again (automatic WINDOW_UPDATE), so a client's upload is drained, not stuck.
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t,
                                const std::uint8_t*, std::size_t, void*) {
    return 0;
  }

  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame,
                           void* user_data) {
    Http2Session& s = self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      s.goaway_code_ = frame->goaway.error_code;
      return 0;
    }
    const bool ends_stream = (frame->hd.type == NGHTTP2_HEADERS ||
                              frame->hd.type == NGHTTP2_DATA) &&
                             (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    // The response is complete but the client is still sending a body nobody
    // reads: ask it to stop (RFC 9113 8.1), which also frees the stream.
    if (ends_stream && nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t,
                             void* user_data) {
    Http2Session& s = self(user_data);
    auto it = s.streams_.find(stream_id);
    if (it == s.streams_.end()) return 0;
    std::unique_ptr<Stream> stream = std::move(it->second);
    s.streams_.erase(it);
    if (s.receiving_ == stream.get()) s.receiving_ = nullptr;
    stream->reset(0);  // drops its file references now
    if (s.spare_streams_.size() < s.limits_.max_concurrent_streams) {
      try {
        s.spare_streams_.push_back(std::move(stream));
      } catch (const std::bad_alloc&) {
      }  // not kept: freed here
    }
    return 0;
  }

  // nghttp2 has room for one DATA frame of at most `length` bytes (it has already
  // limited it to a frame and to what the flow-control windows allow) and asks
  // how many this stream will send. Nothing is copied here: NO_COPY tells
  // nghttp2 to call send_data() with the frame header when the frame's turn in
  // the output comes, and send_data() writes header and payload in one go.
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    const Stream& stream = *static_cast<const Stream*>(source->ptr);
    const std::uint64_t n = std::min<std::uint64_t>(length, stream.body_left);
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == stream.body_left) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  // Writes one DATA frame into the session's output: the 9-byte frame header
  // nghttp2 made, then `length` payload bytes taken straight from the body
  // pieces (the file cache's bytes, or pread(2) from the file). This is the one
  // copy a body byte makes on its way to send(2); without NO_COPY nghttp2 would
  // first copy it into its own frame buffer and pump() would copy it again.
  //
  // Bounded memory: while kOutputHighWater bytes already wait to be sent, the
  // frame is put off (WOULDBLOCK: nghttp2 calls again with the same frame from
  // the next pump()), so the output grows past the mark by at most one frame.
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* frame_header,
                       std::size_t length, nghttp2_data_source* source, void* user_data) {
    Http2Session& s = self(user_data);
    if (s.out_.readable_bytes() >= kOutputHighWater) return NGHTTP2_ERR_WOULDBLOCK;
    // No select_padding callback is set, so nghttp2 never pads our frames.
    if (frame->data.padlen != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    constexpr std::size_t kFrameHeader = 9;
    try {
      s.out_.ensure_writable(kFrameHeader + length);
    } catch (const std::bad_alloc&) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets this stream
    }
    char* at = s.out_.begin_write();
    std::memcpy(at, frame_header, kFrameHeader);
    Stream& stream = *static_cast<Stream*>(source->ptr);
    // Written past the buffer's end first and committed only when complete: a
    // failed read leaves no half frame in the output.
    if (!copy_body(stream, at + kFrameHeader, length)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s.out_.has_written(kFrameHeader + length);
    return 0;
  }

  // Copies the next `length` body bytes of `stream` to `to` and moves past them.
  // False when a file read fails or the file shrank under us (the length we
  // announced is a lie now): the caller resets this stream; the connection and
  // its other streams go on.
  static bool copy_body(Stream& stream, char* to, std::size_t length) {
    while (length > 0 && stream.next_piece < stream.body.size()) {
      Stream::Piece& piece = stream.body[stream.next_piece];
      std::size_t got = static_cast<std::size_t>(std::min<std::uint64_t>(length, piece.length));
      if (piece.fd < 0) {
        std::memcpy(to, piece.text + piece.offset, got);
      } else {
        const ssize_t n = ::pread(piece.fd, to, got, static_cast<off_t>(piece.offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got = static_cast<std::size_t>(n);
      }
      piece.offset += got;
      piece.length -= got;
      stream.body_left -= got;
      to += got;
      length -= got;
      if (piece.length == 0) ++stream.next_piece;
    }
    return length == 0;
  }
};

Limits Limits::from(const http::HttpConfig& config) {
  Limits limits;
  limits.max_header_list = static_cast<std::size_t>(config.max_header_bytes);
  limits.max_headers = static_cast<std::size_t>(std::max(config.max_headers, 1));
  limits.max_header_block = std::max<std::size_t>(limits.max_header_list * 2, 16 * 1024);
  return limits;
}

Http2Session::Http2Session(const http::HttpService& service, std::string_view peer,
                           Limits limits)
    : service_(service), limits_(limits), peer_(peer) {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) throw std::bad_alloc();
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, Callbacks::on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            Callbacks::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, Callbacks::on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(callbacks, Callbacks::send_data);

  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    throw std::bad_alloc();
  }
  // libnghttp2's own CONTINUATION bound stays as a backstop behind ours.
  nghttp2_option_set_max_continuations(option, limits_.max_continuations * 2);
  const int rv = nghttp2_session_server_new3(&session_, callbacks, this, option, pool::memory());
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) throw std::bad_alloc();

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits_.max_header_list)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},  // a server may only say 0: there is no push here
      // RFC 9113 deprecated RFC 7540's priority tree; without it nghttp2 keeps
      // no tree of streams (nor closed streams for it) and schedules by RFC
      // 9218's simpler urgency levels, which costs less per stream.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) {
    nghttp2_session_del(session_);
    throw std::bad_alloc();
  }
  arm(Timer::Header);
  pump();
}

Http2Session::~Http2Session() {
  nghttp2_session_del(session_);  // may call on_stream_close: streams_ is still alive here
  streams_.clear();
  spare_streams_.clear();
}

Http2Session::Stream* Http2Session::find(std::int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------- input

void Http2Session::on_input() {
  if (closed_ || in_.empty()) return;
  const auto* data = reinterpret_cast<const std::uint8_t*>(in_.peek());
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, in_.readable_bytes());
  in_.retrieve_all();  // nghttp2 takes every byte (it never pauses here), or failed
  if (rv < 0) {
    // A callback found an attack, nghttp2 found a flood of its own kind, or memory
    // ran out. nghttp2 itself answers plain protocol errors with a GOAWAY and
    // does not return here.
    std::uint32_t code = NGHTTP2_INTERNAL_ERROR;
    if (flood_code_ != 0) code = flood_code_;
    else if (rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) code = NGHTTP2_ENHANCE_YOUR_CALM;
    else if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) code = NGHTTP2_PROTOCOL_ERROR;
    if (Metrics* m = service_.metrics()) m->error(code == NGHTTP2_ENHANCE_YOUR_CALM ? "limit" : "parse");
    service_.log_protocol_error(peer_, 400,
                                code == NGHTTP2_ENHANCE_YOUR_CALM ? "HTTP/2 flood (GOAWAY)"
                                                                  : "HTTP/2 protocol error",
                                {});
    end_connection(code);
  }
  note_activity();
  pump();
}

void Http2Session::on_eof() {
  eof_ = true;
  in_.retrieve_all();
  end_connection(NGHTTP2_NO_ERROR);
}

void Http2Session::on_timeout() {
  if (closed_) return;
  if (!out_.empty() || !streams_.empty() || goaway_code_ >= 0) {
    // The peer stopped reading, stopped opening its windows, or did not take
    // our GOAWAY: nothing more will happen on this connection.
    if (Metrics* m = service_.metrics()) m->error("timeout");
    closed_ = true;
    return;
  }
  end_connection(NGHTTP2_NO_ERROR);  // idle: say goodbye properly
  arm(Timer::Send);                  // and give the peer that long to take it
}

void Http2Session::shutdown() {
  if (closed_ || stopping_) return;
  stopping_ = true;
  linger_ = true;
  // GOAWAY with the last stream taken: those run to completion, later ones are
  // refused and the client may retry them elsewhere. Then nghttp2 stops wanting
  // to read once no stream is active, and want() says Close.
  const std::int32_t last = nghttp2_session_get_last_proc_stream_id(session_);
  if (nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, nullptr, 0) != 0)
    closed_ = true;
  pump();
}

bool Http2Session::count_reset() {
  ++resets_total_;
  const Clock::time_point t = now();
  if (resets_in_window_ == 0 || t - reset_window_start_ >= limits_.reset_window) {
    reset_window_start_ = t;
    resets_in_window_ = 0;
  }
  return ++resets_in_window_ <= limits_.max_resets;
}

void Http2Session::end_connection(std::uint32_t code) {
  linger_ = true;
  if (goaway_code_ < 0) goaway_code_ = code;
  // Queues GOAWAY(last stream, code); nghttp2 stops reading and writing once it is sent.
  if (nghttp2_session_terminate_session(session_, code) != 0) closed_ = true;
  pump();
}

// ---------------------------------------------------------------- requests

void Http2Session::respond(Stream& stream) {
  ++requests_;
  // The request's duration, for the access log and the metrics, and only when
  // one of them is on. With a driver's cached clock (use_clock) it runs from the
  // loop's wake-up that read the request's bytes, so it costs one clock read.
  const http::AccessLog& log = service_.access_log();
  Metrics* const metrics = service_.metrics();
  const bool timed = log.enabled() || metrics != nullptr;
  const Clock::time_point started = timed ? now() : Clock::time_point{};
  http::Request& request = request_;  // reused: its header vector keeps its capacity
  request.clear();
  std::string_view authority;
  if (!stream.too_large) {
    try {
      request.headers.reserve(stream.fields.size());
    } catch (const std::bad_alloc&) {
      stream.too_large = true;
    }
  }
  for (const Stream::Field& f : stream.fields) {
    const std::string_view name = stream.field_name(f);
    const std::string_view value = stream.field_value(f);
    if (name == ":method") {
      request.method_token = value;
    } else if (name == ":path") {
      request.target = value;
    } else if (name == ":authority") {
      authority = value;
    } else if (!name.starts_with(':')) {
      request.headers.push_back({name, value});
    }
  }
  request.method = http::method_from_token(request.method_token);
  const std::size_t question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string_view::npos) request.query = request.target.substr(question + 1);
  request.host = authority.empty() ? request.header("host").value_or(std::string_view{}) : authority;
  request.version_minor = 1;

  http::Response& r = stream.response;
  request_id_.clear();
  try {
    if (stream.too_large) {
      service_.error(431, r);
      if (Metrics* m = service_.metrics()) m->error("limit");
      if (service_.request_ids_on()) {  // the chain did not run: name the request here
        http::make_request_id(request_id_);
        r.add_header("X-Request-Id", request_id_);
      }
    } else {
      // The same chain as HTTP/1.1: the connection's peer (rate limiting, the
      // log) and, with --request-id on, X-Request-Id taken or made and echoed.
      http::Exchange exchange;
      exchange.peer = peer_;
      if (service_.request_ids_on()) exchange.request_id = &request_id_;
      service_.handle(exchange, request, r);
    }
    if (request.method == http::Method::Head) r.send_body = false;
    submit(stream);
  } catch (const std::exception& e) {
    log::warn("HTTP/2 stream {}: {}", stream.id, e.what());
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_INTERNAL_ERROR);
    return;
  }

  if (!timed) return;
  const std::uint64_t body_bytes = r.send_body ? r.content_length : 0;
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (log.enabled()) {
    std::string line;
    line.append(request.method_token).append(" ").append(request.target).append(" HTTP/2.0");
    log.write({peer_, line, r.status, body_bytes, request.header("referer").value_or(""),
               request.header("user-agent").value_or(""), user_, request_id_, seconds});
  }
  if (metrics != nullptr) metrics->request_done(request.method, r.status, body_bytes, seconds);
}

// Turns the stream's Response into HEADERS (+ DATA through read_body). Throws
// std::bad_alloc.
void Http2Session::submit(Stream& stream) {
  const http::Response& r = stream.response;
  const std::string_view status(
      stream.status,
      static_cast<std::size_t>(std::to_chars(stream.status, stream.status + sizeof stream.status - 1,
                                             r.status).ptr - stream.status));
  const std::string_view content_length(
      stream.length,
      static_cast<std::size_t>(std::to_chars(stream.length, stream.length + sizeof stream.length - 1,
                                             r.content_length).ptr - stream.length));

  // Lowercased copies of the extra header names first ("Name: value\r\n" lines),
  // so the name views below do not move while the list is built.
  auto& extra = extra_;  // (name offset, value); reused between responses
  extra.clear();
  std::string_view lines = r.extra_headers;
  while (!lines.empty()) {
    const std::size_t end = lines.find("\r\n");
    const std::string_view line = lines.substr(0, end);
    lines = end == std::string_view::npos ? std::string_view{} : lines.substr(end + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    const std::size_t at = stream.header_names.size();
    for (char c : line.substr(0, colon))
      stream.header_names.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    extra.emplace_back(at, value);
  }

  const std::string_view now = http::current_http_date();
  const std::size_t date_length = std::min(now.size(), sizeof stream.date);
  std::memcpy(stream.date, now.data(), date_length);
  const std::string_view date(stream.date, date_length);

  // The header list, reused between responses (submit() never runs twice at once
  // on one thread; nghttp2 copies the list itself, not the bytes it points at,
  // before nghttp2_submit_response returns). Filled by index: at most 8 fixed
  // fields plus the extra ones.
  static thread_local std::vector<nghttp2_nv> nv;
  nv.resize(8 + extra.size());
  std::size_t n = 0;
  nv[n++] = make_nv(":status", status);
  nv[n++] = make_nv("server", "serverlab");
  nv[n++] = make_nv("date", date);
  if (!r.content_type.empty()) nv[n++] = make_nv("content-type", r.content_type);
  nv[n++] = make_nv("content-length", content_length);
  if (!r.last_modified.empty()) nv[n++] = make_nv("last-modified", r.last_modified);
  if (!r.etag.empty()) nv[n++] = make_nv("etag", r.etag);
  if (r.accept_ranges) nv[n++] = make_nv("accept-ranges", "bytes");
  for (std::size_t i = 0; i < extra.size(); ++i) {
    const std::size_t at = extra[i].first;
    const std::size_t end = i + 1 < extra.size() ? extra[i + 1].first : stream.header_names.size();
    const std::string_view name(stream.header_names.data() + at, end - at);
    if (!connection_specific(name)) nv[n++] = make_nv(name, extra[i].second);
  }

  // The body pieces, in the order HTTP/1.1 sends them (HttpSession::queue_response).
  auto add_text = [&stream](std::string_view text) {
    if (text.empty()) return;
    stream.body.push_back({text.data(), -1, 0, text.size()});
    stream.body_left += text.size();
  };
  auto add_file = [&stream, &add_text](const http::CachedFile* file, std::uint64_t offset,
                                       std::uint64_t length) {
    if (file == nullptr || length == 0) return;
    if (file->inlined) return add_text(std::string_view(file->bytes).substr(offset, length));
    stream.body.push_back({nullptr, file->fd.get(), offset, length});
    stream.body_left += length;
  };
  if (r.send_body) {
    add_text(r.text);
    add_file(r.file.file.get(), r.file.offset, r.file.length);
    for (const http::Response::Part& part : r.parts) {
      add_text(std::string_view(r.owned_text).substr(part.text_offset, part.text_length));
      add_file(r.file.file.get(), part.file_offset, part.file_length);
    }
  }

  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = Callbacks::read_body;
  const int rv = nghttp2_submit_response(session_, stream.id, nv.data(), n,
                                         stream.body.empty() ? nullptr : &provider);
  if (rv != 0) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_INTERNAL_ERROR);
  }
}

// ---------------------------------------------------------------- output

void Http2Session::pump() {
  while (!closed_ && out_.readable_bytes() < kOutputHighWater) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {  // out of memory, or a callback failed: nothing sensible to add
      closed_ = true;
      break;
    }
    if (n == 0) break;
    out_.append(data, static_cast<std::size_t>(n));
  }
}

void Http2Session::wrote(std::size_t n) {
  n = std::min(n, out_.readable_bytes());
  out_.retrieve(n);
  if (out_.empty()) out_.retrieve_all();
  if (n > 0) note_activity();
  pump();
}

Http2Session::Want Http2Session::want() const {
  if (!out_.empty() && !closed_) return Want::Write;
  if (closed_ || eof_) return Want::Close;
  // After a GOAWAY went out and no stream is active, nghttp2 wants nothing more.
  if (nghttp2_session_want_read(session_) == 0) return Want::Close;
  return Want::Read;
}

void Http2Session::arm(Timer timer) {
  const http::HttpConfig& c = service_.config();
  double seconds = c.header_timeout;
  if (timer == Timer::KeepAlive) seconds = c.keepalive_timeout;
  if (timer == Timer::Send) seconds = c.send_timeout;
  timer_ = timer;
  deadline_ = now() +
              std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Progress was made (bytes in or out). While streams or output wait on the
// peer, the send timeout starts over; once the last stream is done the
// keep-alive timeout starts. Frames that open no stream (PING, SETTINGS) do not
// extend an idle connection's life.
void Http2Session::note_activity() {
  if (goaway_code_ >= 0) return;  // leaving: the current deadline stands
  if (!streams_.empty() || !out_.empty()) {
    arm(Timer::Send);
  } else if (timer_ == Timer::Send) {
    arm(Timer::KeepAlive);
  }
}

}  // namespace serverlab::http2
