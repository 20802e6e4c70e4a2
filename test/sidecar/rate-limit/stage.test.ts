import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { RateLimitedError } from '../../../sidecar/src/errors.js';
import { exchange, limit, matcher, sleep } from './fixtures.js';
import { commandCalls, counter, inspector, rig } from './redis-fixtures.js';

const redis = await RedisProcess.start();
const look = inspector(redis.url);
t.teardown(async () => {
  look.disconnect();
  await redis.stop();
});

void t.test('a full key admits exactly requests + burst at once, then the steady rate', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  // 5 per second (one per 200 ms) with a burst of 3: capacity 8.
  const run = r.stage([limit({ name: 'burst', requests: 5, perMs: 1000, burst: 3 })]);
  const results = [];
  for (let i = 0; i < 20; i++) results.push(await run(exchange()));
  t.equal(results.filter((x) => x === 'ok').length, 8, 'exactly 8 of 20 admitted');
  t.same(results.slice(0, 8), Array(8).fill('ok'), 'the first 8 in order');
  const start = Date.now();
  let admitted = 0;
  while (Date.now() - start < 1000) {
    if ((await run(exchange())) === 'ok') admitted++;
    await sleep(5);
  }
  // Over one second at 5/s the steady rate admits 5 (one more or less at the edges).
  t.ok(admitted >= 4 && admitted <= 6, `steady rate: ${admitted} admitted in 1 s at 5/s`);
});

void t.test('weighted costs take cost units from the same quota', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  const run = r.stage([limit({ name: 'heavy', requests: 10, perMs: 60_000, cost: 3 })]);
  const ex1 = exchange();
  t.equal(await run(ex1), 'ok');
  t.equal(ex1.responseHeaders?.ratelimit, '"heavy";r=7;t=18', '3 of 10 units used; full again in 18 s');
  t.equal(await run(exchange()), 'ok');
  t.equal(await run(exchange()), 'ok');
  const denied = await run(exchange());
  t.type(denied, RateLimitedError, '12 units > 10: the fourth is denied');
});

void t.test('shadow mode never rejects, but counts what it would have rejected', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  const run = r.stage([limit({ name: 'shadowy', requests: 2, perMs: 60_000, mode: 'shadow' })]);
  const exs = Array.from({ length: 10 }, () => exchange());
  for (const ex of exs) t.equal(await run(ex), 'ok');
  t.equal(
    await counter(r.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'shadowy', result: 'shadow_limited', source: 'redis' }),
    8,
  );
  t.equal(await counter(r.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'shadowy', result: 'allowed', source: 'redis' }), 2);
  t.equal(exs[9]!.notes?.ratelimit, 'shadow_limited');
  t.equal(exs[9]!.responseHeaders, undefined, 'a shadow limit is not advertised to clients');
});

void t.test('answers: 429 with Retry-After and the draft RateLimit fields; headers on allowed responses', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  const run = r.stage([
    limit({ name: 'per-user', requests: 2, perMs: 60_000, burst: 1, key: [{ kind: 'claim', name: 'sub' }] }),
    limit({ name: 'global', requests: 1000, perMs: 1000 }),
  ]);
  const ok = exchange({ claims: { sub: 'alice' } });
  t.equal(await run(ok), 'ok');
  t.equal(ok.responseHeaders?.['ratelimit-policy'], '"per-user";q=2;w=60;sidegate-burst=1, "global";q=1000;w=1');
  t.equal(ok.responseHeaders?.ratelimit, '"per-user";r=2;t=30', 'the limit with the least remaining');
  t.equal(await run(exchange({ claims: { sub: 'alice' } })), 'ok');
  t.equal(await run(exchange({ claims: { sub: 'alice' } })), 'ok');
  const denied = await run(exchange({ claims: { sub: 'alice' } }));
  if (!(denied instanceof RateLimitedError)) throw new Error('expected RateLimitedError');
  t.equal(denied.status, 429);
  t.equal(denied.code, 'SIDEGATE_ERR_RATE_LIMITED');
  t.equal(denied.headers['retry-after'], '30', 'one interval (30 s) until a unit frees up');
  t.equal(denied.headers.ratelimit, '"per-user";r=0;t=30', 't equals Retry-After');
  t.equal(denied.headers['ratelimit-policy'], '"per-user";q=2;w=60;sidegate-burst=1, "global";q=1000;w=1');
  t.equal(await run(exchange({ claims: { sub: 'bob' } })), 'ok', 'another subject has its own key');
  const unmatched = exchange({ path: '/other' });
  const run2 = r.stage([limit({ name: 'api-only', requests: 1, perMs: 60_000, match: matcher(['/api/']) })]);
  t.equal(await run2(unmatched), 'ok');
  t.equal(unmatched.responseHeaders, undefined, 'no RateLimit headers on routes without limits');
});

