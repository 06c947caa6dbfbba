#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed (the storefront's browser test drives it with
# playwright-core) and prints its path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[chromium] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=scripts/apt.sh
source "$root/scripts/apt.sh"
if ! command -v chromium >/dev/null; then apt_install chromium; fi
command -v chromium
