// echo_support.hpp: helpers shared by the stage 1 black-box suites.
//
// The binaries come from SERVERLAB_SERVER_BIN / SERVERLAB_CLIENT_BIN when a grader
// set them, else SERVERLAB_ECHO_SERVER / SERVERLAB_ECHO_CLIENT (set by CMake)
// (server_binary() in server_process.hpp). Test-process only; every wait has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server_process.hpp"

namespace serverlab::testing {

std::string echo_server_bin();
std::string echo_client_bin();

// Starts echo-server on 127.0.0.1, port 0, with the extra flags.
std::unique_ptr<ServerProcess> start_echo(std::vector<std::string> flags);

// Deterministic test data.
std::string all_byte_values();  // "\x00\x01...\xff"
std::string pseudo_random_bytes(std::size_t n, std::uint32_t seed);

// Sends `bytes` from a helper thread, then half-closes (so a line server echoes
// an unterminated tail too), while reading `expect` bytes back: a large echo
// never deadlocks on full socket buffers. Returns what was read.
std::string send_and_receive(int fd, const std::string& bytes, std::size_t expect,
                             std::chrono::milliseconds deadline = std::chrono::seconds(20));

// Polls `pred` every 10 ms until it is true or the deadline passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace serverlab::testing
