#!/usr/bin/env python3
"""h2.py: HTTP/2 (h2c, and h2 over TLS) with h2load: stages 4 and 5 against nginx and h2o.

    bench/h2.py --build build/release                # the full run
    bench/h2.py --build build/release --runs 1 --duration 2   # a quick look

What it measures, per server (started by bench.py's start_server, pinned to one CPU; h2load
pinned to the other; the 4 KiB page of bench.py's docroot):
  - h2c with prior knowledge: 10 connections x 10 concurrent streams (h2load -c 10 -m 10);
  - h2 over TLS (ALPN h2, TLS 1.3): the same 10 x 10, every server with the same throwaway
    certificate (tools/make-test-certs.sh, ECDSA P-256); the handshakes happen in h2load's
    warm-up second, so the runs measure HTTP/2 over established TLS connections;
  - HTTP/1.1 at the same concurrency, for the HTTP/1.1 vs HTTP/2 table: 100 keep-alive
    connections, one request in flight each (h2load --h1 -c 100 -m 1);
each for --runs measured runs of --duration seconds after a warm-up run. Per run: requests per
second, mean request time (h2load's "time for request"), bytes on the wire per request
(h2load's "traffic" total, headers included), and server CPU (utime+stime of its process tree)
per request, hence requests per server-CPU-second. Ratios are to the better peer of the same
worker count measured in the same run (medians of the runs).

Servers: http-epoll (stage 4) and http-prefork --workers 1 (stage 5, reuseport) with nginx-w1
and h2o-w1; http-prefork --workers 2 with nginx-w2 and h2o-w2. nginx gets `listen ... http2` (nginx 1.22's syntax: the
`http2 on;` directive came in 1.25.1); for h2 its TLS config is bench/peers/nginx-tls.conf.in
(bench/tls.py's) with `ssl http2` on the listener. h2o serves h2c with prior knowledge on a plain
listener as it is configured, and h2 when its listener gets an `ssl:` block (ALPN is h2o's
default). Ours get --tls-cert/--tls-key for h2.

    --modes h2c,h2,http1.1   which cases to run (default all three)

Only loopback traffic; every wait is bounded; only processes this script started are signalled.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: start_server, cpu_seconds, docroot, pinning)

PAGE = "4k.html"
H2_ARGS = ["-c", "10", "-m", "10"]          # 10 connections x 10 streams
H1_ARGS = ["--h1", "-c", "100", "-m", "1"]  # the same 100 requests in flight, HTTP/1.1
MODES = {"h2c": H2_ARGS, "h2": H2_ARGS, "http1.1": H1_ARGS}


# nginx 1.22 serves either HTTP/1.1 or HTTP/2 (h2c) on a cleartext listener, not both, so
# each case starts the server afresh: for h2c nginx's listener gets `http2`, for h2 the
# TLS config with `ssl http2`, and h2o's listener an `ssl:` block. MODE is the case being
# started; CERTS the directory of tools/make-test-certs.sh's files.
MODE = "http1.1"
CERTS = ""


def h2_render_template(name: str, values: dict[str, str]) -> str:
    """bench.py's peer configs, turned to the protocol of MODE."""
    if name == "nginx.conf.in" and MODE == "h2":
        values = dict(values, CERT=os.path.join(CERTS, "server-chain.pem"),
                      KEY=os.path.join(CERTS, "server.key"))
        return _plain_render_template("nginx-tls.conf.in", values).replace(
            "ssl backlog=4096;", "ssl http2 backlog=4096;")
    text = _plain_render_template(name, values)
    if name == "nginx.conf.in" and MODE == "h2c":
        text = text.replace("backlog=4096;", "backlog=4096 http2;")
    if name == "h2o.conf.in" and MODE == "h2":
        port_line = f"  port: {values['PORT']}\n"
        text = text.replace(port_line, port_line +
                            "  ssl:\n"
                            f"    certificate-file: {os.path.join(CERTS, 'server-chain.pem')}\n"
                            f"    key-file: {os.path.join(CERTS, 'server.key')}\n")
    return text


_plain_render_template = bench.render_template
bench.render_template = h2_render_template


