// Robust I/O: the short-count contract, EINTR, partial writes, EOF, long lines,
// and CS:APP's three known RIO/tiny bugs as regression tests.
#include "serverlab/rio.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"

namespace serverlab {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Fd a, b;
  explicit Pair(int type = SOCK_STREAM) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

// ---- signal plumbing: a SIGUSR1 handler installed WITHOUT SA_RESTART, so a
// blocking read/write really fails with EINTR (or returns a short count).
std::atomic<int> g_usr1_count{0};
extern "C" void count_usr1(int) { g_usr1_count.fetch_add(1); }

class Usr1Handler {
 public:
  Usr1Handler() {
    struct sigaction sa {};
    sa.sa_handler = count_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: interrupted syscalls return EINTR
    ::sigaction(SIGUSR1, &sa, &old_);
  }
  ~Usr1Handler() { ::sigaction(SIGUSR1, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// True when the thread is blocked in the kernel (state 'S' in /proc).
bool is_sleeping(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S';
}

// "Error(EINTR) after 0 bytes": a failed expectation names the status and errno.
std::string describe(const IoResult& r) {
  static constexpr const char* kStatus[] = {"Ok", "Eof", "WouldBlock", "Error"};
  std::string out = kStatus[static_cast<int>(r.status)];
  if (r.is_error()) {
    const char* name = ::strerrorname_np(r.error);
    out += "(" + (name != nullptr ? std::string(name) : std::to_string(r.error)) + ")";
  }
  return out + " after " + std::to_string(r.bytes) + " bytes";
}

template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {  // at most ~5 s
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// ---------------------------------------------------------------------------

TEST(ReadN, ReadsExactlyNAcrossShortReads) {
  Pair p;
  std::thread writer([&] {
    for (char c : std::string("abcdef")) {
      (void)write_n(p.a.get(), &c, 1);
      std::this_thread::sleep_for(1ms);
    }
  });
  char buf[6];
  IoResult r = read_n(p.b.get(), buf, sizeof buf);
  writer.join();
  EXPECT_TRUE(r.is_ok());
  EXPECT_EQ(r.bytes, 6u);
  EXPECT_EQ(std::string(buf, 6), "abcdef");
}

TEST(ReadN, ShortCountMeansEofWithTheBytesRead) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "abc").is_ok());
  p.a.reset();
  char buf[10];
  IoResult r = read_n(p.b.get(), buf, sizeof buf);
  EXPECT_TRUE(r.is_eof());
  EXPECT_EQ(r.bytes, 3u);
  EXPECT_EQ(std::string(buf, 3), "abc");
}

TEST(ReadN, RetriesWhenASignalInterruptsABlockingRead) {
  Usr1Handler handler;
  Pair p;
  std::atomic<pid_t> tid{0};
  IoResult r;
  char buf[5] = {};
  std::thread reader([&] {
    tid = current_tid();
    r = read_n(p.b.get(), buf, sizeof buf);
  });
  ASSERT_TRUE(eventually([&] { return tid != 0 && is_sleeping(tid); }));
  ASSERT_TRUE(write_n(p.a.get(), "he").is_ok());  // a first short read...
  ASSERT_TRUE(eventually([&] { return is_sleeping(tid); }));
  const int before = g_usr1_count.load();
  ::pthread_kill(reader.native_handle(), SIGUSR1);  // ...then EINTR while blocked
  ASSERT_TRUE(eventually([&] { return g_usr1_count.load() > before; }));
  ASSERT_TRUE(write_n(p.a.get(), "llo").is_ok());
  reader.join();
  EXPECT_TRUE(r.is_ok()) << describe(r);
  EXPECT_EQ(std::string(buf, 5), "hello");
}

TEST(ReadN, NonBlockingEmptySocketIsWouldBlockWithPartialCount) {
  Pair p;
  set_nonblocking(p.b.get());
  ASSERT_TRUE(write_n(p.a.get(), "ab").is_ok());
  char buf[4];
  IoResult r = read_n(p.b.get(), buf, sizeof buf);
  EXPECT_EQ(r.status, IoResult::Status::WouldBlock);
  EXPECT_EQ(r.bytes, 2u);
}

TEST(WriteN, DeliversEveryByteThroughATinySendBufferDespiteSignals) {
  Usr1Handler handler;
  Pair p;
  int tiny = 4096;
  ::setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
  std::string data(2 << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) >> 3);

