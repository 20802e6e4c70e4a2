/**
 * Hot key, exact vs leasing: 1, 4 and 8 sidecar processes (test/sidecar/rate-limit/lease-worker.ts:
 * each its own Redis connection, limiter and stage, driven by its own open-loop load) sharing one
 * redis-server, a single key offered at 10× its limit, spread evenly across the processes.
 *
 *   npx tsc -p . && node dist/bench/rate-limit/lease.js [limit-per-second] [seconds] [warm-up-seconds] [lease-period-ms]
 *
 * Per run: Redis commands per request from INFO commandstats over the steady part (after the
 * warm-up: the key's initial burst spent, leasing switched on); admitted against the limit's rate
 * over the same part; the stage's p50/p99 time per request (no-op handler behind it); lease sizes.
 * Exact and leasing runs alternate in one invocation, each on a fresh key.
 */
import { RedisProcess } from '../../test/helpers/redis.js';
import { inspector } from '../../test/sidecar/rate-limit/redis-fixtures.js';
import { commandTotals, percentile, startWorkers } from '../../test/sidecar/rate-limit/lease-procs.js';
import type { RunResult } from '../../test/sidecar/rate-limit/lease-worker.js';

const RATE = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 6);
const WARM = Number(process.argv[4] ?? 1);
const PERIOD_MS = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
const PODS = [1, 4, 8];

const redis = await RedisProcess.start();
const look = inspector(redis.url);
const rows: string[] = [];

async function scenario(pods: number, mode: 'exact' | 'lease'): Promise<void> {
  const name = `hot-${mode}-${pods}`;
  const workers = await startWorkers(pods, (i) => ({
    redisUrl: redis.url, podId: `p${i}`, pods, lease: mode === 'lease' ? (PERIOD_MS === undefined ? {} : { periodMs: PERIOD_MS }) : false, budgetMs: 200,
    limits: [{ name, requests: RATE, perMs: 1000, onRedisError: 'deny' }],
  }));
  try {
    const startAt = Date.now() + 500;
    const durationMs = SECONDS * 1000;
    const warmMs = WARM * 1000;
    const runs = workers.map((w) => w.run(startAt, durationMs, (10 * RATE) / pods, '/api/x', warmMs));
    // Commands over the steady part: read at the end of the warm-up and at the end.
    await new Promise((r) => setTimeout(r, startAt + warmMs - Date.now()));
    const from = commandTotals(await look.info('commandstats'));
    const results: RunResult[] = await Promise.all(runs);
    const to = commandTotals(await look.info('commandstats'));
    const sum = (f: (r: RunResult) => number): number => results.reduce((n, r) => n + f(r), 0);
    const sent = sum((r) => r.sent);
    const admitted = sum((r) => r.admitted);
    // Admissions count by decision time, up to the last one (see lease-accuracy.test.ts).
    const lastAdmit = Math.max(...results.flatMap((r) => r.admitTimes));
    const expected = (RATE * (lastAdmit - startAt - warmMs)) / 1000;
    const lat = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
    const sources = results.reduce<Record<string, number>>((acc, r) => {
      for (const [k, v] of Object.entries(r.sources)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    const grants = sum((r) => r.grants);
    const perPod = results.map((r) => r.admitted);
    rows.push([
      mode, pods, sent,
      ((to.sent - from.sent) / sent).toFixed(4),
      ((to.executed - from.executed) / sent).toFixed(3),
      admitted, expected.toFixed(0), `${admitted >= expected ? '+' : ''}${((admitted / expected - 1) * 100).toFixed(2)} %`,
      `${Math.min(...perPod)}–${Math.max(...perPod)}`,
      percentile(lat, 0.5).toFixed(0), percentile(lat, 0.99).toFixed(0),
      mode === 'lease' ? `${(sum((r) => r.grantedRequests) / Math.max(1, grants)).toFixed(1)} / ${Math.max(...results.map((r) => r.maxLease))}` : '—',
      mode === 'lease' ? `${sum((r) => r.returnedRequests).toFixed(0)} / ${sum((r) => r.forfeitedRequests).toFixed(0)}` : '—',
      Object.entries(sources).map(([k, v]) => `${k} ${v}`).join(', '),
      sum((r) => r.other),
    ].join(' | '));
    console.error(`done: ${mode} × ${pods}: ${rows[rows.length - 1]}`);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

try {
  for (const pods of PODS) {
    await scenario(pods, 'exact');
    await scenario(pods, 'lease');
  }
} finally {
  look.disconnect();
  await redis.stop();
}

console.log(`node ${process.version}; limit ${RATE}/s (burst 0) on one key, offered ${10 * RATE}/s spread over the pods; ${SECONDS} s runs, first ${WARM} s not counted; lease period ${PERIOD_MS ?? 100} ms\n`);
console.log('| mode | pods | requests | Redis calls / request | commands executed / request | admitted | limit × time | error | admitted per pod | stage p50 (µs) | stage p99 (µs) | lease mean / max | returned / forfeited | admitted by source | 503 (no decision) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r} |`);
