#!/usr/bin/env python3
"""middleware.py: what the middleware chain costs (docs/MIDDLEWARE.md), as a ratio.

For stage 4 (http-epoll) and stage 3 (http-threadpool), starts the same binary twice over the
same docroot, pinned to the same CPU:
  off  the bench's usual flags (bench.py HTTP_COMMON: no access log, no chain);
  on   a JSON access log to a file (buffered, the default: --access-log-buffer 32k,
       --access-log-flush 1), request IDs made for every request, and a per-address and a
       global rate limit far above what wrk can reach (so every request passes both buckets);
and runs scenario 4k-c100-ka (wrk, 100 keep-alive connections, the 4 KiB page) against each,
alternating off/on run by run so a busy machine weighs on both alike. It also measures the
/api/ GET path: GET /api/notes/1 (--api on, one note made first) on a third server.

The figure is requests per server-CPU-second (wrk's request count over the server's utime+stime
during the run; median of --runs runs), and the ratio on/off. Target (issue 13): on >= 0.90.

  bench/middleware.py                                  # build/release, 5 runs of 5 s
  bench/middleware.py --build build/debug --runs 1 --duration 2   # a smoke run
  bench/middleware.py --steps          # also each step alone: which one costs what
                                       # (log-unbuffered: the log with one write(2) a line)

Only loopback traffic; every wrk run is bounded; only the servers it started are stopped (by
PID, through bench.py's Running). Python 3 standard library only, plus wrk and taskset.
Exit status: 0; 1 when a server did not start or a run failed; 2 for bad flags.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the helpers: Running, run_wrk, cpu_seconds, make_docroot, ...)

STAGES = [("stage 4", "stage4-epoll/http-epoll", []),
          ("stage 3", "stage3-threadpool/http-threadpool", [])]
HIGH = "100000000"  # requests per second: far above wrk's reach, so the buckets never refuse


def variant_flags(variant: str, tmp: str) -> list[str]:
    log = ["--access-log", os.path.join(tmp, "access.json"), "--access-log-format", "json"]
    ids = ["--request-id", "on"]
    limit = ["--rate-limit", HIGH, "--rate-limit-burst", HIGH,
             "--rate-limit-global", HIGH, "--rate-limit-global-burst", HIGH]
    return {"off": [], "on": log + ids + limit, "api": ["--api", "on"],
            "log": log, "log-unbuffered": log + ["--access-log-buffer", "0"], "ids": ids,
            "limit": limit}[variant]


def start(name: str, binary: str, extra: list[str], variant: str, build: str, docroot: str,
          tmp_root: str, cpu: int | None) -> bench.Running:
    tmp = tempfile.mkdtemp(prefix=f"mw-{variant}-", dir=tmp_root)
    server = bench.Server(f"{name} {variant}", "http", name, binary)
    # HTTP_COMMON first: a flag given twice takes its last value, so the variant's win.
    argv = ([os.path.join(build, binary)] + extra + bench.HTTP_COMMON + ["--root", docroot]
            + variant_flags(variant, tmp))
    run = bench.Running(server, argv, tmp, cpu, None)
    if not run.read_listening_line(time.monotonic() + 10):
        run.stop(2)
        raise RuntimeError(f"{name} {variant} did not start: {run.stderr_tail()}")
    return run


def post_note(port: int) -> bool:
    body = b'{"title":"bench","body":"a note served by the /api/ GET path"}'
    req = (b"POST /api/notes HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        s.sendall(req)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.startswith(b"HTTP/1.1 201")


def measure_stage(name: str, binary: str, extra: list[str], args, docroot: str,
                  tmp_root: str) -> dict:
    variants = ["off", "on", "api"] + args.steps
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    servers = {}
    try:
        for variant in runs:
            servers[variant] = start(name, binary, extra, variant, args.build, docroot, tmp_root,
                                     args.server_cpu)
        if not post_note(servers["api"].port):
            raise RuntimeError(f"{name}: POST /api/notes did not answer 201")
        page = bench.Scenario("4k", 100, True)
        api = bench.Scenario("api", 100, True)
        plan = [(v, api if v == "api" else page) for v in variants]
        for variant, sc in plan:
            bench.run_wrk(servers[variant].port, sc, args.warmup, args.client_cpu)
        for i in range(args.runs):
            for variant, sc in plan:
                r = bench.measured_run(servers[variant], sc, args.duration, args.client_cpu)
                runs[variant].append(r)
                shown = r.get("error") or f"{r['rps']:.0f} req/s, {r['per_cpu_s']:.0f} req/CPU-s"
                bench.progress(f"  {name} {variant} run {i + 1}/{args.runs}: {shown}")
    finally:
        for run in servers.values():
            run.stop()
    out = {"stage": name}
    for variant, rs in runs.items():
        out[variant] = {"runs": rs, "rps": bench.median_of(rs, "rps"),
                        "per_cpu_s": bench.median_of(rs, "per_cpu_s"),
                        "errors": bench.run_errors(rs)}
    off = out["off"]["per_cpu_s"]
    for variant in ["on", "api"] + args.steps:
        out[f"ratio_{variant}_off"] = bench.ratio_of(out[variant]["per_cpu_s"], off)
    return out


def table(results: list[dict]) -> str:
    lines = ["| server | off: req/s | off: req/CPU-s | on: req/s | on: req/CPU-s | on/off "
             "| /api/ GET: req/s | /api/ GET: req/CPU-s | api/off |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['stage']} | {r['off']['rps']:,.0f} | {r['off']['per_cpu_s']:,.0f} "
                     f"| {r['on']['rps']:,.0f} | {r['on']['per_cpu_s']:,.0f} "
                     f"| {r['ratio_on_off']:.2f} | {r['api']['rps']:,.0f} "
                     f"| {r['api']['per_cpu_s']:,.0f} | {r['ratio_api_off']:.2f} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(bench.REPO_DIR, "build", "release"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--json", help="write the results here too")
    p.add_argument("--steps", action="store_true",
                   help="also one server per step alone (JSON log, the same unbuffered, "
                   "request IDs, rate limit)")
    args = p.parse_args(argv)
    args.build = os.path.abspath(args.build)
    args.steps = ["log", "log-unbuffered", "ids", "limit"] if args.steps else []
    if args.runs < 1 or args.duration < 1 or args.warmup < 0:
        p.error("--runs and --duration must be >= 1, --warmup >= 0")
    if not shutil.which("wrk"):
        p.error("wrk is not installed (tools/deps.sh bench)")
    for _, binary, _ in STAGES:
        if not os.access(os.path.join(args.build, binary), os.X_OK):
            p.error(f"{os.path.join(args.build, binary)} is not built")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="serverlab-mw-") as tmp_root:
        docroot = bench.make_docroot(tmp_root)
        bench.FILES["api"] = ("api/notes/1", 0)  # the URL run_wrk asks for in the api scenario
        results = []
        try:
            for name, binary, extra in STAGES:
                results.append(measure_stage(name, binary, extra, args, docroot, tmp_root))
        except RuntimeError as e:
            print(f"middleware.py: {e}", file=sys.stderr)
            return 1
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    failed = any(r[v]["errors"] for r in results for v in ("off", "on", "api"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
