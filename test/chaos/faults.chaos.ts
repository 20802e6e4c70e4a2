import { writeFileSync } from 'node:fs';
import t from 'tap';
import { FAULTS, FULL, SHORT, formatTable, judge, runFault, type FaultResult } from './faults.js';
import { LoadGenerator, type Outcome } from './load.js';
import { Rig } from './rig.js';
import { findSecrets } from './secrets.js';

/**
 * The fault suite: sustained load through three sidecars sharing one Redis while, one at a time,
 * Redis, the app, the key server, the policy file and the sidecars themselves fail. Short form by
 * default; SIDEGATE_CHAOS=full stretches every phase. Run with `npm run test:chaos`.
 */
const full = process.env.SIDEGATE_CHAOS === 'full';
const timing = full ? FULL : SHORT;
const rate = Number(process.env.SIDEGATE_CHAOS_RATE ?? (full ? 500 : 300));
/** Longest acceptable answer: the policy's upstream timeout (2 s) plus scheduling slack on a shared machine. */
const BUDGET_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const brief = (os: readonly Outcome[]): string[] =>
  [...new Set(os.map((o) => `${o.cls} via ${o.target}: ${o.failure ?? ''} ${o.answer ?? ''} ${o.detail ?? ''}`.trim()))].slice(0, 10);

t.test(`faults under ${rate} req/s through 3 sidecars (${full ? 'full' : 'short'} form)`, async (t) => {
  const rig = await Rig.start({ sidecars: 3 });
  t.teardown(() => rig.close());
  const gen = new LoadGenerator({ rate, classes: rig.classes, targets: () => rig.targets(), deadlineMs: 5000 });
  gen.start();
  await sleep(1000);

  const results: FaultResult[] = [];
  for (const fault of FAULTS) {
    const r = await runFault(rig, gen, fault, timing);
    results.push(r);
    t.comment(`${r.fault}: ${r.requests} requests, worst ${Math.round(r.worstMs)} ms${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`);
  }
  gen.phase = 'cool-down';
  await sleep(500);
  await gen.stop();

  const table = formatTable(results);
  t.comment(`\n${table}`);
  if (process.env.SIDEGATE_CHAOS_REPORT) writeFileSync(process.env.SIDEGATE_CHAOS_REPORT, `${table}\n`);

  for (const r of results) {
    t.ok(
      r.requests > ((rate * (timing.baselineMs + timing.holdMs)) / 1000) * 0.5,
      `${r.fault}: load was sustained (${r.requests} requests)`,
    );
    t.same(brief(r.failures), [], `${r.fault}: every request got an answer from the app or a documented sidegate answer`);
    t.same(brief(r.unexpected), [], `${r.fault}: only the answers this fault explains`);
    t.ok(r.worstMs < BUDGET_MS, `${r.fault}: worst latency ${Math.round(r.worstMs)} ms < ${BUDGET_MS} ms`);
    t.ok(r.recoveredInTime, `${r.fault}: sidecars back to normal after the restore`);
    t.notMatch(
      r.notes.join('; '),
      /no healthy answer after the restore/,
      `${r.fault}: every sidecar answered every kind of request healthily again`,
    );
  }
  // The faults were real: each one was seen by every sidecar it should have hit.
  const note = (name: string): string => results.find((r) => r.fault.startsWith(name))?.notes.join('; ') ?? '';
  t.match(
    note('JWKS'),
    /failed key fetches per sidecar during the outage: [1-9]\d*, [1-9]\d*, [1-9]\d*/,
    'every sidecar failed to fetch keys during the outage',
  );
  t.match(
    note('policy'),
    /invalid reloads rejected per sidecar: [1-9]\d*, [1-9]\d*, [1-9]\d*/,
    'every sidecar rejected the invalid policy',
  );
  t.match(note('policy'), /last good policy kept: true/);
  t.match(note('rolling'), /^sidecar-0: exit 0 .*sidecar-1: exit 0 .*sidecar-2: exit 0 /, 'every replaced sidecar drained and exited 0');
  const app = results.find((r) => r.fault.startsWith('app'))!;
  t.ok(
    (app.answers.get('503 UPSTREAM_UNAVAILABLE') ?? 0) + (app.answers.get('503 BREAKER_OPEN') ?? 0) > 0,
    'the app outage was visible as 503s',
  );

  // Between and around faults: nothing but healthy answers.
  const calm = judge(
    rig,
    gen.outcomes.filter((o) => !results.some((r) => r.fault === o.phase)),
    { name: 'calm', allowed: [] },
    undefined,
    undefined,
    [],
  );
  t.same(brief(calm.failures), [], 'between faults: every request answered');
  t.same(brief(calm.unexpected), [], 'between faults: healthy answers only');

  t.same(
    rig.crashed().map((s) => `${s.id}: ${s.p.output.stderr.slice(-500)}`),
    [],
    'no sidecar crashed',
  );
  t.ok(rig.app.alive, 'the app is up at the end');
  const leaks = findSecrets(
    rig.all.map((s) => s.p.output.stdout + s.p.output.stderr),
    [rig.secrets.redisPassword, rig.secrets.apiKey, ...rig.secrets.tokens],
  );
  t.same(leaks, [], 'no token, password or API key in any log line of any sidecar');
  t.ok(
    rig.all.every((s) => s.p.output.stdout.length > 0),
    'the sidecars did log',
  );
});