  IoResult r;
  std::thread writer([&] { r = write_n(p.a.get(), data); });
  // Read slowly and keep interrupting the blocked writer: each signal makes its
  // send(2) return a short count (or EINTR), which write_n must carry on from.
  const int before = g_usr1_count.load();
  std::string got;
  char buf[8192];
  int rounds = 0;
  while (got.size() < data.size() && rounds++ < 100000) {
    if (rounds % 4 == 0) ::pthread_kill(writer.native_handle(), SIGUSR1);
    ssize_t n = ::read(p.b.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  writer.join();
  EXPECT_GT(g_usr1_count.load(), before) << "no signal landed: the test proved nothing";
  EXPECT_TRUE(r.is_ok()) << describe(r);
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_TRUE(got == data) << "received " << got.size() << " of " << data.size() << " bytes";
}

// The test above interrupts send(2) after bytes have moved, so send returns a short
// count and never EINTR. Here the pipe is full before write_n starts: its write(2)
// blocks with nothing moved, and the signal makes it fail with EINTR. write_n must
// retry; draining the pipe then lets every byte through, in order, exactly once.
TEST(WriteN, RetriesWhenASignalInterruptsAWriteBlockedOnAFullPipe) {
  Usr1Handler handler;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  Fd rd(fds[0]);
  Fd wr(fds[1]);
  std::string sent;  // every byte written to the pipe, in order
  set_nonblocking(wr.get());
  for (std::size_t chunk : {std::size_t{65536}, std::size_t{1}}) {  // until full
    const std::string piece(chunk, 'f');
    ssize_t w;
    while ((w = ::write(wr.get(), piece.data(), piece.size())) > 0)
      sent.append(piece, 0, static_cast<std::size_t>(w));
  }
  set_nonblocking(wr.get(), false);
  std::string data(3 * sent.size(), '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) >> 3);

  std::atomic<pid_t> tid{0};
  IoResult r;
  std::thread writer([&] {
    tid = current_tid();
    r = write_n(wr.get(), data);
    wr.reset();  // EOF for the reader below
  });
  ASSERT_TRUE(eventually([&] { return tid != 0 && is_sleeping(tid); }));
  const int before = g_usr1_count.load();
  ::pthread_kill(writer.native_handle(), SIGUSR1);
  ASSERT_TRUE(eventually([&] { return g_usr1_count.load() > before; }));
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  writer.join();
  EXPECT_TRUE(r.is_ok()) << describe(r);
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_TRUE(got == sent + data) << "received " << got.size() << " of "
                                  << sent.size() + data.size() << " bytes";
}

TEST(WriteN, NonBlockingFullSocketIsWouldBlockWithPartialCount) {
  Pair p;
  int tiny = 4096;
  ::setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
  set_nonblocking(p.a.get());
  std::string big(1 << 20, 'x');
  IoResult r = write_n(p.a.get(), big);
  EXPECT_EQ(r.status, IoResult::Status::WouldBlock);
  EXPECT_GT(r.bytes, 0u);
  EXPECT_LT(r.bytes, big.size());
}

// Runs in a forked child: exits 0 when write_n to a reset TCP peer returned
// EPIPE/ECONNRESET, 3 when it returned something else; SIGPIPE would kill it.
void write_to_reset_peer_and_exit() {
  ::signal(SIGPIPE, SIG_DFL);  // not ignored: write_n alone must protect us
  Fd listener = listen_tcp("127.0.0.1", 0);
  Fd client = connect_tcp("127.0.0.1", local_address(listener.get()).port());
  Fd server(::accept(listener.get(), nullptr, nullptr));
  linger l{1, 0};
  ::setsockopt(server.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  server.reset();  // RST
  IoResult r;
  for (int i = 0; i < 100 && !r.is_error(); ++i) {
    r = write_n(client.get(), std::string(65536, 'z'));
    std::this_thread::sleep_for(1ms);
  }
  std::exit(r.is_error() && (r.error == EPIPE || r.error == ECONNRESET) ? 0 : 3);
}

// CS:APP's Rio_writen calls unix_error -> exit(0) on EPIPE, and the default
// SIGPIPE kills the process even before that: one client resetting its
// connection takes the whole server down. write_n must return an error.
TEST(WriteN, RegressionPeerResetIsAnErrorNotAProcessExit) {
  EXPECT_EXIT(write_to_reset_peer_and_exit(), ::testing::ExitedWithCode(0), "");
}

TEST(WriteN, ClosedUnixPeerIsEpipe) {
  EXPECT_EXIT(
      {
        ::signal(SIGPIPE, SIG_DFL);
        Pair p;
        p.b.reset();
        IoResult r = write_n(p.a.get(), "anyone there?");
        std::exit(r.is_error() && r.error == EPIPE ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

// ---------------------------------------------------------------------------

TEST(ReadLine, ReturnsLinesWithTheirNewline) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "one\ntwo\n").is_ok());
  BufferedReader in(p.b.get());
  std::string line;
  EXPECT_EQ(in.read_line(line, 100), BufferedReader::LineStatus::Line);
  EXPECT_EQ(line, "one\n");
  EXPECT_EQ(in.read_line(line, 100), BufferedReader::LineStatus::Line);
  EXPECT_EQ(line, "two\n");
}

TEST(ReadLine, EofInTheMiddleOfALineReturnsThePartialTailThenEof) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "done\nhalf a li").is_ok());
  p.a.reset();
  BufferedReader in(p.b.get(), 4);  // smaller than any line: many refills
  std::string line;
  EXPECT_EQ(in.read_line(line, 100), BufferedReader::LineStatus::Line);
  EXPECT_EQ(line, "done\n");
  EXPECT_EQ(in.read_line(line, 100), BufferedReader::LineStatus::Partial);
  EXPECT_EQ(line, "half a li");
  EXPECT_EQ(in.read_line(line, 100), BufferedReader::LineStatus::Eof);
  EXPECT_EQ(line, "");
}

// CS:APP's rio_readlineb copies maxlen-1 bytes and returns them as if they were
// the line: the rest of the line is then read as the next "line".
TEST(ReadLine, RegressionOverlongLineIsTooLongNotSilentlyTruncated) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "0123456789\nshort\n").is_ok());
  BufferedReader in(p.b.get());
  std::string line;
  EXPECT_EQ(in.read_line(line, 8), BufferedReader::LineStatus::TooLong);
  EXPECT_EQ(line.size(), 8u);
}