def for_mode(server: bench.Server) -> bench.Server:
    """The server as started for MODE: ours get the certificate for h2."""
    if MODE != "h2" or server.kind == "peer":
        return server
    return dataclasses.replace(server, args=server.args + [
        "--tls-cert", os.path.join(CERTS, "server-chain.pem"),
        "--tls-key", os.path.join(CERTS, "server.key")])


def make_certs(tmp_root: str) -> str:
    """tools/make-test-certs.sh's files, readable by peers' workers running as nobody."""
    certs = os.path.join(tmp_root, "certs")
    subprocess.run([os.path.join(bench.REPO_DIR, "tools", "make-test-certs.sh"), certs],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)
    for name in os.listdir(certs):
        os.chmod(os.path.join(certs, name), 0o644)
    os.chmod(certs, 0o755)
    return certs


def servers() -> list[tuple[bench.Server, str]]:
    """(server, group): each group is ours (one or two) and two peers of the same worker count."""
    ours4 = bench.Server("http-epoll", "http", "4", "stage4-epoll/http-epoll")
    ours5 = bench.Server("http-prefork-reuseport-w2", "http", "5", "stage5-prefork/http-prefork",
                         ["--accept", "reuseport", "--workers", "2"], workers=2)
    # Stage 5 with one worker as well: two workers pinned to one CPU take turns on it
    # (stage5-prefork/README.md, "Why the h2c bench figure is lower than stage 4's").
    ours5w1 = bench.Server("http-prefork-reuseport-w1", "http", "5", "stage5-prefork/http-prefork",
                           ["--accept", "reuseport", "--workers", "1"], workers=1)
    rows = [(ours4, "w1"), (ours5w1, "w1"), (ours5, "w2")]
    for w in (1, 2):
        rows.append((bench.Server(f"nginx-w{w}", "peer", "peer", shutil.which("nginx") or "nginx",
                                  workers=w), f"w{w}"))
        rows.append((bench.Server(f"h2o-w{w}", "peer", "peer", shutil.which("h2o") or "h2o",
                                  workers=w), f"w{w}"))
    return rows


def parse_h2load(text: str) -> dict | None:
    """The figures of one h2load run, or None when it did not finish."""
    done = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    reqs = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored", text)
    traffic = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers", text)
    latency = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if not (done and reqs and traffic and latency):
        return None

    def us(value: str) -> float:
        number = float(re.match(r"[\d.]+", value).group(0))
        return number * (1e6 if value.endswith("s") and not value.endswith(("ms", "us"))
                         else 1e3 if value.endswith("ms") else 1.0)

    return {"seconds": float(done.group(1)), "rps": float(done.group(2)),
            "done": int(reqs.group(1)), "succeeded": int(reqs.group(2)),
            "failed": int(reqs.group(3)) + int(reqs.group(4)),
            "bytes_total": int(traffic.group(1)), "bytes_headers": int(traffic.group(2)),
            "latency_mean_us": us(latency.group(3))}


