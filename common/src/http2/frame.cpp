#include "serverlab/http2/frame.hpp"

namespace serverlab::http2 {

PrefaceMatch match_preface(std::string_view bytes) {
  if (bytes.size() < kClientPreface.size()) {
    return kClientPreface.starts_with(bytes) ? PrefaceMatch::Partial : PrefaceMatch::No;
  }
  return bytes.starts_with(kClientPreface) ? PrefaceMatch::Yes : PrefaceMatch::No;
}

std::optional<FrameHeader> parse_frame_header(std::string_view bytes) {
  // [lab20:frame-header:begin]
  // [lab20:frame-header:stub] // Decode the 9 bytes: a 24-bit length, the type, the flags and a
  // [lab20:frame-header:stub] // 31-bit stream id, all big-endian (see the picture in frame.hpp).
  // [lab20:frame-header:stub] (void)bytes;
  // [lab20:frame-header:stub] return std::nullopt;
  if (bytes.size() < kFrameHeaderSize) return std::nullopt;
  // Work on unsigned bytes: a char may be signed, and 0xff must stay 255.
  auto byte = [&bytes](std::size_t i) { return static_cast<std::uint32_t>(
                                            static_cast<unsigned char>(bytes[i])); };
  FrameHeader h;
  h.length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
  h.type = static_cast<std::uint8_t>(byte(3));
  h.flags = static_cast<std::uint8_t>(byte(4));
  h.stream_id = ((byte(5) << 24) | (byte(6) << 16) | (byte(7) << 8) | byte(8)) & 0x7fffffffU;
  return h;
  // [lab20:frame-header:end]
}

void append_frame_header(std::string& out, const FrameHeader& header) {
  const std::uint32_t length = header.length & 0xffffffU;
  const std::uint32_t id = header.stream_id & 0x7fffffffU;
  const char bytes[kFrameHeaderSize] = {
      static_cast<char>(length >> 16), static_cast<char>(length >> 8),
      static_cast<char>(length),       static_cast<char>(header.type),
      static_cast<char>(header.flags), static_cast<char>(id >> 24),
      static_cast<char>(id >> 16),     static_cast<char>(id >> 8),
      static_cast<char>(id)};
  out.append(bytes, kFrameHeaderSize);
}

}  // namespace serverlab::http2
