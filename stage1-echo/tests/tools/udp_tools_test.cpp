// Tests of udp-send and udp-recv (stage 1's UDP lesson), loopback only. UDP on an idle
// loopback rarely loses, duplicates or reorders anything, so the lesson is forced:
//  - a small relay in the test forwards the datagrams but drops every tenth, sends
//    another tenth twice and swaps a third tenth with the next one: the receiver must
//    count exactly those;
//  - a receiver that is stopped (SIGSTOP) with a small socket buffer while the sender
//    sends: the kernel drops what does not fit, even on loopback, and nobody tells the
//    sender.
// Every loop and wait is bounded.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"
#include "udp_probe.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::ProgramResult;
using serverlab::testing::ServerProcess;
using serverlab::testing::run_program;
namespace udp = serverlab::udp;

std::string send_bin() { return serverlab::testing::binary_from_env("UDP_SEND_BIN", UDP_SEND_DEFAULT_BIN); }
std::string recv_bin() { return serverlab::testing::binary_from_env("UDP_RECV_BIN", UDP_RECV_DEFAULT_BIN); }

ProgramResult udp_send(std::uint16_t port, std::vector<std::string> args) {
  args.insert(args.begin(), {send_bin(), "--addr", "127.0.0.1:" + std::to_string(port)});
  return run_program(args, "", 30s);
}

// The receiver's report: the lines it prints after "listening on", until it exits.
std::string report(ServerProcess& receiver) {
  std::string out;
  while (auto line = receiver.read_stdout_line(10s)) out += *line + "\n";
  return out;
}

TEST(UdpProbe, EncodeDecodeAndTheTally) {
  std::string d = udp::encode(5, 10, 64);
  ASSERT_EQ(d.size(), 64u);
  auto p = udp::decode(d);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->seq, 5u);
  EXPECT_EQ(p->count, 10u);
  EXPECT_TRUE(p->intact);
  d[40] ^= 1;
  EXPECT_FALSE(udp::decode(d)->intact);
  EXPECT_FALSE(udp::decode("hello"));
  EXPECT_FALSE(udp::decode(udp::encode(10, 10, 20)));  // seq out of range

  udp::Tally t;
  for (std::uint64_t seq : {0, 1, 3, 2, 2, 6, 9}) t.record(udp::encode(seq, 10, 32));
  t.record("not ours");
  std::string bad = udp::encode(7, 10, 32);
  bad[25] ^= 0x40;
  t.record(bad);
  EXPECT_EQ(t.distinct, 6u);
  EXPECT_EQ(t.duplicated, 1u);
  EXPECT_EQ(t.reordered, 1u);  // 2 after 3
  EXPECT_EQ(t.lost(), 4u);
  EXPECT_EQ(t.corrupt, 1u);
  EXPECT_EQ(t.foreign, 1u);
  EXPECT_EQ(t.missing(), "4-5, 7-8");
  EXPECT_EQ(t.summary(), "lost 4, duplicated 1, reordered 1, corrupt 1 (7 datagrams, 6 distinct of 10 sent)");
}

TEST(UdpTools, HelpAndBadFlags) {
  EXPECT_EQ(serverlab::testing::run_to_exit({send_bin(), "--help"}), 0);
  EXPECT_EQ(serverlab::testing::run_to_exit({recv_bin(), "--help"}), 0);
  for (std::vector<std::string> bad : {std::vector<std::string>{"--size", "10"}, {"--count", "0"},
                                       {"--bogus"}, {"--addr", "nowhere"}, {"--rate", "-1"}}) {
    bad.insert(bad.begin(), send_bin());
    ProgramResult r = run_program(bad, "", 10s);
    EXPECT_EQ(r.status, 2) << bad[1];
    EXPECT_NE(r.err.find("udp-send"), std::string::npos) << r.err;
  }
  EXPECT_EQ(serverlab::testing::run_to_exit({recv_bin(), "--bogus"}), 2);
}

