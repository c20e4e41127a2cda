#!/usr/bin/env python3
"""scaling.py: stage 5's dynamic pool under a load step up and down, as a chart.

Starts http-prefork on 127.0.0.1 port 0 with --workers MIN --max-workers MAX, then runs
wrk (keep-alive) in steps: nothing, LOW connections, HIGH connections, LOW, nothing. Every
--sample seconds it asks /server-status?json how many workers serve (live and not draining)
and how many are idle. It writes DIR/scaling.dat (time, connections, workers, idle) and, with
gnuplot, DIR/scaling.svg (workers and load over time).

Bounded: every wrk run has a fixed duration and a timeout, every status request a timeout,
and the whole run a deadline. Stops only the server it started, by its PID (SIGTERM, then
SIGKILL after 10 s). Python 3 standard library only, plus wrk and (for the chart) gnuplot.

  bench/scaling.py                         # build/release, steps of 10 s, to bench/results/scaling
  bench/scaling.py --build build/debug --step 5 --out /tmp/scaling
  bench/scaling.py --build build/debug --step 2 --check   # what the bench-labelled test runs

Exit status: 0; 1 when no sample could be taken, or with --check when the pool did not grow
above its first sample under load and come back below its peak after it; 2 for bad flags
(wrk or the binary missing included); 77 with --check when wrk is missing (a skip).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def status(port: int) -> dict | None:
    """GET /server-status?json on a fresh connection; None on any failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            s.sendall(b"GET /server-status?json HTTP/1.1\r\nHost: bench\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return None
        return json.loads(body)
    except (OSError, ValueError):
        return None


def count_workers(doc: dict) -> tuple[int, int]:
    """(serving, idle): live workers that are not draining, and those of them waiting."""
    serving = idle = 0
    for w in doc.get("workers", []):
        if w.get("state") in (".", "C"):
            continue
        serving += 1
        if w.get("state") == "_":
            idle += 1
    return serving, idle


def start_server(binary: str, root: str, args) -> tuple[subprocess.Popen, int]:
    argv = [binary, "--bind", "127.0.0.1", "--port", "0", "--root", root,
            "--workers", str(args.min_workers), "--max-workers", str(args.max_workers),
            "--min-spare", str(args.min_spare), "--max-spare", str(args.max_spare),
            "--keepalive-timeout", "60", "--access-log", "off", "--log-level", "warn"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # "listening on 127.0.0.1:PORT"
    if not line.startswith("listening on "):
        stop_server(proc)
        raise SystemExit(f"scaling: {binary} did not start (first line: {line!r})")
    return proc, int(line.rsplit(":", 1)[1])


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def run_wrk(port: int, connections: int, seconds: int) -> None:
    subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s",
                    f"http://127.0.0.1:{port}/index.html"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=seconds + 30, check=False)


def chart(dat: str, svg: str, args) -> bool:
    if not shutil.which("gnuplot"):
        progress("scaling: gnuplot not found; no chart")
        return False
    script = (
        "set terminal svg size 1000,480 noenhanced font 'sans,11'\n"
        f"set output '{svg}'\n"
        f"set title 'http-prefork --workers {args.min_workers} --max-workers {args.max_workers}"
        f" --min-spare {args.min_spare} --max-spare {args.max_spare}: a load step up and down'\n"
        "set xlabel 'seconds'\nset ylabel 'workers'\nset y2label 'wrk connections'\n"
        f"set yrange [0:{args.max_workers + 1}]\nset y2range [0:*]\nset ytics nomirror\n"
        "set y2tics\nset grid ytics\nset key outside right top\n"
        f"plot '{dat}' using 1:3 with steps lw 2 title 'workers serving', "
        f"'{dat}' using 1:4 with steps lw 1 dt 2 title 'idle workers', "
        f"'{dat}' using 1:2 axes x1y2 with steps lw 1 title 'wrk connections'\n")
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=30)
    if r.returncode != 0:
        progress(f"scaling: gnuplot failed: {r.stderr.strip()[-200:]}")
        return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build/release", help="build directory (default %(default)s)")
    p.add_argument("--out", default="bench/results/scaling", help="output directory")
    p.add_argument("--min-workers", type=int, default=1, help="--workers (default %(default)s)")
    p.add_argument("--max-workers", type=int, default=8, help="default %(default)s")
    p.add_argument("--min-spare", type=int, default=1, help="default %(default)s")
    p.add_argument("--max-spare", type=int, default=2, help="default %(default)s")
    p.add_argument("--low", type=int, default=4, help="connections of the low step")
    p.add_argument("--high", type=int, default=64, help="connections of the high step")
    p.add_argument("--step", type=int, default=10, help="seconds per step (default %(default)s)")
    p.add_argument("--sample", type=float, default=0.5, help="seconds between samples")
    p.add_argument("--check", action="store_true",
                   help="exit 1 unless the pool grew under load and shrank after it")
    args = p.parse_args()
    if not 1 <= args.step <= 120 or args.sample <= 0:
        p.error("--step must be 1..120 and --sample positive")
    binary = os.path.join(args.build, "stage5-prefork", "http-prefork")
    if not os.access(binary, os.X_OK):
        p.error(f"{binary} is not built")
    if not shutil.which("wrk"):
        if args.check:
            progress("scaling: wrk not found (tools/deps.sh bench); skipped")
            return 77
        p.error("wrk not found (tools/deps.sh bench)")
    os.makedirs(args.out, exist_ok=True)

    steps = [0, args.low, args.high, args.low, 0, 0]  # the last idle step shows the fall
    rows = []
    with tempfile.TemporaryDirectory(prefix="scaling-") as root:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("x" * 4096)
        proc, port = start_server(binary, root, args)
        progress(f"scaling: http-prefork pid {proc.pid} on port {port}; steps {steps} x "
                 f"{args.step} s")
        load = {"connections": 0}
        done = threading.Event()

        def sampler() -> None:
            t0 = time.monotonic()
            while not done.is_set():
                doc = status(port)
                if doc is not None:
                    serving, idle = count_workers(doc)
                    rows.append((time.monotonic() - t0, load["connections"], serving, idle))
                done.wait(args.sample)

        thread = threading.Thread(target=sampler, daemon=True)
        try:
            thread.start()
            for connections in steps:
                load["connections"] = connections
                progress(f"scaling: {connections} connections for {args.step} s")
                if connections:
                    run_wrk(port, connections, args.step)
                else:
                    time.sleep(args.step)
        finally:
            done.set()
            thread.join(timeout=10)
            stop_server(proc)

    dat = os.path.join(args.out, "scaling.dat")
    with open(dat, "w") as f:
        f.write("# seconds wrk_connections workers_serving idle_workers\n")
        for t, c, w, i in rows:
            f.write(f"{t:.2f} {c} {w} {i}\n")
    svg = os.path.join(args.out, "scaling.svg")
    made = chart(dat, svg, args)
    peak = max((w for _, _, w, _ in rows), default=0)
    final = rows[-1][2] if rows else 0
    progress(f"scaling: {len(rows)} samples, peak {peak} workers, {final} at the end; wrote {dat}"
             + (f" and {svg}" if made else ""))
    if not rows:
        return 1
    if args.check:
        first = rows[0][2]
        fell = any(w < peak for _, _, w, _ in rows[[r[2] for r in rows].index(peak):])
        ok = peak > first and fell
        progress(f"scaling: check {'ok' if ok else 'FAILED'}: first {first}, peak {peak}, "
                 f"{'fell' if fell else 'did not fall'} after the peak")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
