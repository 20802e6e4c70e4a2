import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { SidecarError } from '../../../sidecar/src/errors.js';
import { hashMaterial, keyPrefix, limitTag } from '../../../sidecar/src/stages/rate-limit/keys.js';
import { exchange, limit } from './fixtures.js';
import { HOUR, leasePod } from './lease-fixtures.js';
import { commandCalls, counter, inspector } from './redis-fixtures.js';

/**
 * Leasing against a real redis-server, with a ManualClock on the pods' side. The limits refill one
 * request per minute (60 per hour), so the seconds this test takes on Redis' own clock change no
 * count; the lease period is 10 minutes so that such a slow key is hot (a lease carries 10).
 */

const redis = await RedisProcess.start();
const look = inspector(redis.url);
t.teardown(async () => {
  look.disconnect();
  await redis.stop();
});

const evals = async (): Promise<number> => (await commandCalls(look, 'evalsha')) + (await commandCalls(look, 'eval'));

void t.test('two pods leasing one key admit exactly its capacity, almost all from their leases', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock);
  const b = await leasePod(redis.url, clock);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const limits = [limit({ name: 'shared', requests: 60, perMs: HOUR })];
  const before = await evals();
  let admitted = 0;
  const denials: SidecarError[] = [];
  for (let i = 0; i < 200; i++) {
    const r = await (i % 2 === 0 ? a : b).run(limits);
    if (r === 'ok') admitted++;
    else denials.push(r);
    clock.advance(1);
  }
  const calls = (await evals()) - before;
  t.equal(admitted, 60, 'exactly the capacity, not one more');
  t.ok(calls <= 10, `${calls} Redis calls for 200 requests`);
  const fromLease =
    (await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'shared', result: 'allowed', source: 'lease' })) +
    (await counter(b.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'shared', result: 'allowed', source: 'lease' }));
  t.ok(fromLease >= 50, `${fromLease} of 60 admissions answered from a lease (source="lease")`);
  t.equal(a.recorder.switches.lease + b.recorder.switches.lease, 2, 'each pod switched the key to leasing once, counted');
  t.ok(
    denials.every((d) => d.status === 429 && Number(d.headers['retry-after']) >= 50),
    'denials are 429s saying about a minute',
  );
});

void t.test('a pod leaving gives its unused capacity back', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock);
  const limits = [limit({ name: 'give-back', requests: 60, perMs: HOUR })];
  for (let i = 0; i < 3; i++) t.equal(await a.run(limits), 'ok');
  const [held] = a.store.snapshot();
  t.equal(held?.spent, 3);
  const granted = held!.granted;
  t.ok(granted > 3, `lease of ${granted}`);
  await a.close();
  t.equal(a.recorder.returnedRequests, granted - 3, 'every unused request went back');
  t.equal(a.recorder.forfeitedRequests, 0);
  const b = await leasePod(redis.url, clock);
  t.teardown(() => b.close());
  let admitted = 0;
  for (let i = 0; i < 100; i++) if ((await b.run(limits)) === 'ok') admitted++;
  t.equal(admitted, 57, 'the other pod can use all of it: 60 − 3 spent');
});

void t.test('a lease others reserved after cannot go back: under-admission of at most that lease, never over', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock);
  const b = await leasePod(redis.url, clock);
  const limits = [limit({ name: 'stacked', requests: 60, perMs: HOUR })];
  t.equal(await a.run(limits), 'ok');
  t.equal(await b.run(limits), 'ok');
  const leaseA = a.store.snapshot()[0]!.granted;
  await a.close();
  t.equal(a.recorder.returnedRequests, 0, "B reserved after A: A's unused slots are not the last ones, so they stay reserved");
  t.equal(a.recorder.forfeitedRequests, leaseA - 1, 'and are counted as forfeited');
  await b.close();
  t.equal(
    b.recorder.returnedRequests,
    b.recorder.grantedRequests - 1,
    "B's lease was the last reservation: all of its unused part went back",
  );
  const c = await leasePod(redis.url, clock);
  t.teardown(() => c.close());
  let admitted = 0;
  for (let i = 0; i < 100; i++) if ((await c.run(limits)) === 'ok') admitted++;
  t.equal(admitted, 60 - 2 - (leaseA - 1), `60 − 2 spent − A's ${leaseA - 1} stranded`);
});

