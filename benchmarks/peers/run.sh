#!/usr/bin/env bash
# Runs one PyTorch peer script (benchmarks/peers/*.py) with Debian's python3-torch, installing the package first
# when it is missing. Usage: benchmarks/peers/run.sh expanded_weights.py --weights FILE ...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 1 ] || [ ! -f "$here/$1" ]; then
  echo "usage: $0 PEER_SCRIPT [ARGS...]; peer scripts: $(cd "$here" && ls ./*.py | tr '\n' ' ')" >&2
  exit 2
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "PyTorch peers need Debian's python3-torch; installing it (apt-get)" >&2
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-torch >&2
fi
script="$1"
shift
exec /usr/bin/python3 "$here/$script" "$@"
