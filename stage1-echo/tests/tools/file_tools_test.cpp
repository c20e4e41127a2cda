// Tests of file-send and file-recv (stage 1's file streaming), loopback only: round trips
// of 0 B, 1 B and a few MiB (100 MiB in the `slow` run), compared byte for byte and
// against published SHA-256 values; a sender and a receiver that vanish midway (real
// processes killed, and peers played by the test that stop at a chosen byte); a wrong
// checksum. Every wait is bounded.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "file_transfer.hpp"
#include "server_process.hpp"
#include "serverlab/fd.hpp"
#include "serverlab/framing.hpp"
#include "serverlab/rio.hpp"
#include "serverlab/socket.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using serverlab::Fd;
using serverlab::testing::ProgramResult;
using serverlab::testing::ServerProcess;
using serverlab::testing::TempDir;
using serverlab::testing::run_program;

std::string send_bin() { return serverlab::testing::binary_from_env("FILE_SEND_BIN", FILE_SEND_DEFAULT_BIN); }
std::string recv_bin() { return serverlab::testing::binary_from_env("FILE_RECV_BIN", FILE_RECV_DEFAULT_BIN); }

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

ServerProcess start_receiver(const std::string& out) {
  return ServerProcess({recv_bin(), "--port", "0", "--out", out, "--timeout", "20"});
}

ProgramResult file_send(std::uint16_t port, const std::string& file, std::vector<std::string> extra = {},
                        std::chrono::milliseconds deadline = 60s) {
  std::vector<std::string> argv{send_bin(), "--addr", "127.0.0.1:" + std::to_string(port), "--file", file,
                                "--timeout", "20"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_program(argv, "", deadline);
}

// Sends `content` from file-send to file-recv; checks both sides and the copy.
void round_trip(const std::string& content, const std::string& expected_sha = "") {
  TempDir dir("file-tools");
  const std::string in = dir.write("in.bin", content);
  const std::string out = dir.path("out.bin");
  ServerProcess receiver = start_receiver(out);
  ProgramResult sent = file_send(receiver.port(), in);
  ASSERT_EQ(sent.status, 0) << sent.err;
  auto line = receiver.read_stdout_line(10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(receiver.wait(10s), 0) << receiver.stderr_text();
  EXPECT_TRUE(read_file(out) == content) << "the copy differs from the original";
  EXPECT_FALSE(fs::exists(out + ".part"));
  const std::string size = std::to_string(content.size());
  EXPECT_NE(sent.out.find(": " + size + " bytes, sha256 "), std::string::npos) << sent.out;
  EXPECT_NE(line->find("as " + out + ": " + size + " bytes, sha256 "), std::string::npos) << *line;
  if (!expected_sha.empty()) {
    EXPECT_NE(sent.out.find(expected_sha), std::string::npos) << sent.out;
    EXPECT_NE(line->find(expected_sha), std::string::npos) << *line;
  }
}

TEST(FileTools, HelpAndBadFlags) {
  EXPECT_EQ(serverlab::testing::run_to_exit({send_bin(), "--help"}), 0);
  EXPECT_EQ(serverlab::testing::run_to_exit({recv_bin(), "--help"}), 0);
  for (std::vector<std::string> bad : {std::vector<std::string>{send_bin()}, {send_bin(), "--bogus"},
                                       {send_bin(), "--file", "x", "--addr", "nowhere"},
                                       {recv_bin()}, {recv_bin(), "--out", "x", "--bogus"}}) {
    ProgramResult r = run_program(bad, "", 10s);
    EXPECT_EQ(r.status, 2) << bad.back();
    EXPECT_NE(r.err.find("Usage"), std::string::npos) << r.err;
  }
  ProgramResult missing = run_program({send_bin(), "--file", "/nonexistent/x", "--addr", "127.0.0.1:9"}, "", 10s);
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, "file-send: cannot open /nonexistent/x: No such file or directory\n");
}

// The published SHA-256 of "" and of "a" (FIPS 180-2 test vectors' companions).
TEST(FileTools, EmptyFile) {
  round_trip("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
TEST(FileTools, OneByte) {
  round_trip("a", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
}
TEST(FileTools, AFewMebibytes) { round_trip(random_bytes((3u << 20) + 7, 1)); }

TEST(FileTools, Slow100MiB) {
  if (std::getenv("SERVERLAB_SKIP_SLOW") != nullptr) GTEST_SKIP() << "the slow run does this one";
  round_trip(random_bytes(100u << 20, 2));
}

// The test plays a sender that announces 1 MiB, sends 1000 bytes, and closes.
TEST(FileTools, TheReceiverReportsATruncatedFile) {
  TempDir dir("file-tools");
  const std::string out = dir.path("out.bin");
  ServerProcess receiver = start_receiver(out);
  {
    Fd sock = receiver.connect();
    ASSERT_TRUE(serverlab::write_frame(sock.get(), serverlab::files::encode_header({"x", 1u << 20})).is_ok());
    ASSERT_TRUE(serverlab::write_frame(sock.get(), std::string(1000, 'x')).is_ok());
  }
  EXPECT_EQ(receiver.wait(10s), 1);
  EXPECT_EQ(receiver.stderr_text(),
            "file-recv: truncated: got 1000 of 1048576 bytes (the sender closed the connection)\n");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".part"));
}

// The test plays a sender whose digest is wrong: the receiver refuses the file and says so.
TEST(FileTools, AWrongChecksumIsRefused) {
  TempDir dir("file-tools");
  const std::string out = dir.path("out.bin");
  ServerProcess receiver = start_receiver(out);
  Fd sock = receiver.connect();
  ASSERT_TRUE(serverlab::write_frame(sock.get(), serverlab::files::encode_header({"x", 5})).is_ok());
  ASSERT_TRUE(serverlab::write_frame(sock.get(), "hello").is_ok());
  ASSERT_TRUE(serverlab::write_frame(sock.get(), "").is_ok());
  ASSERT_TRUE(serverlab::write_frame(sock.get(), std::string(32, '\0')).is_ok());
  serverlab::BufferedReader in(sock.get());
  std::string verdict;
  ASSERT_EQ(serverlab::read_frame(in, verdict, 4096), serverlab::FrameStatus::Frame);
  EXPECT_EQ(verdict.rfind("error: checksum mismatch: sender 0000", 0), 0u) << verdict;
  EXPECT_EQ(receiver.wait(10s), 1);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".part"));
}