void t.test("a hot limit refused from its lease, or by Redis, leaves the request's other limits untouched", async (t) => {
  const clock = new ManualClock();
  // A fixed 10-minute period: leases of 10, each lives 40 minutes.
  const a = await leasePod(redis.url, clock, 1, { maxPeriodMs: 600_000 });
  t.teardown(() => a.close());
  // `global` is hot; `per-user` refills one per hour per user, so a user's key is never hot.
  const limits = [
    limit({ name: 'global', requests: 60, perMs: HOUR }),
    limit({ name: 'per-user', requests: 1, perMs: HOUR, key: [{ kind: 'claim', name: 'sub' }] }),
  ];
  const as = (u: number): ReturnType<typeof exchange> => exchange({ claims: { sub: `u${u}` } });
  const run = async (u: number): Promise<{ r: 'ok' | SidecarError; ex: ReturnType<typeof exchange> }> => {
    const ex = as(u);
    const r = await a.run(limits, ex, { denyCache: false });
    await a.store.settled(); // renewals ahead land before the next request: the same calls every run
    return { r, ex };
  };
  for (let u = 0; u < 60; u++) t.equal((await run(u)).r, 'ok');
  const userKey = (u: number): string => keyPrefix(limitTag('ns', 'svc', 'per-user')) + hashMaterial(`"u${u}"\n`);
  t.not(await look.get(userKey(59)), null, 'admitted users are counted');
  // u60: global is spent; its renewal, asked for ahead, is queued (slots vesting from a minute
  // on), so the pod refuses from it without asking Redis, and per-user is not looked at.
  let before = await evals();
  const u60 = await run(60);
  t.ok(u60.r instanceof SidecarError && u60.r.status === 429);
  t.equal(u60.ex.notes?.ratelimit_source, 'lease', 'refused from the lease, locally');
  t.equal((await evals()) - before, 0, 'no Redis call');
  t.equal(await look.get(userKey(60)), null, 'per-user not advanced');
  // 41 minutes later on this pod's clock every lease has expired (Redis' clock has not moved: the
  // key is still spent). u61's request renews on the request path with per-user riding along; Redis
  // queues the new lease, refuses the request, and per-user is not advanced either.
  clock.advance(41 * 60_000);
  before = await evals();
  const u61 = await run(61);
  t.ok(u61.r instanceof SidecarError && u61.r.status === 429);
  t.equal(u61.ex.notes?.ratelimit_source, 'redis', 'refused by Redis');
  t.equal((await evals()) - before, 1, 'one call for both limits');
  t.equal(await look.get(userKey(61)), null, 'refused in the script: per-user not advanced');
  t.equal(
    (await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'per-user', result: 'allowed', source: 'redis' })) +
      (await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'per-user', result: 'allowed', source: 'lease' })),
    61,
    'per-user counted for the 60 admitted and u61 (decided in the script), not for u60 (skipped)',
  );
});

void t.test('a key whose demand stops returns to exact decisions, counted, and its lease goes back', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock, 1);
  t.teardown(() => a.close());
  const limits = [limit({ name: 'cooling', requests: 60, perMs: HOUR })];
  for (let i = 0; i < 2; i++) t.equal(await a.run(limits), 'ok');
  const granted = a.store.snapshot()[0]!.granted;
  t.equal(a.store.snapshot()[0]!.mode, 'lease');
  clock.advance(3000);
  a.store.sweep();
  t.equal(a.store.snapshot()[0]!.mode, 'exact', 'no demand for 3 s: back to exact');
  t.same(a.recorder.switches, { lease: 1, exact: 1 });
  // The release is off the request path; give it its round trip.
  for (let i = 0; i < 50 && a.recorder.returnedRequests === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(a.recorder.returnedRequests, granted - 2, 'unused part of the lease given back');
  t.equal(a.recorder.keys, 0, 'no key leased now');
});

