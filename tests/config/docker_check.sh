#!/usr/bin/env bash
# docker_check.sh SOURCE_DIR BUILD_DIR: checks the Dockerfile and compose.yaml as far as
# this machine can without pulling an image (no registry is reachable here):
#   1. the build stage's steps are the project's own: tools/deps.sh sets and Makefile
#      targets that exist;
#   2. every binary copied from the build exists in BUILD_DIR (same layout, any preset);
#   3. every shared library those binaries link comes from a package the run stage
#      installs (or from libc6/libstdc++6/libgcc-s1, which debian:12-slim has);
#   4. the run stage has a non-root USER and a HEALTHCHECK on /-/health;
#   5. compose.yaml's mounted config passes --check-config with compose's environment;
#   6. the HEALTHCHECK command succeeds against http-prefork started with that config.
# Exit 0 when all hold; otherwise one line per problem and exit 1.
set -uo pipefail
src=$1
build=$2
dockerfile=$src/Dockerfile
compose=$src/compose.yaml
problems=0
fail() { echo "docker_check: $*" >&2; problems=$((problems + 1)); }

# 1. RUN steps of the build stage.
build_runs=$(sed -n '/^FROM .* AS build/,/^FROM /p' "$dockerfile" | grep '^RUN ')
[ -n "$build_runs" ] || fail "no RUN step in the build stage"
for target in $(grep -o 'make [a-z-]*' <<<"$build_runs" | awk '{print $2}'); do
  grep -q "^$target:" "$src/Makefile" || fail "Dockerfile runs 'make $target': no such Makefile target"
done
for set in $(grep -o 'tools/deps.sh[a-z ]*' <<<"$build_runs" | cut -d' ' -f2-); do
  grep -q "^ *$set)" "$src/tools/deps.sh" || fail "Dockerfile runs tools/deps.sh $set: no such set"
done
grep -q '^FROM debian:12 AS build' "$dockerfile" || fail "the build stage is not debian:12"
grep -q '^FROM debian:12-slim' "$dockerfile" || fail "the run stage is not debian:12-slim"

# 2 and 3. The binaries and the libraries they need.
packages=$(sed -n '/^FROM debian:12-slim/,$p' "$dockerfile" | grep -o 'install -y --no-install-recommends [a-z0-9 .+-]*' \
           | cut -d' ' -f4-)
binaries=$(grep -o 'COPY --from=build /src/build/release/[^ ]*' "$dockerfile" | sed 's|.*/build/release/||')
[ -n "$binaries" ] || fail "no binary is copied from the build stage"
for rel in $binaries; do
  bin=$build/$rel
  if [ ! -x "$bin" ]; then fail "the Dockerfile copies $rel: not built in $build"; continue; fi
  for lib in $(ldd "$bin" | awk '/=>/ {print $3}'); do
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
    case "$pkg" in libc6|libstdc++6|libgcc-s1) continue ;; esac
    # A sanitizer build (asan, tsan presets) links its runtime; the image's release build does not.
    case "$pkg" in libasan*|libubsan*|libtsan*|liblsan*) continue ;; esac
    grep -qw "$pkg" <<<"$packages" || fail "$rel links $lib from package '$pkg', which the run stage does not install"
  done
done

# 4. A non-root user, and the health check.
user=$(sed -n '/^FROM debian:12-slim/,$p' "$dockerfile" | grep '^USER ' | tail -1 | awk '{print $2}')
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the run stage has no non-root USER"
health=$(grep -A1 '^HEALTHCHECK' "$dockerfile" | grep -o '"http://127.0.0.1:8080/-/health"')
[ -n "$health" ] || fail "no HEALTHCHECK on http://127.0.0.1:8080/-/health"

# 5. The mounted config, with compose's environment.
mount=$(grep -o '\./[^:]*:/etc/serverlab/serverlab.toml' "$compose" | cut -d: -f1)
[ -n "$mount" ] || fail "compose.yaml mounts no /etc/serverlab/serverlab.toml"
prefork=$build/stage5-prefork/http-prefork
if [ -n "$mount" ]; then
  env_args=()
  while read -r key value; do
    env_args+=("$key=${value//\"/}")
  done < <(sed -n '/environment:/,/^    [a-z_]*:$/p' "$compose" | grep -o 'SERVERLAB_[A-Z_]*: *"[^"]*"' | sed 's/: */ /')
  # Relative paths in the file (root = "www") are from the working directory: the
  # image's is /srv/serverlab, which holds www/ as the source tree does.
  if ! out=$(cd "$src" && env "${env_args[@]}" "$prefork" --check-config --config "$mount" 2>&1); then
    fail "the mounted $mount fails --check-config: $out"
  fi
fi

# 6. The HEALTHCHECK command against the server running that config.
if [ -n "$mount" ] && [ -x "$prefork" ]; then
  tmp=$(mktemp -d)
  (cd "$src" && exec "$prefork" --config "$mount" --port 0 --workers 1) >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "$tmp/out" && break
    sleep 0.1
  done
  port=$(head -1 "$tmp/out" | sed -n 's/^listening on .*:\([0-9]*\)$/\1/p')
  if [ -z "$port" ]; then
    fail "http-prefork with $mount did not start: $(head -1 "$tmp/err")"
  elif ! "$build/stage2-http-seq/http-get" --output /dev/null "http://127.0.0.1:$port/-/health"; then
    fail "the HEALTHCHECK command failed against http-prefork"
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$tmp"
fi

[ "$problems" -eq 0 ] && echo "docker_check: Dockerfile and compose.yaml hold up (no image built: none can be pulled here)"
[ "$problems" -eq 0 ]
