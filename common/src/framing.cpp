#include "serverlab/framing.hpp"

#include <cerrno>
#include <limits>

namespace serverlab {
namespace {

std::uint32_t decode_length(const unsigned char (&header)[kFrameHeaderSize]) {
  return (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
         (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
}

}  // namespace

FrameStatus read_frame(BufferedReader& in, std::string& payload, std::uint32_t max_payload) {
  payload.clear();
  // [lab02:read-frame:begin]
  // [lab02:read-frame:stub] (void)in;
  // [lab02:read-frame:stub] (void)max_payload;
  // [lab02:read-frame:stub] (void)decode_length;
  // [lab02:read-frame:stub] return FrameStatus::Error;
  unsigned char header[kFrameHeaderSize];
  IoResult r = in.read_n(header, sizeof header);
  if (r.is_error()) return FrameStatus::Error;
  if (r.is_eof()) return r.bytes == 0 ? FrameStatus::Eof : FrameStatus::Truncated;

  const std::uint32_t length = decode_length(header);
  if (length > max_payload) return FrameStatus::TooLarge;  // check before allocating

  payload.resize(length);
  r = in.read_n(payload.data(), length);
  if (r.is_ok()) return FrameStatus::Frame;
  payload.clear();
  return r.is_error() ? FrameStatus::Error : FrameStatus::Truncated;
  // [lab02:read-frame:end]
}

std::string encode_frame(std::string_view payload) {
  const auto length = static_cast<std::uint32_t>(payload.size());
  std::string wire;
  wire.reserve(kFrameHeaderSize + payload.size());
  wire.push_back(static_cast<char>((length >> 24) & 0xff));
  wire.push_back(static_cast<char>((length >> 16) & 0xff));
  wire.push_back(static_cast<char>((length >> 8) & 0xff));
  wire.push_back(static_cast<char>(length & 0xff));
  wire.append(payload);
  return wire;
}

IoResult write_frame(int fd, std::string_view payload) {
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) return IoResult::fail(EMSGSIZE);
  return write_n(fd, encode_frame(payload));
}

std::string_view frame_status_name(FrameStatus status) {
  switch (status) {
    case FrameStatus::Frame: return "frame";
    case FrameStatus::Eof: return "eof";
    case FrameStatus::Truncated: return "truncated";
    case FrameStatus::TooLarge: return "too large";
    case FrameStatus::Error: return "error";
  }
  return "?";
}

}  // namespace serverlab