TEST(ReadLine, LineOfExactlyMaxBytesIncludingNewlineFits) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "1234567\n").is_ok());
  BufferedReader in(p.b.get(), 3);
  std::string line;
  EXPECT_EQ(in.read_line(line, 8), BufferedReader::LineStatus::Line);
  EXPECT_EQ(line, "1234567\n");
}

// tiny's read_requesthdrs loops `while (strcmp(buf, "\r\n"))`: at EOF
// rio_readlineb returns 0 with buf unchanged, so a client that closes before
// the blank line spins the server forever. Here EOF is a status of its own.
TEST(ReadLine, RegressionHeaderLoopEndsAtEofInsteadOfSpinning) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "GET / HTTP/1.0\r\nHost: x\r\n").is_ok());
  p.a.reset();  // no blank line: the client gave up
  BufferedReader in(p.b.get());
  std::string line;
  int iterations = 0;
  while (iterations < 1000) {
    ++iterations;
    auto st = in.read_line(line, 8192);
    if (st != BufferedReader::LineStatus::Line || line == "\r\n") break;
  }
  EXPECT_EQ(iterations, 3) << "the header loop did not stop at EOF";
  for (int i = 0; i < 3; ++i)  // and EOF stays EOF
    EXPECT_EQ(in.read_line(line, 8192), BufferedReader::LineStatus::Eof);
}

TEST(ReadLine, RetriesWhenASignalInterruptsTheRefill) {
  Usr1Handler handler;
  Pair p;
  std::atomic<pid_t> tid{0};
  BufferedReader in(p.b.get());
  std::string line;
  BufferedReader::LineStatus st{};
  std::thread reader([&] {
    tid = current_tid();
    st = in.read_line(line, 100);
  });
  ASSERT_TRUE(eventually([&] { return tid != 0 && is_sleeping(tid); }));
  const int before = g_usr1_count.load();
  ::pthread_kill(reader.native_handle(), SIGUSR1);
  ASSERT_TRUE(eventually([&] { return g_usr1_count.load() > before; }));
  ASSERT_TRUE(write_n(p.a.get(), "after the signal\n").is_ok());
  reader.join();
  EXPECT_EQ(st, BufferedReader::LineStatus::Line);
  EXPECT_EQ(line, "after the signal\n");
}

TEST(ReadLine, ReadErrorIsReportedWithErrno) {
  BufferedReader in(-1);
  std::string line;
  EXPECT_EQ(in.read_line(line, 10), BufferedReader::LineStatus::Error);
  EXPECT_EQ(in.error(), EBADF);
}

TEST(BufferedReaderReadN, ServesBufferedBytesBeforeReadingMore) {
  Pair p;
  ASSERT_TRUE(write_n(p.a.get(), "head\nBINARY\0\xff", 13).is_ok());
  BufferedReader in(p.b.get());
  std::string line;
  ASSERT_EQ(in.read_line(line, 100), BufferedReader::LineStatus::Line);
  EXPECT_EQ(in.buffered(), 8u);  // the rest came in with the same read(2)
  char buf[8];
  IoResult r = in.read_n(buf, sizeof buf);
  EXPECT_TRUE(r.is_ok());
  EXPECT_EQ(std::string(buf, 8), std::string("BINARY\0\xff", 8));
  p.a.reset();
  r = in.read_n(buf, 1);
  EXPECT_TRUE(r.is_eof());
  EXPECT_EQ(r.bytes, 0u);
}

}  // namespace
}  // namespace serverlab
