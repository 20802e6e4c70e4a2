/**
 * docs/errors.md's `sidegate check` table lists exactly the codes of cli/check/findings.ts, in the
 * same order, with the same severity, meaning and fix; and the codes check's sources emit are
 * all in the table (a code used only in a message would escape the type).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FINDINGS, finding, hasErrors } from '../../../cli/check/findings.js';

function findingRows(): string[][] {
  const lines = readFileSync(join(process.cwd(), 'docs', 'errors.md'), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('| finding |'));
  if (start < 0) throw new Error('docs/errors.md has no table starting with "| finding |"');
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim().replace(/^`|`$/g, '')),
    );
  }
  return rows;
}

t.test('docs/errors.md lists every finding with its severity, meaning and fix, and nothing else', async (t) => {
  const rows = findingRows();
  t.same(
    rows.map((r) => r[0]),
    Object.keys(FINDINGS),
    'same codes, same order',
  );
  for (const [code, severity, meaning, fix] of rows) {
    const spec = FINDINGS[code as keyof typeof FINDINGS];
    t.equal(severity, spec.severity, `${code} severity`);
    t.equal(meaning, spec.meaning, `${code} meaning`);
    t.equal(fix, spec.fix, `${code} fix`);
  }
});

t.test('every code the check sources name is in the table', async (t) => {
  const dir = join(process.cwd(), 'cli', 'check');
  const used = new Set<string>();
  // The table itself aside: a code only the table names is never reported.
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && n !== 'findings.ts')) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/SIDEGATE_CHECK_[A-Z_]+/g)) used.add(m[0]);
  }
  t.same(
    [...used].filter((c) => !(c in FINDINGS)),
    [],
    'no unknown code',
  );
  t.same(
    Object.keys(FINDINGS).filter((c) => !used.has(c)),
    [],
    'and every code is reported somewhere',
  );
});

t.test('a finding takes its severity from the table; the generic fix unless given one', async (t) => {
  const f = finding('SIDEGATE_CHECK_FAILURE_POLICY_IGNORE', 'webhook w', 'm');
  t.same(f, {
    code: 'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE',
    severity: 'warning',
    subject: 'webhook w',
    message: 'm',
    fix: FINDINGS.SIDEGATE_CHECK_FAILURE_POLICY_IGNORE.fix,
  });
  t.ok(Object.isFrozen(f));
  t.equal(finding('SIDEGATE_CHECK_CA_MISMATCH', 's', 'm', 'do this').fix, 'do this');
  t.notOk(hasErrors([f]), 'warnings alone are no error');
  t.ok(hasErrors([f, finding('SIDEGATE_CHECK_CA_MISMATCH', 's', 'm')]));
});
