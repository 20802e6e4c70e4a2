/**
 * `sidegate` as it ships: the compiled CLI (dist/cli/main.js) and everything it imports linked
 * into dist/bin/ by esbuild — `sidegate.js` plus chunks for what only some commands or policies
 * load (the injector, tracing exporters, Redis, ...). Run after `tsc` (npm run build, npm test).
 *
 * Why: a sidecar starts with every pod. Resolving and loading ~400 separate modules was most of
 * its start → ready time; one linked file per load starts about a third faster and holds ~5 MB
 * less (docs/benchmarks.md, "History"). Tests spawn dist/bin/sidegate.js, so what ships is what
 * is tested.
 *
 * Minified: comments and whitespace are what most of the source text was, and V8 keeps every
 * loaded file's source in the heap for as long as the process runs (a comment's `→` or `×` made a
 * whole 425 KB chunk a two-byte string). Minifying took ≈ 2–3 MB off the RSS of an idle sidecar
 * and one at 1,000 req/s (docs/benchmarks.md, "Memory: what RSS is made of"). Names are kept
 * (`keepNames`): logs report errors by their class name. A stack trace names minified frames;
 * `node --enable-source-maps dist/bin/sidegate.js` maps them back through the `.map` files.
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
  target: 'node22',
  // Beside the entry, not below it: modules find files relative to themselves (the demo's policy).
  chunkNames: '[name]-[hash]',
  sourcemap: true,
  minify: true,
  keepNames: true,
  external: ['@opentelemetry/*'],
  // CommonJS dependencies call require() for Node's built-ins: give every output file one.
  banner: { js: "import { createRequire as __sidegateRequire } from 'node:module'; const require = __sidegateRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync(join(outdir, 'sidegate.js'), 0o755);
