#!/usr/bin/env bash
# Makes sure grpcurl (the pinned version, built with `go install` from the Go module proxy) is in
# .tools/bin and prints its path. The client tests call it; the first build takes a few minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v1.9.4
export GOBIN=$root/.tools/bin
binary=$GOBIN/grpcurl
# grpcurl built by `go install` reports no version of its own; the module version is in the binary.
if [ ! -x "$binary" ] || ! go version -m "$binary" | grep -q "github.com/fullstorydev/grpcurl[[:space:]]*$version[[:space:]]"; then
  go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version" >&2
fi
echo "$binary"
