import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import type { LoadGenerator, Outcome } from './load.js';
import type { Rig, Sidecar } from './rig.js';

/** How long each phase lasts; the full form (SIDEGATE_CHAOS=full) stretches all of them. */
export interface Timing {
  readonly baselineMs: number;
  readonly holdMs: number;
  readonly afterMs: number;
  /** Longest wait for the sidecars to report themselves recovered after a restore. */
  readonly recoverTimeoutMs: number;
}

export const SHORT: Timing = { baselineMs: 1000, holdMs: 2500, afterMs: 2500, recoverTimeoutMs: 10_000 };
export const FULL: Timing = { baselineMs: 5000, holdMs: 15_000, afterMs: 10_000, recoverTimeoutMs: 30_000 };

/** What a fault did to the rig, for the report. */
export interface Injected {
  /** performance.now() when the fault was undone (recovery is measured from here). */
  readonly restoredAt: number | undefined;
  /** Per-sidecar state taken at the right moment, handed to `recovered`. */
  readonly before?: Map<Sidecar, string>;
  readonly notes: string[];
}

export interface Fault {
  readonly name: string;
  /** Documented answers acceptable while this fault lasts, on top of each class's healthy ones. */
  readonly allowed: readonly string[];
  readonly run: (rig: Rig, t: Timing) => Promise<Injected>;
  /** Server-side view of "back to normal", polled after the restore (e.g. decisions from Redis again). */
  readonly recovered?: (rig: Rig, before: Map<Sidecar, string>) => Promise<boolean>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function each(rig: Rig, f: (s: Sidecar) => Promise<boolean>): Promise<boolean> {
  return (await Promise.all(rig.sidecars.map(f))).every(Boolean);
}

async function snapshot(rig: Rig, f: (s: Sidecar) => Promise<string>): Promise<Map<Sidecar, string>> {
  return new Map(await Promise.all(rig.sidecars.map(async (s) => [s, await f(s)] as const)));
}

const redisDecisions = (rig: Rig, s: Sidecar): Promise<number> => rig.counter(s, 'sidegate_ratelimit_decisions_total', 'source="redis"');

/** Decisions come from Redis again on every sidecar (more than at the restore), and none is in fallback. */
async function redisBack(rig: Rig, before: Map<Sidecar, string>): Promise<boolean> {
  return each(
    rig,
    async (s) =>
      (await rig.counter(s, 'sidegate_ratelimit_fallback_active')) === 0 && (await redisDecisions(rig, s)) > Number(before.get(s) ?? 0),
  );
}

async function policyVersion(s: Sidecar): Promise<string> {
  const r = await request(`${s.p.adminUrl}/policy`);
  return String(((await r.body.json()) as { version: unknown }).version);
}

export const FAULTS: readonly Fault[] = [
  {
    name: 'redis killed (SIGKILL) and restarted',
    allowed: ['SIDEGATE_ERR_RATE_LIMIT_UNAVAILABLE'],
    run: async (rig, t) => {
      await rig.redis.kill();
      await sleep(t.holdMs);
      await rig.redis.restart();
      const restoredAt = performance.now();
      return { restoredAt, before: await snapshot(rig, async (s) => String(await redisDecisions(rig, s))), notes: [] };
    },
    recovered: redisBack,
  },
  {
    name: 'redis paused (SIGSTOP)',
    allowed: ['SIDEGATE_ERR_RATE_LIMIT_UNAVAILABLE'],
    run: async (rig, t) => {
      rig.redis.pause();
      await sleep(t.holdMs);
      rig.redis.resume();
      const restoredAt = performance.now();
      return { restoredAt, before: await snapshot(rig, async (s) => String(await redisDecisions(rig, s))), notes: [] };
    },
    recovered: redisBack,
  },
  {
    name: 'app killed (SIGKILL) and restarted',
    allowed: ['SIDEGATE_ERR_UPSTREAM_UNAVAILABLE', 'SIDEGATE_ERR_UPSTREAM_RESET', 'SIDEGATE_ERR_BREAKER_OPEN'],
    run: async (rig, t) => {
      await rig.app.kill();
      await sleep(t.holdMs);
      await rig.app.restart();
      return { restoredAt: performance.now(), notes: [] };
    },
    recovered: (rig) => each(rig, async (s) => (await rig.counter(s, 'sidegate_circuit_breaker_state')) === 0),
  },
  {
    name: 'JWKS server stopped',
    allowed: [],
    run: async (rig, t) => {
      const fetches = (result: string) =>
        snapshot(rig, async (s) => String(await rig.counter(s, 'sidegate_jwks_fetches_total', `result="${result}"`)));
      const errorsBefore = await fetches('error');
      await rig.jwks.stop();
      await sleep(Math.max(t.holdMs, 2500)); // past the 1 s refresh interval and the first backoff
      const errorsAfter = await fetches('error');
      const before = await fetches('success');
      await rig.jwks.restart();
      const restoredAt = performance.now();
      const failed = rig.sidecars.map((s) => Number(errorsAfter.get(s)) - Number(errorsBefore.get(s)));
      return { restoredAt, before, notes: [`failed key fetches per sidecar during the outage: ${failed.join(', ')}`] };
    },
    recovered: (rig, before) =>
      each(rig, async (s) => (await rig.counter(s, 'sidegate_jwks_fetches_total', 'result="success"')) > Number(before.get(s) ?? 0)),
  },
  {
    name: 'policy replaced: invalid, then valid',
    allowed: [],
    run: async (rig, t) => {
      const failures = () => snapshot(rig, async (s) => String(await rig.counter(s, 'sidegate_policy_reload_failures_total')));
      const versions = await snapshot(rig, policyVersion);
      const failuresBefore = await failures();
      rig.rewritePolicy(
        'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: chaos }\nspec:\n  rateLimits: [ { name: broken } ]\n  nonsense: true\n',
      );
      await sleep(t.holdMs);
      const failuresAfter = await failures();
      const unchanged = await snapshot(rig, policyVersion);
      rig.rewritePolicy(rig.validPolicy(25));
      const restoredAt = performance.now();
      const rejected = rig.sidecars.map((s) => Number(failuresAfter.get(s)) - Number(failuresBefore.get(s)));
      const kept = rig.sidecars.every((s) => unchanged.get(s) === versions.get(s));
      return {
        restoredAt,
        before: versions,
        notes: [`invalid reloads rejected per sidecar: ${rejected.join(', ')}`, `last good policy kept: ${kept}`],
      };
    },
    recovered: (rig, before) => each(rig, async (s) => (await policyVersion(s)) !== before.get(s)),
  },
  {
    name: 'rolling replacement of every sidecar',
    allowed: [],
    run: async (rig, t) => {
      const notes: string[] = [];
      for (const old of [...rig.sidecars]) {
        await rig.addSidecar();
        await sleep(Math.min(t.baselineMs, 500));
        const exit = await rig.drain(old);
        notes.push(`${old.id}: exit ${exit.code ?? exit.signal} ${exit.ms} ms after SIGTERM`);
        if (exit.code !== 0) notes.push(`${old.id} stderr: ${old.p.output.stderr.slice(-500)}`);
      }
      return { restoredAt: undefined, notes };
    },
  },
];

export interface FaultResult {
  readonly fault: string;
  readonly requests: number;
  /** Answer label (`200`, `429 RATE_LIMITED`, `reset`) → count. */
  readonly answers: Map<string, number>;
  readonly worstMs: number;
  readonly recoveryMs: number | undefined;
  /** No answer, a hang past the deadline, or an undocumented answer. */
  readonly failures: readonly Outcome[];
  /** Documented answers that this fault should not produce. */
  readonly unexpected: readonly Outcome[];
  readonly notes: readonly string[];
  /** The sidecars reported themselves recovered within the timeout (true when nothing to wait for). */
  readonly recoveredInTime: boolean;
}

/** Baseline load, the fault, then load after it; the outcomes of all three phases are judged. */
export async function runFault(rig: Rig, gen: LoadGenerator, fault: Fault, t: Timing): Promise<FaultResult> {
  gen.phase = fault.name;
  await sleep(t.baselineMs);
  const injected = await fault.run(rig, t);
  const notes = [...injected.notes];
  let serverRecovery: number | undefined;
  let recoveredInTime = true;
  if (injected.restoredAt !== undefined && fault.recovered !== undefined) {
    const before = injected.before ?? new Map<Sidecar, string>();
    const deadline = injected.restoredAt + t.recoverTimeoutMs;
    for (;;) {
      if (await fault.recovered(rig, before).catch(() => false)) {
        serverRecovery = performance.now() - injected.restoredAt;
        break;
      }
      if (performance.now() > deadline) {
        recoveredInTime = false;
        notes.push(`sidecars did not report recovery within ${t.recoverTimeoutMs} ms`);
        break;
      }
      await sleep(50);
    }
  }
  await sleep(t.afterMs);
  gen.phase = 'between faults';
  return {
    ...judge(
      rig,
      gen.outcomes.filter((o) => o.phase === fault.name),
      fault,
      injected.restoredAt,
      serverRecovery,
      notes,
    ),
    recoveredInTime,
  };
}

/**
 * Documented answers accepted in every phase: a limit with onRedisError: deny answers 503 whenever
 * one Redis call misses its budget, which a CPU-starved machine causes without any injected fault.
 * They are counted in the table like every other answer.
 */
export const TOLERATED: readonly string[] = ['SIDEGATE_ERR_RATE_LIMIT_UNAVAILABLE'];

/** Count and judge the outcomes of one phase against the fault's allowed answers. */
export function judge(
  rig: Rig,
  outs: readonly Outcome[],
  fault: Pick<Fault, 'name' | 'allowed'>,
  restoredAt: number | undefined,
  serverRecovery: number | undefined,
  notes: string[],
): Omit<FaultResult, 'recoveredInTime'> {
  const healthyFor = new Map(rig.classes.map((c) => [c.name, c.healthy]));
  const answers = new Map<string, number>();
  const failures: Outcome[] = [];
  const unexpected: Outcome[] = [];
  let worst = 0;
  for (const o of outs) {
    worst = Math.max(worst, o.end - o.start);
    const label = o.failure !== undefined && o.failure !== 'undocumented' ? o.failure : answerLabel(o);
    answers.set(label, (answers.get(label) ?? 0) + 1);
    if (o.failure !== undefined) {
      failures.push(o);
      continue;
    }
    const answer = o.answer!;
    if (healthyFor.get(o.cls)?.includes(answer) === true) continue;
    const explained = fault.allowed.includes(answer);
    if (!explained && !TOLERATED.includes(answer)) unexpected.push(o);
  }
  const clientRecovery = restoredAt === undefined ? 0 : firstHealthy(outs, healthyFor, restoredAt, notes);
  const recoveryMs = restoredAt === undefined ? undefined : Math.max(clientRecovery, serverRecovery ?? 0);
  return { fault: fault.name, requests: outs.length, answers, worstMs: worst, recoveryMs, failures, unexpected, notes };
}

/**
 * Client-visible recovery: for every sidecar and request class, the first healthy answer to a
 * request sent after the restore; the latest of those. (A later one-off budget miss is counted in
 * the table, not taken for a slow recovery.)
 */
function firstHealthy(outs: readonly Outcome[], healthyFor: Map<string, readonly string[]>, restoredAt: number, notes: string[]): number {
  const first = new Map<string, number>();
  const seen = new Set<string>();
  for (const o of outs) {
    if (o.start < restoredAt || o.target === '-') continue;
    const k = `${o.target} ${o.cls}`;
    seen.add(k);
    if (o.answer !== undefined && healthyFor.get(o.cls)?.includes(o.answer) === true)
      first.set(k, Math.min(first.get(k) ?? Infinity, o.end - restoredAt));
  }
  const never = [...seen].filter((k) => !first.has(k));
  if (never.length > 0) notes.push(`no healthy answer after the restore for: ${never.join(', ')}`);
  return Math.max(0, ...first.values());
}

function answerLabel(o: Outcome): string {
  if (o.answer === 'app') return '200';
  if (o.answer === undefined) return 'none';
  if (o.failure === 'undocumented') return `undocumented ${o.answer}`;
  return `${o.status} ${o.answer.replace('SIDEGATE_ERR_', '')}`;
}

/** The table printed at the end and recorded in docs/reliability.md. */
export function formatTable(results: readonly Omit<FaultResult, 'recoveredInTime'>[]): string {
  const rows = results.map((r) => {
    const answers = [...r.answers.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    const rec = r.recoveryMs === undefined ? 'n/a' : `${(r.recoveryMs / 1000).toFixed(2)} s`;
    return `| ${r.fault} | ${r.requests} | ${answers} | ${Math.round(r.worstMs)} ms | ${rec} |`;
  });
  return ['| fault | requests | answers by status | worst latency | recovery |', '|---|---|---|---|---|', ...rows].join('\n');
}
