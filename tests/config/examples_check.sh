#!/usr/bin/env bash
# examples_check.sh SOURCE_DIR BUILD_DIR: every sample configuration in examples/ passes
# --check-config with the program it is written for, and a broken copy fails with
# exit 2 and its file:line:column (docs/CONFIG.md).
#   examples/serverlab.toml   http-prefork as is; http-seq, http-threadpool and
#                             http-epoll without its "http-prefork only" block
#   examples/echo.toml        echo-server
set -uo pipefail
src=$1
build=$2
problems=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "examples_check: $*" >&2; problems=$((problems + 1)); }

# check BINARY FILE: --check-config must exit 0 and say "configuration OK".
check() {
  local out
  out=$(cd "$src" && "$build/$1" --check-config --config "$2" 2>&1)
  local rc=$?
  [ $rc -eq 0 ] && grep -q "configuration OK" <<<"$out" || fail "$1 --check-config --config $2: exit $rc: $out"
}

check stage5-prefork/http-prefork examples/serverlab.toml
sed '/http-prefork only (begin)/,/http-prefork only (end)/d' "$src/examples/serverlab.toml" >"$tmp/shared.toml"
for bin in stage2-http-seq/http-seq stage3-threadpool/http-threadpool stage4-epoll/http-epoll; do
  check "$bin" "$tmp/shared.toml"
done
check stage1-echo/echo-server examples/echo.toml

# A wrong type on the autoindex line: exit 2, and the error names that line.
line=$(grep -n '^autoindex = ' "$src/examples/serverlab.toml" | cut -d: -f1)
sed 's/^autoindex = true/autoindex = "on"/' "$src/examples/serverlab.toml" >"$tmp/broken.toml"
out=$(cd "$src" && "$build/stage5-prefork/http-prefork" --check-config --config "$tmp/broken.toml" 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "a broken file: --check-config exited $rc, not 2"
grep -q "^http-prefork: $tmp/broken.toml:$line:13: \[http\] autoindex" <<<"$out" ||
  fail "a broken file: the error does not name $tmp/broken.toml:$line:13: $out"

[ "$problems" -eq 0 ] && echo "examples_check: every sample configuration passes --check-config"
[ "$problems" -eq 0 ]
