#!/usr/bin/env bash
# Makes sure ghz (the gRPC load generator of bench:grpc, the pinned version, built with
# `go install` from the Go module proxy) is in .tools/bin and prints its path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v0.121.0
export GOBIN=$root/.tools/bin
binary=$GOBIN/ghz
# The module version is in the binary (go version -m), whatever ghz --version says.
if [ ! -x "$binary" ] || ! go version -m "$binary" | grep -q "github.com/bojand/ghz[[:space:]]*$version[[:space:]]"; then
  go install "github.com/bojand/ghz/cmd/ghz@$version" >&2
fi
echo "$binary"
