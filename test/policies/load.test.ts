import t from 'tap';
import { join } from 'node:path';
import { loadPolicyFile, parsePolicyText } from '../../policies/src/load.js';

const policyYaml = 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: orders }\nspec: {}\n';

void t.test('YAML and JSON files load to plain documents', async (t) => {
  const dir = t.testdir({
    'p.yaml': policyYaml,
    'p.json': JSON.stringify({ apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' }, spec: {} }),
    'trailing.yaml': `---\n${policyYaml}---\n`,
  });
  const expected = { apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' }, spec: {} };
  for (const f of ['p.yaml', 'p.json', 'trailing.yaml']) {
    t.same(await loadPolicyFile(join(dir, f)), { ok: true, doc: expected }, f);
  }
});

void t.test('a YAML syntax error names its line and column', (t) => {
  const r = parsePolicyText('apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: x\nspec: {}\n');
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.problems[0]?.path, '');
    t.match(r.problems[0]?.message, /^line 4, column 1: /);
  }
  t.end();
});

void t.test('a YAML syntax error quoting a token shows its control characters escaped', (t) => {
  // Found by the policy fuzz target (test/fuzz/regressions/policy/): yaml quotes the token with
  // JSON.stringify, which leaves DEL and C1 raw, and `sidegate validate` printed them as they were.
  const r = parsePolicyText('a: }\nb\u007fc\u0085d\n');
  t.same(r.ok ? [] : r.problems.map((p) => p.message), [
    'line 1, column 4: Unexpected flow-map-end token in YAML stream: "}"',
    'line 2, column 1: Unexpected scalar token in YAML stream: "b\\u007fc\\u0085d"',
  ]);
  const alias = parsePolicyText('a: *x\u0007\n');
  t.same(
    alias.ok ? [] : alias.problems.map((p) => p.message),
    ['Unresolved alias (the anchor must be set before the alias): x\\u0007'],
    'and in errors from building the document',
  );
  t.end();
});

void t.test('duplicate keys, several documents, empty text and alias bombs are refused', (t) => {
  const msg = (text: string): string => {
    const r = parsePolicyText(text);
    return r.ok ? 'ok' : r.problems.map((p) => p.message).join(' | ');
  };
  t.match(msg('a: 1\na: 2\n'), /line 2, column 1: Map keys must be unique/);
  t.match(msg(`${policyYaml}---\n${policyYaml}`), /expected one document, found 2/);
  t.match(msg(''), /the document is empty/);
  t.match(msg('# only a comment\n'), /the document is empty/);
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  ].join('\n');
  t.match(msg(bomb), /alias/i);
  t.end();
});

void t.test('a ConfigMap is unwrapped to data["policy.yaml"]', (t) => {
  const indented = policyYaml
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: orders-policy }\ndata:\n  policy.yaml: |\n${indented}`;
  t.same(parsePolicyText(cm), { ok: true, doc: { apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' }, spec: {} } });
  const missing = parsePolicyText('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: {}\n');
  t.same(missing.ok ? [] : missing.problems.map((p) => p.path), ['/data/policy.yaml']);
  const broken = parsePolicyText('kind: ConfigMap\ndata:\n  policy.yaml: "a: [1\\n"\n');
  t.match(broken.ok ? '' : broken.problems[0]?.message, /^in data\["policy.yaml"\]: line \d+, column \d+: /);
  t.end();
});

void t.test('an unreadable file is a problem, not an exception', async (t) => {
  const r = await loadPolicyFile('/nonexistent/sidegate/policy.yaml');
  t.same(r, { ok: false, problems: [{ path: '', message: 'cannot read the file: ENOENT' }] });
});
