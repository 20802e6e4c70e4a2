import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { RateLimitedError, RateLimitUnavailableError } from '../../../sidecar/src/errors.js';
import { exchange, limit, matcher, sleep } from './fixtures.js';
import { counter, rig } from './redis-fixtures.js';
import type { Rig } from './redis-fixtures.js';

const BUDGET = 5;
// The budget is 5 ms. Test machines are shared 2-core boxes where the event loop itself stalls for
// tens of ms, past 100 ms while other test files and benchmarks run beside this one (the in-memory
// fallback path included), so both bounds allow for scheduling: the slowest
// request within 400 ms, p99 within 25 ms of the budget. Without the budget a hung Redis would hold
// requests for seconds (ioredis' defaults), which both bounds catch. Latency itself is measured in
// bench/rate-limit.
const SLACK = 400;
const P99_SLACK = 25;

function p99(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

interface Sample {
  at: number;
  path: string;
  result: 'ok' | 429 | 503;
  ms: number;
  source: string;
}

const limits = [
  limit({ name: 'allow-mode', match: matcher(['/allow/']), requests: 50, perMs: 1000, onRedisError: 'allow' }),
  limit({ name: 'deny-mode', match: matcher(['/deny/']), requests: 50, perMs: 1000, onRedisError: 'deny' }),
  limit({ name: 'local-mode', match: matcher(['/local/']), requests: 100, perMs: 1000, onRedisError: 'local' }),
];

async function load(r: Rig, ms: number, t0: number, events: { at: number; run: () => Promise<void> }[]): Promise<Sample[]> {
  const run = r.stage(limits);
  const samples: Sample[] = [];
  const end = performance.now() + ms;
  const pending = [...events];
  while (performance.now() < end) {
    while (pending.length > 0 && performance.now() - t0 >= pending[0]!.at) await pending.shift()!.run();
    for (const path of ['/allow/x', '/deny/x', '/local/x']) {
      const ex = exchange({ path });
      const start = performance.now();
      const res = await run(ex);
      const took = performance.now() - start;
      const result = res === 'ok' ? 'ok' : res instanceof RateLimitedError ? 429 : res instanceof RateLimitUnavailableError ? 503 : 'ok';
      if (res !== 'ok' && !(res instanceof RateLimitedError) && !(res instanceof RateLimitUnavailableError)) throw res;
      samples.push({ at: start - t0, path, result, ms: took, source: String(ex.notes?.ratelimit_source ?? '') });
    }
    await sleep(2);
  }
  return samples;
}

void t.test('Redis killed under load: each onRedisError mode does what it says, within budget, and sharing resumes', async (t) => {
  const redis = await RedisProcess.start();
  const hb = { heartbeat: { intervalMs: 100, ttlMs: 300 } };
  const a = await rig(redis.url, { budgetMs: BUDGET, limiter: { ...hb, podId: 'pod-a' } });
  const b = await rig(redis.url, { budgetMs: BUDGET, limiter: { ...hb, podId: 'pod-b' } });
  t.teardown(async () => {
    await a.close();
    await b.close();
    await redis.stop();
  });
  await sleep(250);
  t.equal(a.limiter.livePods(), 2, 'two pods heartbeat');

  const t0 = performance.now();
  let killedAt = 0;
  let restartedAt = 0;
  const samples = await load(a, 3000, t0, [
    {
      at: 800,
      run: async () => {
        await redis.kill();
        killedAt = performance.now() - t0;
      },
    },
    {
      at: 1800,
      run: async () => {
        await redis.restart();
        restartedAt = performance.now() - t0;
      },
    },
  ]);

  const slowest = Math.max(...samples.map((s) => s.ms));
  t.ok(slowest < BUDGET + SLACK, `no request waited past the budget: slowest ${slowest.toFixed(1)} ms over ${samples.length} requests`);
  t.ok(p99(samples.map((s) => s.ms)) < BUDGET + P99_SLACK, `p99 ${p99(samples.map((s) => s.ms)).toFixed(2)} ms`);

  const during = samples.filter((s) => s.at > killedAt + 20 && s.at + s.ms < restartedAt);
  const of = (p: string): Sample[] => during.filter((s) => s.path === p);
  t.ok(of('/allow/x').length > 50, 'load kept running during the outage');
  t.ok(
    of('/allow/x').every((s) => s.result === 'ok' && s.source === 'fallback'),
    'allow: every request admitted, marked fallback',
  );
  t.ok(
    of('/deny/x').every((s) => s.result === 503),
    'deny: every request answered 503 RateLimitUnavailable',
  );
  const local = of('/local/x');
  const admitted = local.filter((s) => s.result === 'ok').length;
  const outageS = (local[local.length - 1]!.at - local[0]!.at) / 1000;
  // This pod's share: 100/s ÷ 2 live pods = 50/s, starting from a full share (50).
  const expected = 50 + 50 * outageS;
  t.ok(
    Math.abs(admitted - expected) <= expected * 0.1,
    `local: ${admitted} admitted in ${outageS.toFixed(2)} s, expected ≈ ${expected.toFixed(0)} (half of 100/s)`,
  );
  t.ok(
    local.some((s) => s.result === 429),
    'local: the share is enforced (429s)',
  );

  const firstShared = samples.find((s) => s.at > restartedAt && s.source === 'redis');
  t.ok(firstShared, 'shared decisions resumed');
  const resumeMs = firstShared!.at - restartedAt;
  t.ok(resumeMs < 1000, `shared decisions resumed ${resumeMs.toFixed(0)} ms after Redis returned`);
  // Deny mode answers 503 whenever Redis misses the 5 ms budget, which on a loaded test machine
  // happens now and then after the outage too (CI saw it); that is the mode doing its job. What
  // must not happen is staying down: nearly all answers, and some of the last, are decisions again.
  const denyAfter = samples.filter((s) => s.at > firstShared!.at + 100 && s.path === '/deny/x');
  const refused = denyAfter.filter((s) => s.result === 503);
  const shown = refused
    .slice(0, 5)
    .map((s) => `+${(s.at - firstShared!.at).toFixed(0)} ms took ${s.ms.toFixed(1)} ms`)
    .join(', ');
  t.ok(
    denyAfter.length >= 20 && refused.length <= denyAfter.length * 0.2,
    `deny-mode limit answers from Redis again: ${refused.length} of ${denyAfter.length} refused after resumption${shown ? ` (${shown})` : ''}`,
  );
  t.ok(
    denyAfter.slice(-10).some((s) => s.result !== 503),
    'deny-mode still decides at the end of the run',
  );
  t.ok(
    (await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'allow-mode', result: 'allowed', source: 'fallback' })) > 50,
    'fallback decisions are counted',
  );
  t.equal((await a.metrics.rateLimitFallback.get()).values[0]?.value, 0, 'fallback gauge back to 0');
  t.ok(
    a.logger.lines.some((l) => l.level === 'warn' && /redis unavailable/.test(l.msg)),
    'outage logged at warn',
  );
  t.ok(
    a.logger.lines.some((l) => l.level === 'warn' && /decided without Redis/.test(l.msg)),
    'degraded decisions logged',
  );
  t.comment(`kill at ${killedAt.toFixed(0)} ms, restart at ${restartedAt.toFixed(0)} ms, shared again +${resumeMs.toFixed(0)} ms`);
});

