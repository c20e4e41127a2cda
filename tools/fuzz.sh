#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...]: fuzzes each TARGET (default: all) for SECONDS (default 60).
#
#   parser  the HTTP request parser (common/fuzz/parser_fuzz.cpp)
#   tls     the server side of the TLS layer: arbitrary bytes from a "client" go into a
#           server TlsSession over memory BIOs (common/fuzz/tls_fuzz.cpp says what it checks)
#   resp    the RESP2 command parser of kv-server (common/fuzz/resp_fuzz.cpp)
#   http2   the server side of HTTP/2: frames from a "client" into an Http2Session that answers
#           through a real HttpService (common/fuzz/http2_fuzz.cpp says what it checks)
#   proxy   the reverse proxy's parser of backend response heads (capstone-proxy/fuzz/)
#   aof     kv-server's reader of its append-only file, over arbitrary file contents
#           (capstone-kv/fuzz/aof_fuzz.cpp says what it checks)
#
# Each target is built with only the sources it needs, using clang and libFuzzer +
# AddressSanitizer + UndefinedBehaviorSanitizer, into build/fuzz/TARGET/, then run over a
# scratch copy of its seed corpus (the committed corpus is never modified). Exits
# non-zero when the fuzzer finds a crash, a sanitizer report or a broken invariant; the
# reproducer is left in build/fuzz/TARGET/crash-*. To replay one:
#     build/fuzz/parser/parser_fuzz build/fuzz/parser/crash-<sha1>
#     TLS_FUZZ_CERTS=build/fuzz/tls/certs build/fuzz/tls/tls_fuzz build/fuzz/tls/crash-<sha1>
# Environment: FUZZ_CXX (default clang++), FUZZ_JOBS (parallel fuzzers, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: tools/fuzz.sh [SECONDS] [parser|tls|resp|http2|proxy|aof]..." >&2; exit 2; }

seconds=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(parser tls resp http2 proxy aof)
for t in "${targets[@]}"; do
  case "$t" in parser|tls|resp|http2|proxy|aof) ;; *) usage ;; esac
done

tools/deps.sh build fuzz
cxx=${FUZZ_CXX:-clang++}
jobs=${FUZZ_JOBS:-1}

# fuzz_one NAME CORPUS MAX_LEN -- SOURCES... -- FUZZER_ARGS...: build, then run for $seconds.
fuzz_one() {
  local name=$1 corpus=$2 max_len=$3
  shift 3
  local sources=() run_args=() libs=()
  [ "$1" = "--" ] && shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do sources+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  run_args=("$@")
  [ "$name" = tls ] && libs=(-lssl -lcrypto)
  [ "$name" = http2 ] && libs=(-lnghttp2 -lfmt -lcrypto)

  local out=build/fuzz/$name
  mkdir -p "$out"
  echo "== building $out/${name}_fuzz"
  "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Icommon/include "${sources[@]}" "${libs[@]}" -o "$out/${name}_fuzz"

  rm -rf "$out/corpus"
  cp -r "$corpus" "$out/corpus"
  rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*

  echo "== fuzzing $name for ${seconds}s"
  local parallel=()
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")  # writes fuzz-N.log in $out
  local status=0
  (
    cd "$out"
    "./${name}_fuzz" corpus -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix=./ -print_final_stats=1 "${run_args[@]}" \
      "${parallel[@]}"
  ) 2>"$out/fuzz.log" || status=$?
  tail -n 25 "$out/fuzz.log"

  if [ "$status" -ne 0 ] || ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
    echo "fuzz.sh: $name FAILED (exit $status); reproducer(s):" >&2
    ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || true
    return 1
  fi
  echo "fuzz.sh: $name: no crash in ${seconds}s"
}

for t in "${targets[@]}"; do
  case "$t" in
    parser)
      fuzz_one parser common/fuzz/corpus 2048 -- \
        common/fuzz/parser_fuzz.cpp common/src/http/request.cpp common/src/http/parser.cpp \
        common/src/http/uri.cpp common/src/http/mime.cpp -- \
        -dict=../../../common/fuzz/http.dict
      ;;
    tls)
      tools/make-test-certs.sh build/fuzz/tls/certs >/dev/null
      export TLS_FUZZ_CERTS=certs  # relative to build/fuzz/tls, where the fuzzer runs
      fuzz_one tls common/fuzz/tls-corpus 4096 -- \
        common/fuzz/tls_fuzz.cpp common/src/tls/context.cpp common/src/tls/session.cpp --
      ;;
    resp)
      fuzz_one resp common/fuzz/resp-corpus 1024 -- \
        common/fuzz/resp_fuzz.cpp common/src/resp/parser.cpp --
      ;;
    http2)
      # log.cpp is built by g++ (uninstrumented): clang 14 cannot capture structured
      # bindings in lambdas, which it uses. Everything HTTP/2 touches is instrumented.
      mkdir -p build/fuzz/http2
      g++ -std=c++20 -g -O1 -Icommon/include -c common/src/log.cpp -o build/fuzz/http2/log.o
      fuzz_one http2 common/fuzz/http2-corpus 4096 -- \
        common/fuzz/http2_fuzz.cpp common/src/http2/frame.cpp common/src/http2/session.cpp \
        common/src/http/service.cpp common/src/http/static_files.cpp \
        common/src/http/file_cache.cpp common/src/http/response.cpp common/src/http/request.cpp \
        common/src/http/parser.cpp common/src/http/uri.cpp common/src/http/mime.cpp \
        common/src/http/date.cpp common/src/http/access_log.cpp common/src/http/form.cpp \
        common/src/http/router.cpp common/src/http/request_id.cpp \
        common/src/http/rate_limit.cpp common/src/http/auth.cpp common/src/http/api_notes.cpp \
        common/src/http/middleware_state.cpp common/src/socket.cpp \
        common/src/metrics.cpp common/src/fd.cpp common/src/buffer.cpp common/src/rio.cpp \
        build/fuzz/http2/log.o --
      ;;
    proxy)  # the reverse proxy's parser of backend response heads (capstone-proxy/)
      fuzz_one proxy capstone-proxy/fuzz/corpus 1024 -- \
        capstone-proxy/fuzz/response_head_fuzz.cpp capstone-proxy/response_head.cpp \
        common/src/http/request.cpp --
      ;;
    aof)  # kv-server's append-only file reader (capstone-kv/aof_reader.cpp)
      fuzz_one aof capstone-kv/fuzz/corpus 2048 -- \
        capstone-kv/fuzz/aof_fuzz.cpp capstone-kv/aof_reader.cpp common/src/resp/parser.cpp --
      ;;
  esac
done