void t.test('renewing an expired lease gives its unused part back in the same call', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock);
  const b = await leasePod(redis.url, clock);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const limits = [limit({ name: 'renewal', requests: 60, perMs: HOUR })];
  // B spends 40 (four leases of 10, and holds a fifth asked for ahead), so A's lease sits 50
  // minutes into the key: its slots are still in the future when it expires (a lease lives 4
  // periods = 40 minutes here).
  for (let i = 0; i < 40; i++) t.equal(await b.run(limits), 'ok');
  await b.store.settled(); // B's renewal ahead lands before A's lease, as the count below assumes
  t.equal(await a.run(limits), 'ok');
  t.equal(await a.run(limits), 'ok');
  const lease = a.store.snapshot()[0]!;
  t.equal(lease.spent, 2);
  clock.advance(41 * 60_000);
  const before = await evals();
  t.equal(await a.run(limits), 'ok', 'renewed and admitted');
  t.equal((await evals()) - before, 1, 'one call: give back and renew');
  t.equal(a.recorder.returnedRequests, lease.granted - 2, 'the unused part went back');
  t.equal(a.recorder.forfeitedRequests, 0);
});

void t.test(
  "the effective period stretches as this pod's demand on a key falls, up to maxPeriodMs, so a call carries requestsPerCall requests",
  async (t) => {
    const clock = new ManualClock();
    const a = await leasePod(redis.url, clock, 1, { periodMs: 100, maxPeriodMs: 1000, requestsPerCall: 200 });
    t.teardown(() => a.close());
    // 10 per ms: far from firing at the demands below, so every lease is what the pod asks for.
    const limits = [limit({ name: 'stretch', requests: 36_000_000, perMs: HOUR })];
    const phase = async (requests: number, everyMs: number): Promise<{ periods: number[]; sizes: number[]; calls: number }> => {
      const from = a.recorder.grants;
      const before = await evals();
      let refused = 0;
      for (let i = 0; i < requests; i++) {
        if ((await a.run(limits)) !== 'ok') refused++;
        await a.store.settled();
        clock.advance(everyMs);
      }
      t.equal(refused, 0, `${requests} requests, every ${everyMs} ms: all admitted`);
      return { periods: a.recorder.periods.slice(from), sizes: a.recorder.sizes.slice(from), calls: (await evals()) - before };
    };
    const near = (xs: readonly number[], x: number): boolean => xs.length > 0 && xs.every((v) => Math.abs(v - x) <= x * 0.02);
    await phase(1500, 1); // 1,000/s: hot after 20 requests, leases from then on
    const busy = await phase(2000, 1);
    t.ok(near(busy.periods, 200), `1,000/s on this pod: 200 ms periods (${busy.periods.map((p) => p.toFixed(1)).join(', ')})`);
    t.ok(near(busy.sizes, 200), `leases of 200 requests (${busy.sizes.join(', ')})`);
    t.ok(busy.calls <= 11, `${busy.calls} Redis calls for 2,000 requests: one per 200`);

    const quiet = await phase(400, 20); // 50/s: 4 s between calls wanted, capped at 1 s
    t.same(
      quiet.periods.slice(-3),
      [1000, 1000, 1000],
      `once the meter sees 50/s: the longest period (${quiet.periods.map((p) => p.toFixed(0)).join(', ')})`,
    );
    t.ok(near(quiet.sizes.slice(-3), 50), `leases of 1 s of this pod's demand: 50 (${quiet.sizes.join(', ')})`);
    t.ok(quiet.calls <= 10, `${quiet.calls} calls for 400 requests over 8 s: about one per second`);

    const flood = await phase(10_000, 0.2); // 5,000/s: 40 ms wanted, the shortest period is 100 ms
    t.same(flood.periods.slice(-3), [100, 100, 100], 'high demand: the shortest period');
    t.ok(near(flood.sizes.slice(-3), 500), `100 ms of 5,000/s (${flood.sizes.join(', ')})`);
  },
);

