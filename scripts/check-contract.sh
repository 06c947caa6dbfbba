#!/usr/bin/env bash
# Contract checks for CI: lint, format, breaking changes against the previous commit,
# generated code up to date, Go client vets, Python client imports.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
buf() { npx --no-install buf "$@"; }

echo "contract: buf lint"
buf lint
echo "contract: buf format"
# Ours only: proto/vendor holds third-party files kept byte-for-byte as published.
buf format --diff --exit-code --path proto/fluxgate

# Compare with the previous commit; a shallow clone or the first contract commit has nothing to compare.
against=${BUF_BREAKING_AGAINST:-HEAD~1}
if git rev-parse --verify -q "$against^{commit}" >/dev/null && git cat-file -e "$against:buf.yaml" 2>/dev/null; then
  echo "contract: buf breaking against $against"
  buf breaking --against ".git#ref=$(git rev-parse "$against")"
else
  echo "contract: buf breaking skipped ($against has no contract to compare with)"
fi

echo "contract: generated code matches buf generate"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash scripts/generate.sh --out "$tmp"
status=0
for dir in gen clients/go/gen clients/python/fluxgate; do
  diff -r --exclude=__pycache__ "$tmp/$dir" "$dir" || { echo "contract: $dir is stale: run scripts/generate.sh" >&2; status=1; }
done
[ $status -eq 0 ]

echo "contract: go vet (Go client)"
(cd clients/go && go vet ./...)
echo "contract: Python client imports"
(cd clients/python && "$(bash "$root/scripts/python-env.sh")" -c \
  'from fluxgate.v1 import order_gate_pb2_grpc, inventory_pb2_grpc, admin_pb2_grpc, queue_pb2_grpc, events_pb2, errors_pb2')
echo "contract: ok"
