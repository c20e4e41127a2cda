#!/bin/bash
# proxy_front.sh [BACKEND-ARGS...]: a backend with http-proxy in front,
# started and stopped as one server, so a black-box suite written for one server
# binary (tests/http, the conformance suite) can judge the pair.
#
#   1. starts $PROXY_FRONT_BACKEND BACKEND-ARGS... (which must print "listening on
#      HOST:PORT" first; if it exits instead, so does this script, with its status);
#   2. starts $PROXY_FRONT_PROXY --port 0 --upstream 127.0.0.1:PORT, plus the backend's request
#      limits and timeouts that a client can observe through the proxy (so a suite's
#      --header-timeout 1 applies to the hop the client talks to);
#   3. the proxy's "listening on" line is this script's first stdout line;
#   4. SIGTERM/SIGINT stop both (by the PIDs started here) and exit with the proxy's status.
# Extra proxy flags may be given in $PROXY_FRONT_ARGS (space-separated).
set -u
backend=${PROXY_FRONT_BACKEND:?set PROXY_FRONT_BACKEND to the backend binary}
proxy=${PROXY_FRONT_PROXY:?set PROXY_FRONT_PROXY to http-proxy}

mirrored=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --header-timeout|--keepalive-timeout|--max-header-bytes|--max-body|--max-request-line|--max-headers|\
    --admin|--max-keepalive-requests|--error-log-rate|--log-level)
      mirrored+=("${args[i]}" "${args[i + 1]}") ;;
  esac
done

# The backend's stdout on a descriptor of ours (process substitution; $! is its PID).
# Not a coproc: bash unsets a coproc's variables when it exits, which races a backend
# that refuses its flags and exits at once.
exec {from_backend}< <(exec "$backend" "$@")
backend_pid=$!
if ! IFS= read -r -t 10 line <&"$from_backend"; then
  kill -TERM "$backend_pid" 2>/dev/null
  wait "$backend_pid"
  exit $?  # a refused flag: the backend's own status and message
fi
port=${line##*:}

# shellcheck disable=SC2086
"$proxy" --port 0 --upstream "127.0.0.1:$port" --log-level warn "${mirrored[@]}" \
  ${PROXY_FRONT_ARGS:-} &
proxy_pid=$!

stop() {
  kill -TERM "$proxy_pid" 2>/dev/null
  wait "$proxy_pid"
  status=$?
  kill -TERM "$backend_pid" 2>/dev/null
  wait "$backend_pid" 2>/dev/null
  exit "$status"
}
trap stop TERM INT
wait "$proxy_pid"
status=$?
kill -TERM "$backend_pid" 2>/dev/null
wait "$backend_pid" 2>/dev/null
exit "$status"
