#!/usr/bin/env bash
# Regenerates every client from proto/: TypeScript into gen/, Go into clients/go/gen/,
# Python into clients/python/fluxgate/. The plugins are local: protoc-gen-es from npm,
# protoc-gen-go and protoc-gen-connect-go built from the Go module proxy, grpcio-tools from PyPI.
# Usage: scripts/generate.sh [--out DIR]  (DIR: write into a copy rooted there, for diffing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$root
if [ "${1:-}" = --out ]; then out=$2; fi

protoc_gen_go_version=v1.36.12
protoc_gen_connect_go_version=v1.21.1
tools=$root/.tools
export GOBIN=$tools/bin
if [ ! -x "$GOBIN/protoc-gen-go" ] || ! "$GOBIN/protoc-gen-go" --version | grep -q "${protoc_gen_go_version#v}"; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$protoc_gen_go_version"
fi
if [ ! -x "$GOBIN/protoc-gen-connect-go" ] || ! "$GOBIN/protoc-gen-connect-go" --version | grep -q "${protoc_gen_connect_go_version#v}"; then
  go install "connectrpc.com/connect/cmd/protoc-gen-connect-go@$protoc_gen_connect_go_version"
fi
python=$(bash scripts/python-env.sh)

npx --no-install buf generate --template buf.gen.yaml -o "$out"
npx --no-install buf generate --template buf.gen.go.yaml --path proto/fluxgate -o "$out"

py_out=$out/clients/python
rm -rf "$py_out/fluxgate"
mkdir -p "$py_out"
"$python" -m grpc_tools.protoc -Iproto -Iproto/vendor \
  --python_out="$py_out" --pyi_out="$py_out" --grpc_python_out="$py_out" \
  proto/fluxgate/v1/*.proto
