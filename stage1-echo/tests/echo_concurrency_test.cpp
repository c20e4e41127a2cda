// Stage 1: the two concurrency models, the client limit, the idle timeout, and
// clients that misbehave (reset mid-message, reset with echo still unread).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "echo_support.hpp"
#include "serverlab/framing.hpp"

namespace serverlab::testing {
namespace {

using namespace std::chrono_literals;

// How long a client waits to be sure it is NOT being served. Not a speed
// assertion: a served client gets its echo in well under a millisecond here.
constexpr auto kNotServed = 300ms;

std::string round_trip(int fd, const std::string& line) {
  if (!send_all(fd, line)) return "<send failed>";
  return recv_exact(fd, line.size());
}

TEST(EchoConcurrency, IterativeModeServesOneClientAtATime) {
  auto server = start_echo({"--framing", "line", "--concurrency", "iterative"});
  Fd first = server->connect();
  ASSERT_EQ(round_trip(first.get(), "first\n"), "first\n");

  Fd second = server->connect();  // completes: the kernel queues it in the backlog
  ASSERT_TRUE(send_all(second.get(), "second\n"));
  EXPECT_EQ(recv_exact(second.get(), 7, kNotServed), "")
      << "iterative server answered a second client while the first was connected";

  first.reset();  // the first client leaves; now the second is served
  EXPECT_EQ(recv_exact(second.get(), 7), "second\n");
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

TEST(EchoConcurrency, ThreadModeInterleavesSixClients) {
  auto server = start_echo({"--framing", "line", "--concurrency", "thread"});
  std::vector<Fd> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(server->connect());
  // Every client is answered while all six stay connected, in an order no
  // iterative server could follow (newest first, then oldest first).
  for (int round = 0; round < 3; ++round) {
    for (int i = 5; i >= 0; --i) {
      std::string line = "client " + std::to_string(i) + " round " + std::to_string(round) + "\n";
      ASSERT_EQ(round_trip(clients[static_cast<std::size_t>(i)].get(), line), line);
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      std::string line = "again " + std::to_string(i) + "\n";
      ASSERT_EQ(round_trip(clients[i].get(), line), line);
    }
  }
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

TEST(EchoConcurrency, MaxClientsMakesFurtherClientsWaitAndSaysSo) {
  auto server =
      start_echo({"--framing", "line", "--concurrency", "thread", "--max-clients", "2"});
  Fd a = server->connect();
  Fd b = server->connect();
  ASSERT_EQ(round_trip(a.get(), "a\n"), "a\n");
  ASSERT_EQ(round_trip(b.get(), "b\n"), "b\n");

  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), "c\n"));
  EXPECT_EQ(recv_exact(c.get(), 2, kNotServed), "") << "a third client was served at max 2";
  EXPECT_NE(server->stderr_text().find("max clients"), std::string::npos) << server->stderr_text();

  a.reset();
  EXPECT_EQ(recv_exact(c.get(), 2), "c\n") << "the waiting client was never served";
  EXPECT_EQ(round_trip(b.get(), "b2\n"), "b2\n");
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

TEST(EchoConcurrency, IdleTimeoutClosesASilentConnection) {
  auto server = start_echo({"--framing", "line", "--concurrency", "thread", "--idle-timeout",
                            "0.3"});
  Fd quiet = server->connect();
  Fd chatty = server->connect();
  // The chatty client talks every 100 ms for about 0.8 s: longer than the
  // timeout in total, never silent for that long, so it must stay open.
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(round_trip(chatty.get(), "tick\n"), "tick\n") << "round " << i;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(wait_for_eof(quiet.get())) << "the silent connection was never closed";
  EXPECT_NE(server->stderr_text().find("idle timeout"), std::string::npos)
      << server->stderr_text();
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoConcurrency, IdleTimeoutAlsoEndsAClientStalledMidFrame) {
  auto server = start_echo({"--framing", "length", "--idle-timeout", "0.3"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), encode_frame("never finished").substr(0, 7)));
  EXPECT_TRUE(wait_for_eof(c.get())) << "a stalled half frame pinned the connection";
  Fd next = server->connect();  // iterative: only possible once the stalled one is gone
  EXPECT_EQ(round_trip(next.get(), encode_frame("ok")), encode_frame("ok"));
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

class Misbehaving : public ::testing::TestWithParam<std::string> {};

TEST_P(Misbehaving, ClientResetMidMessageLeavesServerServing) {
  auto server = start_echo({"--framing", "length", "--concurrency", GetParam()});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), encode_frame(std::string(1000, 'm')).substr(0, 300)));
  reset_connection(c);  // RST in the middle of a frame

  Fd next = server->connect();
  EXPECT_EQ(round_trip(next.get(), encode_frame("after reset")), encode_frame("after reset"));
  EXPECT_TRUE(server->running());
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

TEST_P(Misbehaving, ClientResetWithUnreadEchoPendingLeavesServerServing) {
  auto server = start_echo({"--framing", "raw", "--concurrency", GetParam()});
  Fd c = server->connect();
  // Send a lot and read nothing: the server's echo fills our receive buffer and
  // its write_n blocks. Then reset: that write fails with EPIPE/ECONNRESET,
  // which must end this connection only (CS:APP's Rio_writen would exit here).
  const std::string chunk(64 * 1024, 'u');
  for (int i = 0; i < 256; ++i) {  // at most 16 MiB; stops when the pipe is full
    ssize_t w = ::send(c.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) break;
  }
  std::this_thread::sleep_for(100ms);
  reset_connection(c);

  EXPECT_TRUE(eventually([&] {
    return server->stderr_text().find("conn close") != std::string::npos;
  })) << server->stderr_text();
  Fd next = server->connect();
  EXPECT_EQ(round_trip(next.get(), "after reset"), "after reset");
  EXPECT_TRUE(server->running());
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

INSTANTIATE_TEST_SUITE_P(BothModes, Misbehaving, ::testing::Values("iterative", "thread"));

}  // namespace
}  // namespace serverlab::testing
