import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

/**
 * No sidecar loads Node's bundled undici. On Node.js 24 an ESM `import … from 'node:http'` reads
 * every export of node:http to build the module facade, and its `WebSocket`, `CloseEvent` and
 * `MessageEvent` getters load undici: 25–35 ms of start-up and ≈ 2.4 MB of private memory per pod
 * (docs/benchmarks.md, history). The shipped code takes node:http from
 * `sidecar/src/protocol/node-http.ts` (through `require`); type-only imports are erased.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHIPPED = ['cli', 'sidecar/src', 'injector/src', 'policies/src'];

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield p;
  }
}

t.test('no shipped module imports node:http as a value (only node-http.ts requires it)', async (t) => {
  const offenders: string[] = [];
  for (const dir of SHIPPED) {
    for (const file of sources(join(ROOT, dir))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'node:http';/gm)) offenders.push(`${relative(ROOT, file)}: ${m[0]}`);
    }
  }
  t.same(offenders, [], 'value imports of node:http');
});

t.test('importing the proxy and the CLI commands it runs with loads no undici', async (t) => {
  const modules = ['sidecar/src/proxy.js', 'cli/proxy.js', 'cli/demo.js', 'cli/drain.js', 'cli/wait.js'].map(
    (m) => pathToFileURL(join(ROOT, 'dist', m)).href,
  );
  const script = `for (const m of ${JSON.stringify(modules)}) await import(m);
process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.same(JSON.parse(r.stdout || 'null'), [], 'undici modules loaded');
  // The check itself works: an ESM import of node:http does load undici on this Node.js.
  const control = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `await import('node:http'); process.stdout.write(String(process.moduleLoadList.some((m) => m.includes('undici'))));`,
    ],
    { encoding: 'utf8' },
  );
  t.equal(control.stdout, 'true', 'control: importing node:http from ESM loads undici');
});
