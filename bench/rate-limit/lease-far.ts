/**
 * A hot key far from its limit, exact vs leasing: one sidecar process (lease-worker.ts) offered
 * 1,000 req/s on a key whose limit (1,000,000/s by default) never fires — the single-sidecar case
 * of issue 10, in process, without HTTP (the proxy benchmark measures it through a real sidecar).
 *
 *   npx tsc -p . && node dist/bench/rate-limit/lease-far.js [requests-per-second] [seconds] [warm-up-seconds] [limit-per-second] [pods]
 *
 * Same columns as lease.js (lease-scenario.ts); "limit × time" is the offered count here, since
 * the limit does not fire: every request must be admitted.
 */
import { RedisProcess } from '../../test/helpers/redis.js';
import { inspector } from '../../test/sidecar/rate-limit/redis-fixtures.js';
import { HEADER, RULE, runScenario } from './lease-scenario.js';

const OFFERED = Number(process.argv[2] ?? 1000);
const SECONDS = Number(process.argv[3] ?? 6);
const WARM = Number(process.argv[4] ?? 1);
const LIMIT = Number(process.argv[5] ?? 1_000_000);
const PODS = Number(process.argv[6] ?? 1);

const redis = await RedisProcess.start();
const look = inspector(redis.url);
const rows: string[] = [];
try {
  for (const mode of ['exact', 'lease'] as const) {
    rows.push(
      await runScenario({
        redisUrl: redis.url,
        look,
        name: `far-${mode}`,
        pods: PODS,
        mode,
        lease: {},
        limitPerSecond: LIMIT,
        offeredPerSecond: OFFERED,
        seconds: SECONDS,
        warmSeconds: WARM,
      }),
    );
    console.error(`done: ${mode}: ${rows[rows.length - 1]}`);
  }
} finally {
  look.disconnect();
  await redis.stop();
}

console.log(
  `node ${process.version}; ${OFFERED} req/s on one key over ${PODS} pod(s), limit ${LIMIT}/s (never reached); ${SECONDS} s runs, first ${WARM} s not counted; lease defaults\n`,
);
console.log(HEADER);
console.log(RULE);
for (const r of rows) console.log(`| ${r} |`);
