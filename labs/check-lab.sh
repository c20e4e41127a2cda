#!/usr/bin/env bash
# check-lab.sh: run one week's checks with readable output (what `make check-lab` calls).
#
#   labs/check-lab.sh BUILD_DIR week02      (also accepted: 2, week2, lab02)
#
# A week with an implement-it-yourself lab has a Catch2 check, lab_weekNN: it is
# built and run directly, so its output (each failed expectation with the values
# it compared) goes straight to the terminal. A week without one runs its stage's
# grading suite instead (ctest -L '^stageN$'). Exit status: 0 when every check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: labs/check-lab.sh BUILD_DIR weekNN}
lab=${2:-}
if [ -z "$lab" ]; then
  echo "usage: make check-lab LAB=weekNN   (weeks with unit checks:" \
       "$(ls labs/checks | sed -n 's/^\(week[0-9][0-9]\)_.*/\1/p' | sort -u | tr '\n' ' '))" >&2
  exit 2
fi
num=$(printf '%s' "$lab" | tr -dc '0-9')
if [ -z "$num" ] || [ "$((10#$num))" -lt 1 ] || [ "$((10#$num))" -gt 17 ]; then
  echo "check-lab: '$lab' is not a week 1-17" >&2
  exit 2
fi
week=$(printf 'week%02d' "$((10#$num))")
n=$((10#$num))
if   [ "$n" -le 2 ];  then stage=stage1
elif [ "$n" -le 5 ];  then stage=stage2
elif [ "$n" -le 9 ];  then stage=stage3
elif [ "$n" -le 13 ]; then stage=stage4
else stage=stage5; fi
readme=$(ls -d labs/"$week"-*/README.md 2>/dev/null | head -1 || true)

if ls labs/checks/"$week"_*.cpp >/dev/null 2>&1; then
  echo "== $week: building lab_$week"
  cmake --build "$build" --target "lab_$week" -- -k 0 >/dev/null || {
    echo "== $week: the build failed; rebuilding to show the errors" >&2
    cmake --build "$build" --target "lab_$week"
    exit 1
  }
  colour=no
  [ -t 1 ] && colour=yes
  echo "== $week: running $build/labs/lab_$week"
  if "$build/labs/lab_$week" --use-colour "$colour"; then
    echo "== $week: every check passes. Next: the exercises and writeup in ${readme:-labs/README.md}"
  else
    tags=$("$build/labs/lab_$week" --list-tags 2>/dev/null | grep -o '\[[a-z0-9-]*\]' | sort -u | tr '\n' ' ' || true)
    echo "== $week: some checks fail. The tags ($tags) are the anchors to look for:"
    echo "   [read-n] means the code between '// [labNN:read-n:begin]' and ':end]'."
    echo "   Run one tag alone:  $build/labs/lab_$week '[tag]'   (-s shows passing checks too)"
    exit 1
  fi
else
  echo "== $week has no unit check of its own; running the $stage grading suite"
  ctest --test-dir "$build" -L "^$stage\$" --output-on-failure
fi
