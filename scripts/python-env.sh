#!/usr/bin/env bash
# Prints the path of a Python with the client's requirements installed, creating the venv
# under .tools/ on first use (pinned in clients/python/requirements.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.tools/python
req=$root/clients/python/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$req" >&2
  cp "$req" "$venv/requirements.txt"
fi
echo "$venv/bin/python"