void t.test('all limits of a request in one Redis call; a denied request consumes no quota anywhere', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  const run = r.stage(
    [
      limit({ name: 'a', requests: 2, perMs: 60_000 }),
      limit({ name: 'b', requests: 100, perMs: 60_000 }),
      limit({ name: 'c', requests: 100, perMs: 60_000, mode: 'shadow' }),
    ],
    { denyCache: false },
  );
  const before = (await commandCalls(look, 'evalsha')) + (await commandCalls(look, 'eval'));
  for (let i = 0; i < 2; i++) t.equal(await run(exchange()), 'ok');
  const [bKey] = await look.keys('sidegate:rl:{ns/svc/b}:*');
  const tatB = await look.get(bKey!);
  for (let i = 0; i < 5; i++) t.type(await run(exchange()), RateLimitedError);
  const after = (await commandCalls(look, 'evalsha')) + (await commandCalls(look, 'eval'));
  t.equal(after - before, 7, 'one script call per request for three limits');
  t.equal(await look.get(bKey!), tatB, 'limit b was not advanced by the requests limit a denied');
});

void t.test('keys: the documented format, hash-tagged per limit, expiring after their window', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  const run = r.stage([limit({ name: 'ttl', requests: 10, perMs: 2000, burst: 10, key: [{ kind: 'header', name: 'x-api-key' }] })]);
  await run(exchange({ headers: { 'x-api-key': 'secret-key-value' } }));
  const keys = await look.keys('sidegate:rl:{ns/svc/ttl}:*');
  t.equal(keys.length, 1);
  t.match(keys[0], /^sidegate:rl:\{ns\/svc\/ttl\}:[A-Za-z0-9_-]{22}$/);
  t.notOk(keys[0]!.includes('secret'), 'no client-supplied text in the key');
  const pttl = await look.pttl(keys[0]!);
  t.ok(pttl > 0 && pttl <= 200, `one request of 10/2s lives one interval: pttl ${pttl}`);
  for (let i = 0; i < 19; i++) await run(exchange({ headers: { 'x-api-key': 'secret-key-value' } }));
  const full = await look.pttl(keys[0]!);
  t.ok(full > 3500 && full <= 4000, `capacity used up: expires within the tolerance (4 s): ${full}`);
});

void t.test('the deny cache answers repeated denials without Redis until retry-after passes', async (t) => {
  const clock = new ManualClock();
  const r = await rig(redis.url, { clock });
  t.teardown(() => r.close());
  const run = r.stage([limit({ name: 'cached', requests: 1, perMs: 60_000 })]);
  t.equal(await run(exchange()), 'ok');
  t.type(await run(exchange()), RateLimitedError, 'first denial comes from Redis');
  const before = await commandCalls(look, 'evalsha');
  for (let i = 0; i < 50; i++) {
    const d = await run(exchange());
    if (!(d instanceof RateLimitedError)) throw new Error('expected a denial');
  }
  t.equal(await commandCalls(look, 'evalsha'), before, '50 denials, no Redis commands');
  t.equal(await counter(r.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'cached', result: 'limited', source: 'cache' }), 50);
  const cachedDenial = await run(exchange());
  t.equal((cachedDenial as RateLimitedError).headers['retry-after'], '60', 'cached answers keep an honest Retry-After');
  clock.advance(60_001);
  await run(exchange());
  t.equal(await commandCalls(look, 'evalsha'), before + 1, 'after retry-after the next request asks Redis again');
});

void t.test('NOSCRIPT (Redis restarted or flushed) falls back to EVAL once, then EVALSHA again', async (t) => {
  const r = await rig(redis.url);
  t.teardown(() => r.close());
  const run = r.stage([limit({ name: 'noscript', requests: 100, perMs: 1000 })]);
  await run(exchange());
  await look.script('FLUSH');
  const evals = await commandCalls(look, 'eval');
  t.equal(await run(exchange()), 'ok');
  t.equal(await run(exchange()), 'ok');
  t.equal(await commandCalls(look, 'eval'), evals + 1, 'one EVAL reloaded the script');
  t.equal(await counter(r.metrics, 'sidegate_redis_errors_total', { op: 'ratelimit', kind: 'noscript' }), 1);
});
