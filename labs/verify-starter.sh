#!/usr/bin/env bash
# verify-starter.sh: every week's `check-lab` in the starter tree ends in time, by name.
#
#   labs/verify-starter.sh [STARTER_DIR]      (default build/handout, as verify-handout.sh left it)
#
# The starter tree has every lab region stubbed, as a student gets it. For each week (1-17,
# then the advanced track)
# this runs the tree's own labs/check-lab.sh against its debug build (STARTER_DIR/build/debug,
# configured by verify-handout.sh; nothing is built twice) and proves three things:
#   1. it ends within WEEK_LIMIT seconds (default 180): nothing hangs;
#   2. it ends the way an untouched starter tree must (the table below): a week whose
#      checks need an unwritten region stops with exit 3 and a line naming the region
#      ("[labNN:name] (file:line), still the stub"); a week with a lab of its own runs it
#      and fails (exit 1);
#   3. no process started from the starter tree is left running afterwards.
# Exits 1 if any week misbehaves. Instructor-only (tools/handout.py leaves it out).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
tree=$(cd "${1:-build/handout}" && pwd)
bld=$tree/build/debug
limit=${WEEK_LIMIT:-180}
[ -x "$tree/labs/check-lab.sh" ] && [ -d "$bld" ] || {
  echo "verify-starter: $tree is not a configured starter tree (run labs/verify-handout.sh)" >&2
  exit 2
}

# The exit status each week's check-lab must end with in an untouched starter tree.
expected_exit() {
  case $1 in
    2|3|4|8|11|12|14|15|16) echo 1 ;;  # the week's own lab check runs and fails on the stub
    1|5|6|7|9|10|13|17) echo 3 ;;      # needs a region that is still the stub: stops by name
    *) echo 1 ;;                       # the advanced track (18-): each week has its own check
  esac
}

# Processes whose command line points into the starter tree (servers, test binaries).
leftovers() { ps -eo pid=,args= | grep -F "$tree/" | grep -v -e grep -e verify-starter || true; }

# What the weeks' checks build (week 10: the stage 4 tests; the lab checks), built once up
# front so the per-week bound measures the checks, not the first build of the tree.
echo "== starter tree: building what the weeks' checks run (deps_stage4, lab-checks, echo-server)"
t=$SECONDS
cmake --build "$bld" --target deps_stage4 lab-checks echo-server \
  >"$bld/verify-starter-build.log" 2>&1 || {
  cat "$bld/verify-starter-build.log" >&2; echo "verify-starter: the starter tree does not build" >&2
  exit 1
}
echo "   ($((SECONDS - t)) s)"

status=0
before=$(leftovers)
[ -z "$before" ] || echo "verify-starter: already running before the checks:"$'\n'"$before"
last_week=$(ls -d "$tree"/labs/week[0-9][0-9]-* | sed -n 's|.*/week\([0-9][0-9]\)-.*|\1|p' | sort -n | tail -1)
last_week=$((10#$last_week))
echo "== starter tree $tree: make check-lab for weeks 1-$last_week (each within ${limit} s)"
for n in $(seq 1 "$last_week"); do
  week=$(printf 'week%02d' "$n")
  ls -d "$tree"/labs/"$week"-* >/dev/null 2>&1 || continue  # a number with no handout
  log="$bld/verify-starter-$week.log"
  start=$SECONDS
  rc=0
  timeout -k 10 "$limit" "$tree/labs/check-lab.sh" "$bld" "$week" >"$log" 2>&1 </dev/null || rc=$?
  took=$((SECONDS - start))
  want=$(expected_exit "$n")
  named=$(grep -o '\[lab[0-9][0-9]:[a-z0-9-]*\] ([^)]*), still the stub' "$log" | head -1 || true)
  named=${named%, still the stub}
  verdict=ok
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    verdict="TIMED OUT after ${limit} s"
  elif [ "$rc" != "$want" ]; then
    verdict="exit $rc, expected $want"
  elif [ "$rc" = 3 ] && [ -z "$named" ]; then
    verdict="exit 3 without naming the region at fault"
  fi
  left=$(leftovers)
  if [ -n "$left" ] && [ "$left" != "$before" ]; then
    verdict="left processes behind: $(echo "$left" | awk '{print $1}' | tr '\n' ' ')"
    echo "$left" | awk '{print $1}' | while read -r pid; do kill -KILL "$pid" 2>/dev/null; done
  fi
  case $rc in
    0) what="passes" ;; 1) what="fails its checks" ;; 3) what="stops: needs $named, still the stub" ;; *) what="exit $rc" ;;
  esac
  printf '  %s %4ss  %-82s %s\n' "$week" "$took" "$what" "$verdict"
  if [ "$verdict" != ok ]; then
    status=1
    sed 's/^/      | /' "$log" | tail -15
  fi
