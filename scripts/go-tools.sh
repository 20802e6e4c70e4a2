#!/usr/bin/env bash
# Builds the Go programs the tests use (tools/go/go.mod: one `tool` line per program, one pinned
# version each) into a cache outside the repo, keyed by version:
#   ${SIDEGATE_TOOLS_CACHE:-$HOME/.cache/sidegate-tools}/<name>-<version>/<name>
# Usage: scripts/go-tools.sh [name...]   (no name: every tool). Prints each binary's path.
# Idempotent: a binary already in the cache is not rebuilt (no Go command runs at all then).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/tools/go"
cache="${SIDEGATE_TOOLS_CACHE:-$HOME/.cache/sidegate-tools}"

# "name package version" for each tool line of go.mod; the version is that of the longest required
# module whose path prefixes the package.
tools="$(awk '
  $1 == "tool" && $2 != "(" { pkgs[++n] = $2 }
  $1 == "tool" && $2 == "(" { intool = 1; next }
  $1 == "require" && $2 != "(" { req[$2] = $3 }
  $1 == "require" && $2 == "(" { inreq = 1; next }
  $1 == ")" { inreq = 0; intool = 0; next }
  intool && $1 != "" && $1 !~ /^\/\// { pkgs[++n] = $1 }
  inreq && $1 !~ /^\/\// { req[$1] = $2 }
  END {
    for (i = 1; i <= n; i++) {
      p = pkgs[i]; best = ""
      for (m in req) if ((p == m || index(p, m "/") == 1) && length(m) > length(best)) best = m
      k = split(p, parts, "/")
      print parts[k], p, (best == "" ? "unknown" : req[best])
    }
  }' "$mod/go.mod")"

want=("$@")
known=" $(echo "$tools" | awk '{ printf "%s ", $1 }')"
for w in "${want[@]}"; do
  case "$known" in *" $w "*) ;; *) echo "go-tools: no tool named '$w' in tools/go/go.mod (known:$known)" >&2; exit 2 ;; esac
done

while read -r name pkg version; do
  [ -n "$name" ] || continue
  if [ "${#want[@]}" -gt 0 ]; then
    case " ${want[*]} " in *" $name "*) ;; *) continue ;; esac
  fi
  bin="$cache/$name-$version/$name"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || { echo "go-tools: 'go' is not on PATH; it is needed to build $name" >&2; exit 1; }
    echo "go-tools: building $name $version (first time on this machine; cached afterwards)" >&2
    mkdir -p "$cache/$name-$version"
    start=$(date +%s)
    # Build to a temporary name, then rename: an interrupted build never leaves a half binary.
    (cd "$mod" && GOFLAGS="${GOFLAGS:--p=1}" CGO_ENABLED=0 go build -trimpath -o "$bin.tmp.$$" "$pkg")
    mv -f "$bin.tmp.$$" "$bin"
    echo "go-tools: built $name in $(( $(date +%s) - start )) s" >&2
  fi
  echo "$bin"
done <<< "$tools"
