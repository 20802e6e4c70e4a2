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
t.teardown(async () => { look.disconnect(); await redis.stop(); });

const evals = async (): Promise<number> => (await commandCalls(look, 'evalsha')) + (await commandCalls(look, 'eval'));

void t.test('two pods leasing one key admit exactly its capacity, almost all from their leases', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock);
  const b = await leasePod(redis.url, clock);
  t.teardown(async () => { await a.close(); await b.close(); });
  const limits = [limit({ name: 'shared', requests: 60, perMs: HOUR })];
  const before = await evals();
  let admitted = 0;
  const denials: SidecarError[] = [];
  for (let i = 0; i < 200; i++) {
    const r = await (i % 2 === 0 ? a : b).run(limits);
    if (r === 'ok') admitted++; else denials.push(r);
    clock.advance(1);
  }
  const calls = (await evals()) - before;
  t.equal(admitted, 60, 'exactly the capacity, not one more');
  t.ok(calls <= 10, `${calls} Redis calls for 200 requests`);
  const fromLease = await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'shared', result: 'allowed', source: 'lease' })
    + await counter(b.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'shared', result: 'allowed', source: 'lease' });
  t.ok(fromLease >= 50, `${fromLease} of 60 admissions answered from a lease (source="lease")`);
  t.equal(a.recorder.switches.lease + b.recorder.switches.lease, 2, 'each pod switched the key to leasing once, counted');
  t.ok(denials.every((d) => d.status === 429 && Number(d.headers['retry-after']) >= 50), 'denials are 429s saying about a minute');
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
  for (let i = 0; i < 100; i++) if (await b.run(limits) === 'ok') admitted++;
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
  t.equal(a.recorder.returnedRequests, 0, 'B reserved after A: A\'s unused slots are not the last ones, so they stay reserved');
  t.equal(a.recorder.forfeitedRequests, leaseA - 1, 'and are counted as forfeited');
  await b.close();
  t.equal(b.recorder.returnedRequests, b.recorder.grantedRequests - 1, 'B\'s lease was the last reservation: all of its unused part went back');
  const c = await leasePod(redis.url, clock);
  t.teardown(() => c.close());
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (await c.run(limits) === 'ok') admitted++;
  t.equal(admitted, 60 - 2 - (leaseA - 1), `60 − 2 spent − A's ${leaseA - 1} stranded`);
});

void t.test('a hot limit refused from its lease leaves the request\'s other limits untouched', async (t) => {
  const clock = new ManualClock();
  const a = await leasePod(redis.url, clock, 1);
  t.teardown(() => a.close());
  // `global` is hot; `per-user` refills one per hour per user, so a user's key is never hot.
  const limits = [
    limit({ name: 'global', requests: 60, perMs: HOUR }),
    limit({ name: 'per-user', requests: 1, perMs: HOUR, key: [{ kind: 'claim', name: 'sub' }] }),
  ];
  const as = (u: number): ReturnType<typeof exchange> => exchange({ claims: { sub: `u${u}` } });
  for (let u = 0; u < 60; u++) t.equal(await a.run(limits, as(u), { denyCache: false }), 'ok');
  const userKey = (u: number): string => keyPrefix(limitTag('ns', 'svc', 'per-user')) + hashMaterial(`"u${u}"\n`);
  t.not(await look.get(userKey(59)), null, 'admitted users are counted');
  // u60: global is spent, so its renewal queues (a Redis call) and the request is refused; the
  // per-user key rode in the same script call and was not advanced.
  t.type(await a.run(limits, as(60), { denyCache: false }), SidecarError);
  t.equal(await look.get(userKey(60)), null, 'refused in the script: per-user not advanced');
  const before = await evals();
  const ex = as(61);
  const r = await a.run(limits, ex, { denyCache: false });
  t.ok(r instanceof SidecarError && r.status === 429);
  t.equal(ex.notes?.ratelimit_source, 'lease', 'refused from the lease, locally');
  t.equal((await evals()) - before, 0, 'no Redis call');
  t.equal(await look.get(userKey(61)), null, 'per-user not advanced');
  t.equal(await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'per-user', result: 'allowed', source: 'redis' }) +
    await counter(a.metrics, 'sidegate_ratelimit_decisions_total', { limit: 'per-user', result: 'allowed', source: 'lease' }), 61,
  'per-user counted for the 60 admitted and u60 (decided in the script), not for u61 (skipped)');
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
  t.teardown(async () => { await a.close(); await b.close(); });
  const limits = [limit({ name: 'renewal', requests: 60, perMs: HOUR })];
  // B spends 40 (four leases of 10), so A's lease sits 40 minutes into the key: its slots are
  // still in the future when it expires (a lease lives 4 periods = 40 minutes here).
  for (let i = 0; i < 40; i++) t.equal(await b.run(limits), 'ok');
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
