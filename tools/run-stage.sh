#!/usr/bin/env bash
# run-stage.sh BUILD_DIR STAGE [extra flags]: starts one stage's server in the foreground.
set -euo pipefail
build=$1; stage=$2; shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$stage" in
  1) exec "$build/stage1-echo/echo-server" --port 4000 "$@" ;;
  2) exec "$build/stage2-http-seq/http-seq" --port 8080 --root "$root/www" "$@" ;;
  3) exec "$build/stage3-threadpool/http-threadpool" --port 8080 --root "$root/www" "$@" ;;
  4) exec "$build/stage4-epoll/http-epoll" --port 8080 --root "$root/www" "$@" ;;
  5) exec "$build/stage5-prefork/http-prefork" --port 8080 --root "$root/www" "$@" ;;
  *) echo "run-stage.sh: STAGE must be 1, 2, 3, 4 or 5 (got '$stage')" >&2; exit 2 ;;
esac
