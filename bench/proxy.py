#!/usr/bin/env python3
"""proxy.py: http-proxy against nginx and HAProxy as reverse proxies, same backends, same run.

    wrk (CPU 1) --> proxy (CPU 0) --> 2 x http-epoll (unpinned), 4 KiB page, keep-alive

Starts two http-epoll backends on port 0 over bench.py's docroot, then the three proxies
(http-proxy, nginx proxy_pass with an upstream keepalive pool, HAProxy), each with one
worker/thread and round-robin over the same two backends. Each round runs wrk once
against every proxy in turn (so load on the shared machine hits all three alike);
the figures are medians over --runs rounds. The headline is requests per proxy-CPU-second
(requests / CPU time of the proxy's process tree), as a ratio to the better peer, and p99.

    bench/proxy.py                              # build/release, 5 rounds of 10 s
    bench/proxy.py --build build/debug --runs 1 --duration 2     # a smoke run

Bounded: --runs x 3 wrk runs of --duration seconds (at most 60 s each); every process it
starts is stopped by its PID (bench.py's Running); traffic goes to 127.0.0.1 only.
Exit status: 0 when every run finished, 1 when something did not start, 2 for bad flags.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench.py's helpers: Running, wrk, CPU accounting, docroot)


def start_backend(build: str, docroot: str, tmp_root: str) -> bench.Running:
    server = bench.Server("http-epoll", "http", "4", "stage4-epoll/http-epoll")
    return bench.start_server(server, build, docroot, tmp_root, None)


def start_http_proxy(build: str, backends: list[int], tmp_root: str, cpu) -> bench.Running:
    server = bench.Server("http-proxy", "http", "proxy", "capstone-proxy/http-proxy")
    argv = [os.path.join(build, server.binary), "--port", "0", "--log-level", "warn",
            "--keepalive-timeout", "60", "--max-keepalive-requests", "10000"]
    for port in backends:
        argv += ["--upstream", f"127.0.0.1:{port}"]
    tmp = tempfile.mkdtemp(prefix="http-proxy-", dir=tmp_root)
    run = bench.Running(server, argv, tmp, cpu, None)
    if not run.read_listening_line(bench.time.monotonic() + 10):
        run.stop(2)
        raise RuntimeError("http-proxy did not start: " + run.stderr_tail())
    return run


def start_peer(name: str, backends: list[int], tmp_root: str, cpu) -> bench.Running:
    tmp = tempfile.mkdtemp(prefix=name + "-", dir=tmp_root)
    os.chmod(tmp, 0o755)
    port = bench.free_port()
    values = {"PORT": str(port), "TMP": tmp, "BACKEND1": str(backends[0]),
              "BACKEND2": str(backends[1]),
              "USER_LINE": "user nobody nogroup;" if os.geteuid() == 0 else ""}
    if name == "nginx":
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(bench.render_template("nginx-proxy.conf.in", values))
        argv = [shutil.which("nginx") or "nginx", "-p", tmp, "-c", conf,
                "-e", os.path.join(tmp, "error.log")]
    else:
        conf = os.path.join(tmp, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(bench.render_template("haproxy.cfg.in", values))
        argv = [shutil.which("haproxy") or "haproxy", "-db", "-f", conf]
    server = bench.Server(name, "peer", "peer", argv[0])
    run = bench.Running(server, argv, tmp, cpu, port)
    if not bench.wait_for_port(port, bench.time.monotonic() + 10) or not run.alive():
        run.stop(2)
        raise RuntimeError(f"{name} did not listen: " + run.stderr_tail())
    return run


def upstream_errors(port: int) -> list[str]:
    """http-proxy's own account of backend failures (its /-/metrics), for the report."""
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/metrics", timeout=5) as f:
            text = f.read().decode()
    except OSError as e:
        return [f"(no metrics: {e})"]
    return [line for line in text.splitlines()
            if line.startswith(("serverlab_proxy_upstream_errors_total",
                                "serverlab_proxy_upstream_retries_total",
                                "serverlab_proxy_upstream_breaker_opened_total"))
            and not line.endswith(" 0")]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default=os.path.join(bench.REPO_DIR, "build", "release"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--json", help="write the figures here as JSON")
    args = p.parse_args(argv)
    args.build = os.path.abspath(args.build)
    if not 1 <= args.runs <= 20 or not 1 <= args.duration <= 60 or args.connections < 1:
        p.error("--runs 1..20, --duration 1..60 s, --connections >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sc = bench.Scenario("4k", args.connections, True)
    cpus = os.cpu_count() or 1
    proxy_cpu, wrk_cpu = (0, 1) if cpus >= 2 else (None, None)
    tmp_root = tempfile.mkdtemp(prefix="serverlab-proxy-bench-")
    docroot = bench.make_docroot(tmp_root)
    started: list[bench.Running] = []
    try:
        backends = [start_backend(args.build, docroot, tmp_root) for _ in range(2)]
        started += backends
        ports = [b.port for b in backends]
        proxies = {"http-proxy": start_http_proxy(args.build, ports, tmp_root, proxy_cpu)}
        started.append(proxies["http-proxy"])
        for peer in ("nginx", "haproxy"):
            if shutil.which(peer):
                proxies[peer] = start_peer(peer, ports, tmp_root, proxy_cpu)
                started.append(proxies[peer])
            else:
                bench.progress(f"{peer}: not installed, skipped")
        for name, run in proxies.items():
            bench.run_wrk(run.port, sc, args.warmup, wrk_cpu)
        results = {name: [] for name in proxies}
        for i in range(args.runs):
            for name, run in proxies.items():
                r = bench.measured_run(run, sc, args.duration, wrk_cpu)
                results[name].append(r)
                shown = f"{r['rps']:.0f} req/s" if "error" not in r else r["error"]
                bench.progress(f"round {i + 1}/{args.runs} {name}: {shown}")
        for line in upstream_errors(proxies["http-proxy"].port):
            bench.progress("http-proxy metrics: " + line)
        report = summarize(results)
        print_table(report, args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "runs": results, "summary": report}, f, indent=2)
        return 0 if all("error" not in r for rs in results.values() for r in rs) else 1
    except RuntimeError as e:
        print(f"proxy.py: {e}", file=sys.stderr)
        return 1
    finally:
        for run in reversed(started):
            run.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)


