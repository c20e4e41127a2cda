// file_transfer.cpp: the header, SHA-256 and the progress bar (see file_transfer.hpp).
#include "file_transfer.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

namespace serverlab::files {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: cannot make a digest context");
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(ctx_->md, bytes.data(), bytes.size());
}

std::string Sha256::finish() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

namespace {
constexpr std::string_view kMagicLine = "serverlab-file 1\n";
}  // namespace

std::string encode_header(const Header& header) {
  return fmt::format("{}size {}\nname {}\n", kMagicLine, header.size, header.name);
}

std::optional<Header> parse_header(std::string_view frame, std::string* error) {
  if (!frame.starts_with(kMagicLine)) {
    *error = "not a file-send header (another program, or another version?)";
    return std::nullopt;
  }
  frame.remove_prefix(kMagicLine.size());
  Header header;
  bool have_size = false;
  while (!frame.empty()) {
    const std::size_t nl = frame.find('\n');
    std::string_view line = frame.substr(0, nl);
    frame.remove_prefix(nl == std::string_view::npos ? frame.size() : nl + 1);
    if (line.starts_with("size ")) {
      std::string_view digits = line.substr(5);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), header.size);
      if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty()) {
        *error = fmt::format("bad size in header: '{}'", digits);
        return std::nullopt;
      }
      have_size = true;
    } else if (line.starts_with("name ")) {
      header.name = std::string(line.substr(5));
    }  // other lines: later versions may add them; ignored
  }
  if (!have_size) {
    *error = "header without a size";
    return std::nullopt;
  }
  return header;
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled), started_(now_seconds()) {}

void ProgressBar::update(std::uint64_t done, std::uint64_t total) {
  if (!enabled_) return;
  const double now = now_seconds();
  if (now - last_draw_ < 0.1) return;
  last_draw_ = now;
  draw(done, total);
}

void ProgressBar::finish(std::uint64_t done, std::uint64_t total) {
  if (!enabled_) return;
  draw(done, total);
  std::fputc('\n', stderr);
}

void ProgressBar::draw(std::uint64_t done, std::uint64_t total) {
  constexpr int kWidth = 24;
  const double share = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(share * kWidth);
  const double mib = 1024.0 * 1024.0;
  const double elapsed = std::max(now_seconds() - started_, 1e-6);
  std::fprintf(stderr, "\r[%s%s] %3d%%  %.1f/%.1f MiB  %.1f MiB/s ",
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), '.').c_str(),
               static_cast<int>(share * 100), static_cast<double>(done) / mib,
               static_cast<double>(total) / mib, static_cast<double>(done) / mib / elapsed);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace serverlab::files
