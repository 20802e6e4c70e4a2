import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

/**
 * The layering of issue #25, checked by the test suite as well as by the lint (rule
 * `sidegate/layers`): one table, `scripts/layers.js`. The protocol library imports nothing
 * outside itself; the stages and the upstream clients never import the app (`inbound/`); the
 * policy compiler takes nothing from the sidecar but the protocol library.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCANNED = ['cli', 'sidecar/src', 'injector/src', 'policies/src'];
const { LAYERS, wrongWay } = (await import(pathToFileURL(join(ROOT, 'scripts/layers.js')).href)) as {
  LAYERS: readonly { readonly layer: string }[];
  wrongWay: (from: string, to: string) => string | undefined;
};

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield p;
  }
}

const IMPORT = /(?:^|[^.\w])(?:import|export)\s[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s*'([^']+)'/gm;

/** Every relative import of the shipped code: [importing file, imported file], from the root. */
function imports(): [string, string][] {
  const out: [string, string][] = [];
  for (const dir of SCANNED) {
    for (const file of sources(join(ROOT, dir))) {
      const from = relative(ROOT, file).split(sep).join('/');
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        if (!spec.startsWith('.')) continue;
        out.push([from, posix.normalize(posix.join(dirname(from).split(sep).join('/'), spec)).replace(/\.js$/, '.ts')]);
      }
    }
  }
  return out;
}

void t.test('no import points the wrong way between layers', async (t) => {
  const all = imports();
  t.ok(all.length > 300, `found the imports (${all.length})`);
  const wrong = all.flatMap(([from, to]) => {
    const why = wrongWay(from, to);
    return why === undefined ? [] : [`${from} → ${to}: ${why}`];
  });
  t.same(wrong, []);
});

void t.test('every layer in the table is a folder that has code', async (t) => {
  for (const l of LAYERS) t.ok(statSync(join(ROOT, l.layer)).isDirectory(), l.layer);
  t.ok(
    imports().some(([from]) => from.startsWith('sidecar/src/protocol/http2/')),
    'the HTTP/2 engine is in the protocol library',
  );
});

void t.test('the table refuses the wrong-way imports it is there for', async (t) => {
  t.ok(wrongWay('sidecar/src/protocol/http1/connection.ts', 'sidecar/src/errors.ts'), 'protocol → the error table');
  t.ok(wrongWay('sidecar/src/protocol/exchange.ts', 'sidecar/src/clock.ts'), 'protocol → clock');
  t.ok(wrongWay('sidecar/src/protocol/http2/connection.ts', 'policies/src/types.ts'), 'protocol → policies');
  t.ok(wrongWay('sidecar/src/stages/route/index.ts', 'sidecar/src/inbound/listener.ts'), 'stage → inbound');
  t.ok(wrongWay('sidecar/src/upstream/h2c.ts', 'sidecar/src/stages/forward.ts'), 'upstream → stages');
  t.ok(wrongWay('sidecar/src/upstream/h2c.ts', 'sidecar/src/inbound/bind.ts'), 'upstream → inbound');
  t.ok(wrongWay('policies/src/checks.ts', 'sidecar/src/errors.ts'), 'policies → the sidecar');
  t.equal(wrongWay('policies/src/checks.ts', 'sidecar/src/protocol/headers.ts'), undefined, 'policies → the protocol library');
  t.equal(wrongWay('sidecar/src/upstream/h2c.ts', 'sidecar/src/protocol/http2/frames.ts'), undefined, 'upstream → the protocol library');
  t.equal(wrongWay('sidecar/src/inbound/listener.ts', 'sidecar/src/errors.ts'), undefined, 'the app → anything');
});
