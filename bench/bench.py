#!/usr/bin/env python3
"""bench.py: the serverlab bench driver. Every built server and the peers, side by side.

    bench/bench.py --build build/release                 # the full run (what `make bench` does)
    bench/bench.py --build build/release --quick --check # the CI smoke test (`make bench-quick`)
    bench/bench.py --server 'http-epoll,nginx*' --scenario '4k-c100-*' --runs 5
    bench/bench.py --server http-epoll --syscalls 4k-c10-ka   # syscalls per request (strace -c)

What one run does, per server in SERVERS (a binary that is not built is "not built, skipped"):
  1. start it pinned to one CPU (taskset), on 127.0.0.1 port 0, over a generated docroot;
     it prints "listening on ADDR:PORT" first (peers get a free port picked by binding port 0);
  2. per scenario (file x connections x keep-alive|close): a warm-up wrk run, then --runs
     measured wrk runs pinned to the other CPU; wrk's done() hook (wrk/report.lua) prints exact
     JSON; server CPU (utime+stime over the process tree) is sampled around every run;
  3. RSS per idle keep-alive connection (5,000 connections, one request each, then idle);
  4. stop it (SIGTERM to the PID we started; SIGKILL to the tree we saw if it hangs).
Stage 1 is measured with echo-bench (bench/echo_bench.cpp) against echo-server and socat.
Results: a JSON file, a Markdown table (ratios to nginx with the same worker count, and to the
best peer), SVG charts via gnuplot, and the generated section of bench/RESULTS.md.

Only loopback traffic; every wait is bounded; only processes this script started are signalled.
Python 3 standard library only.
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

# The docroot every server serves: the same bytes for everyone.
FILES = {"128b": ("128b.txt", 128), "4k": ("4k.html", 4096), "1m": ("1m.bin", 1 << 20)}
CONNECTIONS = [1, 10, 100, 1000]
MARK_BEGIN = "<!-- bench:generated:begin -->"
MARK_END = "<!-- bench:generated:end -->"


# ----------------------------------------------------------------------------- the table
@dataclass
class Server:
    """One row of the table: how to start a server and what it can sensibly be asked."""
    name: str
    kind: str                    # "http" | "peer" | "echo"
    stage: str                   # "2".."5", "peer", "1"
    binary: str                  # relative to the build dir (ours) or absolute (peers)
    args: list = field(default_factory=list)
    workers: int = 1             # processes/threads that serve in parallel (peers are matched)
    keepalive: bool = True       # False: answers Connection: close only (stage 2)
    max_connections: int = 1000  # scenarios above this are skipped
    idle_test: bool = True       # RSS per idle keep-alive connection
    note: str = ""               # why scenarios are skipped


# Flags every HTTP server of ours gets (HTTP_CONTRACT.md). The keep-alive limits match the
# peers' configs, so no server closes connections the others keep.
HTTP_COMMON = ["--bind", "127.0.0.1", "--port", "0", "--access-log", "off",
               "--log-level", "warn", "--keepalive-timeout", "60",
               "--max-keepalive-requests", "10000", "--admin", "off"]


def our_servers() -> list[Server]:
    rows = [
        Server("http-seq", "http", "2", "stage2-http-seq/http-seq", keepalive=False,
               max_connections=10, idle_test=False,
               note="sequential: one connection at a time and no keep-alive (stage 2 answers "
                    "Connection: close), so only c=1 and c=10 with Connection: close are "
                    "meaningful; more connections only measure the listen backlog and wrk's "
                    "timeouts"),
        Server("http-threadpool", "http", "3", "stage3-threadpool/http-threadpool"),
        Server("http-epoll", "http", "4", "stage4-epoll/http-epoll"),
    ]
    # --worker-connections matches the peers' limits (nginx: worker_connections 16384), so
    # one worker can hold all the idle connections of the RSS test, as nginx's does.
    for accept in ("passfd", "shared", "reuseport"):
        for workers in (1, 2):
            rows.append(Server(f"http-prefork-{accept}-w{workers}", "http", "5",
                               "stage5-prefork/http-prefork",
                               ["--accept", accept, "--workers", str(workers),
                                "--worker-connections", "16384"], workers=workers))
    return rows


def peer_servers(worker_counts: list[int]) -> list[Server]:
    rows = []
    for w in sorted(set(worker_counts)):
        rows.append(Server(f"nginx-w{w}", "peer", "peer", shutil.which("nginx") or "nginx",
                           workers=w))
        rows.append(Server(f"lighttpd-w{w}", "peer", "peer",
                           shutil.which("lighttpd") or "lighttpd", workers=w))
        rows.append(Server(f"h2o-w{w}", "peer", "peer", shutil.which("h2o") or "h2o", workers=w))
    return rows


def echo_servers() -> list[Server]:
    return [
        Server("echo-server-iterative", "echo", "1", "stage1-echo/echo-server",
               ["--concurrency", "iterative"], max_connections=1, idle_test=False,
               note="iterative: one client at a time, so only one connection"),
        Server("echo-server-thread", "echo", "1", "stage1-echo/echo-server",
               ["--concurrency", "thread", "--max-clients", "1024"], idle_test=False),
        Server("socat", "echo", "peer", shutil.which("socat") or "socat", idle_test=False),
    ]


@dataclass
class Scenario:
    file: str          # key of FILES
    connections: int
    keepalive: bool

    @property
    def id(self) -> str:
        return f"{self.file}-c{self.connections}-{'ka' if self.keepalive else 'close'}"


def all_scenarios(quick: bool) -> list[Scenario]:
    if quick:
        return [Scenario("4k", 10, True), Scenario("4k", 10, False)]
    return [Scenario(f, c, ka) for f in FILES for ka in (True, False) for c in CONNECTIONS]


def matches(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatch(name, p) for p in patterns)


# ----------------------------------------------------------------------------- processes
def proc_children() -> dict[int, list[int]]:
    """Parent -> children, from /proc/*/stat (ppid is the 4th field after the comm)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(root: int) -> list[int]:
    kids = proc_children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of every process in the list (each covers all its threads)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError, ValueError):
            pass
    return ticks / CLK_TCK


def status_kib(pids: list[int], key: str) -> int:
    """Sum of a /proc/PID/status field (VmRSS, VmHWM) over the processes, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in ticks), or "" when the PID is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


class Running:
    """A server we started: its PID, port, and the temp dir holding its config and logs."""

    def __init__(self, server: Server, argv: list[str], tmp: str, cpu: int | None,
                 port: int | None):
        self.server = server
        self.tmp = tmp
        self.port = port or 0
        self.stderr_path = os.path.join(tmp, f"{server.name}.stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(pin(cpu) + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if port is None else subprocess.DEVNULL,
                                     stderr=self.stderr, cwd=tmp)
        self.seen: dict[int, str] = {}  # pid -> its start time: a reused PID never matches
        self.tree()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_listening_line(self, deadline: float) -> bool:
        """Ours print 'listening on ADDR:PORT' as their first stdout line."""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        try:
            while b"\n" not in buf and time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            sel.close()
        m = re.match(rb"listening on (?:\[[^\]]*\]|[^:\s]+):(\d+)", buf)
        if m:
            self.port = int(m.group(1))
            # Drain later output so a chatty server never blocks on a full pipe.
            threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return bool(m)

    def tree(self) -> list[int]:
        pids = process_tree(self.pid) if self.proc.poll() is None else []
        for pid in pids:
            self.seen.setdefault(pid, start_time(pid))
        return pids

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, deadline_s: float = 10.0) -> int | None:
        """SIGTERM to our PID; if it hangs, SIGKILL to every PID of its tree we have seen."""
        self.tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                self.kill_seen()
                self.proc.wait(timeout=5)
        # Workers of a master that exited first would be orphans: wait a little for them to
        # notice, then SIGKILL any that are still there (only PIDs we saw in our tree).
        for _ in range(50):
            if not self.leftovers():
                break
            time.sleep(0.1)
        self.kill_seen()
        self.stderr.close()
        return self.proc.returncode

    def leftovers(self) -> list[int]:
        return [pid for pid, started in self.seen.items()
                if pid != self.pid and start_time(pid) == started]

    def kill_seen(self) -> None:
        for pid in self.leftovers() + ([self.pid] if self.proc.poll() is None else []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stderr_tail(self, n: int = 400) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""


def render_template(name: str, values: dict[str, str]) -> str:
    with open(os.path.join(BENCH_DIR, "peers", name)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def start_server(server: Server, build: str, docroot: str, tmp_root: str,
                 cpu: int | None) -> Running:
    """Starts one server; raises RuntimeError with the reason when it does not come up."""
    tmp = tempfile.mkdtemp(prefix=server.name + "-", dir=tmp_root)
    os.chmod(tmp, 0o755)
    deadline = time.monotonic() + 10
    root_user = os.geteuid() == 0
    if server.kind in ("http", "echo") and server.stage != "peer":
        argv = [os.path.join(build, server.binary)] + server.args
        if server.kind == "http":
            argv += HTTP_COMMON + ["--root", docroot]
        else:
            argv += ["--bind", "127.0.0.1", "--port", "0", "--log-level", "warn"]
        run = Running(server, argv, tmp, cpu, None)
        if not run.read_listening_line(deadline):
            run.stop(2)
            raise RuntimeError("no 'listening on' line: " + run.stderr_tail())
        return run
    port = free_port()
    if root_user and server.name != "socat":
        # lighttpd and h2o open their pid and log files after dropping to nobody.
        import grp
        import pwd
        os.chown(tmp, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    values = {"PORT": str(port), "ROOT": docroot, "TMP": tmp, "WORKERS": str(server.workers)}
    if server.name == "socat":
        argv = [server.binary, f"TCP-LISTEN:{port},reuseaddr,fork,bind=127.0.0.1", "EXEC:cat"]
    elif server.name.startswith("nginx"):
        values["USER_LINE"] = "user nobody nogroup;" if root_user else ""
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(render_template("nginx.conf.in", values))
        argv = [server.binary, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")]
    elif server.name.startswith("lighttpd"):
        values["USER_LINES"] = ('server.username = "nobody"\nserver.groupname = "nogroup"'
                                if root_user else "")
        values["WORKER_LINE"] = (f"server.max-worker = {server.workers}"
                                 if server.workers > 1 else "")
        conf = os.path.join(tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(render_template("lighttpd.conf.in", values))
        argv = [server.binary, "-D", "-f", conf]
    elif server.name.startswith("h2o"):
        values["USER_LINE"] = "user: nobody" if root_user else ""
        conf = os.path.join(tmp, "h2o.conf")
        with open(conf, "w") as f:
            f.write(render_template("h2o.conf.in", values))
        argv = [server.binary, "-c", conf]
    else:
        raise RuntimeError(f"no start recipe for {server.name}")
    run = Running(server, argv, tmp, cpu, port)
    if not wait_for_port(port, deadline) or not run.alive():
        run.stop(2)
        raise RuntimeError("did not listen on its port: " + run.stderr_tail())
    return run


def is_available(server: Server, build: str) -> str | None:
    """None when the server can run, else why it is skipped."""
    if server.stage == "peer":
        return None if shutil.which(os.path.basename(server.binary)) else "not installed, skipped"
    path = os.path.join(build, server.binary)
    return None if os.access(path, os.X_OK) else "not built, skipped"


# ----------------------------------------------------------------------------- wrk
WRK_LUA = os.path.join(BENCH_DIR, "wrk", "report.lua")


def parse_wrk_output(text: str) -> dict | None:
    """The JSON line report.lua printed, or None if there is none (wrk failed)."""
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            try:
                return json.loads(line[len("BENCH_JSON "):])
            except json.JSONDecodeError:
                return None
    return None


def run_wrk(port: int, sc: Scenario, seconds: int, cpu: int | None, extra: float = 30) -> dict:
    url = f"http://127.0.0.1:{port}/{FILES[sc.file][0]}"
    argv = pin(cpu) + ["wrk", "-t", "1", "-c", str(sc.connections), "-d", f"{seconds}s",
                       "--latency", "--timeout", "5s", "-s", WRK_LUA]
    if not sc.keepalive:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + extra)
    except subprocess.TimeoutExpired:
        return {"error": "wrk did not finish in time"}
    parsed = parse_wrk_output(out.stdout)
    if parsed is None:
        return {"error": f"wrk failed (exit {out.returncode}): {out.stderr.strip()[-300:]}"}
    return parsed


def summarize(values: list[float]) -> dict:
    if not values:
        return {"min": 0.0, "median": 0.0, "max": 0.0}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


# Run bookkeeping shared by the standalone scenario scripts (middleware.py, proxy.py):
# one wrk run with the server's CPU time around it, then medians over the runs.

def measured_run(run: Running, sc: Scenario, seconds: int, cpu: int | None) -> dict:
    """One wrk run against `run`, as one result row: requests, rps, server_cpu_s (utime +
    stime of the server's process tree during the run), per_cpu_s (requests per
    server-CPU-second), errors (wrk's socket errors, counted), error_kinds, p99_us.
    A run that failed is {"error": why}."""
    cpu0 = cpu_seconds(run.tree())
    r = run_wrk(run.port, sc, seconds, cpu)
    cpu1 = cpu_seconds(run.tree())
    if "error" in r:
        return {"error": r["error"]}
    secs = r["duration_us"] / 1e6
    used = cpu1 - cpu0
    return {"requests": r["requests"], "rps": r["requests"] / secs if secs else 0.0,
            "server_cpu_s": used, "per_cpu_s": r["requests"] / used if used > 0 else 0.0,
            "errors": sum(r["errors"].values()), "error_kinds": r["errors"],
            "p99_us": r["latency_us"]["p99"]}


def median_of(runs: list[dict], key: str) -> float:
    """The median of `key` over the rows of runs that finished (0.0 when none did)."""
    values = [r[key] for r in runs if "error" not in r]
    return statistics.median(values) if values else 0.0


def run_errors(runs: list[dict]) -> int:
    """wrk's errors over the finished runs, plus one for each run that failed."""
    return sum(r["errors"] if "error" not in r else 1 for r in runs)


def ratio_of(value: float, base: float) -> float:
    """value / base, or 0.0 when there is no base (every run of the peer failed)."""
    return value / base if base else 0.0


def measure_scenario(run: Running, sc: Scenario, args, cpu: int | None) -> dict:
    """Warm-up, then args.runs measured wrk runs; returns per-run figures and their summary."""
    run_wrk(run.port, sc, args.warmup, cpu)
    runs = []
    for i in range(args.runs):
        tree = run.tree()
        cpu0 = cpu_seconds(tree)
        r = run_wrk(run.port, sc, args.duration, cpu)
        tree = run.tree()
        cpu1 = cpu_seconds(tree)
        if "error" in r:
            runs.append({"error": r["error"]})
            continue
        secs = r["duration_us"] / 1e6
        reqs = r["requests"]
        runs.append({
            "requests": reqs,
            "rps": reqs / secs if secs else 0.0,
            "mb_per_s": r["bytes"] / secs / 1e6 if secs else 0.0,
            "latency_us": r["latency_us"],
            "errors": r["errors"],
            "server_cpu_s": cpu1 - cpu0,
            "cpu_s_per_1k": (cpu1 - cpu0) / reqs * 1000 if reqs else None,
        })
        progress(f"    run {i + 1}/{args.runs}: {runs[-1]['rps']:.0f} req/s")
    ok = [r for r in runs if "error" not in r]
    cpu_vals = [r["cpu_s_per_1k"] for r in ok if r["cpu_s_per_1k"] is not None]
    return {
        "runs": runs,
        "rps": summarize([r["rps"] for r in ok]),
        "mb_per_s": summarize([r["mb_per_s"] for r in ok]),
        "latency_us": {k: summarize([r["latency_us"][k] for r in ok])
                       for k in ("p50", "p90", "p99", "max")},
        "errors": sum(sum(r["errors"].values()) for r in ok) + len(runs) - len(ok),
        "timeouts": sum(r["errors"]["timeout"] for r in ok),
        "cpu_s_per_1k": summarize(cpu_vals),
        "peak_rss_kib": status_kib(run.tree(), "VmHWM"),
    }


# ----------------------------------------------------------------------------- idle RSS
def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def idle_rss(run: Running, count: int, deadline_s: float = 40.0) -> dict:
    """Opens `count` keep-alive connections, one small request each, then leaves them idle;
    RSS delta over the server's tree divided by the connections still open and answered."""
    deadline = time.monotonic() + deadline_s
    request = b"GET /" + FILES["128b"][0].encode() + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
    time.sleep(0.3)
    before = status_kib(run.tree(), "VmRSS")
    socks: list[socket.socket] = []
    got: dict[int, bytes] = {}
    answered = 0
    sel = selectors.DefaultSelector()
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", run.port))
                s.sendall(request)
            except OSError:
                s.close()
                break
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ)
            got[s.fileno()] = b""
        pending = len(socks)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                fd = s.fileno()
                if data:
                    got[fd] += data
                head, sep, body = got[fd].partition(b"\r\n\r\n")
                done = bool(sep) and len(body) >= FILES["128b"][1]
                if done or not data:
                    sel.unregister(s)
                    pending -= 1
                    answered += 1 if done and data else 0
        time.sleep(0.5)
        after = status_kib(run.tree(), "VmRSS")
        alive = run.alive()
    finally:
        sel.close()
        for s in socks:
            s.close()
    opened = len(socks)
    return {
        "requested": count, "opened": opened, "answered": answered, "server_alive": alive,
        "rss_before_kib": before, "rss_after_kib": after,
        # Only a full set is a per-connection figure: a server that refused or left some
        # unanswered (a thread pool holding its threads) has not paid for them all.
        "kib_per_conn": (after - before) / answered if answered and answered == count else None,
    }


# ----------------------------------------------------------------------------- syscalls
def parse_strace_total(text: str) -> int | None:
    """The call count from strace -c's 'total' line."""
    for line in reversed(text.splitlines()):
        parts = line.split()
        if parts and parts[-1] == "total":
            nums = parts[:-1]
            if len(nums) >= 4:
                return int(nums[3])
    return None


def syscalls_per_request(run: Running, sc: Scenario, args, cpu: int | None) -> dict:
    out_path = os.path.join(run.tmp, "strace.txt")
    argv = ["strace", "-f", "-c", "-o", out_path]
    for pid in run.tree():
        argv += ["-p", str(pid)]
    st = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let strace attach to every thread
    r = run_wrk(run.port, sc, 2, cpu)
    time.sleep(0.3)
    st.send_signal(signal.SIGINT)
    try:
        st.wait(timeout=10)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    with open(out_path) as f:
        text = f.read()
    calls = parse_strace_total(text)
    reqs = r.get("requests", 0)
    return {"scenario": sc.id, "server": run.server.name, "syscalls": calls, "requests": reqs,
            "per_request": calls / reqs if calls and reqs else None,
            "note": "under strace: the counts are exact, the request rate is not"}


# ----------------------------------------------------------------------------- echo
def run_echo_bench(build: str, port: int, mode: str, conns: int, seconds: float,
                   cpu: int | None) -> dict:
    argv = pin(cpu) + [os.path.join(build, "bench", "echo-bench"), "--addr",
                       f"127.0.0.1:{port}", "--mode", mode, "--connections", str(conns),
                       "--duration", str(seconds), "--warmup", "0.5", "--timeout", "5"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return {"error": "echo-bench did not finish in time"}
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"echo-bench failed (exit {out.returncode}): {out.stderr[-300:]}"}


def echo_cases(quick: bool) -> list[tuple[str, int]]:
    if quick:
        return [("pingpong", 1), ("stream", 1)]
    return [("pingpong", 1), ("pingpong", 10), ("pingpong", 100), ("stream", 1)]


# ----------------------------------------------------------------------------- reporting
def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt_num(x, digits: int = 0) -> str:
    if x is None:
        return "-"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def peer_for(results: list[dict], name_prefix: str, workers: int, scenario: str) -> dict | None:
    for r in results:
        if (r["server"] == f"{name_prefix}-w{workers}" and r["scenario"] == scenario
                and r.get("rps", {}).get("median")):
            return r
    return None


def per_conn(idle: dict):
    """KiB per idle connection, only when every requested connection was answered."""
    return idle["kib_per_conn"] if idle["answered"] == idle["requested"] else None


def markdown_tables(data: dict) -> str:
    http = data["http"]
    lines = []
    lines.append("| scenario | server | req/s median (min-max) | x nginx | x best peer | MB/s "
                 "| p50 ms | p90 ms | p99 ms | max ms | errors | CPU s / 1k req | CPU x nginx "
                 "| peak RSS MiB |")
    lines.append("|" + "---|" * 14)
    order = {s: i for i, s in enumerate(r["scenario"] for r in http)}
    for r in sorted(http, key=lambda r: (order[r["scenario"]], -r["rps"]["median"])):
        nginx = peer_for(http, "nginx", r["workers"], r["scenario"])
        light = peer_for(http, "lighttpd", r["workers"], r["scenario"])
        best = max((p for p in (nginx, light) if p), key=lambda p: p["rps"]["median"],
                   default=None)
        rps = r["rps"]
        lat = r["latency_us"]
        cpu = r["cpu_s_per_1k"]["median"]
        lines.append(
            f"| {r['scenario']} | {r['server']} | {fmt_num(rps['median'])} "
            f"({fmt_num(rps['min'])}-{fmt_num(rps['max'])}) "
            f"| {ratio(rps['median'], nginx and nginx['rps']['median'])} "
            f"| {ratio(rps['median'], best and best['rps']['median'])} "
            f"| {fmt_num(r['mb_per_s']['median'], 1)} "
            f"| {fmt_num(lat['p50']['median'] / 1000, 2)} "
            f"| {fmt_num(lat['p90']['median'] / 1000, 2)} "
            f"| {fmt_num(lat['p99']['median'] / 1000, 2)} "
            f"| {fmt_num(lat['max']['median'] / 1000, 2)} "
            f"| {r['errors']} | {fmt_num(cpu, 3)} "
            f"| {ratio(cpu, nginx and nginx['cpu_s_per_1k']['median'])} "
            f"| {fmt_num(r['peak_rss_kib'] / 1024, 1)} |")
    out = (["### HTTP: wrk, one CPU for the server and one for wrk", ""] + lines) if http else []
    if data["idle"]:
        out += ["", "### RSS per idle keep-alive connection", "",
                "| server | connections answered / opened | RSS before MiB | after MiB "
                "| KiB per connection |", "|---|---|---|---|---|"]
        for r in data["idle"]:
            out.append(f"| {r['server']} | {r['answered']} / {r['opened']} "
                       f"| {fmt_num(r['rss_before_kib'] / 1024, 1)} "
                       f"| {fmt_num(r['rss_after_kib'] / 1024, 1)} "
                       f"| {fmt_num(per_conn(r), 2)} |")
    if data["echo"]:
        out += ["", "### Stage 1: echo-bench (64 B ping-pong, 64 KiB stream)", "",
                "| server | mode | connections | round trips/s or MB/s (median) | p50 us | p99 us "
                "| errors |", "|---|---|---|---|---|---|---|"]
        for r in data["echo"]:
            val = (fmt_num(r["round_trips_per_s"]["median"]) if r["mode"] == "pingpong"
                   else fmt_num(r["mb_per_s"]["median"], 1) + " MB/s")
            lat = r.get("latency_us", {})
            out.append(f"| {r['server']} | {r['mode']} | {r['connections']} | {val} "
                       f"| {fmt_num(lat.get('p50', {}).get('median'), 1)} "
                       f"| {fmt_num(lat.get('p99', {}).get('median'), 1)} | {r['errors']} |")
    if data["syscalls"]:
        out += ["", "### Syscalls per request (strace -f -c)", "",
                "| server | scenario | syscalls | requests | per request |",
                "|---|---|---|---|---|"]
        for r in data["syscalls"]:
            out.append(f"| {r['server']} | {r['scenario']} | {r['syscalls']} | {r['requests']} "
                       f"| {fmt_num(r['per_request'], 2)} |")
    if data["skipped"]:
        out += ["", "### Not measured", ""]
        for s in data["skipped"]:
            out.append(f"- {s['server']}: {s['reason']}")
    return "\n".join(out) + "\n"


def draw_charts(data: dict, out_dir: str) -> list[str]:
    """req/s and p99 by server and connections (one chart per file x keep-alive), CPU per 1k
    requests by server. gnuplot histograms over small .dat files; SVG out."""
    if not shutil.which("gnuplot") or not data["http"]:
        return []
    os.makedirs(out_dir, exist_ok=True)
    made = []
    servers = list(dict.fromkeys(r["server"] for r in data["http"]))
    by_key = {(r["server"], r["scenario"]): r for r in data["http"]}

    def histogram(name: str, title: str, ylabel: str, rows: list[tuple[str, list]]) -> None:
        # gnuplot refuses a column with no valid point: keep only servers with a figure here.
        cols = [i for i in range(len(servers)) if any(vals[i] is not None for _, vals in rows)]
        if not cols:
            return
        names = [servers[i] for i in cols]
        dat = os.path.join(out_dir, name + ".dat")
        with open(dat, "w") as f:
            f.write("x " + " ".join(f'"{s}"' for s in names) + "\n")
            for label, vals in rows:
                f.write(f'"{label}" ' + " ".join("NaN" if vals[i] is None else f"{vals[i]:.6g}"
                                                 for i in cols) + "\n")
        svg = os.path.join(out_dir, name + ".svg")
        plot = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title columnheader({i + 2})"
                         for i in range(len(names)))
        script = (f"set terminal svg size 1000,480 noenhanced font 'sans,11'\n"
                  f"set output '{svg}'\nset title '{title}'\nset ylabel '{ylabel}'\n"
                  "set style data histograms\nset style histogram clustered gap 1\n"
                  "set style fill solid 0.8 border -1\nset key outside right top\n"
                  "set grid ytics\nset yrange [0:*]\n"
                  f"plot {plot}\n")
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True,
                           timeout=30)
        if r.returncode == 0:
            made.append(svg)
        else:
            progress(f"bench: chart {name}: gnuplot failed: {r.stderr.strip()[-200:]}")
            if os.path.exists(svg):
                os.remove(svg)

    for f in FILES:
        for ka in (True, False):
            tag = f"{f}-{'ka' if ka else 'close'}"
            conn_rows_rps, conn_rows_p99 = [], []
            for c in CONNECTIONS:
                sid = Scenario(f, c, ka).id
                recs = [by_key.get((s, sid)) for s in servers]
                if not any(recs):
                    continue
                conn_rows_rps.append((f"c={c}", [r and r["rps"]["median"] for r in recs]))
                conn_rows_p99.append((f"c={c}", [r and r["latency_us"]["p99"]["median"] / 1000
                                                 for r in recs]))
            if conn_rows_rps:
                mode = "keep-alive" if ka else "Connection: close"
                histogram(f"rps-{tag}", f"requests/s, {FILES[f][0]}, {mode}", "req/s",
                          conn_rows_rps)
                histogram(f"p99-{tag}", f"p99 latency, {FILES[f][0]}, {mode}", "ms",
                          conn_rows_p99)
    cpu_rows = []
    scen_ids = list(dict.fromkeys(r["scenario"] for r in data["http"]))
    for sid in scen_ids:
        if not sid.endswith("-ka") and len(scen_ids) > 2:
            continue
        cpu_rows.append((sid, [by_key.get((s, sid)) and
                               by_key[(s, sid)]["cpu_s_per_1k"]["median"] for s in servers]))
    if cpu_rows:
        histogram("cpu", "server CPU seconds per 1,000 requests (lower is better)",
                  "CPU s / 1k req", cpu_rows)
    return made


def update_results_md(path: str, section: str) -> None:
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = f"# Bench results\n\n{MARK_BEGIN}\n{MARK_END}\n"
    if MARK_BEGIN not in text or MARK_END not in text:
        text += f"\n{MARK_BEGIN}\n{MARK_END}\n"
    head, rest = text.split(MARK_BEGIN, 1)
    _, tail = rest.split(MARK_END, 1)
    with open(path, "w") as f:
        f.write(head + MARK_BEGIN + "\n" + section + MARK_END + tail)


# ----------------------------------------------------------------------------- checks
def check_results(data: dict) -> tuple[int, int, list[str]]:
    """bench-quick's assertion: every server that ran produced well-formed results with
    non-zero throughput and no errors. Returns (passed, failed, report lines)."""
    passed, failed, lines = 0, 0, []
    by_server: dict[str, list[str]] = {}
    for r in data["http"]:
        problems = by_server.setdefault(r["server"], [])
        ok_runs = [x for x in r["runs"] if "error" not in x]
        for x in r["runs"]:
            if "error" in x:
                problems.append(f"{r['scenario']}: {x['error']}")
        if not ok_runs:
            problems.append(f"{r['scenario']}: no completed run")
            continue
        for x in ok_runs:
            if not (x["requests"] > 0 and x["rps"] > 0):
                problems.append(f"{r['scenario']}: zero throughput")
            if any(v != 0 for v in x["errors"].values()):
                problems.append(f"{r['scenario']}: errors {x['errors']}")
            lat = x["latency_us"]
            if not (0 < lat["p50"] <= lat["p99"] <= lat["max"]):
                problems.append(f"{r['scenario']}: malformed latency {lat}")
            if x["cpu_s_per_1k"] is None or x["cpu_s_per_1k"] < 0:
                problems.append(f"{r['scenario']}: malformed CPU figure")
    for r in data["echo"]:
        problems = by_server.setdefault(r["server"], [])
        for x in r["runs"]:
            if "error" in x:
                problems.append(f"{r['mode']}: {x['error']}")
            elif sum(x["errors"].values()) != 0:
                problems.append(f"{r['mode']} c={r['connections']}: errors {x['errors']}")
            elif x.get("round_trips", x.get("bytes_back", 0)) <= 0:
                problems.append(f"{r['mode']}: zero throughput")
    for s in data["failed_to_start"]:
        by_server.setdefault(s["server"], []).append("failed to start: " + s["reason"])
    for name, problems in by_server.items():
        if problems:
            failed += 1
            lines.append(f"FAIL {name}: " + "; ".join(problems[:3]))
        else:
            passed += 1
            lines.append(f"ok   {name}")
    return passed, failed, lines


# ----------------------------------------------------------------------------- main
def make_docroot(tmp_root: str) -> str:
    root = os.path.join(tmp_root, "www")
    os.makedirs(root)
    os.chmod(tmp_root, 0o755)
    os.chmod(root, 0o755)
    for _, (name, size) in FILES.items():
        path = os.path.join(root, name)
        if name.endswith(".html"):
            body = ("<!doctype html><title>bench</title>\n" + "<p>serverlab bench page</p>\n" * 200)
            data = body.encode()[:size - 8] + b"</html>\n"
            data = data + b" " * (size - len(data))
        else:
            data = bytes((i * 131 + 7) % 256 for i in range(size)) if name.endswith(".bin") \
                else (b"x" * (size - 1) + b"\n")
        with open(path, "wb") as f:
            f.write(data[:size])
        os.chmod(path, 0o644)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>bench</title><p>bench docroot</p>\n")
    os.chmod(os.path.join(root, "index.html"), 0o644)
    return root


def tool_versions() -> dict:
    def first_line(argv: list[str]) -> str:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"
    return {"wrk": first_line(["wrk", "-v"]), "nginx": first_line(["nginx", "-v"]),
            "lighttpd": first_line(["lighttpd", "-v"]), "h2o": first_line(["h2o", "-v"]),
            "socat": first_line(["socat", "-V"])[:80] if shutil.which("socat") else "-"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="serverlab bench: every built server and the "
                                            "peers (nginx, lighttpd, h2o), side by side")
    p.add_argument("--build", default=os.path.join(REPO_DIR, "build", "release"),
                   help="build directory holding the server binaries (default build/release)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 4 KiB page, c=10, keep-alive and close, 1 short run each")
    p.add_argument("--check", action="store_true",
                   help="assert well-formed results, non-zero throughput, no errors; "
                        "exit 1 otherwise (what `make bench-quick` runs)")
    p.add_argument("--server", action="append", default=[],
                   help="only servers matching these globs (comma-separated, repeatable)")
    p.add_argument("--scenario", action="append", default=[],
                   help="only scenarios matching these globs, e.g. '4k-c100-*', '*-close'")
    p.add_argument("--runs", type=int, help="measured runs per scenario (default 3; quick 1)")
    p.add_argument("--duration", type=int, help="seconds per measured run (default 5; quick 1)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per scenario (default 2; "
                                             "quick 1)")
    p.add_argument("--idle-connections", type=int, default=None,
                   help="idle keep-alive connections for the RSS figure (default 5000; "
                        "quick: skipped; 0 skips)")
    p.add_argument("--no-echo", action="store_true", help="skip stage 1 (echo-bench)")
    p.add_argument("--syscalls", metavar="SCENARIO", default=None,
                   help="also count syscalls per request with strace for this scenario "
                        "(e.g. 4k-c10-ka) on every selected server")
    p.add_argument("--out", default=None,
                   help="results directory (default bench/results; quick: BUILD/bench-quick); "
                        "any other folder implies --no-update, so nothing tracked changes")
    p.add_argument("--no-update", action="store_true",
                   help="do not rewrite bench/RESULTS.md (implied by --quick and by --out)")
    p.add_argument("--from-json", metavar="FILE", default=None,
                   help="measure nothing: redo the table, charts and RESULTS.md from a results "
                        "file")
    args = p.parse_args(argv)
    args.server = [s for arg in args.server for s in arg.split(",") if s]
    args.scenario = [s for arg in args.scenario for s in arg.split(",") if s]
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration = args.duration or (1 if args.quick else 5)
    args.warmup = args.warmup or (1 if args.quick else 2)
    if args.idle_connections is None:
        args.idle_connections = 0 if args.quick else 5000
    tracked = os.path.join(BENCH_DIR, "results")
    if args.out is None:
        args.out = os.path.join(args.build, "bench-quick") if args.quick else tracked
    # bench/RESULTS.md only ever points at the tracked results folder: a run written
    # anywhere else (a student's own measurements, a smoke run) leaves it alone.
    if args.quick or os.path.abspath(args.out) != os.path.abspath(tracked):
        args.no_update = True
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.build = os.path.abspath(args.build)
    if args.from_json:
        with open(args.from_json) as f:
            return publish(json.load(f), args, os.path.abspath(args.from_json))
    if not shutil.which("wrk"):
        progress("bench: wrk is not installed (tools/deps.sh bench)")
        return 1
    raise_nofile(65536)
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)

    ours = our_servers()
    worker_counts = [1]
    selected: list[Server] = []
    skipped: list[dict] = []
    for s in ours:
        if not matches(s.name, args.server):
            continue
        why = is_available(s, args.build)
        if why:
            skipped.append({"server": s.name, "reason": why})
            continue
        selected.append(s)
        worker_counts.append(s.workers)
    for s in peer_servers(worker_counts):
        if not matches(s.name, args.server):
            continue
        why = is_available(s, args.build)
        if why:
            skipped.append({"server": s.name, "reason": why})
            continue
        selected.append(s)
    # Peers first, so every later line can already show its ratio to nginx.
    selected.sort(key=lambda s: (s.kind != "peer", s.workers))
    echo_sel = []
    if not args.no_echo:
        for s in echo_servers():
            if not matches(s.name, args.server):
                continue
            if s.stage != "peer" and not os.access(os.path.join(args.build, "bench",
                                                               "echo-bench"), os.X_OK):
                skipped.append({"server": s.name, "reason": "echo-bench not built, skipped"})
                continue
            why = is_available(s, args.build)
            if s.name == "socat" and not os.access(os.path.join(args.build, "bench",
                                                               "echo-bench"), os.X_OK):
                why = "echo-bench not built, skipped"
            if why:
                skipped.append({"server": s.name, "reason": why})
                continue
            echo_sel.append(s)

    scenarios = [sc for sc in all_scenarios(args.quick) if matches(sc.id, args.scenario)]
    if not (selected and scenarios) and not echo_sel:
        # Nothing to measure: say why, and leave RESULTS.md and the results folder alone.
        for s in skipped:
            progress(f"bench: {s['server']}: {s['reason']}")
        progress(f"bench: nothing to measure (--server {args.server!r}, --scenario "
                 f"{args.scenario!r} matched no available server and scenario)")
        return 2
    started_at = time.monotonic()
    now = datetime.datetime.now()
    host = socket.gethostname().split(".")[0]
    data = {
        "meta": {"date": now.isoformat(timespec="seconds"), "host": host,
                 "kernel": os.uname().release, "cpus": os.cpu_count(),
                 "pinning": {"server_cpu": server_cpu, "client_cpu": client_cpu},
                 "runs": args.runs, "duration_s": args.duration, "warmup_s": args.warmup,
                 "quick": args.quick, "build": args.build, "tools": tool_versions(),
                 "wrk_threads": 1, "loadavg_at_start": list(os.getloadavg())},
        "http": [], "idle": [], "echo": [], "syscalls": [], "skipped": skipped,
        "failed_to_start": [],
    }
    for s in skipped:
        progress(f"bench: {s['server']}: {s['reason']}")

    tmp_root = tempfile.mkdtemp(prefix="serverlab-bench-")
    try:
        docroot = make_docroot(tmp_root)
        total = sum(len([sc for sc in scenarios if fits(s, sc)]) for s in selected)
        step = 0
        for s in selected:
            mine = [sc for sc in scenarios if fits(s, sc)]
            if len(mine) < len(scenarios) and s.note:
                data["skipped"].append({"server": s.name, "reason": "some scenarios skipped: "
                                        + s.note})
            if not mine and not (args.idle_connections and s.idle_test):
                continue
            try:
                run = start_server(s, args.build, docroot, tmp_root, server_cpu)
            except (RuntimeError, OSError) as e:
                progress(f"bench: {s.name}: failed to start: {e}")
                data["failed_to_start"].append({"server": s.name, "reason": str(e)[:300]})
                continue
            try:
                for sc in mine:
                    step += 1
                    progress(f"[{step}/{total}] {s.name} {sc.id} "
                             f"({time.monotonic() - started_at:.0f}s elapsed)")
                    res = measure_scenario(run, sc, args, client_cpu)
                    data["http"].append({"server": s.name, "stage": s.stage,
                                         "workers": s.workers, "scenario": sc.id,
                                         "file": sc.file, "connections": sc.connections,
                                         "keepalive": sc.keepalive, **res})
                    if not run.alive():
                        data["failed_to_start"].append(
                            {"server": s.name, "reason": f"exited during {sc.id}: "
                             + run.stderr_tail()})
                        break
                if args.syscalls and run.alive():
                    sc = next((x for x in all_scenarios(False) if x.id == args.syscalls), None)
                    if sc and fits(s, sc) and shutil.which("strace"):
                        progress(f"bench: {s.name}: syscalls per request ({sc.id}, strace)")
                        data["syscalls"].append(syscalls_per_request(run, sc, args,
                                                                     client_cpu))
                if args.idle_connections and s.idle_test and run.alive():
                    progress(f"bench: {s.name}: RSS per idle keep-alive connection "
                             f"({args.idle_connections} connections)")
                    data["idle"].append({"server": s.name,
                                         **idle_rss(run, args.idle_connections)})
            finally:
                code = run.stop()
                if code not in (0, None) and s.stage != "peer":
                    progress(f"bench: {s.name}: exit status {code} after SIGTERM")
        for s in echo_sel:
            run_echo(s, args, data, tmp_root, server_cpu, client_cpu)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)

    data["meta"]["elapsed_s"] = round(time.monotonic() - started_at, 1)
    data["meta"]["loadavg_at_end"] = list(os.getloadavg())
    os.makedirs(args.out, exist_ok=True)
    stamp = now.strftime("%Y-%m-%d")
    json_path = os.path.join(args.out, f"{stamp}-{host}.json")
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1)
    return publish(data, args, json_path)


def publish(data: dict, args, json_path: str) -> int:
    """Table on stdout, charts next to the JSON, RESULTS.md, and the --check verdict."""
    meta = data["meta"]
    host = meta["host"]
    server_cpu, client_cpu = meta["pinning"]["server_cpu"], meta["pinning"]["client_cpu"]
    table = markdown_tables(data)
    print(table)
    charts = draw_charts(data, os.path.join(os.path.dirname(json_path), "charts"))
    if not args.no_update:
        rel = os.path.relpath(json_path, BENCH_DIR)
        section = (f"Generated by `bench/bench.py` on {meta['date']} ({host}, kernel "
                   f"{meta['kernel']}, {meta['cpus']} CPUs; server on CPU "
                   f"{server_cpu}, wrk on CPU {client_cpu}); {meta['runs']} runs x "
                   f"{meta['duration_s']} s after {meta['warmup_s']} s warm-up; load average "
                   f"{meta['loadavg_at_start'][0]:.1f} at start, {meta['loadavg_at_end'][0]:.1f} "
                   f"at end; raw data: `{rel}`.\n\n")
        if charts:
            section += " ".join(f"![{os.path.basename(c)}]({os.path.relpath(c, BENCH_DIR)})"
                                for c in charts if os.path.basename(c).startswith(
                                    ("rps-4k", "p99-4k", "cpu"))) + "\n\n"
        section += table
        update_results_md(os.path.join(BENCH_DIR, "RESULTS.md"), section)
    progress(f"bench: wrote {json_path}" + (f" and {len(charts)} charts" if charts else "")
             + f" ({meta.get('elapsed_s', 0)} s of measuring)")
    if args.check:
        passed, failed, lines = check_results(data)
        for line in lines:
            print(line)
        print(f"bench-quick: {passed} passed, {failed} failed")
        return 0 if failed == 0 and passed > 0 else 1
    return 0


def fits(s: Server, sc: Scenario) -> bool:
    if s.kind != "http" and s.kind != "peer":
        return False
    if sc.keepalive and not s.keepalive:
        return False
    return sc.connections <= s.max_connections


def run_echo(s: Server, args, data: dict, tmp_root: str, server_cpu, client_cpu) -> None:
    try:
        run = start_server(s, args.build, "", tmp_root, server_cpu)
    except (RuntimeError, OSError) as e:
        progress(f"bench: {s.name}: failed to start: {e}")
        data["failed_to_start"].append({"server": s.name, "reason": str(e)[:300]})
        return
    try:
        for mode, conns in echo_cases(args.quick):
            if conns > s.max_connections:
                continue
            progress(f"bench: {s.name} echo {mode} c={conns}")
            run_echo_bench(args.build, run.port, mode, conns, 1, client_cpu)  # warm-up
            runs = [run_echo_bench(args.build, run.port, mode, conns, args.duration, client_cpu)
                    for _ in range(args.runs)]
            ok = [r for r in runs if "error" not in r]
            rec = {"server": s.name, "mode": mode, "connections": conns, "runs": runs,
                   "errors": sum(sum(r["errors"].values()) for r in ok) + len(runs) - len(ok)}
            if mode == "pingpong":
                rec["round_trips_per_s"] = summarize([r["round_trips_per_s"] for r in ok])
                rec["latency_us"] = {k: summarize([r["latency_us"][k] for r in ok])
                                     for k in ("p50", "p90", "p99", "max")}
            else:
                rec["mb_per_s"] = summarize([r["mb_per_s"] for r in ok])
            data["echo"].append(rec)
    finally:
        run.stop()


if __name__ == "__main__":
    sys.exit(main())
