// file_recv.cpp: file-recv, receives one file from file-send and checks its SHA-256 (stage 1).
//
//   file-recv --port 4003 --out copy.iso [--timeout 30] [--quiet]
//
// Prints "listening on ADDR:PORT", accepts one connection, and writes the data frames to
// OUT.part while hashing them. Only when exactly the announced size arrived, the end
// frame came and the sender's digest equals its own does it rename OUT.part to OUT and
// answer "ok". Anything else removes OUT.part, answers "error: ..." (if the sender is
// still there) and prints one line. Protocol: file_transfer.hpp.
//
// Exit status: 0 the file arrived whole; 1 it did not ("truncated: got X of N bytes",
// "checksum mismatch", ...) or setup failed; 2 bad usage. SIGINT/SIGTERM before a
// sender connects: exit 1 with "stopped before a file arrived".
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "file_transfer.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/flags.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/signals.hpp"
#include "serverlab/socket.hpp"
#include "serverlab/sys_error.hpp"

using namespace serverlab;

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  ServerOptions server;
  std::string out;
  double timeout = 30;
  bool quiet = false;
};

std::string frame_problem(FrameStatus status, const BufferedReader& in) {
  switch (status) {
    case FrameStatus::Eof:
    case FrameStatus::Truncated: return "the sender closed the connection";
    case FrameStatus::TooLarge: return "a frame larger than 1 MiB (not file-send?)";
    case FrameStatus::Error:
      return in.error() == EAGAIN ? "the sender stalled (--timeout)" : std::strerror(in.error());
    case FrameStatus::Frame: break;
  }
  return "?";
}

// Receives one file into `part`; returns the header and the digest in hex.
// Throws Failure with one line.
std::pair<files::Header, std::string> receive(const Options& opt, int sock, int part) {
  BufferedReader in(sock, 256 * 1024);
  std::string frame;
  FrameStatus st = read_frame(in, frame, 4096);
  if (st != FrameStatus::Frame) throw Failure(fmt::format("no header: {}", frame_problem(st, in)));
  std::string error;
  auto header = files::parse_header(frame, &error);
  if (!header) throw Failure(error);

  files::Sha256 sha;
  files::ProgressBar bar(!opt.quiet && ::isatty(STDERR_FILENO) == 1);
  std::uint64_t got = 0;
  for (;;) {
    st = read_frame(in, frame, files::kMaxFrame);
    if (st != FrameStatus::Frame)
      throw Failure(fmt::format("truncated: got {} of {} bytes ({})", got, header->size, frame_problem(st, in)));
    if (frame.empty()) break;  // end of data
    if (got + frame.size() > header->size)
      throw Failure(fmt::format("the sender sent more than the {} bytes it announced", header->size));
    if (IoResult w = write_n(part, frame); !w.is_ok())
      throw Failure(fmt::format("writing {}: {}", opt.out, std::strerror(w.error)));
    sha.update(frame);
    got += frame.size();
    bar.update(got, header->size);
  }
  bar.finish(got, header->size);
  if (got != header->size)
    throw Failure(fmt::format("truncated: got {} of {} bytes (the sender ended early)", got, header->size));
  st = read_frame(in, frame, 4096);
  if (st != FrameStatus::Frame)
    throw Failure(fmt::format("no checksum after the data: {}", frame_problem(st, in)));
  const std::string mine = sha.finish();
  if (frame != mine)
    throw Failure(fmt::format("checksum mismatch: sender {}, received {}", files::to_hex(frame), files::to_hex(mine)));
  return {*header, files::to_hex(mine)};
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  Flags flags("file-recv",
              "Receives one file from file-send and checks its SHA-256; OUT appears only when whole (stage 1).");
  add_server_flags(flags, opt.server, 4003);
  flags.add("out", opt.out, "where to write the file (OUT.part while it arrives)");
  flags.add_seconds("timeout", opt.timeout, "give up when the sender stalls this long (0: never)");
  flags.add("quiet", opt.quiet, "no progress bar");
  flags.add_check([&]() -> std::optional<std::string> {
    if (opt.out.empty()) return "--out: where should the file go?";
    return std::nullopt;
  });
  flags.parse_or_exit(argc, argv);
  configure_logging(opt.server);
  ignore_sigpipe();

  const std::string part = opt.out + ".part";
  Fd sock;
  try {
    Fd signals = block_signals({SIGINT, SIGTERM});
    Fd listener = listen_tcp(opt.server.bind, opt.server.port);
    announce_listening(listener.get());
    if (wait_readable(listener.get(), signals.get(), -1) != listener.get())
      throw Failure("stopped before a file arrived");
    sock = Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!sock) throw SysError("accept4");
    listener.reset();  // one file per run
    if (opt.timeout > 0) {
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(opt.timeout);
      tv.tv_usec = static_cast<suseconds_t>((opt.timeout - static_cast<double>(tv.tv_sec)) * 1e6);
      ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    Fd file(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file) throw Failure(fmt::format("cannot create {}: {}", part, std::strerror(errno)));
    auto [header, hex] = receive(opt, sock.get(), file.get());
    if (::fsync(file.get()) != 0 || ::rename(part.c_str(), opt.out.c_str()) != 0)
      throw Failure(fmt::format("cannot finish {}: {}", opt.out, std::strerror(errno)));
    (void)write_frame(sock.get(), "ok");
    std::printf("received %s as %s: %llu bytes, sha256 %s\n", header.name.c_str(), opt.out.c_str(),
                static_cast<unsigned long long>(header.size), hex.c_str());
  } catch (const std::exception& e) {
    ::unlink(part.c_str());
    if (sock) (void)write_frame(sock.get(), fmt::format("error: {}", e.what()));
    std::fprintf(stderr, "file-recv: %s\n", e.what());
    return 1;
  }
  return 0;
}