done
# Week 1's exercise works in week 1: on the starter's naive one-call read_n/write_n, the
# echo server sends a short line back (the handout does it with nc).
echo "== starter tree: week01's exercise, one line through echo-server on the naive stubs"
out=$(mktemp)
"$bld/stage1-echo/echo-server" --port 0 >"$out" 2>/dev/null </dev/null &
echo_pid=$!
got=$(timeout 20 python3 - "$out" <<'PY'
import socket, sys, time
deadline = time.time() + 10
while time.time() < deadline:
    first = open(sys.argv[1]).readline()
    if first.startswith("listening on "):
        break
    time.sleep(0.05)
port = int(first.rsplit(":", 1)[1])
with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
    c.sendall(b"hello, week 1\n")
    print(c.recv(100).decode(errors="replace"), end="")
PY
) || true
kill "$echo_pid" 2>/dev/null; wait "$echo_pid" 2>/dev/null; rm -f "$out"
if [ "$got" = "hello, week 1" ]; then
  echo "  echoed: ok"
else
  echo "  FAILED: expected the line back, got '${got}'"; status=1
fi

# The bound itself: week 13 with the region check skipped runs the stage 4 suite against the
# unwritten dispatch. Whether the servers stop by name or hang, the run must end by
# CHECK_LAB_TIMEOUT plus the kill grace, and leave no process behind.
bound=${BOUND_TEST_TIMEOUT:-30}
echo "== starter tree: week13's suite on the unwritten dispatch, region check skipped, bound ${bound} s"
t=$SECONDS
rc=0
CHECK_LAB_SKIP_REGIONS=1 CHECK_LAB_TIMEOUT=$bound timeout -k 10 $((bound + 60)) \
  "$tree/labs/check-lab.sh" "$bld" week13 >"$bld/verify-starter-bound.log" 2>&1 </dev/null || rc=$?
took=$((SECONDS - t))
left=$(leftovers)
if [ "$rc" = 0 ]; then
  echo "  FAILED: the stage 4 suite passed on the stub"; status=1
elif [ "$took" -gt $((bound + 20)) ]; then
  echo "  FAILED: took ${took} s, bound ${bound} s"; status=1
elif [ -n "$left" ] && [ "$left" != "$before" ]; then
  echo "  FAILED: left processes behind:"$'\n'"$left"; status=1
else
  echo "  ended in ${took} s (exit $rc), nothing left running: ok"
fi

# The gate by itself, as a student partway through: a scratch copy of the starter tree's
# sources in which weeks 2-4 (and 8) are written, taken from the reference. The week's
# checks must then name the next region missing, not the first one in the tree.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$tree/labs" "$tree/common" "$tree/stage"* "$scratch/"
# Every reference file holding a region of weeks 2, 3, 4 or 8, wherever it lives.
for f in $(grep -rlE '// \[lab0[2348]:[a-z0-9-]+:begin\]' common stage*); do
  cp "$f" "$scratch/$f"
done
echo "== gate: weeks 2-4 and 8 written, the rest still the stub"
for check in "week09:0" "week10:0" "week13:lab11:event-loop-dispatch" "week17:lab11:event-loop-dispatch"; do
  week=${check%%:*} want=${check#*:}
  case $week in
    week09) needs="lab02 lab03 lab04 lab08" ;; week10) needs="lab02 lab03 lab04" ;;
    *) needs="lab02 lab03 lab04 lab11" ;;
  esac
  out=$("$scratch/labs/regions.py" --for "$week's checks" --require $needs 2>&1) && rc=0 || rc=$?
  if { [ "$want" = 0 ] && [ "$rc" = 0 ]; } || { [ "$rc" = 3 ] && grep -qF "[$want]" <<<"$out"; }; then
    printf '  %s  %-70s ok\n' "$week" "${out:-nothing missing}"
  else
    printf '  %s  exit %s, expected %s: %s  FAILED\n' "$week" "$rc" "$want" "$out"; status=1
  fi
done

[ "$status" = 0 ] && echo "== verify-starter: OK" || echo "== verify-starter: FAILED"
exit "$status"
