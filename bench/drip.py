#!/usr/bin/env python3
"""drip.py: what a request head sent one byte per packet costs the server's CPU.

A client may send its head in pieces as small as it likes: one byte per TCP
segment is legal, and it is how a slow or hostile client behaves. A server that
re-parses the whole head after every read does O(n^2) work for an n-byte head;
one that remembers how far it has scanned does O(n). This script measures which.

For each server and each head size (default 1, 4 and 16 KiB) it opens
connections one after another, enough for --kib KiB of heads per size (the
/proc figures tick every 10 ms, so each size needs a few hundred ms of CPU), and
on each sends one GET head byte by byte (one send() per byte, TCP_NODELAY, so
each byte is its own segment), then reads the answer to EOF. Around the heads of
one size it reads the server's CPU time (utime + stime of /proc/PID/stat, every
thread of the process) and its read calls (syscr of /proc/PID/io), and prints
both per head. The 16 KiB CPU over the 4 KiB CPU is the ratio that tells linear
(about 4) from quadratic (about 16).

A server that falls behind (or is not scheduled: a busy machine) reads several
bytes per call, which hides a quadratic cost: fewer reads, so fewer parses. So by
default the sender goes in lockstep: after each byte it waits (at most 10 ms)
until the server's read calls have grown, so each byte is its own read however
busy the machine is. The wait costs the client's CPU, never the server's.
--no-lockstep sends as fast as it can; --gap-us N also waits N microseconds
between bytes. Lockstep watches the PID it started, so http-prefork (whose
workers do the reads) always runs without it.

    bench/drip.py [--build build/release] [--servers http-seq,http-epoll]
                  [--sizes 1,4,16] [--kib 512] [--no-lockstep] [--gap-us 0]
                  [--time-limit 300] [--json FILE]

The servers are started from the build dir on 127.0.0.1 port 0 over a temp
docroot (the port is read from their first stdout line) and stopped with SIGTERM
(SIGKILL after a bounded wait) by the PID this script started; nothing else is
touched. Every loop is bounded by --kib and by --time-limit. Exit status: 0
when every head was answered with 200; 1 otherwise; 2 on a bad flag.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVERS = {
    "http-seq": "stage2-http-seq/http-seq",
    "http-threadpool": "stage3-threadpool/http-threadpool",
    "http-epoll": "stage4-epoll/http-epoll",
    "http-prefork": "stage5-prefork/http-prefork",
}
TICKS = os.sysconf("SC_CLK_TCK")
LINE = 200  # bytes per filler header line: a 16 KiB head stays under 100 fields


def make_head(size: int) -> bytes:
    """A valid GET head of exactly `size` bytes: request line, Host, filler fields, blank line."""
    start = b"GET /index.html HTTP/1.1\r\nHost: drip.test\r\nConnection: close\r\n"
    end = b"\r\n"
    body = bytearray()
    n = 0
    while len(start) + len(body) + len(end) < size:
        room = size - len(start) - len(body) - len(end)
        name = b"X-Drip-%03d: " % n
        fill = min(LINE, room) - len(name) - 2
        if fill < 1:  # too little room for one more field: pad the last one instead
            body[-2:-2] = b"d" * room
            break
        body += name + b"d" * fill + b"\r\n"
        n += 1
    head = start + bytes(body) + end
    assert len(head) == size, (len(head), size)
    return head


def read_calls(pid: int) -> int:
    """read-like system calls the process has made (syscr in /proc/PID/io)."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("syscr:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of stat(5)


