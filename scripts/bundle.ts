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
import { createRequire } from 'node:module';
import { build, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outdir = join(root, 'dist', 'bin');

/**
 * Node's built-ins through `require`, never an ESM import. On Node.js 24 an ESM import of a
 * built-in builds a module facade by reading every export, getters included: node:http's load
 * undici, node:tls's `rootCertificates` parses every root certificate into the heap, and node:fs,
 * node:util and the rest materialise what they would otherwise load on first use. Through
 * `require` (esbuild's CommonJS interop reads an export only when the code does) nothing is read
 * before it is used.
 *
 * Some modules go further: nothing of them loads until one of their exports is read. A sidecar
 * serves TLS, probes over HTTPS or talks to Redis over TLS only when configured so, yet the
 * listener and ioredis name node:tls and node:https at load time (≈ 1.6 MB). Each becomes a
 * module of getters over the real one, so classes, `instanceof` and constants are the real ones.
 * test/cli/bundle.test.ts checks what a running proxy loaded.
 */
const LAZY: Readonly<Record<string, string>> = { tls: 'node:tls', https: 'node:https' };
const lazyModules: Plugin = {
  name: 'lazy-modules',
  setup(b) {
    b.onResolve({ filter: /^[a-z_/]+$|^node:/ }, (args) => {
      // The lazy module's own require of the real thing: left to Node at run time.
      if (args.namespace === 'lazy' || args.namespace === 'builtin') return undefined;
      const name = args.path.replace(/^node:/, '');
      if (LAZY[name] !== undefined) return { path: name, namespace: 'lazy' };
      // CommonJS requires of the other built-ins stay plain requires; ESM imports become requires.
      if (!BUILTINS.has(name) || args.kind === 'require-call') return undefined;
      return { path: name, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require('node:${args.path}');`,
      loader: 'js',
    }));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => {
      const spec = LAZY[args.path]!;
      const keys = Object.keys(nodeRequire(spec) as object);
      const props = keys.map((k) => `${JSON.stringify(k)}: { get: () => load()[${JSON.stringify(k)}], enumerable: true }`).join(',\n');
      return {
        contents: `let m;\nconst load = () => (m ??= require(${JSON.stringify(spec)}));\nmodule.exports = Object.defineProperties({}, {\n${props}\n});`,
        loader: 'js',
      };
    });
  },
};
const nodeRequire = createRequire(import.meta.url);
const BUILTINS = new Set((nodeRequire('node:module') as { builtinModules: string[] }).builtinModules);

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
  plugins: [lazyModules],
  // CommonJS dependencies call require() for Node's built-ins: give every output file one.
  banner: { js: "import { createRequire as __sidegateRequire } from 'node:module'; const require = __sidegateRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync(join(outdir, 'sidegate.js'), 0o755);
