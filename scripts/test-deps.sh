#!/usr/bin/env bash
# The system tools `npm test` meets for real (DESIGN.md, "Real peers in the tests"), checked before
# the suite runs: `npm test` calls this first (its `pretest`), and so does `.ci/run` through it.
# Missing ones are installed with apt-get when this runs as root on Debian or Ubuntu (CI, a fresh
# VM, a container); anywhere else it prints the one command that installs them and stops before
# testing, so a red suite never means "a tool was missing".
#   SIDEGATE_TEST_DEPS=check  only check and tell, never install
#   --bench                   also the tools of `npm run bench` (wrk, h2load, haproxy, nginx, taskset)
set -euo pipefail

has() { local d; for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do [ -x "$d/$1" ] && return 0; done; return 1; }
want() { local pkg=$1 b; shift; for b in "$@"; do has "$b" || { need+=("$pkg"); return 0; }; done; }
missing() {
  need=()
  want redis-server redis-server
  want redis-tools redis-cli
  want iptables iptables ip6tables iptables-save ip6tables-save
  want iproute2 ip
  want util-linux setpriv
  want openssl openssl
  want binutils nm readelf
  want prometheus promtool
  compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1' >/dev/null || [ -e /usr/lib/faketime/libfaketimeMT.so.1 ] || need+=(faketime)
  # Debian's python3 on purpose: the PyJWT test runs /usr/bin/python3, whatever python3 is on PATH.
  /usr/bin/python3 -c 'import jwt, cryptography' >/dev/null 2>&1 || need+=(python3-jwt python3-cryptography)
  # HTTP/2 interop (test/sidecar/protocol/http2/interop.test.ts): curl, nghttp and h2load, python-h2.
  want curl curl
  want nghttp2-client nghttp h2load
  /usr/bin/python3 -c 'import h2' >/dev/null 2>&1 || need+=(python3-h2)
  # The fuzzer's glibc shim (test/fuzz/compat.ts) is compiled with g++.
  want g++ g++
  if [ "$bench" = 1 ]; then
    want wrk wrk
    want haproxy haproxy
    want nginx-light nginx
    has taskset || [[ " ${need[*]} " == *" util-linux "* ]] || need+=(util-linux)
  fi
}

bench=0
[ "${1:-}" = --bench ] && bench=1
# Go builds the test peers of tools/go (scripts/go-tools.sh); Debian's golang is older than the
# go.mod asks for, so it is not installed here: say where to get it.
command -v go >/dev/null 2>&1 || { echo "test-deps: Go 1.26 or later is needed to build the Go test peers (tools/go/go.mod): install it from go.dev and put it on PATH" >&2; exit 1; }
missing
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "${SIDEGATE_TEST_DEPS:-}" != check ] && [ "$(id -u)" = 0 ] && has apt-get; then
  echo "test-deps: installing ${need[*]} (apt-get; SIDEGATE_TEST_DEPS=check only tells)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  missing
  [ "${#need[@]}" -eq 0 ] && exit 0
  echo "test-deps: still missing after apt-get install: ${need[*]}" >&2
  exit 1
fi
cat >&2 <<MSG
test-deps: the test suite needs tools this machine lacks: ${need[*]}
Install them, then run the tests again:

    sudo apt-get update && sudo apt-get install -y ${need[*]}

(Debian/Ubuntu package names; the suite also needs root for network namespaces and iptables.)
MSG
exit 1
