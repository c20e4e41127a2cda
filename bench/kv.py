#!/usr/bin/env python3
"""kv.py: kv-server against redis-server with redis-benchmark, and memory for 1 M keys.

    bench/kv.py --build build/release                       # the full run
    bench/kv.py --build build/release --quick               # a smoke run (small counts)
    bench/kv.py --build build/release --json /tmp/kv.json --markdown /tmp/kv.md

What one run does:
  1. starts kv-server (port 0, it prints its port) and redis-server 7 (a free port picked
     by binding port 0; --save '' --appendonly no), each pinned to CPU 0 (taskset);
  2. for each command (SET GET INCR LPUSH LPOP SADD HSET) and pipeline depth (-P 1, -P 16),
     one warm-up and --runs measured redis-benchmark runs (c=50, pinned to CPU 1), against
     each server in turn; server CPU (utime+stime) is read around every run, so each run
     gives operations per server-CPU-second; the median of the runs is reported, and the
     ratio kv-server / redis-server of those medians;
  3. memory: a fresh instance of each, 1,000,000 SETs of distinct 16-byte keys with 16-byte
     values through `redis-cli --pipe`, then VmRSS minus the RSS before the load.

The figures are ratios measured in the same run because the machine may be shared and
loaded; absolute rates move with the load, ratios much less. Only loopback traffic; every
process is stopped by the PID we started. Python 3 standard library plus bench.py's helpers.
Exit status: 0 when every run finished, 1 when a server did not start or a tool failed,
2 for bad flags.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: Running, cpu_seconds, pin, free_port)

COMMANDS = ["set", "get", "incr", "lpush", "lpop", "sadd", "hset"]
PIPELINES = [1, 16]
CLIENTS = 50
SERVER_CPU, CLIENT_CPU = 0, 1


KV_MODELS = {"kv-server": [], "kv-threads": ["--model", "threads"]}  # kind -> extra flags


def start(kind: str, build: str, tmp: str) -> bench.Running:
    if kind in KV_MODELS:
        binary = os.path.join(os.path.abspath(build), "capstone-kv", "kv-server")
        server = bench.Server(kind, "kv", "kv", binary)
        run = bench.Running(server, [binary, "--port", "0", "--log-level", "warn",
                                     *KV_MODELS[kind]], tmp, SERVER_CPU, None)
        if not run.read_listening_line(time.monotonic() + 10):
            run.stop()
            raise RuntimeError(f"kv-server did not start: {run.stderr_tail()}")
        return run
    port = bench.free_port()
    server = bench.Server("redis-server", "peer", "peer", "redis-server")
    run = bench.Running(server, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"], tmp, SERVER_CPU, port)
    if not bench.wait_for_port(port, time.monotonic() + 10):
        run.stop()
        raise RuntimeError(f"redis-server did not start: {run.stderr_tail()}")
    return run


def benchmark(port: int, command: str, pipeline: int, requests: int) -> float:
    """One redis-benchmark run; returns the requests per second it reports."""
    argv = bench.pin(CLIENT_CPU) + ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                                    "-c", str(CLIENTS), "-n", str(requests), "-P", str(pipeline),
                                    "-r", "100000", "-t", command, "--csv"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    for line in out.splitlines():
        fields = [f.strip('"') for f in line.split(",")]
        if len(fields) >= 2 and fields[0].lower().startswith(command):
            return float(fields[1])
    raise RuntimeError(f"no result in redis-benchmark's output: {out!r}")


def measure(run: bench.Running, command: str, pipeline: int, requests: int, runs: int) -> dict:
    benchmark(run.port, command, pipeline, max(requests // 10, 1000))  # warm-up
    per_cpu, rates = [], []
    for _ in range(runs):
        before = bench.cpu_seconds(run.tree())
        rate = benchmark(run.port, command, pipeline, requests)
        cpu = bench.cpu_seconds(run.tree()) - before
        rates.append(rate)
        per_cpu.append(requests / cpu if cpu > 0 else float("inf"))
    return {"ops_per_cpu_s": statistics.median(per_cpu), "rps": statistics.median(rates),
            "runs": per_cpu}


def memory_for_keys(kind: str, build: str, tmp: str, keys: int) -> dict:
    run = start(kind, build, tmp)
    try:
        time.sleep(0.3)
        before = bench.status_kib([run.pid], "VmRSS")
        lines = []
        for i in range(keys):
            key = b"key:%012d" % i                  # 16 bytes
            lines.append(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$16\r\n%s\r\n" % (key, key[::-1]))
        r = subprocess.run(["redis-cli", "-p", str(run.port), "--pipe"], input=b"".join(lines),
                           capture_output=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"redis-cli --pipe failed: {r.stdout[-300:]!r}")
        dbsize = subprocess.run(["redis-cli", "-p", str(run.port), "DBSIZE"], capture_output=True,
                                text=True, timeout=30).stdout.strip()
        after = bench.status_kib([run.pid], "VmRSS")
        return {"keys": int(dbsize), "rss_before_kib": before, "rss_after_kib": after,
                "used_kib": after - before}
    finally:
        run.stop()


def markdown(data: dict) -> str:
    rows = ["| command | -P | kv-server ops/CPU-s | redis-server ops/CPU-s | ratio | "
            "kv-server req/s | redis-server req/s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["throughput"]:
        kv, rs = r["kv-server"], r["redis-server"]
        rows.append(f"| {r['command'].upper()} | {r['pipeline']} | {kv['ops_per_cpu_s']:,.0f} | "
                    f"{rs['ops_per_cpu_s']:,.0f} | {kv['ops_per_cpu_s'] / rs['ops_per_cpu_s']:.2f} | "
                    f"{kv['rps']:,.0f} | {rs['rps']:,.0f} |")
    mem = data.get("memory")
    if mem:
        kv, rs = mem["kv-server"], mem["redis-server"]
        rows.append("")
        rows.append(f"Memory for {kv['keys']:,} keys of 16-byte values (RSS growth): kv-server "
                    f"{kv['used_kib'] / 1024:.1f} MiB, redis-server {rs['used_kib'] / 1024:.1f} MiB, "
                    f"ratio {kv['used_kib'] / rs['used_kib']:.2f}.")
    return "\n".join(rows) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", required=True, help="build directory holding capstone-kv/kv-server")
    p.add_argument("--runs", type=int, default=3, help="measured runs per case (median)")
    p.add_argument("--requests", type=int, default=200_000, help="requests per run at -P 1")
    p.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated subset")
    p.add_argument("--keys", type=int, default=1_000_000, help="keys for the memory test (0: skip)")
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--markdown", help="write the table here")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.requests, args.keys = 1, 20_000, min(args.keys, 50_000)
    if args.runs < 1 or args.requests < 1000:
        p.error("--runs must be >= 1 and --requests >= 1000")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if shutil.which(tool) is None:
            print(f"kv.py: {tool} is not installed (tools/deps.sh)", file=sys.stderr)
            return 1
    tmp = tempfile.mkdtemp(prefix="kv-bench-")
    data = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "clients": CLIENTS,
            "runs": args.runs, "loadavg": os.getloadavg(), "throughput": []}
    try:
        servers = {kind: start(kind, args.build, tmp)
                   for kind in ("kv-server", "kv-threads", "redis-server")}
        try:
            for command in filter(None, args.commands.split(",")):
                for pipeline in PIPELINES:
                    requests = args.requests * (5 if pipeline > 1 else 1)
                    row = {"command": command, "pipeline": pipeline}
                    for kind, run in servers.items():
                        row[kind] = measure(run, command, pipeline, requests, args.runs)
                    ratio = row["kv-server"]["ops_per_cpu_s"] / row["redis-server"]["ops_per_cpu_s"]
                    threads = row["kv-threads"]["ops_per_cpu_s"] / row["redis-server"]["ops_per_cpu_s"]
                    print(f"{command:6} -P {pipeline:2}: ratio {ratio:.2f} (threads model {threads:.2f})",
                          flush=True)
                    data["throughput"].append(row)
        finally:
            for run in servers.values():
                run.stop()
        if args.keys > 0:
            data["memory"] = {kind: memory_for_keys(kind, args.build, tmp, args.keys)
                              for kind in ("kv-server", "redis-server")}
    except (RuntimeError, subprocess.SubprocessError) as e:
        print(f"kv.py: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = markdown(data)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
