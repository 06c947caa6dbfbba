#!/usr/bin/env bash
# The README's test command (npm test): brings the local stack up when it is not, builds (the
# process-level tests run the compiled gate and worker), then runs every test suite.
# Extra arguments go to vitest, e.g. `npm test -- --project unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/stack.sh up
bash scripts/chromium.sh >/dev/null
npm run --silent build
exec vitest run "$@"
