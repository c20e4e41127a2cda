#!/usr/bin/env bash
# check-lab.sh: run one week's checks with readable output (what `make check-lab` calls).
#
#   labs/check-lab.sh BUILD_DIR week02 [TAG]     (also accepted: 2, week2, lab02)
#
# What runs, by week (labs/README.md, "Which checks run in which week"):
#   - a week with an implement-it-yourself lab runs its Catch2 check, lab_weekNN, directly,
#     so each failed expectation and the values it compared go straight to the terminal.
#     TAG (e.g. bounded-queue-pop, or lab08:bounded-queue-pop) runs one anchor's cases.
#   - another week runs its stage's tests through ctest: the whole stage suite, or for a
#     week set before the stage's server can serve, the part of it that works that week.
#
# Before anything runs, labs/regions.py checks the lab regions those tests need: one that
# is still the stub stops the run at once (exit 3) with a line naming the region, its
# file and its handout, instead of starting servers that cannot work.
#
# CHECK_LAB_LIST=1 lists a week's stage-suite tests (ctest -N) instead of running them.
#
# Every run is bounded (CHECK_LAB_TIMEOUT seconds, default 120 for a lab check and 600
# for a suite) and labs/bounded.py stops whatever it left running when it ends, so a
# hung or crashed test never leaves a server behind. The build's warnings are shown.
#
# Exit status: 0 every check passed; 1 a check failed, no test matched, or the build
# failed; 2 bad usage; 3 a region these checks need is still the stub; 124 time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: labs/check-lab.sh BUILD_DIR weekNN [TAG]   (make check-lab LAB=weekNN [TAG=name])" >&2
  exit 2
}
# Weeks 1-17 are the course; weeks 18 and later are its advanced track (labs/README.md).
last_week=$(ls -d labs/week[0-9][0-9]-* | sed -n 's|^labs/week\([0-9][0-9]\)-.*|\1|p' | sort -n | tail -1)
last_week=$((10#$last_week))
build=${1:-}
lab=${2:-}
tag=${3:-}
[ -n "$build" ] || usage
if [ -z "$lab" ]; then
  echo "usage: make check-lab LAB=weekNN   (weeks 01-$last_week; weeks with a lab of their own:" \
       "$(ls labs/checks | sed -n 's/^\(week[0-9][0-9]\)_.*/\1/p' | sort -u | tr '\n' ' '))" >&2
  exit 2
fi
num=$(printf '%s' "$lab" | tr -dc '0-9')
if [ -z "$num" ] || [ "$((10#$num))" -lt 1 ] || [ "$((10#$num))" -gt "$last_week" ]; then
  echo "check-lab: '$lab' is not a week 1-$last_week" >&2
  exit 2
fi
n=$((10#$num))
week=$(printf 'week%02d' "$n")
readme=$(ls -d labs/"$week"-*/README.md 2>/dev/null | head -1 || true)
readme=${readme:-labs/README.md}

# What each week without a lab of its own runs, and the regions (labNN = all of that
# week's regions) those tests need. Keep in step with labs/README.md.
server_labs="lab02 lab03 lab04"   # the HTTP core every HTTP server uses
tests=""
needs=""
why=""
case $n in
  1)  tests='^stage1$'; needs="lab02"
      why="the echo server reads and writes with week 2's robust I/O" ;;
  5)  tests='^stage2$'; needs="$server_labs" ;;
  6|7) tests='^stage2$'; needs="$server_labs"
      why="the stage 3 suite needs week 8's bounded queue, so weeks 6-7 re-check stage 2" ;;
  9)  tests='^stage3$'; needs="$server_labs lab08" ;;
  10) tests='^stage4_(timer_heap|session_pool)_test$'; needs="$server_labs"
      why="the rest of the stage 4 suite runs the event loop whose dispatch is week 11's lab" ;;
  13) tests='^stage4$'; needs="$server_labs lab11" ;;
  17) tests='^stage5$'; needs="$server_labs lab11 lab14 lab15 lab16" ;;
esac

# run_bounded LIMIT CMD...: at most LIMIT seconds, then nothing it started is left running
# (labs/bounded.py: a server a timed-out test lost track of is stopped too).
run_bounded() {
  local limit=$1 rc=0
  shift
  labs/bounded.py "$limit" "$@" || rc=$?
  if [ "$rc" = 124 ]; then
    echo "== $week: stopped after ${limit} s (CHECK_LAB_TIMEOUT): a check hangs" >&2
  fi
  return "$rc"
}

