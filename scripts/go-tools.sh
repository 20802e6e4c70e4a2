#!/usr/bin/env bash
# Builds the Go test peers pinned in tools/go/go.mod (h2spec, ...) once each, into a cache outside
# the repo keyed by module version: ${SIDEGATE_TOOLS_CACHE:-$HOME/.cache/sidegate-tools}/<name>-<version>/<name>.
# Usage: scripts/go-tools.sh [name ...]   (no names: all of them). Safe to run twice; fast when cached.
set -euo pipefail
cd "$(dirname "$0")/../tools/go"
cache=${SIDEGATE_TOOLS_CACHE:-$HOME/.cache/sidegate-tools}
command -v go >/dev/null || { echo "go-tools: Go is not installed (apt-get install -y golang, or Go 1.26 from go.dev)" >&2; exit 1; }
# name  package  module
tools=(
  "h2spec github.com/summerwind/h2spec/cmd/h2spec github.com/summerwind/h2spec"
)
want=("$@")
for t in "${tools[@]}"; do
  read -r name pkg mod <<<"$t"
  if [ "${#want[@]}" -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  version=$(go list -m -f '{{.Version}}' "$mod")
  out="$cache/$name-$version/$name"
  if [ -x "$out" ]; then echo "go-tools: $name $version in $out"; continue; fi
  start=$(date +%s)
  mkdir -p "$(dirname "$out")"
  # A temporary name of this process's own: test files building the same tool at once do not clash.
  go build -trimpath -o "$out.tmp.$$" "$pkg"
  mv "$out.tmp.$$" "$out"
  echo "go-tools: built $name $version in $(( $(date +%s) - start )) s: $out"
done
