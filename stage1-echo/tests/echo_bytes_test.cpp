// Stage 1: the echo is byte-exact in every framing and both concurrency modes.
// TCP has no message boundaries, so the same bytes must come back however the
// sender splits or batches them.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "echo_support.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::testing {
namespace {

struct Mode {
  std::string framing;
  std::string concurrency;
};

class EchoBytes : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    server_ = start_echo({"--framing", GetParam().framing, "--concurrency",
                          GetParam().concurrency, "--max-frame", "2M"});
  }
  bool length() const { return GetParam().framing == "length"; }
  // What the client sends for one message and what it expects back.
  std::string wire(std::string_view message) const {
    return length() ? encode_frame(message) : std::string(message);
  }
  std::unique_ptr<ServerProcess> server_;
};

TEST_P(EchoBytes, AllByteValuesComeBackExactly) {
  Fd c = server_->connect();
  // In line framing the 256 values contain one '\n' (0x0a): the message ends with
  // a line and an unterminated tail, which comes back after the half-close.
  const std::string sent = wire(all_byte_values());
  ASSERT_TRUE(send_all(c.get(), sent));
  ::shutdown(c.get(), SHUT_WR);
  const std::string got = recv_until_eof(c.get());
  EXPECT_EQ(got, sent) << "got: " << escape_bytes(got);
  EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
}

TEST_P(EchoBytes, OneMebibyteComesBackExactly) {
  Fd c = server_->connect();
  const std::string sent = wire(pseudo_random_bytes(1 << 20, 7));
  const std::string got = send_and_receive(c.get(), sent, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent) << "payload differs; first bytes: "
                           << escape_bytes(std::string_view(got).substr(0, 64));
  EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
}

TEST_P(EchoBytes, WritesSplitAtEveryByteBoundaryStillEchoExactly) {
  Fd c = server_->connect();
  set_nodelay(c.get());
  const std::string message = wire("split me\x01\xff anywhere\n");
  for (std::size_t cut = 1; cut < message.size(); ++cut) {
    ASSERT_TRUE(send_all(c.get(), message.substr(0, cut)));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the halves travel apart
    ASSERT_TRUE(send_all(c.get(), message.substr(cut)));
    const std::string got = recv_exact(c.get(), message.size());
    ASSERT_EQ(got, message) << "split at byte " << cut << "; got: " << escape_bytes(got);
  }
  EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
}

TEST_P(EchoBytes, HundredMessagesInOneWriteAllComeBack) {
  Fd c = server_->connect();
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += wire("message " + std::to_string(i) + "\n");
  ASSERT_TRUE(send_all(c.get(), batch));
  const std::string got = recv_exact(c.get(), batch.size());
  EXPECT_EQ(got, batch) << "got: " << escape_bytes(got);
  EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
}

TEST_P(EchoBytes, HalfCloseStillDeliversEveryEchoThenEof) {
  Fd c = server_->connect();
  const std::string sent = wire("first\n") + wire("second\n");
  ASSERT_TRUE(send_all(c.get(), sent));
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);  // we are done sending, not reading
  const std::string got = recv_until_eof(c.get());
  EXPECT_EQ(got, sent) << "got: " << escape_bytes(got);
  EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
}

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  return info.param.framing + "_" + info.param.concurrency;
}

INSTANTIATE_TEST_SUITE_P(AllModes, EchoBytes,
                         ::testing::Values(Mode{"raw", "iterative"}, Mode{"line", "iterative"},
                                           Mode{"length", "iterative"}, Mode{"raw", "thread"},
                                           Mode{"line", "thread"}, Mode{"length", "thread"}),
                         mode_name);

}  // namespace
}  // namespace serverlab::testing
