// Stage 1: echo-client end to end, run as a child with stdin from a pipe.
#include <gtest/gtest.h>

#include "echo_support.hpp"
#include "serverlab/socket.hpp"

namespace serverlab::testing {
namespace {

using namespace std::chrono_literals;

ProgramResult run_client(const ServerProcess& server, std::vector<std::string> flags,
                         std::string_view input, bool keep_stdin_open = false) {
  std::vector<std::string> argv{echo_client_bin(), "--addr", server.address()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return run_program(argv, input, 20s, keep_stdin_open);
}

TEST(EchoClient, LineFramingPrintsEveryLineBackAndExitsZero) {
  auto server = start_echo({"--framing", "line"});
  ProgramResult r = run_client(*server, {"--framing", "line"}, "hello\nworld\nno newline");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(escape_bytes(r.out), escape_bytes("hello\nworld\nno newline"));
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoClient, RawFramingIsBinarySafeAndReadsEverythingAfterHalfClose) {
  auto server = start_echo({"--framing", "raw"});
  const std::string input = all_byte_values() + pseudo_random_bytes(300000, 11);
  ProgramResult r = run_client(*server, {"--framing", "raw"}, input);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input) << "stdout differs from stdin";
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoClient, LengthFramingSendsLinesAsFramesAndPrintsPayloads) {
  auto server = start_echo({"--framing", "length", "--concurrency", "thread"});
  ProgramResult r = run_client(*server, {"--framing", "length"}, "one\n\nthree\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(escape_bytes(r.out), escape_bytes("one\n\nthree\n"));
  EXPECT_EQ(server->stop(), 0);
  // The server saw three frames: 4+3, 4+0 and 4+5 bytes.
  EXPECT_NE(server->stderr_text().find("bytes_in=20"), std::string::npos) << server->stderr_text();
}

TEST(EchoClient, UdpSendsEachLineAsADatagram) {
  auto server = start_echo({"--udp"});
  ProgramResult r = run_client(*server, {"--udp"}, "alpha\nbeta\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "alpha\nbeta\n");
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoClient, RefusedConnectionIsOneLineErrorAndNonZeroExit) {
  std::string address;
  {
    Fd l = listen_tcp("127.0.0.1", 0);
    address = local_address(l.get()).to_string();
  }  // closed: nothing listens there now
  ProgramResult r = run_program({echo_client_bin(), "--addr", address}, "hi\n");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(EchoClient, DroppedConnectionIsOneLineErrorAndNonZeroExit) {
  auto server = start_echo({"--framing", "line", "--idle-timeout", "0.3"});
  // stdin stays open and silent: the server's idle timeout drops us.
  ProgramResult r = run_client(*server, {"--framing", "line"}, "", /*keep_stdin_open=*/true);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, -1) << "client hung after the server closed the connection";
  EXPECT_NE(r.err.find("closed by the server"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(server->stop(), 0);
}

TEST(EchoClient, BadAddressIsAUsageError) {
  ProgramResult r = run_program({echo_client_bin(), "--addr", "no-port-here"}, "");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("Usage:"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace serverlab::testing
