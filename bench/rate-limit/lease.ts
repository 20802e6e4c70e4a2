/**
 * Hot key, exact vs leasing: 1, 4 and 8 sidecar processes (test/sidecar/rate-limit/lease-worker.ts:
 * each its own Redis connection, limiter and stage, driven by its own open-loop load) sharing one
 * redis-server, a single key offered at 10× its limit, spread evenly across the processes.
 *
 *   npx tsc -p . && node dist/bench/rate-limit/lease.js [limit-per-second] [seconds] [warm-up-seconds] [lease-options-json]
 *
 * lease-options-json: LeaseOptions for the leasing runs, e.g. '{"requestsPerCall":100}'; a bare
 * number is a fixed period in ms, e.g. 100 for the behaviour before periods adapted (default: the
 * defaults, as `sidegate proxy` runs them).
 * Per run (lease-scenario.ts): Redis commands per request from INFO commandstats over the steady
 * part; admitted against the limit's rate over the same part; the stage's p50/p99 per request;
 * lease sizes, effective periods, renewals. Exact and leasing runs alternate, each on a fresh key.
 */
import { RedisProcess } from '../../test/helpers/redis.js';
import { inspector } from '../../test/sidecar/rate-limit/redis-fixtures.js';
import type { LeaseOptions } from '../../sidecar/src/stages/rate-limit/lease/options.js';
import { HEADER, RULE, runScenario } from './lease-scenario.js';

const RATE = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 6);
const WARM = Number(process.argv[4] ?? 1);
// A bare number is a fixed period (the argument before periods adapted): '400' = {"periodMs":400,"maxPeriodMs":400}.
const arg = JSON.parse(process.argv[5] ?? '{}') as LeaseOptions | number;
const LEASE: LeaseOptions = typeof arg === 'number' ? { periodMs: arg, maxPeriodMs: arg } : arg;
const PODS = [1, 4, 8];

const redis = await RedisProcess.start();
const look = inspector(redis.url);
const rows: string[] = [];

try {
  for (const pods of PODS) {
    for (const mode of ['exact', 'lease'] as const) {
      // A process that cannot keep up with its share (a busy machine, the exact path at 10,000/s)
      // falls further behind instead of finishing: say so in its row and go on.
      rows.push(
        await runScenario({
          redisUrl: redis.url,
          look,
          name: `hot-${mode}-${pods}`,
          pods,
          mode,
          lease: LEASE,
          limitPerSecond: RATE,
          offeredPerSecond: 10 * RATE,
          seconds: SECONDS,
          warmSeconds: WARM,
        }).catch((err: unknown) => `${mode} | ${pods} | did not finish: ${err instanceof Error ? err.message : String(err)}`),
      );
      console.error(`done: ${mode} × ${pods}: ${rows[rows.length - 1]}`);
    }
  }
} finally {
  look.disconnect();
  await redis.stop();
}

console.log(
  `node ${process.version}; limit ${RATE}/s (burst 0) on one key, offered ${10 * RATE}/s spread over the pods; ${SECONDS} s runs, first ${WARM} s not counted; lease options ${JSON.stringify(LEASE)}\n`,
);
console.log(HEADER);
console.log(RULE);
for (const r of rows) console.log(`| ${r} |`);
