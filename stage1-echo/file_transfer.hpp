// file_transfer.hpp: what file-send and file-recv share: the protocol over the 4-byte
// length-prefix framing (framing.hpp), SHA-256 through OpenSSL's EVP interface, and a
// progress bar.
//
// What it teaches: streaming a file of any size over TCP with bounded memory, and
// knowing at the end that every byte arrived. TCP's own checksum is 16 bits and misses
// rare corruptions (and says nothing about a file cut short), so the sender hashes what
// it read and the receiver hashes what it wrote; the two digests must match.
//
//   sender                                        receiver
//   [frame] "serverlab-file 1\nsize N\nname F\n"  -> checks it, opens OUT.part
//   [frame] up to 64 KiB of the file  ... x k     -> writes each, hashes each
//   [frame] empty: end of data                    -> got exactly N bytes?
//   [frame] 32 bytes: SHA-256 of the file         -> same digest? rename OUT.part -> OUT
//                                                 <- [frame] "ok" or "error: why"
//
// A receiver that sees EOF before the end reports "truncated: got X of N bytes" and
// removes OUT.part; a sender whose peer goes away reports how far it got.
//
// Who may call: any thread; each object belongs to one thread. Sha256's constructor
// throws std::runtime_error if OpenSSL cannot make a digest context (out of memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace serverlab::files {

inline constexpr std::size_t kChunk = 64 * 1024;          // bytes of file per data frame
inline constexpr std::uint32_t kMaxFrame = 1024 * 1024;   // the receiver's frame limit
inline constexpr std::size_t kDigestSize = 32;             // SHA-256

// SHA-256, fed in pieces (OpenSSL EVP_DigestInit/Update/Final).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  // The 32 raw bytes. Call once; the object is spent afterwards.
  std::string finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Lower-case hexadecimal of raw bytes.
std::string to_hex(std::string_view bytes);

// The first frame: what is coming.
struct Header {
  std::string name;       // the file's base name (informational)
  std::uint64_t size = 0;
};
std::string encode_header(const Header& header);
// nullopt and *error ("not a file-send header", "bad size") when malformed.
std::optional<Header> parse_header(std::string_view frame, std::string* error);

// "[##########..........]  50%  50.0/100.0 MiB  812.3 MiB/s" on stderr, redrawn in place
// at most ten times a second. Draws nothing unless enabled (file-send and file-recv enable
// it when stderr is a terminal and --quiet is not given).
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled);
  void update(std::uint64_t done, std::uint64_t total);
  // Draws the final state and ends the line (if anything was drawn).
  void finish(std::uint64_t done, std::uint64_t total);

 private:
  void draw(std::uint64_t done, std::uint64_t total);
  bool enabled_;
  bool drawn_ = false;
  double started_;
  double last_draw_ = -1;
};

}  // namespace serverlab::files
