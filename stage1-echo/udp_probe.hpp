// udp_probe.hpp: the datagrams udp-send sends and the tally udp-recv keeps of them.
//
// What it teaches: UDP delivers datagrams, each whole or not at all, and promises
// nothing else: a datagram may be lost, arrive twice, or arrive after a later one.
// To SEE that, each datagram carries its sequence number, and the receiver counts:
//
//   +------+----------------+----------------+---------------------------------+
//   | SLU1 | seq (8 bytes)  | count (8 bytes)| payload: byte i = (seq + i) & 255|
//   +------+----------------+----------------+---------------------------------+
//    magic   big-endian        how many the sender sends in all
//
//   lost        = count - distinct sequence numbers seen
//   duplicated  = datagrams whose sequence number had been seen already
//   reordered   = new datagrams that arrived after one with a higher number
//   corrupt     = datagrams of our format whose payload pattern is wrong
//   foreign     = datagrams that are not ours (wrong magic, too short, count too big)
//
// Who may call: any thread; a Tally belongs to one thread. Nothing here does I/O or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace serverlab::udp {

inline constexpr std::size_t kHeaderSize = 20;        // magic + seq + count
inline constexpr std::size_t kMaxDatagram = 65507;    // the most one IPv4 UDP datagram carries
inline constexpr std::uint64_t kMaxCount = 1u << 24;  // the tally keeps one bit per datagram

// The wire bytes of datagram `seq` of `count`, `size` bytes long (kHeaderSize..kMaxDatagram).
std::string encode(std::uint64_t seq, std::uint64_t count, std::size_t size);

struct Probe {
  std::uint64_t seq = 0;
  std::uint64_t count = 0;
  bool intact = true;  // the payload has the expected pattern
};
// Parses one received datagram; nullopt when it is not one of ours.
std::optional<Probe> decode(std::string_view datagram);

// Counts what arrived. record() each datagram in arrival order.
class Tally {
 public:
  void record(std::string_view datagram);

  std::uint64_t received = 0;    // datagrams of ours, duplicates included
  std::uint64_t distinct = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::uint64_t corrupt = 0;
  std::uint64_t foreign = 0;
  std::uint64_t expected = 0;    // the sender's count (0 until a datagram says)

  std::uint64_t lost() const { return expected > distinct ? expected - distinct : 0; }
  bool complete() const { return expected > 0 && distinct == expected; }
  // The missing sequence numbers as ranges, "3, 7-9, 12" (at most `max_ranges`, then "...").
  std::string missing(std::size_t max_ranges = 10) const;
  // "lost L, duplicated D, reordered R, corrupt C (N datagrams, M distinct of E sent)".
  std::string summary() const;

 private:
  std::vector<bool> seen_;
  std::optional<std::uint64_t> highest_;
};

}  // namespace serverlab::udp
