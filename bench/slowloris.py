#!/usr/bin/env python3
"""slowloris.py: does a server keep serving normal clients while slow clients hang?

Starts one of our servers from a build directory (127.0.0.1, port 0, a temporary
docroot) and, unless --no-nginx, nginx with a generated config over the same
docroot. For each: opens --slow connections that send a request head one byte
every --interval seconds and never finish it (a dropped one is reopened, so the
attack keeps its size), waits one interval, runs wrk -c --connections for
--seconds against a 4 KiB page, and reports wrk's errors, p99, req/s and how
many slow connections the server dropped.

    bench/slowloris.py --build build/release --server http-threadpool
    bench/slowloris.py --build build/release --server http-threadpool --slow 400 --seconds 10 \
        --json /tmp/slowloris.json

Bounded: at most 4000 slow connections and 120 s of wrk; every process it starts
is stopped by its PID (SIGTERM, then SIGKILL); traffic goes to 127.0.0.1 only.
Exit status: 0 when every run finished (whatever the figures), 1 when a server
did not start or wrk failed, 2 for bad flags.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WRK_LUA = os.path.join(BENCH_DIR, "wrk", "report.lua")
NGINX_CONF = os.path.join(BENCH_DIR, "peers", "nginx.conf.in")
STAGE_DIRS = {"http-seq": "stage2-http-seq", "http-threadpool": "stage3-threadpool",
              "http-epoll": "stage4-epoll", "http-prefork": "stage5-prefork"}
PAGE = "4k.html"
# A head that never ends: one header line that grows a byte at a time.
SLOW_HEAD = b"GET /" + PAGE.encode() + b" HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 100_000


# ----------------------------------------------------------------------------- processes
class Process:
    """A server we started; stop() ends it by its PID, never by name."""

    def __init__(self, name: str, argv: list[str], tmp: str):
        self.name = name
        self.stderr_path = os.path.join(tmp, name + ".stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL)
        self.port = 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()

    def stderr_tail(self) -> str:
        with open(self.stderr_path, "rb") as f:
            return f.read()[-400:].decode(errors="replace")


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


def start_ours(binary: str, extra: list[str], docroot: str, tmp: str, cpu) -> Process:
    argv = pin(cpu) + [binary, "--bind", "127.0.0.1", "--port", "0", "--root", docroot,
                       "--access-log", "off", "--log-level", "error"] + extra
    p = Process(os.path.basename(binary), argv, tmp)
    line = read_line(p.proc.stdout, time.monotonic() + 10)
    if not line.startswith("listening on "):
        p.stop()
        raise RuntimeError(f"{binary}: no 'listening on' line: {p.stderr_tail()}")
    p.port = int(line.rsplit(":", 1)[1])
    return p


def read_line(pipe, deadline: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(pipe, selectors.EVENT_READ)
    data = b""
    while b"\n" not in data and time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            chunk = os.read(pipe.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    sel.close()
    return data.split(b"\n", 1)[0].decode(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(workers: int, docroot: str, tmp: str, cpu) -> Process:
    port = free_port()
    nginx_tmp = tempfile.mkdtemp(prefix="nginx-", dir=tmp)
    os.chmod(nginx_tmp, 0o755)
    values = {"PORT": str(port), "ROOT": docroot, "TMP": nginx_tmp, "WORKERS": str(workers),
              "USER_LINE": "user nobody nogroup;" if os.geteuid() == 0 else ""}
    with open(NGINX_CONF) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    conf = os.path.join(nginx_tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(text)
    argv = pin(cpu) + [shutil.which("nginx") or "nginx", "-p", nginx_tmp, "-c", conf,
                       "-e", os.path.join(nginx_tmp, "error.log")]
    p = Process("nginx", argv, tmp)
    p.port = port
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return p
        except OSError:
            if p.proc.poll() is not None:
                break
            time.sleep(0.05)
    p.stop()
    raise RuntimeError("nginx did not listen: " + p.stderr_tail())


# ----------------------------------------------------------------------------- the slow clients
class Dripper:
    """`count` connections, each sent one more byte of SLOW_HEAD every `interval` s.

    A connection the server closes, resets or answers (408) counts as dropped and is
    reopened, so `count` stay open while the attack lasts. Runs on its own thread.
    """

    def __init__(self, port: int, count: int, interval: float):
        self.port, self.count, self.interval = port, count, interval
        self.conns: list[list] = []  # [socket, bytes sent]
        self.dropped = 0
        self.refused = 0  # connects that failed (the server's backlog full, or out of fds)
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self) -> list | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", self.port))
            s.setblocking(False)
            s.send(SLOW_HEAD[:1])
            return [s, 1]
        except OSError:
            s.close()
            self.refused += 1
            return None

    def start(self) -> None:
        for _ in range(self.count):
            c = self.open_one()
            if c:
                self.conns.append(c)
        self.thread.start()

    def drip(self, c: list) -> bool:
        s, sent = c
        try:
            s.recv(1, socket.MSG_PEEK)
            return False  # bytes (an answer: 408, 400, ...) or b"" (closed): dropped
        except BlockingIOError:
            pass
        except OSError:
            return False
        try:
            s.send(SLOW_HEAD[sent:sent + 1])
            c[1] = sent + 1
            return True
        except OSError:
            return False

    def run(self) -> None:
        while not self.stop_flag.wait(self.interval):
            alive = []
            for c in self.conns:
                if self.drip(c):
                    alive.append(c)
                else:
                    c[0].close()
                    self.dropped += 1
            while len(alive) < self.count and not self.stop_flag.is_set():
                c = self.open_one()
                if c is None:
                    break
                alive.append(c)
            self.conns = alive

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=self.interval + 10)
        for c in self.conns:
            c[0].close()


# ----------------------------------------------------------------------------- wrk
def run_wrk(port: int, connections: int, seconds: int, cpu) -> dict:
    argv = pin(cpu) + ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s",
                       "--latency", "--timeout", "5s", "-s", WRK_LUA,
                       f"http://127.0.0.1:{port}/{PAGE}"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return {"error": "wrk did not finish in time"}
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    return {"error": f"wrk failed (exit {out.returncode}): {out.stderr.strip()[-300:]}"}


def measure(p: Process, args, client_cpu) -> dict:
    dripper = Dripper(p.port, args.slow, args.interval)
    dripper.start()
    opened = len(dripper.conns)
    time.sleep(args.interval)  # the slow heads are in the server before wrk starts
    wrk = run_wrk(p.port, args.connections, args.seconds, client_cpu)
    dropped = dripper.dropped
    dripper.stop()
    result = {"server": p.name, "slow": args.slow, "slow_opened": opened,
              "slow_dropped": dropped, "slow_refused": dripper.refused}
    if "error" in wrk:
        result["error"] = wrk["error"]
        return result
    secs = wrk["duration_us"] / 1e6
    result.update({"requests": wrk["requests"], "rps": wrk["requests"] / secs if secs else 0.0,
                   "errors": wrk["errors"], "error_total": sum(wrk["errors"].values()),
                   "p50_ms": wrk["latency_us"]["p50"] / 1000,
                   "p99_ms": wrk["latency_us"]["p99"] / 1000,
                   "max_ms": wrk["latency_us"]["max"] / 1000})
    return result


# ----------------------------------------------------------------------------- report
def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def table(results: list[dict]) -> str:
    nginx = next((r for r in results if r["server"] == "nginx" and "error" not in r), None)
    lines = ["| server | slow conns | dropped | wrk errors | req/s | x nginx | p50 ms | p99 ms "
             "| p99 x nginx |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['server']} | {r['slow']} | {r['slow_dropped']} | {r['error']} "
                         "| | | | | |")
            continue
        errs = ", ".join(f"{k} {v}" for k, v in r["errors"].items() if v) or "0"
        if r["requests"] == 0:  # no latency to speak of: nothing was answered at all
            lines.append(f"| {r['server']} | {r['slow_opened']} | {r['slow_dropped']} | {errs} "
                         "| 0 (no response in the whole run) | 0 | - | - | - |")
            continue
        lines.append(
            f"| {r['server']} | {r['slow_opened']} | {r['slow_dropped']} | {errs} "
            f"| {r['rps']:,.0f} | {ratio(r['rps'], nginx and nginx['rps'])} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {ratio(r['p99_ms'], nginx and nginx['p99_ms'])} |")
    return "\n".join(lines)


def make_docroot(tmp: str) -> str:
    root = os.path.join(tmp, "www")
    os.makedirs(root)
    with open(os.path.join(root, PAGE), "w") as f:
        f.write(("<p>serverlab slowloris bench</p>\n" * 200)[:4096])
    for path in (tmp, root):
        os.chmod(path, 0o755)  # nginx's workers run as nobody
    os.chmod(os.path.join(root, PAGE), 0o644)
    return root


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release", help="build directory (default %(default)s)")
    ap.add_argument("--server", default="http-threadpool", choices=sorted(STAGE_DIRS),
                    help="which of our servers (default %(default)s)")
    ap.add_argument("--args", default="", help="extra flags for our server, e.g. '--threads 64'")
    ap.add_argument("--label", default="", help="name for our server in the report")
    ap.add_argument("--slow", type=int, default=400, help="slow connections (default 400)")
    ap.add_argument("--interval", type=float, default=2.0,
                    help="seconds between two bytes of a slow head (default 2)")
    ap.add_argument("--connections", type=int, default=10, help="wrk connections (default 10)")
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration (default 10)")
    ap.add_argument("--no-nginx", action="store_true", help="do not run nginx alongside")
    ap.add_argument("--nginx-workers", type=int, default=1, help="nginx workers (default 1)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and clients to CPUs")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    if not 1 <= args.slow <= 4000:
        ap.error("--slow must be 1..4000")
    if not 0.1 <= args.interval <= 30:
        ap.error("--interval must be 0.1..30")
    if not 1 <= args.seconds <= 120:
        ap.error("--seconds must be 1..120")
    if not 1 <= args.connections <= 1000:
        ap.error("--connections must be 1..1000")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    binary = os.path.join(args.build, STAGE_DIRS[args.server], args.server)
    if not os.access(binary, os.X_OK):
        print(f"slowloris.py: {binary}: not built", file=sys.stderr)
        return 1
    if not shutil.which("wrk"):
        print("slowloris.py: wrk is not installed (tools/deps.sh bench)", file=sys.stderr)
        return 1
    multi = (os.cpu_count() or 1) >= 2 and not args.no_pin
    server_cpu, client_cpu = (0, 1) if multi else (None, None)
    results, status = [], 0
    with tempfile.TemporaryDirectory(prefix="slowloris-") as tmp:
        os.chmod(tmp, 0o755)
        docroot = make_docroot(tmp)
        starters = []
        if not args.no_nginx and shutil.which("nginx"):
            starters.append(lambda: start_nginx(args.nginx_workers, docroot, tmp, server_cpu))
        starters.append(lambda: start_ours(binary, args.args.split(), docroot, tmp, server_cpu))
        for start in starters:
            try:
                p = start()
            except RuntimeError as e:
                print(f"slowloris.py: {e}", file=sys.stderr)
                status = 1
                continue
            try:
                print(f"{p.name}: {args.slow} slow heads (a byte every {args.interval:g} s), "
                      f"wrk -c{args.connections} for {args.seconds} s ...", file=sys.stderr)
                r = measure(p, args, client_cpu)
                if args.label and p.name != "nginx":
                    r["server"] = args.label
                results.append(r)
                status = 1 if "error" in r else status
            finally:
                p.stop()
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return status


if __name__ == "__main__":
    sys.exit(main())
