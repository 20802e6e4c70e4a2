/**
 * Rate-limit stage benchmark: Redis commands per request (INFO commandstats) and the latency the
 * stage adds, with and without the deny cache, against a real local redis-server.
 *
 *   npx tsc -p . && node dist/bench/rate-limit/run.js [requests-per-scenario]
 *
 * Each scenario runs the stage in front of a no-op handler, sequentially (latency, one request in
 * flight) and then with 64 in flight (throughput). The heartbeat is off so background commands do
 * not blur the count. Results are recorded in bench/rate-limit/RESULTS.md.
 */
import { RedisProcess } from '../../test/helpers/redis.js';
import { exchange, limit, matcher } from '../../test/sidecar/rate-limit/fixtures.js';
import { inspector, rig } from '../../test/sidecar/rate-limit/redis-fixtures.js';
import type { Rig } from '../../test/sidecar/rate-limit/redis-fixtures.js';
import type { RateLimitPolicy } from '../../policies/src/types.js';

const N = Number(process.argv[2] ?? 5000);

interface Scenario {
  readonly name: string;
  readonly limits: readonly RateLimitPolicy[];
  readonly denyCache: boolean;
  readonly path: string;
  /** Requests sent first to put the key in the intended state (e.g. exhausted). */
  readonly prime: number;
}

const hugeLimit = (name: string, paths: string[]): RateLimitPolicy => limit({ name, requests: 1e9, perMs: 1000, match: matcher(paths) });
const exhausted = limit({ name: 'tiny', requests: 1, perMs: 3_600_000, match: matcher(['/deny/']) });

const scenarios: Scenario[] = [
  { name: 'no limit matches (pass-through)', limits: [hugeLimit('a', ['/api/'])], denyCache: true, path: '/other', prime: 0 },
  { name: '1 limit, allowed', limits: [hugeLimit('a', ['/api/'])], denyCache: true, path: '/api/x', prime: 0 },
  {
    name: '3 limits, allowed',
    limits: [hugeLimit('a', ['/api/']), hugeLimit('b', ['/api/']), hugeLimit('c', ['/api/'])],
    denyCache: true,
    path: '/api/x',
    prime: 0,
  },
  { name: '1 limit, denied, deny cache on', limits: [exhausted], denyCache: true, path: '/deny/x', prime: 2 },
  { name: '1 limit, denied, deny cache off', limits: [exhausted], denyCache: false, path: '/deny/x', prime: 2 },
];

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function sequential(run: (ex: ReturnType<typeof exchange>) => Promise<unknown>, path: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const ex = exchange({ path });
    const s = performance.now();
    await run(ex);
    times.push((performance.now() - s) * 1000);
  }
  return times.sort((a, b) => a - b);
}

async function concurrent(
  run: (ex: ReturnType<typeof exchange>) => Promise<unknown>,
  path: string,
  n: number,
  inflight: number,
): Promise<number> {
  let next = 0;
  const s = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next++ < n) await run(exchange({ path }));
    }),
  );
  return n / ((performance.now() - s) / 1000);
}

const redis = await RedisProcess.start();
const look = inspector(redis.url);
const rows: string[] = [];
/**
 * From INFO commandstats: commands the sidecar sent (EVALSHA/EVAL: one per round trip here) and
 * all commands Redis executed, the script's own TIME/GET/SET included (commandstats counts those).
 */
const calls = async (): Promise<{ sent: number; executed: number }> => {
  const info = await look.info('commandstats');
  let sent = 0;
  let executed = 0;
  for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) {
    if (['info', 'ping', 'client|setinfo', 'client|setname', 'select', 'script|flush'].includes(m[1]!)) continue;
    executed += Number(m[2]);
    if (m[1] === 'evalsha' || m[1] === 'eval') sent += Number(m[2]);
  }
  return { sent, executed };
};

let r: Rig | undefined;
try {
  r = await rig(redis.url, { budgetMs: 1000 });
  const baseline = await sequential(() => Promise.resolve(), '/x', N);
  for (const sc of scenarios) {
    const run = r.stage(sc.limits, { denyCache: sc.denyCache });
    for (let i = 0; i < sc.prime; i++) await run(exchange({ path: sc.path }));
    await sequential(run, sc.path, Math.min(500, N)); // warm-up
    const before = await calls();
    const times = await sequential(run, sc.path, N);
    const after = await calls();
    const sent = (after.sent - before.sent) / N;
    const executed = (after.executed - before.executed) / N;
    const rps = await concurrent(run, sc.path, N, 64);
    const added = (p: number): string => (pct(times, p) - pct(baseline, p)).toFixed(1);
    rows.push(`| ${sc.name} | ${sent.toFixed(2)} | ${executed.toFixed(2)} | ${added(0.5)} | ${added(0.99)} | ${Math.round(rps)} |`);
  }
} finally {
  await r?.close();
  look.disconnect();
  await redis.stop();
}

console.log(`node ${process.version}, redis-server on loopback, ${N} requests per scenario\n`);
console.log('| scenario | commands sent / request | commands executed / request | added p50 (µs) | added p99 (µs) | req/s, 64 in flight |');
console.log('|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