TEST(UdpTools, AQuietLoopbackDeliversEverythingInOrder) {
  ServerProcess receiver({recv_bin(), "--port", "0", "--idle-timeout", "2"});
  ProgramResult sent = udp_send(receiver.port(), {"--count", "200", "--rate", "2000", "--size", "100"});
  EXPECT_EQ(sent.status, 0) << sent.err;
  EXPECT_NE(sent.out.find("sent 200 datagrams of 100 bytes"), std::string::npos) << sent.out;
  EXPECT_EQ(report(receiver),
            "lost 0, duplicated 0, reordered 0, corrupt 0 (200 datagrams, 200 distinct of 200 sent)\n");
  EXPECT_EQ(receiver.wait(5s), 0);
}

// Forwards datagrams from udp-send to udp-recv, misbehaving on purpose by arrival index
// k: k % 10 == 3 is dropped, k % 10 == 5 is held back and sent after the next one,
// k % 10 == 7 is sent twice. Stops after `count` datagrams or 20 s.
class Relay {
 public:
  Relay(std::uint16_t to_port, int count) : sock_(serverlab::bind_udp("127.0.0.1", 0)) {
    to_ = serverlab::local_address(sock_.get());
    reinterpret_cast<sockaddr_in*>(&to_.storage)->sin_port = htons(to_port);
    thread_ = std::thread([this, count] { run(count); });
  }
  ~Relay() { thread_.join(); }
  std::uint16_t port() const { return serverlab::local_address(sock_.get()).port(); }

 private:
  void forward(const std::string& d) {
    ::sendto(sock_.get(), d.data(), d.size(), 0, to_.get(), to_.length);
  }
  void run(int count) {
    const auto until = std::chrono::steady_clock::now() + 20s;
    std::string held;
    char buf[65536];
    for (int k = 0; k < count && std::chrono::steady_clock::now() < until;) {
      pollfd p{sock_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(sock_.get(), buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string d(buf, static_cast<std::size_t>(n));
      switch (k++ % 10) {
        case 3: break;                         // lost
        case 5: held = d; continue;            // overtaken by the next one
        case 7: forward(d); forward(d); break; // duplicated
        default: forward(d);
      }
      if (!held.empty()) {
        forward(held);
        held.clear();
      }
    }
  }
  Fd sock_;
  serverlab::SocketAddress to_;
  std::thread thread_;
};

TEST(UdpTools, TheReceiverCountsLossDuplicatesAndReordering) {
  ServerProcess receiver({recv_bin(), "--port", "0", "--idle-timeout", "1"});
  {
    Relay relay(receiver.port(), 100);
    ProgramResult sent = udp_send(relay.port(), {"--count", "100", "--rate", "1000"});
    EXPECT_EQ(sent.status, 0) << sent.err;
  }
  EXPECT_EQ(report(receiver),
            "lost 10, duplicated 10, reordered 10, corrupt 0 (100 datagrams, 90 distinct of 100 sent)\n"
            "missing: 3, 13, 23, 33, 43, 53, 63, 73, 83, 93\n");
  EXPECT_EQ(receiver.wait(5s), 0);
}

TEST(UdpTools, AReceiverThatFallsBehindLosesDatagramsEvenOnLoopback) {
  ServerProcess receiver({recv_bin(), "--port", "0", "--idle-timeout", "1", "--rcvbuf", "4K"});
  receiver.signal(SIGSTOP);  // busy elsewhere: nothing is read while the sender sends
  ProgramResult sent = udp_send(receiver.port(), {"--count", "300", "--rate", "0", "--size", "1000"});
  receiver.signal(SIGCONT);
  EXPECT_EQ(sent.status, 0) << "the sender saw no error: UDP does not tell it " << sent.err;
  std::string r = report(receiver);
  EXPECT_EQ(r.find("lost 0,"), std::string::npos) << r;
  EXPECT_EQ(r.rfind("lost ", 0), 0u) << r;
  EXPECT_NE(r.find("\nmissing: "), std::string::npos) << r;
  EXPECT_EQ(receiver.wait(5s), 0);
}

}  // namespace