void t.test('renewing ahead: the next lease is asked for before the current one runs out, and no request waits for Redis', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock, 1, { maxPeriodMs: 600_000 });
  t.teardown(() => a.close());
  // 600 per hour (1 per 6 s): a 10-minute period carries 100, so leases of 100.
  const limits = [limit({ name: 'ahead', requests: 600, perMs: HOUR })];
  const before = await evals();
  for (let i = 0; i < 80; i++) t.equal(await a.run(limits), 'ok');
  await a.store.settled();
  const [s] = a.store.snapshot();
  t.same(
    { granted: s?.granted, spent: s?.spent, next: s?.next },
    { granted: 100, spent: 80, next: 100 },
    '80 % spent: the next lease of 100 is in hand',
  );
  t.equal((await evals()) - before, 2, "two calls: the first request's lease, and the renewal ahead");
  t.same(a.recorder.renewals, { on_request: 1, ahead: 1 });
  let admitted = 80;
  for (let i = 0; i < 700; i++) {
    const ex = exchange();
    const r = await a.run(limits, ex);
    if (r === 'ok') {
      admitted++;
      t.equal(ex.notes?.ratelimit_source, 'lease');
    }
    await a.store.settled();
  }
  t.equal(admitted, 600, 'exactly the capacity, not one more');
  t.equal(
    a.recorder.renewals.on_request,
    1,
    `no request waited for a renewal after the first (${a.recorder.renewals.ahead} renewals ahead)`,
  );
  t.equal(a.recorder.forfeitedRequests, 0);
});

void t.test(
  'a pod leaving gives back its lease and the renewal that continues it; a renewal others reserved before goes back alone',
  async (t) => {
    const clock = new ManualClock();
    const opts = { maxPeriodMs: 600_000 };
    const limits = [limit({ name: 'blocks', requests: 600, perMs: HOUR })];
    const a = await leasePod(redis.url, clock, 2, opts);
    for (let i = 0; i < 85; i++) t.equal(await a.run(limits), 'ok');
    await a.store.settled();
    t.same(a.store.snapshot()[0], { key: a.store.snapshot()[0]!.key, mode: 'lease', granted: 100, spent: 85, next: 100 });
    await a.close();
    t.equal(a.recorder.returnedRequests, 115, 'the renewal followed the lease directly: 15 + 100 unspent, all returned');
    t.equal(a.recorder.forfeitedRequests, 0);

    const b = await leasePod(redis.url, clock, 2, opts);
    const c = await leasePod(redis.url, clock, 2, opts);
    t.equal(await b.run(limits), 'ok', 'B leases 100');
    t.equal(await c.run(limits), 'ok', 'C leases after B');
    for (let i = 0; i < 84; i++) t.equal(await b.run(limits), 'ok');
    await b.store.settled();
    t.equal(b.store.snapshot()[0]!.next, 100, "B renewed ahead, after C's lease");
    await b.close();
    t.equal(b.recorder.returnedRequests, 100, "only B's renewal sat at the top: it went back");
    t.equal(b.recorder.forfeitedRequests, 15, "the rest of B's first lease lies under C's: stays reserved, counted");
    await c.close();
    const d = await leasePod(redis.url, clock, 2, opts);
    t.teardown(() => d.close());
    let admitted = 0;
    for (let i = 0; i < 700; i++) {
      if ((await d.run(limits)) === 'ok') admitted++;
      await d.store.settled();
    }
    t.equal(admitted, 600 - 85 - 85 - 1 - 15, "what A and B spent, C's one, and B's 15 stranded are gone; the rest is there");
  },
);
