/**
 * One run of the hot-key benchmarks (lease.ts, lease-far.ts): `pods` sidecar processes
 * (test/sidecar/rate-limit/lease-worker.ts) sharing one redis-server, one key offered at
 * `offeredPerSecond` spread evenly across them, exact or leasing. Returns one table row.
 *
 * Counted over the steady part (from `warmSeconds` on: the key's initial burst spent, leasing
 * switched on): Redis calls and commands executed per request from INFO commandstats, admitted
 * against the limit × the time the decisions covered, the busiest sliding second (starting at an
 * admission) against the limit, the stage's p50/p99 per request, lease sizes and effective
 * periods, renewals ahead of time vs by a waiting request.
 */
import type { Redis } from 'ioredis';
import type { LeaseOptions } from '../../sidecar/src/stages/rate-limit/lease/options.js';
import { commandTotals, percentile, startWorkers } from '../../test/sidecar/rate-limit/lease-procs.js';
import type { RunResult } from '../../test/sidecar/rate-limit/lease-worker.js';

export interface Scenario {
  readonly redisUrl: string;
  /** A plain client for INFO commandstats. */
  readonly look: Redis;
  readonly name: string;
  readonly pods: number;
  readonly mode: 'exact' | 'lease';
  readonly lease: LeaseOptions;
  readonly limitPerSecond: number;
  readonly offeredPerSecond: number;
  readonly seconds: number;
  readonly warmSeconds: number;
}

export const HEADER =
  '| mode | pods | requests | Redis calls / request | commands executed / request | admitted | limit × time | error | busiest 1 s | admitted per pod | stage p50 (µs) | stage p99 (µs) | lease mean / max | mean period (ms) | renewals ahead / waited | returned / forfeited | admitted by source | 503 (no decision) |';
export const RULE = `|${'---|'.repeat(18)}`;

export async function runScenario(sc: Scenario): Promise<string> {
  const workers = await startWorkers(sc.pods, (i) => ({
    redisUrl: sc.redisUrl,
    podId: `p${i}`,
    pods: sc.pods,
    lease: sc.mode === 'lease' ? sc.lease : false,
    budgetMs: 200,
    limits: [{ name: sc.name, requests: sc.limitPerSecond, perMs: 1000, onRedisError: 'deny' }],
  }));
  try {
    const startAt = Date.now() + 500;
    const warmMs = sc.warmSeconds * 1000;
    const runs = workers.map((w) => w.run(startAt, sc.seconds * 1000, sc.offeredPerSecond / sc.pods, '/api/x', warmMs));
    // Commands over the steady part: read at the end of the warm-up and at the end.
    await new Promise((r) => setTimeout(r, startAt + warmMs - Date.now()));
    const from = commandTotals(await sc.look.info('commandstats'));
    const results: RunResult[] = await Promise.all(runs);
    const to = commandTotals(await sc.look.info('commandstats'));
    const sum = (f: (r: RunResult) => number): number => results.reduce((n, r) => n + f(r), 0);
    const sent = sum((r) => r.sent);
    const admitted = sum((r) => r.admitted);
    // Admissions count by decision time, up to the last one (see lease-accuracy.test.ts).
    const lastAdmit = Math.max(...results.flatMap((r) => r.admitTimes));
    const expected = (Math.min(sc.limitPerSecond, sc.offeredPerSecond) * (lastAdmit - startAt - warmMs)) / 1000;
    const lat = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
    const busiest = busiestSecond(
      results.flatMap((r) => r.admitTimes),
      startAt + warmMs,
      lastAdmit,
    );
    const sources = results.reduce<Record<string, number>>((acc, r) => {
      for (const [k, v] of Object.entries(r.sources)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    const grants = sum((r) => r.grants);
    const perPod = results.map((r) => r.admitted);
    const leasing = sc.mode === 'lease';
    return [
      sc.mode,
      sc.pods,
      sent,
      ((to.sent - from.sent) / sent).toFixed(4),
      ((to.executed - from.executed) / sent).toFixed(4),
      admitted,
      expected.toFixed(0),
      `${admitted >= expected ? '+' : ''}${((admitted / expected - 1) * 100).toFixed(2)} %`,
      sc.limitPerSecond < sc.offeredPerSecond ? `${busiest} (${((busiest / sc.limitPerSecond - 1) * 100).toFixed(1)} %)` : String(busiest),
      `${Math.min(...perPod)}–${Math.max(...perPod)}`,
      percentile(lat, 0.5).toFixed(0),
      percentile(lat, 0.99).toFixed(0),
      leasing
        ? `${(sum((r) => r.grantedRequests) / Math.max(1, grants)).toFixed(1)} / ${Math.max(...results.map((r) => r.maxLease))}`
        : '—',
      leasing ? (sum((r) => r.periodSumMs) / Math.max(1, grants)).toFixed(0) : '—',
      leasing ? `${sum((r) => r.renewals.ahead)} / ${sum((r) => r.renewals.on_request)}` : '—',
      leasing ? `${sum((r) => r.returnedRequests).toFixed(0)} / ${sum((r) => r.forfeitedRequests).toFixed(0)}` : '—',
      Object.entries(sources)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
      sum((r) => r.other),
    ].join(' | ');
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** Most admissions in any one-second window lying wholly within [from, to] (the steady part). */
function busiestSecond(times: number[], from: number, to: number): number {
  const t = times.filter((x) => x >= from && x <= to).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length && t[i]! + 1000 <= to; i++) {
    while (j < t.length && t[j]! < t[i]! + 1000) j++;
    best = Math.max(best, j - i);
  }
  return best;
}
