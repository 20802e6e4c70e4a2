#!/usr/bin/env bash
# Builds the Go programs the tests use into a cache outside the repo, keyed by version:
#   ${SIDEGATE_TOOLS_CACHE:-$HOME/.cache/sidegate-tools}/<name>-<version>/<name>
# Each tools/*/go.mod is one module: one `tool` line per program, every version pinned there and
# only there. Programs whose dependencies conflict live in different modules (tools/go: Jaeger and
# h2spec; tools/kubernetes: the control plane; tools/kwok). A tool's name is the last element of its
# package path (before a /vN suffix), or the NAME of a `// binary: NAME` comment on its tool line;
# its version is that of the longest required module whose path prefixes the package. A go.mod's
# `// ldflags: FLAGS` lines are passed to every build of that module, with {version}, {major} and
# {minor} replaced by the tool's (Kubernetes stamps its version in with -X, as its Makefile does).
# The cache is keyed by name and version only: after changing ldflags, delete the tool's folder.
# Usage: scripts/go-tools.sh [--list] [name...]   (no name: every tool). Prints each binary's path;
# --list prints "name version module" and builds nothing.
# Idempotent: a binary already in the cache is not rebuilt (no Go command runs at all then).
# First builds on 2 cores: Jaeger and h2spec a few minutes; the control plane far longer
# (README, "Go test peers").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SIDEGATE_TOOLS_CACHE:-$HOME/.cache/sidegate-tools}"

list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi

# "name package version module" for each tool line of one go.mod.
tools_of() {
  awk -v modname="$(basename "$(dirname "$1")")" '
    function add(line,   p, name, k, parts) {
      split(line, f, " "); p = f[1]
      if (line ~ /\/\/[ \t]*binary:/) { name = line; sub(/.*\/\/[ \t]*binary:[ \t]*/, "", name); split(name, f, " "); name = f[1] }
      else { k = split(p, parts, "/"); name = (parts[k] ~ /^v[0-9]+$/ && k > 1) ? parts[k - 1] : parts[k] }
      pkgs[++n] = p; names[n] = name
    }
    $1 == "tool" && $2 != "(" { line = $0; sub(/^tool[ \t]+/, "", line); add(line); next }
    $1 == "tool" && $2 == "(" { intool = 1; next }
    $1 == "require" && $2 != "(" { req[$2] = $3; next }
    $1 == "require" && $2 == "(" { inreq = 1; next }
    $1 == ")" { inreq = 0; intool = 0; next }
    intool && $1 != "" && $1 !~ /^\/\// { add($0) }
    inreq && $1 != "" && $1 !~ /^\/\// { req[$1] = $2 }
    END {
      for (i = 1; i <= n; i++) {
        p = pkgs[i]; best = ""
        for (m in req) if ((p == m || index(p, m "/") == 1) && length(m) > length(best)) best = m
        print names[i], p, (best == "" ? "unknown" : req[best]), modname
      }
    }' "$1"
}

tools=""
for gomod in "$root"/tools/*/go.mod; do
  tools+="$(tools_of "$gomod")"$'\n'
done
dup="$(echo "$tools" | awk 'NF { n[$1]++ } END { for (k in n) if (n[k] > 1) print k }')"
[ -z "$dup" ] || { echo "go-tools: tool name(s) defined in more than one tools/*/go.mod: $dup" >&2; exit 2; }

want=("$@")
known=" $(echo "$tools" | awk 'NF { printf "%s ", $1 }')"
for w in "${want[@]}"; do
  case "$known" in *" $w "*) ;; *) echo "go-tools: no tool named '$w' in tools/*/go.mod (known:$known)" >&2; exit 2 ;; esac
done

while read -r name pkg version module; do
  [ -n "$name" ] || continue
  if [ "${#want[@]}" -gt 0 ]; then
    case " ${want[*]} " in *" $name "*) ;; *) continue ;; esac
  fi
  if [ "$list" = 1 ]; then echo "$name $version $module"; continue; fi
  bin="$cache/$name-$version/$name"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || { echo "go-tools: 'go' is not on PATH; it is needed to build $name" >&2; exit 1; }
    echo "go-tools: building $name $version from tools/$module (first time on this machine; cached afterwards)" >&2
    mkdir -p "$cache/$name-$version"
    start=$(date +%s)
    # Build to a temporary name, then rename: an interrupted build never leaves a half binary.
    # `go build` in the module, not `go install pkg@version`: the module's replace directives (the
    # Kubernetes staging modules) only apply to builds inside it. Low priority: the machine is shared.
    # `// ldflags:` lines of the go.mod, with {version}, {major} and {minor} of the tool's version.
    ldflags="$(sed -n 's#^//[[:space:]]*ldflags:[[:space:]]*##p' "$root/tools/$module/go.mod" | tr '\n' ' ')"
    IFS=. read -r major minor _ <<< "${version#v}"
    ldflags="${ldflags//\{version\}/$version}"; ldflags="${ldflags//\{major\}/$major}"; ldflags="${ldflags//\{minor\}/$minor}"
    (cd "$root/tools/$module" && GOFLAGS="${GOFLAGS:--p=1}" CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags="$ldflags" -o "$bin.tmp.$$" "$pkg")
    mv -f "$bin.tmp.$$" "$bin"
    echo "go-tools: built $name in $(( $(date +%s) - start )) s" >&2
  fi
  echo "$bin"
done <<< "$tools"
