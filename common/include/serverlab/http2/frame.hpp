// http2/frame.hpp: the 9-byte HTTP/2 frame header (RFC 9113 4.1) and the client
// preface (RFC 9113 3.4), as plain functions over bytes.
//
//    0                   1                   2                   3
//   +-----------------------------------------------+
//   |                 Length (24)                   |
//   +---------------+---------------+---------------+
//   |   Type (8)    |   Flags (8)   |
//   +-+-------------+---------------+-------------------------------+
//   |R|                 Stream Identifier (31)                      |
//   +=+=============================================================+
//   |                   Frame Payload (Length bytes)                |
//
// All numbers are big-endian ("network order"); the R bit is reserved and must
// be ignored when read. libnghttp2 does the real framing inside Http2Session;
// these functions exist so the pieces can be seen and tested on their own: the
// stage 4 connection uses match_preface() to recognise an HTTP/2 client, and
// the tests use parse_frame_header() to read what the server sent.
//
// Who may call: anyone, any thread (pure functions, no allocation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace serverlab::http2 {

// Every HTTP/2 connection starts with these 24 bytes from the client.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class PrefaceMatch {
  No,       // these bytes are not an HTTP/2 client preface (HTTP/1.x, or garbage)
  Partial,  // a proper prefix of the preface: wait for more bytes
  Yes,      // the whole preface is there (more bytes may follow it)
};

// Looks at the first bytes a client sent on a cleartext connection.
PrefaceMatch match_preface(std::string_view bytes);

inline constexpr std::size_t kFrameHeaderSize = 9;

// Frame types (RFC 9113 6).
enum class FrameType : std::uint8_t {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  Goaway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
};

// Flag bits (their meaning depends on the type).
inline constexpr std::uint8_t kFlagEndStream = 0x1;   // DATA, HEADERS
inline constexpr std::uint8_t kFlagAck = 0x1;         // SETTINGS, PING
inline constexpr std::uint8_t kFlagEndHeaders = 0x4;  // HEADERS, CONTINUATION
inline constexpr std::uint8_t kFlagPadded = 0x8;      // DATA, HEADERS
inline constexpr std::uint8_t kFlagPriority = 0x20;   // HEADERS

struct FrameHeader {
  std::uint32_t length = 0;     // payload bytes that follow the header (24 bits)
  std::uint8_t type = 0;        // a FrameType value, or an unknown type (to be ignored)
  std::uint8_t flags = 0;
  std::uint32_t stream_id = 0;  // 31 bits; 0 is the connection itself
};

// Decodes the frame header at the start of `bytes`; nullopt when fewer than 9
// bytes are there. It does not judge the values (a length over the peer's
// SETTINGS_MAX_FRAME_SIZE, an unknown type): that is the caller's business.
std::optional<FrameHeader> parse_frame_header(std::string_view bytes);

// Appends the 9 bytes of `header` to `out` (the R bit is sent as 0; a length
// over 24 bits is cut to its low 24 bits: callers keep payloads within limits).
void append_frame_header(std::string& out, const FrameHeader& header);

}  // namespace serverlab::http2
