// file_send.cpp: file-send, streams one file to file-recv over TCP (stage 1).
//
//   file-send --addr 127.0.0.1:4003 --file big.iso [--rate 10M] [--timeout 30] [--quiet]
//
// Reads the file 64 KiB at a time, hashes each block (SHA-256) and sends it as one
// length-prefixed frame; memory stays flat whatever the file's size. After the last
// block: an empty frame, then the digest, then it waits for file-recv's verdict
// (file_transfer.hpp has the protocol). A progress bar is drawn on stderr when stderr
// is a terminal.
//
// Exit status: 0 the receiver confirmed every byte and the digest; 1 anything else,
// with one line on stderr (cannot open, cannot connect, "connection lost after X of N
// bytes: ...", "receiver: error: ..."); 2 bad usage.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "file_transfer.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"

using namespace serverlab;

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void set_timeouts(int fd, double seconds) {
  if (seconds <= 0) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string io_error(const IoResult& r) {
  if (r.status == IoResult::Status::WouldBlock) return "timed out (--timeout)";
  if (r.is_eof()) return "closed by the receiver";
  return std::strerror(r.error);
}

struct Options {
  std::string addr = "127.0.0.1:4003";
  std::string file;
  std::uint64_t rate = 0;  // bytes per second, 0: no limit
  double timeout = 30;
  bool quiet = false;
};

// Sends the whole file; returns its digest in hex. Throws Failure with one line.
std::string send_file(const Options& opt, int sock, int file, std::uint64_t size) {
  const std::string name = std::filesystem::path(opt.file).filename().string();
  if (IoResult r = write_frame(sock, files::encode_header({name, size})); !r.is_ok())
    throw Failure(fmt::format("connection lost before sending: {}", io_error(r)));
  files::Sha256 sha;
  files::ProgressBar bar(!opt.quiet && ::isatty(STDERR_FILENO) == 1);
  std::string block(files::kChunk, '\0');
  std::uint64_t sent = 0;
  const auto started = std::chrono::steady_clock::now();
  while (sent < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(files::kChunk, size - sent));
    IoResult got = read_n(file, block.data(), want);
    if (got.is_error()) throw Failure(fmt::format("reading {}: {}", opt.file, std::strerror(got.error)));
    if (got.bytes < want) throw Failure(fmt::format("{} shrank while being sent ({} of {} bytes)", opt.file, sent + got.bytes, size));
    std::string_view piece(block.data(), want);
    sha.update(piece);
    if (IoResult w = write_frame(sock, piece); !w.is_ok())
      throw Failure(fmt::format("connection lost after {} of {} bytes: {}", sent, size, io_error(w)));
    sent += want;
    bar.update(sent, size);
    if (opt.rate > 0) {  // block k leaves no earlier than started + k*chunk/rate
      std::this_thread::sleep_until(started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                  std::chrono::duration<double>(double(sent) / double(opt.rate))));
    }
  }
  const std::string digest = sha.finish();
  for (std::string_view frame : {std::string_view{}, std::string_view{digest}})
    if (IoResult w = write_frame(sock, frame); !w.is_ok())
      throw Failure(fmt::format("connection lost after {} of {} bytes: {}", sent, size, io_error(w)));
  bar.finish(sent, size);
  return files::to_hex(digest);
}

// Waits for the receiver's verdict frame. Throws Failure unless it is "ok".
void await_verdict(int sock) {
  BufferedReader in(sock);
  std::string verdict;
  switch (read_frame(in, verdict, 4096)) {
    case FrameStatus::Frame:
      if (verdict == "ok") return;
      throw Failure(fmt::format("receiver: {}", verdict));
    case FrameStatus::Error:
      throw Failure(fmt::format("no verdict from the receiver: {}",
                                in.error() == EAGAIN ? "timed out (--timeout)" : std::strerror(in.error())));
    default:
      throw Failure("the receiver closed the connection without confirming the file");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  Flags flags("file-send",
              "Streams a file to file-recv over 4-byte length-prefixed frames, SHA-256 checked (stage 1).");
  flags.add("addr", opt.addr, "file-recv's address, HOST:PORT");
  flags.add("file", opt.file, "the file to send");
  flags.add_size("rate", opt.rate, "bytes per second at most (0: as fast as the network goes)");
  flags.add_seconds("timeout", opt.timeout, "give up when the connection stalls this long (0: never)");
  flags.add("quiet", opt.quiet, "no progress bar");
  flags.add_check([&]() -> std::optional<std::string> {
    if (opt.file.empty()) return "--file: which file to send?";
    if (!parse_host_port(opt.addr)) return "--addr " + opt.addr + ": expected HOST:PORT";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);
  ignore_sigpipe();

  try {
    Fd file(::open(opt.file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) throw Failure(fmt::format("cannot open {}: {}", opt.file, std::strerror(errno)));
    struct stat st {};
    if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode))
      throw Failure(fmt::format("{}: not a regular file", opt.file));
    const auto hp = *parse_host_port(opt.addr);
    Fd sock;
    try {
      sock = connect_tcp(hp.host, hp.port);
    } catch (const std::exception& e) {
      throw Failure(fmt::format("cannot connect to {}: {}", opt.addr, e.what()));
    }
    set_timeouts(sock.get(), opt.timeout);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::string hex = send_file(opt, sock.get(), file.get(), size);
    await_verdict(sock.get());
    std::printf("sent %s: %llu bytes, sha256 %s\n", opt.file.c_str(),
                static_cast<unsigned long long>(size), hex.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "file-send: %s\n", e.what());
    return 1;
  }
  return 0;
}
