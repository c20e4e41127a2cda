#!/usr/bin/env python3
"""tls.py: stage 4 (http-epoll) over HTTPS against nginx over HTTPS, in the same run.

Both servers get the same throwaway certificate (tools/make-test-certs.sh: ECDSA P-256),
TLS 1.2 and 1.3, session tickets on, one process each (nginx: one worker), the same
docroot (bench.py's). Three scenarios, each --runs times, the median reported:

  keepalive   wrk -c 100 over HTTPS keep-alive connections, the 4 KiB page: requests per
              second, and requests per server-CPU-second (the figure the targets use)
  handshakes  `openssl s_time -new -tls1_3` for --seconds: a full TLS 1.3 handshake (no
              resumption) and one GET of the 128-byte file per connection; handshakes per
              server-CPU-second
  idle        --idle TLS connections, each with one request answered, then left idle: the
              server's RSS delta divided by the connections (KiB per idle TLS connection)

Ratios are ours / nginx's, from the same run. The CPU time is the server's own
(utime + stime of its process tree, from /proc), so a loaded machine slows both but
charges each only for its work.

    bench/tls.py --build build/release [--runs 3] [--seconds 5] [--idle 500] [--json out.json]

Bounded: every wrk and s_time run lasts --seconds (at most 60); at most 5000 idle
connections; servers bind 127.0.0.1 and are stopped by their PID. Exit status: 0 when
every measurement ran, 1 when a server did not start or a client failed, 2 for bad flags.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import bench  # noqa: E402  (the shared helpers: servers, CPU accounting, wrk's report)


# ----------------------------------------------------------------------------- servers
def start_ours(build: str, docroot: str, tmp: str, certs: str) -> bench.Running:
    server = bench.Server("http-epoll-tls", "http", "4", "stage4-epoll/http-epoll",
                          ["--tls-cert", os.path.join(certs, "server-chain.pem"),
                           "--tls-key", os.path.join(certs, "server.key")])
    return bench.start_server(server, build, docroot, tmp, None)


def start_nginx(docroot: str, tmp_root: str, certs: str) -> bench.Running:
    server = bench.Server("nginx-tls-w1", "peer", "peer", "nginx", workers=1)
    tmp = tempfile.mkdtemp(prefix="nginx-tls-", dir=tmp_root)
    os.chmod(tmp, 0o755)
    port = bench.free_port()
    values = {"PORT": str(port), "ROOT": docroot, "TMP": tmp, "WORKERS": "1",
              "CERT": os.path.join(certs, "server-chain.pem"),
              "KEY": os.path.join(certs, "server.key"),
              "USER_LINE": "user nobody nogroup;" if os.geteuid() == 0 else ""}
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(bench.render_template("nginx-tls.conf.in", values))
    argv = [bench.shutil.which("nginx") or "nginx", "-p", tmp, "-c", conf,
            "-e", os.path.join(tmp, "error.log")]
    run = bench.Running(server, argv, tmp, None, port)
    if not bench.wait_for_port(port, time.monotonic() + 10) or not run.alive():
        run.stop(2)
        raise RuntimeError("nginx did not listen: " + run.stderr_tail())
    return run


# ----------------------------------------------------------------------------- scenarios
def cpu_of(run: bench.Running) -> float:
    return bench.cpu_seconds(run.tree())


def keepalive(run: bench.Running, seconds: int) -> dict:
    url = f"https://127.0.0.1:{run.port}/{bench.FILES['4k'][0]}"
    argv = ["wrk", "-t", "1", "-c", "100", "-d", f"{seconds}s", "--latency", "--timeout", "5s",
            "-s", bench.WRK_LUA, url]
    cpu0 = cpu_of(run)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    cpu = cpu_of(run) - cpu0
    r = bench.parse_wrk_output(out.stdout)
    if r is None:
        return {"error": f"wrk failed (exit {out.returncode}): {out.stderr.strip()[-300:]}"}
    errors = sum(r["errors"].values())
    return {"requests": r["requests"], "rps": r["requests"] / (r["duration_us"] / 1e6),
            "server_cpu_s": cpu, "per_cpu_s": r["requests"] / cpu if cpu else None,
            "errors": errors}


def handshakes(run: bench.Running, seconds: int, certs: str) -> dict:
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{run.port}", "-new", "-tls1_3",
            "-CAfile", os.path.join(certs, "ca.pem"), "-time", str(seconds),
            "-www", "/" + bench.FILES["128b"][0]]
    cpu0 = cpu_of(run)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    cpu = cpu_of(run) - cpu0
    m = re.search(r"(\d+) connections in ([\d.]+)s", out.stdout)
    if not m:
        return {"error": f"s_time failed (exit {out.returncode}): {out.stderr.strip()[-300:]}"}
    count, wall = int(m.group(1)), float(m.group(2))
    return {"handshakes": count, "per_s": count / wall if wall else None, "server_cpu_s": cpu,
            "per_cpu_s": count / cpu if cpu else None}


def idle(run: bench.Running, count: int, certs: str) -> dict:
    context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    request = f"GET /{bench.FILES['128b'][0]} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    time.sleep(0.3)
    before = bench.status_kib(run.tree(), "VmRSS")
    conns = []
    answered = 0
    deadline = time.monotonic() + 60
    try:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            raw = socket.create_connection(("127.0.0.1", run.port), timeout=5)
            s = context.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(request)
            got = b""
            while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < bench.FILES["128b"][1]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            answered += got.startswith(b"HTTP/1.1 200")
            conns.append(s)
        time.sleep(0.5)
        after = bench.status_kib(run.tree(), "VmRSS")
    finally:
        for s in conns:
            s.close()
    return {"requested": count, "answered": answered, "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_conn": (after - before) / answered if answered == count else None}


# ----------------------------------------------------------------------------- driver
def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    return bench.statistics.median(values) if values else None


def measure(run: bench.Running, args, certs: str) -> dict:
    # Idle first, on a fresh server: after the load runs the heap already holds the
    # memory of 100 busy connections, which idle ones would reuse unseen.
    rss = idle(run, args.idle, certs)
    bench.progress(f"  {run.server.name}: idle {rss['kib_per_conn']} KiB/conn")
    bench.progress(f"  {run.server.name}: warm-up")
    keepalive(run, 2)
    ka = [keepalive(run, args.seconds) for _ in range(args.runs)]
    bench.progress(f"  {run.server.name}: keep-alive {[round(r.get('rps', 0)) for r in ka]} req/s, "
                   f"errors {[r.get('errors') for r in ka]}")
    hs = [handshakes(run, args.seconds, certs) for _ in range(args.runs)]
    bench.progress(f"  {run.server.name}: handshakes {[r.get('handshakes') for r in hs]}")
    failed = [r["error"] for r in ka + hs if "error" in r]
    return {
        "keepalive": {"runs": ka, "rps": median([r.get("rps") for r in ka]),
                      "per_cpu_s": median([r.get("per_cpu_s") for r in ka]),
                      "errors": sum(r.get("errors", 0) for r in ka)},
        "handshakes": {"runs": hs, "per_s": median([r.get("per_s") for r in hs]),
                       "per_cpu_s": median([r.get("per_cpu_s") for r in hs])},
        "idle": rss,
        "failed": failed,
    }


def table(ours: dict, peer: dict) -> str:
    def row(name, a, b, digits=0):
        return (f"| {name} | {bench.fmt_num(a, digits)} | {bench.fmt_num(b, digits)} | "
                f"{bench.ratio(a, b)} |")
    lines = ["| | http-epoll (TLS) | nginx (TLS, 1 worker) | ratio |", "|---|---:|---:|---:|",
             row("keep-alive 4 KiB c=100: req/s", ours["keepalive"]["rps"],
                 peer["keepalive"]["rps"]),
             row("keep-alive 4 KiB c=100: req per server-CPU-s", ours["keepalive"]["per_cpu_s"],
                 peer["keepalive"]["per_cpu_s"]),
             row("new TLS 1.3 connections: handshakes/s", ours["handshakes"]["per_s"],
                 peer["handshakes"]["per_s"]),
             row("new TLS 1.3 connections: per server-CPU-s", ours["handshakes"]["per_cpu_s"],
                 peer["handshakes"]["per_cpu_s"]),
             row("idle TLS connection: KiB RSS each", ours["idle"]["kib_per_conn"],
                 peer["idle"]["kib_per_conn"], 1)]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="http-epoll over HTTPS vs nginx over HTTPS")
    p.add_argument("--build", default=os.path.join(REPO, "build", "release"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--idle", type=int, default=500)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    args.build = os.path.abspath(args.build)  # the servers run in their own temp dirs
    if not 1 <= args.runs <= 10 or not 1 <= args.seconds <= 60 or not 1 <= args.idle <= 5000:
        p.error("--runs 1..10, --seconds 1..60, --idle 1..5000")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.access(os.path.join(args.build, "stage4-epoll/http-epoll"), os.X_OK):
        print(f"tls.py: no http-epoll in {args.build} (build it first)", file=sys.stderr)
        return 1
    bench.raise_nofile(args.idle + 1000)
    tmp_root = tempfile.mkdtemp(prefix="bench-tls-")
    os.chmod(tmp_root, 0o755)
    docroot = bench.make_docroot(tmp_root)
    certs = os.path.join(tmp_root, "certs")
    subprocess.run([os.path.join(REPO, "tools", "make-test-certs.sh"), certs], check=True,
                   stdout=subprocess.DEVNULL)
    for name in os.listdir(certs):  # nginx's workers may run as nobody
        os.chmod(os.path.join(certs, name), 0o644)
    os.chmod(certs, 0o755)
    results = {}
    for name, start in (("http-epoll", lambda: start_ours(args.build, docroot, tmp_root, certs)),
                        ("nginx", lambda: start_nginx(docroot, tmp_root, certs))):
        bench.progress(f"{name}:")
        try:
            run = start()
        except RuntimeError as e:
            print(f"tls.py: {name}: {e}", file=sys.stderr)
            return 1
        try:
            results[name] = measure(run, args, certs)
        finally:
            run.stop()
    data = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": os.getloadavg(), "cpus": os.cpu_count(), "runs": args.runs,
            "seconds": args.seconds, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
    print(table(results["http-epoll"], results["nginx"]))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    failed = results["http-epoll"]["failed"] + results["nginx"]["failed"]
    for f in failed:
        print("failed:", f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
