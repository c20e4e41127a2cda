// udp_probe.cpp: the probe datagrams and the tally (see udp_probe.hpp).
#include "udp_probe.hpp"

#include <fmt/format.h>

namespace serverlab::udp {
namespace {

constexpr std::string_view kMagic = "SLU1";

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

std::uint64_t get_u64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

char pattern(std::uint64_t seq, std::size_t i) { return static_cast<char>((seq + i) & 0xff); }

}  // namespace

std::string encode(std::uint64_t seq, std::uint64_t count, std::size_t size) {
  std::string out;
  out.reserve(size);
  out += kMagic;
  put_u64(out, seq);
  put_u64(out, count);
  for (std::size_t i = 0; out.size() < size; ++i) out += pattern(seq, i);
  return out;
}

std::optional<Probe> decode(std::string_view datagram) {
  if (datagram.size() < kHeaderSize || datagram.substr(0, 4) != kMagic) return std::nullopt;
  Probe p;
  p.seq = get_u64(datagram.substr(4));
  p.count = get_u64(datagram.substr(12));
  if (p.count == 0 || p.count > kMaxCount || p.seq >= p.count) return std::nullopt;
  std::string_view payload = datagram.substr(kHeaderSize);
  for (std::size_t i = 0; i < payload.size(); ++i)
    if (payload[i] != pattern(p.seq, i)) {
      p.intact = false;
      break;
    }
  return p;
}

void Tally::record(std::string_view datagram) {
  std::optional<Probe> p = decode(datagram);
  if (!p || (expected != 0 && p->count != expected)) {  // not ours, or another run's
    ++foreign;
    return;
  }
  if (!p->intact) {
    ++corrupt;
    return;
  }
  if (expected == 0) {
    expected = p->count;
    seen_.assign(expected, false);
  }
  ++received;
  if (seen_[p->seq]) {
    ++duplicated;
    return;
  }
  seen_[p->seq] = true;
  ++distinct;
  if (highest_ && p->seq < *highest_) ++reordered;
  if (!highest_ || p->seq > *highest_) highest_ = p->seq;
}

std::string Tally::missing(std::size_t max_ranges) const {
  std::string out;
  std::size_t ranges = 0;
  for (std::uint64_t i = 0; i < seen_.size(); ++i) {
    if (seen_[i]) continue;
    std::uint64_t end = i;
    while (end + 1 < seen_.size() && !seen_[end + 1]) ++end;
    if (ranges == max_ranges) return out + ", ...";
    if (!out.empty()) out += ", ";
    out += end == i ? fmt::format("{}", i) : fmt::format("{}-{}", i, end);
    ++ranges;
    i = end;
  }
  return out;
}

std::string Tally::summary() const {
  return fmt::format("lost {}, duplicated {}, reordered {}, corrupt {} ({} datagrams, {} distinct of {} sent)",
                     lost(), duplicated, reordered, corrupt, received, distinct, expected);
}

}  // namespace serverlab::udp
