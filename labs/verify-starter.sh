#!/usr/bin/env bash
# verify-starter.sh: every week's `check-lab` in the starter tree ends in time, by name.
#
#   labs/verify-starter.sh [STARTER_DIR]      (default build/handout, as verify-handout.sh left it)
#
# The starter tree has every lab region stubbed, as a student gets it. For each week 1-17
# this runs the tree's own labs/check-lab.sh against its debug build (STARTER_DIR/build/debug,
# configured by verify-handout.sh; nothing is built twice) and proves three things:
#   1. it ends within WEEK_LIMIT seconds (default 180): nothing hangs;
#   2. it ends the way an untouched starter tree must (the table below): a week whose
#      checks need an unwritten region stops with exit 3 and a line naming the region
#      ("[labNN:name] (file:line), still the stub"); a week with a lab of its own runs it
#      and fails (exit 1); week 10's part of the stage 4 suite needs no lab and passes;
#   3. no process started from the starter tree is left running afterwards.
# Exits 1 if any week misbehaves. Instructor-only (tools/handout.py leaves it out).
set -uo pipefail
cd "$(dirname "$0")/.."
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
    10) echo 0 ;;                      # the stage 4 tests that need no lab region
    *) echo 3 ;;                       # needs a region that is still the stub: stops by name
  esac
}

# Processes whose command line points into the starter tree (servers, test binaries).
leftovers() { ps -eo pid=,args= | grep -F "$tree/" | grep -v -e grep -e verify-starter || true; }

status=0
before=$(leftovers)
[ -z "$before" ] || echo "verify-starter: already running before the checks:"$'\n'"$before"
echo "== starter tree $tree: make check-lab for weeks 1-17 (each within ${limit} s)"
for n in $(seq 1 17); do
  week=$(printf 'week%02d' "$n")
  log="$bld/verify-starter-$week.log"
  start=$SECONDS
  rc=0
  timeout -k 10 "$limit" "$tree/labs/check-lab.sh" "$bld" "$week" >"$log" 2>&1 </dev/null || rc=$?
  took=$((SECONDS - start))
  want=$(expected_exit "$n")
  named=$(grep -o '\[lab[0-9][0-9]:[a-z0-9-]*\] ([^)]*), still the stub' "$log" | head -1 || true)
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
    0) what="passes" ;; 1) what="fails its checks" ;; 3) what="stops: $named" ;; *) what="exit $rc" ;;
  esac
  printf '  %s %4ss  %-60s %s\n' "$week" "$took" "${what:0:60}" "$verdict"
  if [ "$verdict" != ok ]; then
    status=1
    sed 's/^/      | /' "$log" | tail -15
  fi
done
[ "$status" = 0 ] && echo "== verify-starter: OK" || echo "== verify-starter: FAILED"
exit "$status"
