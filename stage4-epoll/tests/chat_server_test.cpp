// Black-box tests of chat-server (stage 4's broadcast server): the real binary on
// 127.0.0.1 port 0, clients on plain blocking sockets. The headline test has one
// client that never reads: it must be disconnected at --max-queue while every other
// client keeps receiving every line, in order. Every wait has a deadline and every
// loop a bound, so a hang is a quick, named failure.
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/socket.hpp"

namespace {

using namespace std::chrono_literals;
using serverlab::Fd;
using serverlab::testing::ServerProcess;
using Clock = std::chrono::steady_clock;

std::string chat_bin() {
  return serverlab::testing::server_binary("CHAT_SERVER_BIN", CHAT_SERVER_DEFAULT_BIN);
}

ServerProcess start(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{chat_bin(), "--port", "0", "--log-level", "warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return ServerProcess(argv);
}

// One chat client: sends lines, reads lines with a deadline.
class Client {
 public:
  explicit Client(const ServerProcess& server, int rcvbuf = 0) {
    if (rcvbuf > 0) {  // a small receive window, set before connect so it applies
      fd_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(server.port());
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
        throw std::runtime_error("connect failed");
    } else {
      fd_ = server.connect();
    }
  }
  void send(const std::string& line) { ASSERT_TRUE(serverlab::testing::send_all(fd_.get(), line + "\n")); }
  // The next line (without '\n'), or nullopt at EOF or the deadline.
  std::optional<std::string> line(std::chrono::milliseconds deadline = 5s) {
    const auto until = Clock::now() + deadline;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string out = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return out;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      pollfd p{fd_.get(), POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return std::nullopt;
      char chunk[65536];
      ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Reads lines until one starts with `prefix`; returns it (nullopt: EOF or deadline).
  std::optional<std::string> until(const std::string& prefix, std::chrono::milliseconds deadline = 5s) {
    const auto end = Clock::now() + deadline;
    while (Clock::now() < end) {
      auto l = line(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
      if (!l) return std::nullopt;
      if (l->rfind(prefix, 0) == 0) return l;
    }
    return std::nullopt;
  }
  bool eof(std::chrono::milliseconds deadline = 5s) {
    return serverlab::testing::wait_for_eof(fd_.get(), deadline);
  }
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  std::string buf_;
};

TEST(ChatServerFlags, HelpAndBadFlags) {
  using serverlab::testing::run_program;
  auto help = run_program({chat_bin(), "--help"}, "", 10s);
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--max-queue"), std::string::npos);
  for (std::vector<std::string> bad : {std::vector<std::string>{"--bogus"}, {"--max-queue", "10"},
                                       {"--max-line", "8"}, {"--max-clients", "0"}}) {
    bad.insert(bad.begin(), chat_bin());
    auto r = run_program(bad, "", 10s);
    EXPECT_EQ(r.status, 2) << bad[1];
    EXPECT_NE(r.err.find("chat-server"), std::string::npos) << r.err;
  }
}

TEST(ChatServer, ManyClientsEachHearEveryOtherInOrder) {
  ServerProcess server = start();
  constexpr int kClients = 20;
  constexpr int kLines = 5;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(server));
    ASSERT_TRUE(clients.back()->until("* welcome, you are guest")) << "client " << i;
  }
  // Everyone has joined once the last one appears in /who.
  clients[0]->send("/who");
  ASSERT_TRUE(clients[0]->until(fmt::format("* {} online: ", kClients)));
  for (int i = 0; i < kClients; ++i)
    for (int k = 0; k < kLines; ++k) clients[i]->send(fmt::format("line {} from {}", k, i));
  for (int i = 0; i < kClients; ++i) {
    std::map<std::string, int> next;  // sender -> the line number expected next
    int heard = 0;
    while (heard < (kClients - 1) * kLines) {
      auto l = clients[i]->line();
      ASSERT_TRUE(l) << "client " << i << " heard only " << heard;
      if (l->rfind("* ", 0) == 0) continue;  // join notices
      // "<guestN> line K from I"
      auto close = l->find("> ");
      ASSERT_NE(close, std::string::npos) << *l;
      std::string nick = l->substr(1, close - 1);
      EXPECT_EQ(*l, fmt::format("<{}> line {} from {}", nick, next[nick]++, l->substr(l->rfind(' ') + 1)));
      EXPECT_NE(l->substr(l->rfind(' ') + 1), std::to_string(i)) << "a client heard itself";
      ++heard;
    }
  }
  EXPECT_EQ(server.stop(), 0);
}

TEST(ChatServer, NickWhoMeQuitAndLeaveNotices) {
  ServerProcess server = start();
  Client a(server), b(server);
  ASSERT_TRUE(a.until("* welcome"));
  ASSERT_TRUE(b.until("* welcome"));
  a.send("/nick alice");
  EXPECT_EQ(a.until("* "), "* guest2 joined");
  EXPECT_EQ(a.line(), "* you are now alice");
  b.send("/nick bob");
  EXPECT_EQ(b.until("* guest1"), "* guest1 is now known as alice");
  EXPECT_EQ(b.line(), "* you are now bob");
  EXPECT_EQ(a.line(), "* guest2 is now known as bob");
  b.send("/who");
  EXPECT_EQ(b.line(), "* 2 online: alice, bob");
  a.send("/me waves");
  EXPECT_EQ(b.line(), "* alice waves");
  a.send("hi bob");
  EXPECT_EQ(b.line(), "<alice> hi bob");
  a.send("/quit lunch");
  EXPECT_EQ(a.line(), "* bye");
  EXPECT_TRUE(a.eof());
  EXPECT_EQ(b.line(), "* alice left (quit: lunch)");
  b.send("/frobnicate");
  EXPECT_EQ(b.line()->rfind("! unknown command /frobnicate", 0), 0u);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ChatServer, ADroppedClientIsALeaveNotice) {
  ServerProcess server = start();
  Client a(server);
  ASSERT_TRUE(a.until("* welcome"));
  {
    Client b(server);
    ASSERT_TRUE(b.until("* welcome"));
    ASSERT_EQ(a.line(), "* guest2 joined");
    Fd fd(::dup(b.fd()));
    serverlab::testing::reset_connection(fd);  // b's socket is RST, mid-conversation
  }
  auto left = a.until("* guest2 left");
  ASSERT_TRUE(left);
  a.send("/who");
  EXPECT_EQ(a.until("* 1 online"), "* 1 online: guest1");
  EXPECT_EQ(server.stop(), 0);
}

// The policy under test: a client that never reads is disconnected once --max-queue
// bytes wait for it, and meanwhile nobody else waits or loses a line.
TEST(ChatServer, AClientThatNeverReadsIsDisconnectedAndTheOthersMissNothing) {
  ServerProcess server = start({"--max-queue", "32K"});
  Client slow(server, 4096);  // never reads a byte after this
  Client fast(server), talker(server);
  ASSERT_TRUE(fast.until("* welcome"));
  ASSERT_TRUE(talker.until("* welcome"));
  const std::string body(500, 'm');
  constexpr int kMaxLines = 20000;  // 10 MB: far past any kernel buffering on loopback
  const auto deadline = Clock::now() + 60s;
  int sent = 0;
  std::optional<std::string> left;
  while (!left && sent < kMaxLines && Clock::now() < deadline) {
    talker.send(fmt::format("{} {}", sent, body));
    ++sent;
    // The fast client hears every line, in order, before and after the slow one goes.
    for (;;) {
      auto l = fast.line();
      ASSERT_TRUE(l) << "the fast client stalled after " << sent << " lines";
      if (l->rfind("* guest1 left", 0) == 0) {
        left = l;
        continue;
      }
      if (l->rfind("* ", 0) == 0) continue;  // the talker's join notice
      ASSERT_EQ(*l, fmt::format("<guest3> {} {}", sent - 1, body));
      break;
    }
  }
  ASSERT_TRUE(left) << "the slow client was never disconnected (" << sent << " lines sent)";
  EXPECT_NE(left->find("too slow: "), std::string::npos) << *left;
  // The others go on: a newcomer is greeted and the room has the three live members.
  Client late(server);
  ASSERT_TRUE(late.until("* welcome"));
  late.send("/who");
  EXPECT_EQ(late.line(), "* 3 online: guest2, guest3, guest4");
  EXPECT_EQ(server.stop(), 0);
}

TEST(ChatServer, LimitsLongLinesAndFullRoom) {
  ServerProcess server = start({"--max-line", "100", "--max-clients", "2"});
  Client a(server), b(server);
  ASSERT_TRUE(a.until("* welcome"));
  ASSERT_TRUE(b.until("* welcome"));
  Client c(server);
  EXPECT_EQ(c.line(), "! server full, try again later");
  EXPECT_TRUE(c.eof());
  a.send(std::string(200, 'z'));
  EXPECT_EQ(a.until("! "), "! line longer than 100 bytes: closing");
  EXPECT_TRUE(a.eof());
  EXPECT_EQ(b.until("* guest1 left"), "* guest1 left (sent a line that was too long)");
  EXPECT_EQ(server.stop(), 0);
}

TEST(ChatServer, SigtermTellsEveryoneAndExitsZero) {
  ServerProcess server = start();
  Client a(server);
  ASSERT_TRUE(a.until("* welcome"));
  server.signal(SIGTERM);
  EXPECT_EQ(a.until("* server"), "* server shutting down");
  EXPECT_TRUE(a.eof());
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
