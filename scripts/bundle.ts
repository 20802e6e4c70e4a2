/**
 * `sidegate` as it ships: the compiled CLI (dist/cli/main.js) and everything it imports linked
 * into dist/bin/ by esbuild — `sidegate.js` plus chunks for what only some commands or policies
 * load (the injector, tracing exporters, Redis, ...). Run after `tsc` (npm run build, npm test).
 *
 * Why: a sidecar starts with every pod. Resolving and loading ~400 separate modules was most of
 * its start → ready time; one linked file per load starts about a third faster and holds ~5 MB
 * less (docs/benchmarks.md, "Memory and start-up"). Tests spawn dist/bin/sidegate.js, so what ships is what
 * is tested.
 *
 * Left out of the bundle, loaded from node_modules when used (the image keeps node_modules):
 * OpenTelemetry, loaded only when tracing is on — its exporters are CommonJS packages whose
 * exports a bundler's interop does not reproduce (the OTLP exporter came out undefined), and the
 * Jaeger one reads Thrift IDL files from disk next to its sources. test/cli/bundle.test.ts runs
 * both exporters through the bundle.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outdir = join(root, 'dist', 'bin');

await build({
  entryPoints: { sidegate: join(root, 'dist', 'cli', 'main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Beside the entry, not below it: modules find files relative to themselves (the demo's policy).
  chunkNames: '[name]-[hash]',
  sourcemap: true,
  external: ['@opentelemetry/*'],
  // CommonJS dependencies call require() for Node's built-ins: give every output file one.
  banner: { js: "import { createRequire as __sidegateRequire } from 'node:module'; const require = __sidegateRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync(join(outdir, 'sidegate.js'), 0o755);
