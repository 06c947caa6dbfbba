#!/usr/bin/env bash
# The README's test command (npm test): brings the local stack up when it is not (with the
# Redis Cluster, on which the order path runs a second time), builds (the process-level tests
# run the compiled gate and worker), then runs every test suite.
# Extra arguments go to vitest, e.g. `npm test -- --project unit`. The stack's port variables
# move the tests and the processes they start too (scripts/stack-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/stack-env.sh
source scripts/stack-env.sh
bash scripts/stack.sh up redis postgres kafka redis-cluster
bash scripts/chromium.sh >/dev/null
npm run --silent build
exec vitest run "$@"
