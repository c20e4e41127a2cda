#!/usr/bin/env python3
"""bounded.py: run a command for at most LIMIT seconds and leave no process behind.

    labs/bounded.py LIMIT CMD [ARG...]

Runs CMD with this terminal's input and output. When CMD ends, or when LIMIT seconds
have passed (then CMD is stopped and the exit status is 124, as with timeout(1)),
every process CMD started and left running is stopped too: SIGTERM, then SIGKILL
two seconds later. That includes servers a test started and lost track of, even in
a process group of their own (ctest gives each test one): this process makes itself
the "child subreaper" (prctl PR_SET_CHILD_SUBREAPER), so orphans are re-parented to
it instead of to init, and it can find them under /proc.

Who calls it: labs/check-lab.sh around every check it runs. Linux only.
Exit status: CMD's, 124 on timeout, 2 on bad usage.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children(pid: int) -> list[int]:
    """The direct children of pid (every thread's list)."""
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_all(reason: str) -> None:
    """SIGTERM every descendant, SIGKILL whatever is left 2 s later."""
    left = descendants(os.getpid())
    if not left:
        return
    names = ", ".join(f"{name(p)} ({p})" for p in left)
    print(f"bounded: stopping what the run left behind ({reason}): {names}", file=sys.stderr)
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        for p in descendants(os.getpid()):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and descendants(os.getpid()):
            reap()
            time.sleep(0.05)
    reap()


def main() -> int:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        print("usage: labs/bounded.py LIMIT_SECONDS CMD [ARG...]", file=sys.stderr)
        return 2
    limit, cmd = int(sys.argv[1]), sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("bounded: cannot become a child subreaper; orphans may survive", file=sys.stderr)
    proc = subprocess.Popen(cmd)
    try:
        rc = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        print(f"bounded: {' '.join(cmd[:2])} still running after {limit} s: stopped",
              file=sys.stderr)
        stop_all("time limit")
        proc.wait()
        return 124
    except KeyboardInterrupt:
        stop_all("interrupted")
        proc.wait()
        return 130
    stop_all("the run ended")
    return rc


if __name__ == "__main__":
    sys.exit(main())