def run_h2load(port: int, mode_args: list[str], seconds: int, cpu: int | None,
               scheme: str = "http") -> dict:
    argv = bench.pin(cpu) + ["h2load", *mode_args, "-D", str(seconds),
                             "--warm-up-time", "1", f"{scheme}://127.0.0.1:{port}/{PAGE}"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        return {"error": "h2load timed out"}
    parsed = parse_h2load(out.stdout)
    return parsed if parsed else {"error": (out.stdout + out.stderr)[-300:]}


def measure(run: bench.Running, mode_args: list[str], args, cpu: int | None,
            scheme: str) -> dict:
    run_h2load(run.port, mode_args, 2, cpu, scheme)  # warm-up
    runs = []
    for _ in range(args.runs):
        cpu0 = bench.cpu_seconds(run.tree())
        r = run_h2load(run.port, mode_args, args.duration, cpu, scheme)
        cpu1 = bench.cpu_seconds(run.tree())
        if "error" in r:
            runs.append(r)
            continue
        r["server_cpu_s"] = cpu1 - cpu0
        r["rps_per_cpu_s"] = r["succeeded"] / r["server_cpu_s"] if r["server_cpu_s"] else None
        r["bytes_per_request"] = r["bytes_total"] / r["done"] if r["done"] else None
        runs.append(r)
        bench.progress(f"    {r['rps']:.0f} req/s, {r['rps_per_cpu_s'] or 0:.0f} req/CPU-s, "
                       f"{r['failed']} failed")
    ok = [r for r in runs if "error" not in r and r["rps_per_cpu_s"]]

    def median(key):
        return statistics.median([r[key] for r in ok]) if ok else None

    return {"runs": runs, "rps": median("rps"), "rps_per_cpu_s": median("rps_per_cpu_s"),
            "latency_mean_us": median("latency_mean_us"),
            "bytes_per_request": median("bytes_per_request"),
            "failed": sum(r.get("failed", 1) for r in runs)}


def table(results: dict) -> str:
    lines = ["| server | protocol | req/s | req per server-CPU-s | x best peer (CPU-s) | "
             "mean latency | bytes on the wire per request |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for mode in MODES:
        for group in ("w1", "w2"):
            rows = {name: r for name, r in results.items()
                    if r["group"] == group and mode in r and r[mode]["rps_per_cpu_s"]}
            peers = [r[mode]["rps_per_cpu_s"] for name, r in rows.items() if r["peer"]]
            best = max(peers) if peers else None
            for name, r in rows.items():
                m = r[mode]
                ratio = f"{m['rps_per_cpu_s'] / best:.2f}" if best and not r["peer"] else ""
                lines.append(f"| {name} | {mode} | {m['rps']:,.0f} | {m['rps_per_cpu_s']:,.0f} | "
                             f"{ratio} | {m['latency_mean_us'] / 1000:.2f} ms | "
                             f"{m['bytes_per_request']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    global MODE, CERTS
    p = argparse.ArgumentParser(description="HTTP/2 (h2c, h2) bench: h2load against stages 4/5, "
                                            "nginx and h2o")
    p.add_argument("--build", default="build/release", help="our build directory")
    p.add_argument("--runs", type=int, default=3, help="measured runs per case (median)")
    p.add_argument("--duration", type=int, default=5, help="seconds per run")
    p.add_argument("--out", default=None, help="JSON results path (default bench/results/)")
    p.add_argument("--modes", default="h2c,h2,http1.1",
                   help="comma-separated cases: h2c, h2 (over TLS), http1.1 (default all)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.duration < 1:
        p.error("--runs and --duration must be at least 1")
    args.modes = [m for m in args.modes.split(",") if m]
    if not args.modes or any(m not in MODES for m in args.modes):
        p.error("--modes takes h2c, h2 and http1.1, comma-separated")
    args.build = os.path.abspath(args.build)  # servers run in their own temp dirs
    if not shutil.which("h2load"):
        print("h2.py: h2load not found (Debian: nghttp2-client)", file=sys.stderr)
        return 2

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="serverlab-h2bench-") as tmp_root:
        docroot = bench.make_docroot(tmp_root)
        CERTS = make_certs(tmp_root)
        for server, group in servers():
            why = bench.is_available(server, args.build)
            if why:
                bench.progress(f"{server.name}: {why}")
                continue
            bench.progress(f"{server.name}:")
            entry = {"group": group, "peer": server.kind == "peer"}
            for mode in args.modes:
                MODE = mode
                bench.progress(f"  {mode}")
                try:
                    run = bench.start_server(for_mode(server), args.build, docroot, tmp_root,
                                             server_cpu)
                except RuntimeError as e:
                    bench.progress(f"  did not start: {e}")
                    continue
                try:
                    entry[mode] = measure(run, MODES[mode], args, client_cpu,
                                          "https" if mode == "h2" else "http")
                finally:
                    run.stop()
            results[server.name] = entry

    text = table(results)
    print(text)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out = args.out or os.path.join(bench.BENCH_DIR, "results", f"{stamp}-h2.json")
    with open(out, "w") as f:
        json.dump({"date": stamp, "page": PAGE, "h2c": H2_ARGS, "h2": H2_ARGS,
                   "http1.1": H1_ARGS, "load_average": os.getloadavg(),
                   "runs": args.runs, "duration_s": args.duration,
                   "pinning": {"server_cpu": server_cpu, "client_cpu": client_cpu},
                   "h2load": subprocess.run(["h2load", "--version"], capture_output=True,
                                            text=True).stdout.strip(),
                   "results": results}, f, indent=1)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
