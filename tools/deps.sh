#!/usr/bin/env bash
# deps.sh [build|bench|fuzz|coverage|profile]...: makes sure the Debian packages serverlab needs are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact
# command to run and exits 1. Installs nothing that is already there.
set -euo pipefail

build_pkgs=(g++ cmake ninja-build make libgtest-dev libgmock-dev libfmt-dev nlohmann-json3-dev
            libssl-dev openssl catch2 python3 procps netcat-openbsd curl
            libtomlplusplus-dev libnghttp2-dev
            redis-server redis-tools python3-redis python3-h2 nghttp2-client)
# redis-server, redis-cli, python3-redis, python3-h2 and nghttp are test clients and
# reference peers (capstone-kv's differential test, the HTTP/2 tests), so they are build deps.
bench_pkgs=(wrk nginx-light lighttpd h2o haproxy socat gnuplot-nox strace util-linux)
fuzz_pkgs=(clang libclang-rt-14-dev)
coverage_pkgs=(gcovr)
profile_pkgs=(linux-perf wrk valgrind strace)  # make flamegraph, docs/PROFILING.md

want=()
for set in "${@:-build}"; do
  case "$set" in
    build) want+=("${build_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    fuzz)  want+=("${fuzz_pkgs[@]}") ;;
    coverage) want+=("${coverage_pkgs[@]}") ;;
    profile) want+=("${profile_pkgs[@]}") ;;
    *) echo "deps.sh: unknown set '$set' (build, bench, fuzz, coverage, profile)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "serverlab needs these Debian packages. Run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
