#!/usr/bin/env bash
# The runtime matrix: the sidecar's protocol tests (HTTP/1.1, h2c, TLS, gRPC, WebSocket, hostile
# input), the demo and the runtime checks on every supported Node.js line, each an exact version
# (package.json "config.nodeMatrix") installed from the npm registry into a cache outside the repo
# (scripts/node-runtime.sh). The whole suite runs on the pinned line by `npm test`; this runs after
# it on the dist/ it built. `.ci/run` calls it; by hand: `bash scripts/runtime-matrix.sh [VERSION...]`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/bin/sidegate.js ] || { echo "runtime-matrix.sh: build first (npm run build)" >&2; exit 2; }
if [ "$#" -gt 0 ]; then versions=("$@")
else read -r -a versions <<<"$(node -p 'require("./package.json").config.nodeMatrix')"; fi

files=(
  dist/test/cli/runtime.test.js dist/test/cli/demo.test.js dist/test/sidecar/http1-fast-path.test.js dist/test/sidecar/http1-parser.test.js
  dist/test/sidecar/http1.test.js dist/test/sidecar/h1-engine.test.js dist/test/sidecar/large-bodies.test.js
  dist/test/sidecar/upstream-errors.test.js dist/test/sidecar/memory-reducer.test.js
  dist/test/sidecar/h2c.test.js dist/test/sidecar/protocol/http2/engine.test.js dist/test/sidecar/protocol/http2/hpack.test.js
  dist/test/sidecar/tls.test.js dist/test/sidecar/grpc.test.js dist/test/sidecar/websocket.test.js
  dist/test/hostile/*.test.js
)
summary=()
for v in "${versions[@]}"; do
  bin=$(scripts/node-runtime.sh "$v")
  echo "== runtime matrix: Node.js v$v, ${#files[@]} test files"
  start=$SECONDS
  # tap runs each file with its own process.execPath; PATH serves the bundle's `#!/usr/bin/env node`.
  PATH="$bin:$PATH" SIDEGATE_EXPECT_NODE="v$v" "$bin/node" node_modules/tap/dist/esm/run.mjs \
    --disable-coverage --reporter=terse "${files[@]}"
  summary+=("v$v: passed in $((SECONDS - start)) s")
done
printf 'runtime matrix: %s\n' "${summary[@]}"