# build TARGET...: builds quietly, then shows the warnings (a successful build may have
# some: CI builds with -Werror), or everything when the build failed.
build_targets() {
  local log="$build/check-lab-build.log"
  echo "== $week: building $*"
  if ! cmake --build "$build" --target "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "== $week: the build failed (errors above)" >&2
    exit 1
  fi
  if grep -q 'warning:' "$log"; then
    grep -v '^\[[0-9]*/[0-9]*\] ' "$log" >&2 || true
    echo "== $week: the build has warnings (above); CI treats them as errors" >&2
  fi
}

# CHECK_LAB_SKIP_REGIONS=1 runs the tests even so (labs/verify-starter.sh uses it to prove
# that a run against unwritten regions still ends within its bound and leaves nothing behind).
if [ -n "$needs" ] && [ -z "${CHECK_LAB_SKIP_REGIONS:-}" ]; then
  # shellcheck disable=SC2086
  rc=0; labs/regions.py --for "$week's checks" --require $needs || rc=$?
  if [ "$rc" = 3 ]; then
    echo "== $week: stopped before running anything${why:+ ($why)}." >&2
    echo "   labs/regions.py lists every region and whether it is still the stub." >&2
    exit 3
  fi
  [ "$rc" = 0 ] || exit "$rc"
fi

if ls labs/checks/"$week"_*.cpp >/dev/null 2>&1; then
  build_targets "lab_$week"
  exe="$build/labs/lab_$week"
  filter=()
  if [ -n "$tag" ]; then
    tag=${tag#[}; tag=${tag%]}; tag=${tag#lab[0-9][0-9]:}
    filter=("[$tag]")
  fi
  colour=no
  [ -t 1 ] && colour=yes
  echo "== $week: running $exe ${filter[*]}"
  # --warn NoTests: a filter that matches no test case is a failure, not a silent pass.
  if run_bounded "${CHECK_LAB_TIMEOUT:-120}" "$exe" --use-colour "$colour" --warn NoTests \
       "${filter[@]}"; then
    echo "== $week: every check passes. Next: the exercises and writeup in $readme"
  else
    tags=$("$exe" --list-tags 2>/dev/null | grep -o '\[[a-z0-9-]*\]' | sort -u | tr '\n' ' ' || true)
    echo "== $week: some checks fail (or none matched). The tags ($tags) name the anchors:"
    echo "   [read-n] checks the code between '// [lab02:read-n:begin]' and ':end]'."
    echo "   One tag alone:  make check-lab LAB=$week TAG=name   (or $exe '[name]' -s)"
    exit 1
  fi
else
  [ -z "$tag" ] || { echo "check-lab: $week has no lab check, so no TAG" >&2; exit 2; }
  case $tests in
    ^stage?\$) stage=${tests:1:6}; what="the $stage suite (ctest -L '$tests')"
               select=(-L "$tests") ;;
    *)         stage=stage4; what="the stage 4 tests that work before week 11 (ctest -R '$tests')"
               select=(-R "$tests") ;;
  esac
  echo "== $week has no lab check of its own; running $what${why:+ ($why)}"
  build_targets "deps_$stage" lab-checks
  # CHECK_LAB_LIST=1 lists the tests instead of running them (ctest -N). CI sets it when it
  # checks the handouts' commands in the reference tree, whose whole suite it has just run.
  list=()
  [ -n "${CHECK_LAB_LIST:-}" ] && list=(-N)
  # --no-tests=error: a selection that matches nothing fails instead of passing.
  rc=0
  run_bounded "${CHECK_LAB_TIMEOUT:-600}" ctest --test-dir "$build" "${select[@]}" "${list[@]}" \
    --output-on-failure --no-tests=error || rc=$?
  [ "$rc" = 124 ] && exit 124
  if [ "$rc" != 0 ]; then
    echo "== $week: some tests fail (their output is above; ctest exit $rc)"
    exit 1
  fi
  if [ -n "${CHECK_LAB_LIST:-}" ]; then
    echo "== $week: listed, not run (CHECK_LAB_LIST)"
    exit 0
  fi
  echo "== $week: every check passes. Next: the exercises and writeup in $readme"
fi
