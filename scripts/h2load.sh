#!/usr/bin/env bash
# Makes sure h2load (Debian's nghttp2-client: the HTTP/1.1 and h2c load generator of bench:grpc,
# for Connect and gRPC-Web) is installed and prints its path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '[h2load] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=scripts/apt.sh
source "$root/scripts/apt.sh"
if ! command -v h2load >/dev/null; then apt_install nghttp2-client; fi
command -v h2load
