// server_process.hpp: run a real server binary for a black-box test.
//
//   ServerProcess server({"/path/echo-server", "--port", "0"});
//   Fd sock = server.connect();              // 127.0.0.1:<the port it printed>
//   ...
//   EXPECT_EQ(server.stop(), 0);             // SIGTERM, wait, exit status
//
// The server is started with fork+exec, its stdout on a pipe and its stderr in a
// temporary file (stderr_text() reads it, for access-log and error-log checks).
// The first stdout line must be "listening on ADDR:PORT"; start fails with a
// clear message when it is not printed within the deadline. stop() sends
// SIGTERM, waits up to a deadline, and SIGKILLs a server that hangs (the test
// then fails: a hang is a bug). The destructor kills a server still running, so
// a failing test never leaves a process behind. Only the PID we started is
// ever signalled.
//
// Tests use only 127.0.0.1 and port 0; never a fixed port.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serverlab/fd.hpp"

namespace serverlab::testing {

using namespace std::chrono_literals;

class ServerProcess {
 public:
  // argv[0] is the binary's path. Throws std::runtime_error when it cannot start.
  explicit ServerProcess(std::vector<std::string> argv,
                         std::chrono::milliseconds start_deadline = 10s);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:PORT"

  // A blocking TCP connection to the server.
  Fd connect() const;

  // Sends a signal to the server (the PID we started, nothing else).
  void signal(int signo) const;

  // SIGTERM (or `signo`), then waits; returns the exit status (0 for a clean exit),
  // 128+N if killed by signal N, or -1 if it had to be SIGKILLed after the deadline.
  int stop(int signo = 15, std::chrono::milliseconds deadline = 10s);
  // Waits for exit without signalling; nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds deadline);
  bool running();

  // Everything the server wrote to stderr so far.
  std::string stderr_text() const;
  // Further stdout lines after the first (reads until `deadline` or EOF).
  std::optional<std::string> read_stdout_line(std::chrono::milliseconds deadline = 5s);

  // Open file descriptors of the server, from /proc/PID/fd.
  int fd_count() const;

 private:
  // Records the exit status; copies the stub line of a server that reached a lab stub.
  void exited(int status);

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::uint16_t port_ = 0;
  std::string address_;
  Fd stdout_;
  std::string stdout_pending_;
  std::string stderr_path_;
};

// Path of a built binary, from an environment variable when it is set, else the fallback.
std::string binary_from_env(const char* variable, const std::string& fallback);

// The server binary a black-box suite starts. In order:
//   1. $SERVERLAB_SERVER_BIN, the one variable a grader sets to point every suite of
//      every stage at a student's server (tools/grade.py --bin sets it);
//   2. $<suite_variable>, the suite's own variable (its ctest registration sets it to
//      the reference binary, e.g. HTTP_SEQ_BIN);
//   3. `fallback`, the path the suite was built with (for running it by hand).
// Every suite that starts a server must take its path from here, so `make grade BIN=`
// reaches it; a ctest ENVIRONMENT entry cannot override the grader's choice.
std::string server_binary(const char* suite_variable, const std::string& fallback);
// The same for a client binary (stage 1's echo-client): $SERVERLAB_CLIENT_BIN first.
std::string client_binary(const char* suite_variable, const std::string& fallback);

// The words of $variable split at whitespace (none when it is unset): the extra server
// flags a suite's ctest registration passes for one stage, e.g. "--workers 2".
std::vector<std::string> env_words(const char* variable);

// Each ServerProcess appends the path it starts (argv[0]) as one line to the file
// named by $SERVERLAB_STARTED_LOG, when that is set: tools/grade.py reads it to check
// that every suite started the binary being graded and nothing else.
//
// A server that exits with status 70 (serverlab::kLabStubExit: it reached a lab region
// that is still the stub) has its `serverlab: [labNN:name] is still the stub: ...`
// lines copied to this process's stderr as soon as the exit is seen, so the test's
// own output names the unwritten region (and tools/grade.py stops the suite there).

// A short-lived child's exit and output (echo-client, `server --help`).
struct ProgramResult {
  int status = -1;  // exit status, 128+N if killed by signal N, -1 on timeout
  std::string out;
  std::string err;
};
// Runs argv (argv[0] the binary's path) with `input` on stdin (closed after it,
// unless keep_stdin_open, in which case it stays open until the child exits or the
// deadline passes), collecting stdout and stderr. A child still running at the
// deadline is SIGKILLed and reaped: only the PID started here is signalled.
ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input,
                          std::chrono::milliseconds deadline = 20s, bool keep_stdin_open = false);

// run_program with no input, for flag checks (--help, a bad flag): the exit
// status alone (128+N if killed by signal N, -1 if still running at the deadline).
int run_to_exit(std::vector<std::string> argv, std::chrono::milliseconds deadline = 10s);

// Escapes bytes for failure messages: printable ASCII as is, the rest as \xNN, \r, \n.
std::string escape_bytes(std::string_view bytes);

// Socket helpers with deadlines. All return what happened rather than throwing.
bool send_all(int fd, std::string_view bytes);
// Reads until `n` bytes arrived, EOF, or the deadline; returns what was read.
std::string recv_exact(int fd, std::size_t n, std::chrono::milliseconds deadline = 5s);
// Reads until EOF or the deadline.
std::string recv_until_eof(int fd, std::chrono::milliseconds deadline = 5s);
// Reads until `marker` appears (inclusive), EOF, or the deadline.
std::string recv_until(int fd, std::string_view marker, std::chrono::milliseconds deadline = 5s);
// True when the peer closed (read returns 0 or ECONNRESET) within the deadline.
bool wait_for_eof(int fd, std::chrono::milliseconds deadline = 5s);
// Sets SO_LINGER {1, 0} and closes: the peer sees a RST.
void reset_connection(Fd& fd);

}  // namespace serverlab::testing
