#!/usr/bin/env bash
# fuzz.sh [SECONDS]: fuzzes the HTTP request parser for SECONDS (default 60).
#
# Builds common/fuzz/parser_fuzz.cpp with only the sources it needs, using clang
# and libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer, into build/fuzz/,
# then runs it over a scratch copy of the seed corpus (the committed corpus is
# never modified). Exits non-zero when the fuzzer finds a crash, a sanitizer
# report or a broken invariant; the reproducer is left in build/fuzz/crash-*:
#     build/fuzz/parser_fuzz build/fuzz/crash-<sha1>     # replay it
# Environment: FUZZ_CXX (default clang++), FUZZ_JOBS (parallel fuzzers, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case "$seconds" in
  ''|*[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac

tools/deps.sh fuzz

out=build/fuzz
cxx=${FUZZ_CXX:-clang++}
mkdir -p "$out"

sources=(common/fuzz/parser_fuzz.cpp common/src/http/request.cpp common/src/http/parser.cpp
         common/src/http/uri.cpp common/src/http/mime.cpp)
echo "== building $out/parser_fuzz"
"$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Icommon/include "${sources[@]}" -o "$out/parser_fuzz"

rm -rf "$out/corpus"
cp -r common/fuzz/corpus "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*

echo "== fuzzing for ${seconds}s"
jobs=${FUZZ_JOBS:-1}
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")  # writes fuzz-N.log in $out
status=0
(
  cd "$out"
  ./parser_fuzz corpus -dict=../../common/fuzz/http.dict -max_total_time="$seconds" \
    -max_len=2048 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=./ -print_final_stats=1 \
    "${parallel[@]}"
) 2>"$out/fuzz.log" || status=$?
tail -n 25 "$out/fuzz.log"

if [ "$status" -ne 0 ] || ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
  echo "fuzz.sh: FAILED (exit $status); reproducer(s):" >&2
  ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || true
  exit 1
fi
echo "fuzz.sh: no crash in ${seconds}s"
