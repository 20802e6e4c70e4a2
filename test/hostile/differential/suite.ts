import type { Test } from 'tap';
import { checkRun, emptyFindings, tolerated, type CheckCtx, type Finding, type Findings } from './check.js';
import { describeShape, generateShapes, seedFromEnv, shapeCount, type Shape } from './generator.js';
import { shrink, type ShapeRun } from './harness.js';
import { mintTokens, type Tokens } from './policy.js';
import { routerModels, type RouterModel } from './routers.js';

/** What every differential test file starts from: the seed, its shapes, tokens and router models. */
export interface SuiteEnv {
  readonly seed: number;
  readonly shapes: readonly Shape[];
  readonly tokens: Tokens;
  readonly routers: readonly RouterModel[];
  readonly tolerate: ReadonlySet<string>;
}

export async function suiteEnv(t: Test, defaultShapes: number): Promise<SuiteEnv> {
  const seed = seedFromEnv();
  const only = new Set(
    (process.env.SIDEGATE_DIFF_ONLY ?? '')
      .split(',')
      .filter((x) => x.trim() !== '')
      .map(Number),
  );
  const shapes = generateShapes(seed, shapeCount(defaultShapes)).filter((s) => only.size === 0 || only.has(s.id));
  // Printed first, always: the one thing needed to replay this run.
  t.comment(`SIDEGATE_DIFF_SEED=${seed} (${shapes.length} shapes)`);
  const tolerate = tolerated();
  if (tolerate.size > 0) t.comment(`SIDEGATE_DIFF_TOLERATE=${[...tolerate].join(',')}: these classes are reported, not failed on`);
  const routers = await routerModels();
  t.teardown(async () => {
    for (const r of routers) await r.close?.();
  });
  return { seed, shapes, tokens: await mintTokens(), routers, tolerate };
}

export async function checkAll(runs: readonly ShapeRun[], ctx: Omit<CheckCtx, 'policy'>): Promise<Findings> {
  const f = emptyFindings();
  for (const r of runs) await checkRun(r, { ...ctx, policy: r.target.sidecar.policy }, f);
  return f;
}

/** `SIDEGATE_DIFF_DUMP=1`: every run in full (sent, fate, log lines, what the app got), for debugging a shape. */
export function dump(t: Test, runs: readonly ShapeRun[]): void {
  if (process.env.SIDEGATE_DIFF_DUMP !== '1') return;
  for (const r of runs) {
    t.comment(`--- ${r.target.name} shape ${r.shape.id} key ${r.key}${r.timedOut ? ' (timed out)' : ''}\n${describeShape(r.shape)}`);
    for (const q of r.requests) {
      t.comment(
        `  [${q.sent.index}] fate ${JSON.stringify(q.fate)}\n    logs ${JSON.stringify(q.logs.map((l) => ({ method: l.method, path: l.path, status: l.status, error: l.error, up: l.upstream_duration_ms, auth: l.auth, decision: l.decision })))}\n    app ${JSON.stringify(q.app.map((a) => ({ line: a.requestLine, headers: a.headers, trailers: a.trailers, body: a.body })))}`,
      );
    }
    for (const a of r.strays) t.comment(`  stray ${JSON.stringify({ line: a.requestLine, headers: a.headers })}`);
  }
}

function byClass(fs: readonly Finding[]): Map<string, Finding[]> {
  const m = new Map<string, Finding[]>();
  for (const f of fs) {
    const xs = m.get(f.cls);
    if (xs) xs.push(f);
    else m.set(f.cls, [f]);
  }
  return m;
}

const where = (f: Finding): string => `${f.run.target.name}, shape ${f.run.shape.id}${f.index >= 0 ? `, request ${f.index}` : ''}`;

/**
 * One assertion per violation class (count must be 0), each failing with the seed, how many, the
 * first example's details, its shape and the minimal shape that still shows the same class
 * (shrunk by re-running candidates through `reproduce`). Tolerated classes are listed as
 * comments with their counts and an example.
 */
export async function report(
  t: Test,
  env: SuiteEnv,
  what: string,
  findings: Findings,
  reproduce: (f: Finding, s: Shape) => Promise<readonly Finding[]>,
): Promise<void> {
  const infos = byClass(findings.infos);
  if (infos.size > 0) {
    t.comment(
      `${what}: tolerated differences (documented in check.ts):\n${[...infos].map(([c, fs]) => `  ${c}: ${fs.length}, e.g. ${where(fs[0]!)}: ${fs[0]!.detail}`).join('\n')}`,
    );
  }
  const classes = byClass(findings.violations);
  // Shrinking re-runs shapes one by one: bounded in count per class and in time per report, so a
  // run with many violation classes on a loaded machine still ends in time (unshrunk shapes are
  // reported as they are).
  const deadline = Date.now() + Number(process.env.SIDEGATE_DIFF_SHRINK_MS ?? 6000);
  for (const [cls, fs] of classes) {
    const first = fs[0]!;
    let minimal: Shape = first.run.shape;
    let minimalDetail = first.detail;
    try {
      minimal = await shrink(
        first.run.shape,
        async (s) => (await reproduce(first, s)).some((f) => f.cls === cls),
        Number(process.env.SIDEGATE_DIFF_SHRINK ?? 40),
        deadline,
      );
      if (minimal !== first.run.shape)
        minimalDetail = (await reproduce(first, minimal)).find((f) => f.cls === cls)?.detail ?? '(did not reproduce this time)';
    } catch (err) {
      t.comment(`shrinking ${cls} failed: ${String(err)}`);
    }
    const targets = [...new Set(fs.map((f) => f.run.target.name))].join(', ');
    t.equal(fs.length, 0, `${what}: ${cls}`, {
      diagnostic: true,
      seed: env.seed,
      replay: `SIDEGATE_DIFF_SEED=${env.seed}`,
      count: fs.length,
      shapes: [...new Set(fs.map((f) => f.run.shape.id))].length,
      targets,
      example: `${where(first)}: ${first.detail}`,
      shape: describeShape(first.run.shape),
      minimalShape: describeShape(minimal),
      minimalShapeGives: minimalDetail,
      moreExamples: fs.slice(1, 4).map((f) => `${where(f)}: ${f.detail}`),
    });
  }
  if (classes.size === 0) t.pass(`${what}: no violations`);
}
