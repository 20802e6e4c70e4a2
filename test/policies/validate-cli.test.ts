import t from 'tap';
import { join } from 'node:path';
import { runValidate } from '../../cli/validate.js';

async function run(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runValidate(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const good = 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: good }\n';
const bad =
  'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: bad }\nspec: { upstream: { timeout: soon }, breaker: { openFor: 0s } }\n';

void t.test('exit 0 and an ok line per valid file', async (t) => {
  const dir = t.testdir({ 'a.yaml': good, 'b.yaml': good.replace('good', 'other') });
  const r = await run([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
  t.equal(r.code, 0);
  t.equal(r.out.length, 2);
  t.match(r.out[0], new RegExp(`^${join(dir, 'a.yaml')}: ok \\(policy good, version [0-9a-f]{12}\\)$`));
  t.match(r.out[1], /: ok \(policy other, version [0-9a-f]{12}\)$/);
  t.same(r.err, []);
});

void t.test('exit 1 when any file is invalid; one line per problem; valid files still reported', async (t) => {
  const dir = t.testdir({ 'good.yaml': good, 'bad.yaml': bad });
  const r = await run([join(dir, 'bad.yaml'), join(dir, 'good.yaml'), join(dir, 'missing.yaml')]);
  t.equal(r.code, 1);
  const rel = r.out.map((l) => l.replaceAll(`${dir}/`, ''));
  t.same(rel.slice(0, 2), [
    'bad.yaml: /spec/upstream/timeout: must be a duration such as 250ms, 15s, 5m, 1h or 1m30s (got "soon")',
    'bad.yaml: /spec/breaker/openFor: must be a duration greater than zero, such as 250ms, 15s, 5m, 1h or 1m30s (got "0s")',
  ]);
  t.match(rel[2], /^good\.yaml: ok \(policy good, version [0-9a-f]{12}\)$/);
  t.equal(rel[3], 'missing.yaml: cannot read the file: ENOENT');
  t.equal(rel.length, 4);
});

void t.test('usage errors exit 2', async (t) => {
  const none = await run([]);
  t.equal(none.code, 2);
  t.match(none.err.join('\n'), /usage: sidegate validate FILE/);
  const unknown = await run(['--strict', 'x.yaml']);
  t.equal(unknown.code, 2);
  t.match(unknown.err[0], /unknown option --strict/);
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out[0], /usage:/);
});

void t.test('-- ends options', async (t) => {
  const dir = t.testdir({ '-odd.yaml': good });
  const r = await run(['--', join(dir, '-odd.yaml')]);
  t.equal(r.code, 0);
});
