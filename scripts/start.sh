#!/usr/bin/env bash
# The README's run command (npm start): brings the local stack up, builds, and runs the worker
# and the gate in the foreground. Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stops both
# cleanly; the stack stays up (scripts/stack.sh down stops it). The stack's port variables move
# the services too (scripts/stack-env.sh), and FLUXGATE_GATE_PROCESSES=N runs N gate processes on
# the one port.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/stack-env.sh
source scripts/stack-env.sh
bash scripts/stack.sh up
npm run --silent build
# Local runs get an admin token so AdminService can be tried; set your own anywhere else.
if [ -z "${FLUXGATE_ADMIN_TOKEN:-}" ]; then
  export FLUXGATE_ADMIN_TOKEN=local-admin-token-change-me
  echo "[start] AdminService token for this local run: $FLUXGATE_ADMIN_TOKEN" >&2
fi
echo "[start] sale console: http://127.0.0.1:${FLUXGATE_GATE_PORT:-8080}/console (sign in with the admin token)" >&2
# Each service in a process group of its own (job control): a Ctrl-C, or a signal to this
# script's group (as `timeout` sends), reaches them only through the trap below, once. Reaching
# them directly as well made the trap's signal their second, and they exited without draining.
set -m
node dist/src/main-worker.js &
worker=$!
# A larger young generation: the order path allocates briskly, and fewer scavenges raised
# gate throughput by about 18 % in bench:gate (same flag in docker-compose.yml and the bench).
node --max-semi-space-size=32 dist/src/main-gate.js &
gate=$!
# Once only: the trap runs stop, then the interrupted wait below returns and reaches stop again,
# and a second SIGTERM makes a process exit at once instead of draining (src/run-main.ts).
stop() {
  [ -z "${stopping:-}" ] || return 0
  stopping=1
  kill -TERM "$gate" "$worker" 2>/dev/null || true
}
trap stop INT TERM HUP
# If either process exits, stop the other and exit with the first failure.
status=0
wait -n "$gate" "$worker" || status=$?
stop
wait "$gate" 2>/dev/null || true
wait "$worker" 2>/dev/null || true
exit "$status"
