#!/usr/bin/env bash
# flamegraph.sh BUILD_DIR STAGE [SECONDS]: a CPU flame graph of one stage's server under wrk.
#
#   make flamegraph STAGE=4 [SECONDS=10]     (builds the release server first)
#
# Starts the stage's HTTP server on 127.0.0.1 port 0 serving www/, runs wrk against
# /index.html for SECONDS (10), records the server's on-CPU stacks with
# `perf record -F 499 --call-graph dwarf` for the same time (every process of stage 5), and renders
# build/flamegraph/stageN.svg with tools/flamegraph.py (plus the folded stacks,
# stageN.folded, and `perf report`'s top lines, stageN.txt). Stops only the PIDs it started.
# Stage 1 is not HTTP: see docs/PROFILING.md for its echo-bench recipe.
#
# Exit status: 0 the SVG was written; 1 something could not run (perf not allowed here,
# wrk missing, the server did not start), with one line saying which; 2 bad usage.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: tools/flamegraph.sh BUILD_DIR STAGE [SECONDS]" >&2; exit 2; }
build=$1 stage=$2 seconds=${3:-10}
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$stage" in
  2) bin=$build/stage2-http-seq/http-seq; extra=(--keep-alive) ;;
  3) bin=$build/stage3-threadpool/http-threadpool; extra=() ;;
  4) bin=$build/stage4-epoll/http-epoll; extra=() ;;
  5) bin=$build/stage5-prefork/http-prefork; extra=() ;;
  1) echo "flamegraph: stage 1 is an echo server, not HTTP (wrk cannot load it); docs/PROFILING.md shows perf with echo-bench" >&2; exit 2 ;;
  *) echo "flamegraph: STAGE must be 2, 3, 4 or 5 (got '$stage')" >&2; exit 2 ;;
esac
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 120 ]] ||
  { echo "flamegraph: SECONDS must be 1-120 (got '$seconds')" >&2; exit 2; }
command -v perf >/dev/null || { echo "flamegraph: perf is not installed (tools/deps.sh profile installs linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "flamegraph: wrk is not installed (tools/deps.sh profile)" >&2; exit 1; }
[ -x "$bin" ] || { echo "flamegraph: $bin is not built" >&2; exit 1; }

out=$root/build/flamegraph
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/flamegraph.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Can perf record at all here? (Containers often forbid perf_event_open.)
if ! perf record -q -o "$work/probe.data" -- true >"$work/probe.log" 2>&1; then
  echo "flamegraph: perf cannot record in this environment (kernel.perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?'), or perf_event_open is blocked): $(grep -m1 -i 'error\|denied\|not' "$work/probe.log" || echo 'see perf record -- true')" >&2
  exit 1
fi

"$bin" --port 0 --root "$root/www" --log-level warn "${extra[@]}" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 50); do grep -q '^listening on ' "$work/stdout" && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/stdout" | head -1)
[ -n "$port" ] || { echo "flamegraph: $bin did not start: $(head -1 "$work/stderr")" >&2; exit 1; }

# Every process of the server (stage 5's master and workers are its children).
pids=$(echo "$server_pid" $(pgrep -P "$server_pid" || true) | tr ' ' ',')
echo "flamegraph: recording $(basename "$bin") (pids $pids) under wrk for ${seconds}s" >&2
perf record -q -F 499 --call-graph dwarf,16384 -p "$pids" -o "$work/perf.data" -- sleep "$seconds" 2>"$work/perf.log" &
perf_pid=$!
wrk -t1 -c50 -d"${seconds}s" "http://127.0.0.1:$port/index.html" >"$work/wrk.txt" 2>&1 || true
wait "$perf_pid" || { echo "flamegraph: perf record failed: $(head -1 "$work/perf.log")" >&2; exit 1; }

perf script -i "$work/perf.data" 2>/dev/null >"$work/perf.txt"
title="$(basename "$bin") (stage $stage) under wrk -c50, ${seconds}s, $(grep -m1 'Requests/sec' "$work/wrk.txt" | tr -s ' ' || echo 'wrk failed')"
"$root/tools/flamegraph.py" --title "$title" "$work/perf.txt" >"$out/stage$stage.svg"
"$root/tools/flamegraph.py" --folded "$work/perf.txt" >"$out/stage$stage.folded"
perf report -i "$work/perf.data" --stdio --no-children -g none --percent-limit 1 2>/dev/null |
  grep -v '^#' | grep -v '^$' | head -40 >"$out/stage$stage.txt" || true
echo "flamegraph: wrote $out/stage$stage.svg (top functions: $out/stage$stage.txt)" >&2