void t.test('Redis paused (hung, socket open): requests pay at most the budget, then none; sharing resumes', async (t) => {
  const redis = await RedisProcess.start();
  const a = await rig(redis.url, { budgetMs: BUDGET });
  t.teardown(async () => {
    await a.close();
    await redis.stop();
  });
  const t0 = performance.now();
  let resumedAt = 0;
  const samples = await load(a, 2000, t0, [
    {
      at: 500,
      run: () => {
        redis.pause();
        return Promise.resolve();
      },
    },
    {
      at: 1300,
      run: () => {
        redis.resume();
        resumedAt = performance.now() - t0;
        return Promise.resolve();
      },
    },
  ]);
  const slowest = Math.max(...samples.map((s) => s.ms));
  t.ok(slowest < BUDGET + SLACK, `slowest ${slowest.toFixed(1)} ms`);
  t.ok(p99(samples.map((s) => s.ms)) < BUDGET + P99_SLACK, `p99 ${p99(samples.map((s) => s.ms)).toFixed(2)} ms`);
  const paused = samples.filter((s) => s.at > 500 && s.at < 1300);
  const paid = paused.filter((s) => s.ms >= BUDGET - 1).length;
  t.ok(paid <= 6, `only the calls that opened the breaker paid the budget (${paid} of ${paused.length})`);
  const firstShared = samples.find((s) => s.at > resumedAt && s.source === 'redis');
  t.ok(firstShared && firstShared.at - resumedAt < 1000, `shared again ${(firstShared!.at - resumedAt).toFixed(0)} ms after resume`);
});
