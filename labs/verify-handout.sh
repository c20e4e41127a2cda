#!/usr/bin/env bash
# verify-handout.sh: prove the lab checks in both directions.
#
#   labs/verify-handout.sh [REFERENCE_BUILD_DIR]
#
# 1. Every marked region's checks (the Catch2 test cases tagged with the region's
#    name) must PASS on the reference build (default build/debug; skipped when the
#    directory has no lab checks built).
# 2. tools/handout.py writes the student tree to build/handout; it is configured
#    with its own debug preset and SERVERLAB_WERROR=ON (build/handout/build/debug, where
#    a student's `make` builds, so labs/verify-starter.sh and tools/check-commands.py
#    reuse the same build) and only the lab checks are built: every stub must compile
#    warning-free.
# 3. Every region's checks must FAIL there. A check that passes on the stub proves
#    nothing, so it fails this script.
#
# Exits non-zero on the first structural problem, and after the loop if any region
# misbehaved. Each check run is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ref=${1:-build/debug}
out=${HANDOUT_DIR:-build/handout}
bld=$out/build/debug
jobs=${JOBS:-2}
limit=${LAB_TIMEOUT:-120}

regions=$(tools/handout.py --list | awk '{print $1}')
[ -n "$regions" ] || { echo "verify-handout: no lab regions found" >&2; exit 1; }

# Runs lab_weekNN's tests tagged [name] from build dir $1; prints the exit status.
run_region() {
  local dir=$1 key=$2 lab=${2%%:*} name=${2#*:}
  local exe="$dir/labs/lab_week${lab#lab}"
  if [ ! -x "$exe" ]; then echo missing; return; fi
  local count
  count=$("$exe" --list-test-names-only "[$name]" 2>/dev/null | grep -c . || true)
  if [ "$count" -eq 0 ]; then echo untested; return; fi
  local rc=0
  timeout "$limit" "$exe" "[$name]" >"$dir/labs/verify-${lab}-${name}.log" 2>&1 || rc=$?
  echo "$rc"
}

status=0
if [ -d "$ref/labs" ]; then
  echo "== reference ($ref): every region's checks pass"
  cmake --build "$ref" -j "$jobs" --target lab-checks >/dev/null
  for key in $regions; do
    rc=$(run_region "$ref" "$key")
    if [ "$rc" = 0 ]; then
      printf '  %-32s pass\n' "$key"
    else
      printf '  %-32s FAILED on the reference (%s; see %s/labs/verify-*.log)\n' "$key" "$rc" "$ref"
      status=1
    fi
  done
else
  echo "== reference: $ref has no lab checks; skipped"
fi

echo "== handout: generate $out, build the lab checks with -Werror in $bld"
tools/handout.py --force --out "$out"
(cd "$out" && SERVERLAB_WERROR=ON cmake --preset debug >/dev/null)
cmake --build "$bld" -j "$jobs" --target lab-checks

echo "== handout: every region's checks fail on the stub"
for key in $regions; do
  rc=$(run_region "$bld" "$key")
  case $rc in
    0) printf '  %-32s PASSED on the stub: the check proves nothing\n' "$key"; status=1 ;;
    missing) printf '  %-32s no check executable\n' "$key"; status=1 ;;
    untested) printf '  %-32s no test case tagged [%s]\n' "$key" "${key#*:}"; status=1 ;;
    124) printf '  %-32s TIMED OUT on the stub (a check must fail, not hang)\n' "$key"; status=1 ;;
    *) printf '  %-32s fails on the stub (exit %s), as it should\n' "$key" "$rc" ;;
  esac
done
[ "$status" = 0 ] && echo "== verify-handout: OK" || echo "== verify-handout: FAILED"
exit "$status"
