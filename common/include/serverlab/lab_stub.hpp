// lab_stub.hpp: what a server does when it reaches a lab region that is still the stub.
//
// In the student's starter tree (tools/handout.py) some lab regions sit on a server's hot
// path: the event loop's dispatch, for one. A stub there cannot do its job, and doing
// nothing would leave the server spinning or deaf to signals. Such a stub calls
// lab_stub_reached() instead: it prints one line naming the region, the file to edit and
// the handout, and ends the process with kLabStubExit. Tests, `make check-lab` and
// `make grade` look for that line and that status, so an unwritten lab fails at once, by
// name, instead of hanging.
//
// Who may call: stub code inside a lab region (never reference code). Any thread; it
// does not return.
#pragma once

#include <string_view>

namespace serverlab {

// The exit status of a process that reached an unwritten lab region (sysexits' EX_SOFTWARE).
// Stage 5's master does not respawn a worker that exits with it.
inline constexpr int kLabStubExit = 70;

// Prints "serverlab: [<region>] is still the stub: write it in <file> (<handout>)" to
// stderr and calls _exit(kLabStubExit): no destructor runs, no buffered output of the
// process is flushed twice in a forked child.
[[noreturn]] void lab_stub_reached(std::string_view region, std::string_view file,
                                   std::string_view handout) noexcept;

}  // namespace serverlab
