// The master's verdict on a worker's exit status, from real children's waitpid statuses: a
// lab stub (kLabStubExit) stops the server, a refused configuration retires the lane, any
// other end is respawned.
#include "master.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "serverlab/lab_stub.hpp"

namespace serverlab {
namespace {

// Forks a child that ends with `code` (or by SIGKILL when code < 0); returns its wait status.
int status_of_child(int code) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (code < 0) ::raise(SIGKILL);
    ::_exit(code);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

TEST(MasterVerdict, LabStubExitStopsTheServer) {
  EXPECT_EQ(judge_worker_exit(status_of_child(kLabStubExit)), WorkerExitVerdict::LabStub);
}

TEST(MasterVerdict, ConfigExitRetiresTheLane) {
  EXPECT_EQ(judge_worker_exit(status_of_child(kWorkerExitFatalConfig)),
            WorkerExitVerdict::FatalConfig);
}

TEST(MasterVerdict, EveryOtherEndIsRespawned) {
  EXPECT_EQ(judge_worker_exit(status_of_child(0)), WorkerExitVerdict::Respawn);
  EXPECT_EQ(judge_worker_exit(status_of_child(1)), WorkerExitVerdict::Respawn);
  EXPECT_EQ(judge_worker_exit(status_of_child(-1)), WorkerExitVerdict::Respawn);
  // Only the stub's exact code means the stub.
  EXPECT_EQ(judge_worker_exit(status_of_child(kLabStubExit + 1)), WorkerExitVerdict::Respawn);
}

}  // namespace
}  // namespace serverlab
