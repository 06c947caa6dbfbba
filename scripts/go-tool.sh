#!/usr/bin/env bash
# Makes sure a Go tool the project pins is built in .tools/bin (`go install` from the Go module
# proxy) and prints its path. The first build of one takes a few minutes on a clean machine.
#
#   scripts/go-tool.sh grpcurl   # the client tests: reflection and refusal details, by hand
#   scripts/go-tool.sh ghz       # bench:grpc's gRPC load generator
#   scripts/go-tool.sh jaeger    # traces by hand: OTLP receiver, trace store and UI (a long build)
#   scripts/go-tool.sh otlp-receiver  # the traces test's OTLP endpoint (scripts/otlp-receiver)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  grpcurl) module=github.com/fullstorydev/grpcurl version=v1.9.4 ;;
  ghz) module=github.com/bojand/ghz version=v0.121.0 ;;
  jaeger) module=github.com/jaegertracing/jaeger version=v1.76.0 ;;
  otlp-receiver) ;;
  *) echo "usage: scripts/go-tool.sh grpcurl|ghz|jaeger|otlp-receiver" >&2; exit 2 ;;
esac
export GOBIN=$root/.tools/bin
binary=$GOBIN/$1
if [ "$1" = otlp-receiver ]; then
  # Ours, built from its pinned go.mod: rebuilt whenever a source file is newer than the binary.
  source=$root/scripts/otlp-receiver
  if [ ! -x "$binary" ] || [ -n "$(find "$source" -newer "$binary" -type f)" ]; then
    go build -C "$source" -o "$binary" . >&2
  fi
  echo "$binary"
  exit 0
fi
# A binary built by `go install` may report no version of its own; the module version is in it.
if [ ! -x "$binary" ] || ! go version -m "$binary" | grep -q "$module[[:space:]]*$version[[:space:]]"; then
  if [ "$1" = jaeger ]; then
    # Its go.mod has replace directives, which `go install pkg@version` refuses: build it as the
    # tool of a throwaway module instead (which resolves its requirements without them).
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    (cd "$scratch" && go mod init fluxgate-tools >/dev/null 2>&1 &&
      go get -tool "$module/cmd/$1@$version" >&2 && go build -o "$binary" "$module/cmd/$1" >&2)
  else
    go install "$module/cmd/$1@$version" >&2
  fi
fi
echo "$binary"
