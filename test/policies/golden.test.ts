// Golden tests for `sidegate validate` on invalid policies: every
// test/fixtures/policies/invalid/NAME.yaml has a NAME.errors twin holding the exact output.
// Refresh the goldens after an intended change with:
//   npx tsc -p . && SIDEGATE_UPDATE_GOLDENS=1 npx tap dist/test/policies/golden.test.js
// then review the diff. A golden without its input, or an input without its golden, fails.
import t from 'tap';
import { readdirSync, readFileSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runValidate } from '../../cli/validate.js';
import { repoRoot } from '../../policies/scripts/generate.js';

const dir = join(repoRoot(), 'test/fixtures/policies/invalid');
const update = process.env.SIDEGATE_UPDATE_GOLDENS === '1';
const entries = readdirSync(dir).sort();
const inputs = entries.filter((f) => f.endsWith('.yaml'));

async function validateOutput(file: string): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await runValidate([join(dir, file)], { out: (l) => lines.push(l), err: (l) => lines.push(`stderr: ${l}`) });
  // Goldens name the file relative to the fixture folder, wherever the checkout lives.
  return { code, text: lines.map((l) => l.replaceAll(`${dir}/`, '')).join('\n') + '\n' };
}

void t.test('fixtures exist', (t) => {
  t.ok(inputs.length >= 20, `${inputs.length} invalid fixtures`);
  t.end();
});

for (const input of inputs) {
  void t.test(input, async (t) => {
    const golden = join(dir, input.replace(/\.yaml$/, '.errors'));
    const { code, text } = await validateOutput(input);
    t.equal(code, 1, 'sidegate validate exits 1');
    t.notMatch(text, /: ok \(policy /, 'no ok line');
    if (update) {
      writeFileSync(golden, text);
      t.pass(`wrote ${golden}`);
      return;
    }
    t.ok(existsSync(golden), `${golden} exists (run with SIDEGATE_UPDATE_GOLDENS=1 to create it)`);
    if (existsSync(golden)) t.equal(text, readFileSync(golden, 'utf8'), `output matches ${input.replace(/\.yaml$/, '.errors')}`);
  });
}

void t.test('no stale goldens', (t) => {
  for (const f of entries.filter((e) => e.endsWith('.errors'))) {
    const hasInput = inputs.includes(f.replace(/\.errors$/, '.yaml'));
    if (!hasInput && update) unlinkSync(join(dir, f));
    else t.ok(hasInput, `${f} has an input file`);
  }
  t.end();
});