// A real file-send killed midway (run_program's deadline SIGKILLs it, paced at 1 MiB/s).
TEST(FileTools, TheReceiverReportsASenderKilledMidway) {
  TempDir dir("file-tools");
  const std::string in = dir.write("in.bin", random_bytes(4u << 20, 3));
  const std::string out = dir.path("out.bin");
  ServerProcess receiver = start_receiver(out);
  ProgramResult sent = file_send(receiver.port(), in, {"--rate", "1M"}, 500ms);
  EXPECT_EQ(sent.status, -1) << "file-send should have been killed at the deadline";
  EXPECT_EQ(receiver.wait(10s), 1);
  const std::string err = receiver.stderr_text();
  EXPECT_EQ(err.rfind("file-recv: truncated: got ", 0), 0u) << err;
  EXPECT_NE(err.find(" of 4194304 bytes (the sender closed the connection)\n"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".part"));
}

// A real file-recv killed midway: the sender says how far it got and exits 1.
TEST(FileTools, TheSenderReportsAReceiverKilledMidway) {
  TempDir dir("file-tools");
  const std::string in = dir.write("in.bin", random_bytes(4u << 20, 4));
  const std::string out = dir.path("out.bin");
  ServerProcess receiver = start_receiver(out);
  ProgramResult sent;
  std::thread sender([&] { sent = file_send(receiver.port(), in, {"--rate", "4M"}); });
  // Wait (bounded) until the copy is under way, then kill the receiver.
  for (int i = 0; i < 200 && !(fs::exists(out + ".part") && fs::file_size(out + ".part") >= (256u << 10)); ++i)
    std::this_thread::sleep_for(10ms);
  receiver.signal(SIGKILL);
  sender.join();
  EXPECT_EQ(sent.status, 1);
  EXPECT_EQ(sent.err.rfind("file-send: connection lost after ", 0), 0u) << sent.err;
  EXPECT_NE(sent.err.find(" of 4194304 bytes: "), std::string::npos) << sent.err;
  EXPECT_EQ(std::count(sent.err.begin(), sent.err.end(), '\n'), 1) << sent.err;
}

// The test plays a receiver that takes the header and a few frames, then resets.
TEST(FileTools, TheSenderReportsAReset) {
  TempDir dir("file-tools");
  const std::string in = dir.write("in.bin", random_bytes(8u << 20, 5));
  Fd listener = serverlab::listen_tcp("127.0.0.1", 0);
  const auto port = serverlab::local_address(listener.get()).port();
  ProgramResult sent;
  std::thread sender([&] { sent = file_send(port, in); });
  pollfd p{listener.get(), POLLIN, 0};
  const bool came = ::poll(&p, 1, 20000) == 1;  // bounded: a sender that never comes fails
  Fd conn(came ? ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC) : -1);
  if (!conn) sender.join();
  ASSERT_TRUE(conn) << "file-send never connected: " << sent.err;
  serverlab::BufferedReader reader(conn.get());
  std::string frame;
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(serverlab::read_frame(reader, frame, 1u << 20), serverlab::FrameStatus::Frame);
  serverlab::testing::reset_connection(conn);
  sender.join();
  EXPECT_EQ(sent.status, 1);
  EXPECT_EQ(sent.err.rfind("file-send: connection lost after ", 0), 0u) << sent.err;
}

}  // namespace
