#!/usr/bin/env bash
# fuzz-tls.sh [SECONDS]: fuzzes the server side of the TLS layer for SECONDS
# (default 60): arbitrary bytes from a "client" go into a server TlsSession over
# memory BIOs (common/fuzz/tls_fuzz.cpp says what it checks).
#
# Builds with clang and libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer
# into build/fuzz-tls/, with throwaway certificates from tools/make-test-certs.sh,
# and runs over a scratch copy of the seed corpus (real ClientHellos; the
# committed corpus is never modified). Exits non-zero when the fuzzer finds a
# crash, a sanitizer report or a broken invariant; the reproducer is left in
# build/fuzz-tls/crash-*:
#     TLS_FUZZ_CERTS=build/fuzz-tls/certs build/fuzz-tls/tls_fuzz build/fuzz-tls/crash-<sha1>
# Environment: FUZZ_CXX (default clang++).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case "$seconds" in
  ''|*[!0-9]*) echo "usage: tools/fuzz-tls.sh [SECONDS]" >&2; exit 2 ;;
esac

tools/deps.sh build fuzz

out=build/fuzz-tls
cxx=${FUZZ_CXX:-clang++}
mkdir -p "$out"
tools/make-test-certs.sh "$out/certs"

sources=(common/fuzz/tls_fuzz.cpp common/src/tls/context.cpp common/src/tls/session.cpp)
echo "== building $out/tls_fuzz"
"$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Icommon/include "${sources[@]}" -lssl -lcrypto -o "$out/tls_fuzz"

rm -rf "$out/corpus"
cp -r common/fuzz/tls-corpus "$out/corpus"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*

echo "== fuzzing for ${seconds}s"
status=0
(
  cd "$out"
  TLS_FUZZ_CERTS=certs ./tls_fuzz corpus -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix=./ -print_final_stats=1
) 2>"$out/fuzz.log" || status=$?
tail -n 25 "$out/fuzz.log"

if [ "$status" -ne 0 ] || ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
  echo "fuzz-tls.sh: FAILED (exit $status); reproducer(s):" >&2
  ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || true
  exit 1
fi
echo "fuzz-tls.sh: no crash in ${seconds}s"
