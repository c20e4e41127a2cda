// framing.hpp: length-prefixed messages over a byte stream.
//
// TCP delivers bytes, not messages: one send(2) may arrive as three reads, and
// three sends as one. A protocol that wants messages must mark where each ends.
// Two common ways: a terminator ('\n', see BufferedReader::read_line) or a
// length prefix. This header is the length prefix:
//
//   +--------+--------+--------+--------+---------------------------+
//   |       payload length, 32-bit big-endian (network order)       |
//   +--------+--------+--------+--------+---------------------------+
//   | payload: exactly `length` bytes, any values (binary-safe)     ...
//   +---------------------------------------------------------------+
//
// A zero-length frame is valid (4 bytes of zeros). The reader checks the length
// against a limit BEFORE reading or allocating the payload, so a peer cannot make
// the server reserve 4 GiB by sending four bytes.
//
// Who may call: any thread, on blocking descriptors (stages 1-3, the echo client,
// bench/echo_bench). Functions block until a frame is read or written; none throw.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "serverlab/rio.hpp"

namespace serverlab {

inline constexpr std::size_t kFrameHeaderSize = 4;

enum class FrameStatus {
  Frame,      // a whole frame: `payload` holds it
  Eof,        // clean EOF at a frame boundary: no more frames
  Truncated,  // EOF inside the header or the payload: the partial frame is dropped
  TooLarge,   // the header announced more than max_payload bytes (nothing read past it)
  Error,      // read(2) failed; the reader's error() says why
};

// Reads one frame. Blocks. On anything but Frame, `payload` is left empty.
FrameStatus read_frame(BufferedReader& in, std::string& payload, std::uint32_t max_payload);

// Writes prefix + payload with one write_n (one syscall for small frames, so a
// frame never reaches the peer as a lone header followed by a pause).
// Payloads over 4 GiB - 1 cannot be framed: Error(EMSGSIZE), nothing written.
IoResult write_frame(int fd, std::string_view payload);

// The wire bytes of one frame (prefix + payload). Payload must be < 4 GiB.
std::string encode_frame(std::string_view payload);

// The name of a status, for logs and test messages.
std::string_view frame_status_name(FrameStatus status);

}  // namespace serverlab
