import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { aggregate, frameNamer, type ProfileNode } from '../../bench/memory/alloc-profile.js';

const frame = (functionName: string, url = 'file:///x/app.js', lineNumber = 0): ProfileNode['callFrame'] => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});
const node = (f: string, selfSize: number, children: ProfileNode[] = []): ProfileNode => ({ callFrame: frame(f), selfSize, children });

t.test('aggregate sums self sizes by the innermost frames', (t) => {
  // (root) → a → b (100), a → c (50), and b reached again from d (25).
  const head = node('(root)', 0, [node('a', 10, [node('b', 100), node('c', 50)]), node('d', 0, [node('b', 25)])]);
  const name = (f: ProfileNode['callFrame']): string => f.functionName;
  const one = aggregate(head, 1, name);
  t.equal(one.total, 185, 'every byte counted once');
  t.same(Object.fromEntries(one.by), { a: 10, b: 125, c: 50 }, 'by innermost frame, across callers');
  const two = aggregate(head, 2, name);
  t.same(Object.fromEntries(two.by), { 'a < (root)': 10, 'b < a': 100, 'c < a': 50, 'b < d': 25 }, 'by frame and caller');
  t.end();
});

t.test("frameNamer maps the bundle's frames through their source maps", (t) => {
  const root = mkdtempSync(join(tmpdir(), 'alloc-profile-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'dist', 'bin'), { recursive: true });
  // One segment: generated line 1 column 0 is sidecar/src/stages/x.ts line 1 column 0, named `decide`.
  writeFileSync(
    join(root, 'dist', 'bin', 'chunk-A.js.map'),
    JSON.stringify({ version: 3, sources: ['../../sidecar/src/stages/x.ts'], names: ['decide'], mappings: 'AAAAA' }),
  );
  const name = frameNamer(root);
  t.equal(name(frame('Xe', `file://${root}/dist/bin/chunk-A.js`)), 'decide sidecar/src/stages/x.ts:1');
  t.equal(name(frame('Ye', `file://${root}/dist/bin/chunk-B.js`, 4)), 'Ye chunk-B.js:5', 'no map: the bundle position');
  t.equal(name(frame('writeGeneric', 'node:internal/stream_base_commons', 92)), 'writeGeneric stream_base_commons:93', "Node's own");
  t.equal(name(frame('', '')), '(anonymous) (native):1', 'native frames');
  t.end();
});