class Server:
    """One server process this script started; stop() ends exactly that PID."""

    def __init__(self, binary: Path, root: str):
        self.proc = subprocess.Popen(
            [str(binary), "--port", "0", "--root", root, "--log-level", "error",
             "--header-timeout", "120"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.port = self._read_port(time.monotonic() + 10)

    def _read_port(self, deadline: float) -> int:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        line = b""
        while b"\n" not in line and time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
        sel.close()
        m = re.match(rb"listening on [^\s]*:(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"no 'listening on' line from the server: {line[:200]!r}")
        return int(m.group(1))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            pipe.close()


LOCKSTEP_WAIT = 0.010  # the longest wait for the server to read one byte


def drip_one(port: int, head: bytes, deadline: float, gap: float = 0.0,
             reader_pid: int = 0) -> int:
    """Sends `head` one byte per send(), `gap` seconds apart and, when reader_pid
    is set, each only once that process's read calls have grown since the last
    one (or LOCKSTEP_WAIT has passed). Returns the answer's status code (0: none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reads = read_calls(reader_pid) if reader_pid else 0
        for i in range(len(head)):
            s.sendall(head[i:i + 1])
            if reader_pid:
                until = time.perf_counter() + LOCKSTEP_WAIT
                while read_calls(reader_pid) == reads and time.perf_counter() < until:
                    pass
                reads = read_calls(reader_pid)
            if gap:
                until = time.perf_counter() + gap
                while time.perf_counter() < until:
                    pass
            if time.monotonic() > deadline:
                return 0
        answer = b""
        while len(answer) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(m.group(1)) if m else 0


def measure(server: Server, size_kib: int, total_kib: int, gap: float, lockstep: bool,
            deadline: float) -> dict:
    head = make_head(size_kib * 1024)
    heads = max(1, total_kib // size_kib)
    drip_one(server.port, make_head(128), deadline)  # warm up: file cache, buffers
    before = cpu_seconds(server.proc.pid)
    reads_before = read_calls(server.proc.pid)
    wall = time.monotonic()
    statuses = []
    for _ in range(heads):
        if time.monotonic() > deadline:
            break
        statuses.append(drip_one(server.port, head, deadline, gap,
                                 server.proc.pid if lockstep else 0))
    cpu = cpu_seconds(server.proc.pid) - before
    reads = read_calls(server.proc.pid) - reads_before
    done = len(statuses)
    return {
        "head_bytes": len(head),
        "heads": done,
        "ok": sum(1 for s in statuses if s == 200),
        "cpu_ms_per_head": round(cpu * 1000 / done, 2) if done else None,
        "reads_per_head": reads // done if done else None,
        "wall_ms_per_head": round((time.monotonic() - wall) * 1000 / done, 1) if done else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release", help="build dir (default: build/release)")
    ap.add_argument("--servers", default="http-seq,http-epoll",
                    help="comma-separated, from: " + ", ".join(SERVERS))
    ap.add_argument("--sizes", default="1,4,16", help="head sizes in KiB (default: 1,4,16)")
    ap.add_argument("--kib", type=int, default=512,
                    help="KiB of heads sent per size: 512 is 512 heads of 1 KiB, 32 of 16 KiB "
                         "(default: 512)")
    ap.add_argument("--no-lockstep", action="store_true",
                    help="send without waiting for the server to read each byte")
    ap.add_argument("--gap-us", type=float, default=0,
                    help="busy-wait this many microseconds between bytes (default: 0)")
    ap.add_argument("--time-limit", type=float, default=300,
                    help="seconds for the whole run; later heads are skipped (default: 300)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    try:
        names = [n for n in args.servers.split(",") if n]
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        ap.print_usage(sys.stderr)
        print("drip.py: --sizes takes integers (KiB)", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in SERVERS]
    if unknown or not names or not sizes or min(sizes) < 1 or max(sizes) > 20 or args.kib < 1 or not 0 <= args.gap_us <= 10000:
        ap.print_usage(sys.stderr)
        print("drip.py: servers from the list, sizes 1..20 KiB, --kib >= 1, --gap-us 0..10000", file=sys.stderr)
        return 2

    deadline = time.monotonic() + args.time_limit
    results = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="serverlab-drip-") as root:
        Path(root, "index.html").write_text("<p>drip</p>\n")
        os.chmod(root, 0o755)
        for name in names:
            binary = Path(args.build) / SERVERS[name]
            if not binary.exists():
                print(f"{name}: {binary} is not built, skipped")
                continue
            server = Server(binary, root)
            try:
                lockstep = not args.no_lockstep and name != "http-prefork"
                rows = [measure(server, size, args.kib, args.gap_us / 1e6, lockstep, deadline)
                        for size in sizes]
            finally:
                server.stop()
            results[name] = rows
            for row in rows:
                failed |= row["ok"] != row["heads"] or row["heads"] == 0
                print(f"{name:16} {row['head_bytes'] // 1024:3} KiB head: "
                      f"{row['cpu_ms_per_head']} ms CPU per head "
                      f"({row['ok']}/{row['heads']} answered 200; "
                      f"{row['reads_per_head']} reads and {row['wall_ms_per_head']} ms wall each)")
            by_size = {r["head_bytes"] // 1024: r["cpu_ms_per_head"] for r in rows}
            if by_size.get(4) and by_size.get(16) is not None:
                print(f"{name:16} 16 KiB / 4 KiB CPU: {by_size[16] / by_size[4]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
