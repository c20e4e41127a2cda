// Stage 1: flags, graceful shutdown, restart on the same port, descriptor
// hygiene over many connections, and UDP.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <exception>
#include <thread>

#include "echo_support.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::testing {
namespace {

using namespace std::chrono_literals;

TEST(EchoLifecycle, HelpPrintsUsageAndExitsZero) {
  ProgramResult r = run_program({echo_server_bin(), "--help"}, "");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--framing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--max-clients"), std::string::npos) << r.out;
}

TEST(EchoLifecycle, BadFlagPrintsUsageOnStderrAndExitsTwo) {
  ProgramResult r = run_program({echo_server_bin(), "--framing", "morse"}, "");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("Usage:"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  r = run_program({echo_server_bin(), "--no-such-flag"}, "");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST(EchoLifecycle, SigtermDuringTrafficExitsZeroAndNeverCorruptsAnEcho) {
  auto server = start_echo({"--framing", "line", "--concurrency", "thread"});
  constexpr int kClients = 4;
  std::atomic<int> round_trips{0};
  std::vector<std::string> sent(kClients), received(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      Fd c;
      try {
        c = server->connect();
      } catch (const std::exception&) {
        return;  // on a busy machine the others may reach 200 round trips and stop the server first
      }
      for (int k = 0; k < 100000; ++k) {  // bounded; ends early when the server goes
        std::string line = "client " + std::to_string(i) + " message " + std::to_string(k) + "\n";
        if (!send_all(c.get(), line)) break;
        sent[static_cast<std::size_t>(i)] += line;
        std::string got = recv_exact(c.get(), line.size(), 5s);
        received[static_cast<std::size_t>(i)] += got;
        if (got.size() != line.size()) break;
        ++round_trips;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return round_trips.load() >= 200; }, 10s));
  EXPECT_EQ(server->stop(SIGTERM), 0) << server->stderr_text();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    const auto& s = sent[static_cast<std::size_t>(i)];
    const auto& r = received[static_cast<std::size_t>(i)];
    EXPECT_EQ(s.substr(0, r.size()), r) << "client " << i << " got bytes it never sent";
  }
  EXPECT_NE(server->stderr_text().find("stopping"), std::string::npos);
}

TEST(EchoLifecycle, SigintStopsCleanlyToo) {
  auto server = start_echo({});
  EXPECT_EQ(server->stop(SIGINT), 0) << server->stderr_text();
}

TEST(EchoLifecycle, IdleClientsDoNotHoldUpShutdown) {
  // A long shutdown timeout: only a server that lets idle clients go at once
  // exits before stop()'s 10 s deadline.
  auto server = start_echo({"--concurrency", "thread", "--shutdown-timeout", "60"});
  Fd a = server->connect();
  Fd b = server->connect();
  ASSERT_TRUE(send_all(a.get(), "hi"));
  ASSERT_EQ(recv_exact(a.get(), 2), "hi");
  EXPECT_EQ(server->stop(SIGTERM, 10s), 0) << server->stderr_text();
  EXPECT_TRUE(wait_for_eof(a.get()));
  EXPECT_TRUE(wait_for_eof(b.get()));
}

TEST(EchoLifecycle, MessageInFlightAtSigtermIsFinished) {
  auto server = start_echo({"--framing", "length", "--shutdown-timeout", "5"});
  Fd c = server->connect();
  const std::string frame = encode_frame("half before the signal, half after");
  ASSERT_TRUE(send_all(c.get(), frame.substr(0, 12)));
  std::this_thread::sleep_for(100ms);  // the server is now inside the frame
  server->signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(send_all(c.get(), frame.substr(12)));
  EXPECT_EQ(escape_bytes(recv_exact(c.get(), frame.size())), escape_bytes(frame));
  EXPECT_TRUE(wait_for_eof(c.get())) << "after the in-flight frame the server should close";
  EXPECT_EQ(server->wait(10s), std::optional<int>(0)) << server->stderr_text();
}

TEST(EchoLifecycle, StalledClientIsCutOffAtShutdownTimeout) {
  auto server = start_echo({"--framing", "length", "--idle-timeout", "0", "--shutdown-timeout",
                            "0.3"});
  Fd c = server->connect();
  ASSERT_TRUE(send_all(c.get(), encode_frame("never completed").substr(0, 6)));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server->stop(SIGTERM, 10s), 0) << server->stderr_text();
  EXPECT_NE(server->stderr_text().find("shutdown timeout"), std::string::npos)
      << server->stderr_text();
}

TEST(EchoLifecycle, RestartOnTheSamePortWorksAtOnce) {
  auto first = start_echo({"--framing", "line"});
  const std::string port = std::to_string(first->port());
  {
    // A served connection that the server side closes leaves TIME_WAIT behind.
    Fd c = first->connect();
    ASSERT_TRUE(send_all(c.get(), "x\n"));
    ASSERT_EQ(recv_exact(c.get(), 2), "x\n");
    ASSERT_EQ(first->stop(), 0);
  }
  ServerProcess second({echo_server_bin(), "--bind", "127.0.0.1", "--port", port});
  EXPECT_EQ(std::to_string(second.port()), port);
  Fd c = second.connect();
  ASSERT_TRUE(send_all(c.get(), "y\n"));
  EXPECT_EQ(recv_exact(c.get(), 2), "y\n");
  EXPECT_EQ(second.stop(), 0) << second.stderr_text();
}

class FdHygiene : public ::testing::TestWithParam<std::string> {};

TEST_P(FdHygiene, ThousandSequentialConnectionsLeaveTheFdCountFlat) {
  auto server = start_echo({"--framing", "line", "--concurrency", GetParam()});
  const int baseline = server->fd_count();
  ASSERT_GT(baseline, 0);
  for (int i = 0; i < 1000; ++i) {
    Fd c = server->connect();
    ASSERT_TRUE(send_all(c.get(), "ping\n"));
    ASSERT_EQ(recv_exact(c.get(), 5), "ping\n") << "connection " << i;
  }
  int now = -1;
  EXPECT_TRUE(eventually([&] { return (now = server->fd_count()) == baseline; }))
      << "fd count " << now << " after 1000 connections, " << baseline << " before";
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

INSTANTIATE_TEST_SUITE_P(BothModes, FdHygiene, ::testing::Values("iterative", "thread"));

TEST(EchoLifecycle, UdpEchoesEachDatagram) {
  auto server = start_echo({"--udp"});
  Fd s = connect_udp("127.0.0.1", server->port());
  for (const std::string& d : {std::string("hello"), all_byte_values(), std::string(),
                               pseudo_random_bytes(60000, 3)}) {
    ASSERT_GE(::send(s.get(), d.data(), d.size(), 0), 0);
    pollfd p{s.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no reply to a " << d.size() << "-byte datagram";
    std::string reply(65536, '\0');
    ssize_t n = ::recv(s.get(), reply.data(), reply.size(), 0);
    ASSERT_GE(n, 0);
    reply.resize(static_cast<std::size_t>(n));
    EXPECT_TRUE(reply == d) << "sent " << d.size() << " bytes, got " << escape_bytes(reply.substr(0, 64));
  }
  EXPECT_EQ(server->stop(), 0) << server->stderr_text();
}

}  // namespace
}  // namespace serverlab::testing