def summarize(results: dict) -> dict:
    """Per proxy: the medians of its runs (None when every run failed), and its ratio to the
    better peer in requests per proxy-CPU-second."""
    out = {}
    for name, runs in results.items():
        if all("error" in r for r in runs):
            out[name] = None
            continue
        out[name] = {k: bench.median_of(runs, k)
                     for k in ("rps", "per_cpu_s", "p99_us", "server_cpu_s")}
        out[name]["errors"] = bench.run_errors(runs)
    peers = [out[n] for n in ("nginx", "haproxy") if out.get(n)]
    best = max(peers, key=lambda s: s["per_cpu_s"]) if peers else None
    for name, s in out.items():
        if s and best:
            s["x_best_peer"] = bench.ratio_of(s["per_cpu_s"], best["per_cpu_s"])
    return out


def print_table(report: dict, args) -> None:
    print(f"\n4 KiB page, keep-alive, c={args.connections}, {args.runs} rounds of "
          f"{args.duration} s (medians)\n")
    print("| proxy | req/s | req per proxy-CPU-s | x best peer | p99 | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, s in report.items():
        if not s:
            print(f"| {name} | failed | | | | |")
            continue
        print(f"| {name} | {s['rps']:,.0f} | {s['per_cpu_s']:,.0f} | "
              f"{s.get('x_best_peer', 0):.2f} | {s['p99_us'] / 1000:.2f} ms | {s['errors']} |")


if __name__ == "__main__":
    sys.exit(main())
