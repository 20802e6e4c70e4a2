import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { evalScript } from '../../../sidecar/src/redis/script.js';
import { LEASE, leaseArgs, parseLeaseReply } from '../../../sidecar/src/stages/rate-limit/lease/script.js';
import type { LeaseOp } from '../../../sidecar/src/stages/rate-limit/lease/script.js';
import { inspector } from './redis-fixtures.js';

/**
 * The lease script on its own, against a real redis-server: one request per second, capacity 5.
 * Redis' clock moves by milliseconds while this runs; values are µs, so checks allow 100 ms.
 */
const redis = await RedisProcess.start();
const r = inspector(redis.url);
t.teardown(async () => {
  r.disconnect();
  await redis.stop();
});

const spec = { intervalUs: 1e6, toleranceUs: 5e6, cost: 1, enforce: true };
const call = async (key: string, op: LeaseOp) => parseLeaseReply(await evalScript(r, LEASE, [key], leaseArgs(spec, op)), 1).replies[0]!;
const near = (a: number, b: number): boolean => Math.abs(a - b) < 100_000;

void t.test('grants vest as GCRA would admit, queue up to the horizon, and give back only from the top', async (t) => {
  const full = await call('k1', { op: 'a', want: 5, horizonUs: 0 });
  t.equal(full.granted, 5, 'a full key: the whole capacity');
  t.ok(full.admitted && full.firstUs <= -4e6, 'vested at once (the first slot since 4 s)');
  const none = await call('k1', { op: 'a', want: 5, horizonUs: 0 });
  t.equal(none.granted, 0, 'spent, nothing vests within a zero horizon');
  t.ok(!none.admitted && near(none.retryUs, 1e6), `refused, retry in 1 s (${none.retryUs} µs)`);
  const queued = await call('k1', { op: 'a', want: 5, horizonUs: 3e6 });
  t.equal(queued.granted, 3, 'with a 3 s horizon: the slots vesting at 1, 2 and 3 s');
  t.ok(!queued.admitted && near(queued.firstUs, 1e6), 'the request is refused: its first slot vests in 1 s');
  t.ok(near(queued.remaining, -3), `remaining goes negative while queued (${queued.remaining})`);
  const tat = await r.get('k1');
  t.equal(tat, queued.segEnd, "seg_end is the key's TAT, byte for byte");

  const other = await call('k1', { op: 'r', release: { segEnd: full.segEnd, unusedUs: 5e6 } });
  t.equal(other.returnedUs, 0, 'a lease with reservations after it gives nothing back');
  const back = await call('k1', { op: 'r', release: { segEnd: queued.segEnd, unusedUs: 2e6 } });
  t.equal(back.returnedUs, 2e6, 'the newest lease gives back its unused slots');
  t.ok(near(Number(await r.get('k1')) - Number(queued.segEnd), -2e6), 'TAT moved back by two slots');
  const again = await call('k1', { op: 'r', release: { segEnd: queued.segEnd, unusedUs: 2e6 } });
  t.equal(again.returnedUs, 0, 'and only once');
});

void t.test('a release never returns slots that have already passed', async (t) => {
  const g = await call('k2', { op: 'a', want: 1, horizonUs: 0 });
  t.equal(g.granted, 1);
  // One slot of 1 s from a full key: the TAT is now + 1 s. Claiming 5 s unused returns at most
  // what is still ahead of Redis' clock.
  const back = await call('k2', { op: 'r', release: { segEnd: g.segEnd, unusedUs: 5e6 } });
  t.ok(back.returnedUs <= 1e6 && back.returnedUs > 0.9e6, `returned ${back.returnedUs} µs ≤ the 1 s still ahead`);
  t.equal(await r.get('k2'), null, 'back to full: the key is deleted');
});

void t.test('exact operations in the lease script match the gcra script', async (t) => {
  const out = [];
  for (let i = 0; i < 7; i++) out.push(await call('k3', { op: 'e' }));
  t.same(
    out.map((o) => o.admitted),
    [true, true, true, true, true, false, false],
    'capacity 5',
  );
  t.same(
    out.slice(0, 5).map((o) => o.remaining),
    [4, 3, 2, 1, 0],
  );
  t.ok(near(out[5]!.retryUs, 1e6), 'retry in one interval');
});

void t.test('a renewal ahead learns whether it continues the lease in use (joined), and releases nothing', async (t) => {
  const first = await call('k4', { op: 'a', want: 2, horizonUs: 0 });
  t.equal(first.granted, 2);
  const ahead = await call('k4', { op: 'a', want: 2, horizonUs: 0, after: first.segEnd });
  t.equal(ahead.granted, 2, 'granted as any lease');
  t.equal(ahead.joined, true, "nobody reserved in between: its slots continue the first lease's");
  t.equal(ahead.returnedUs, 0, 'and nothing was given back');
  t.ok(near(Number(ahead.segEnd) - Number(first.segEnd), 2e6), 'the TAT moved by the two new slots only');
  const other = await call('k4', { op: 'e' });
  t.ok(other.admitted, 'another pod takes a slot');
  const apart = await call('k4', { op: 'a', want: 1, horizonUs: 3e6, after: ahead.segEnd });
  t.equal(apart.granted, 1, 'the key is spent (5 of 5): a slot queued a second ahead');
  t.equal(apart.joined, false, 'someone reserved after the lease it would continue');

  // Far from the limit the TAT soon falls behind Redis' clock: the gap before "now" is lost
  // capacity, not slots, so a new lease does not continue the old one.
  const slow = { ...spec, intervalUs: 1000, toleranceUs: 5000 };
  const g = parseLeaseReply(await evalScript(r, LEASE, ['k5'], leaseArgs(slow, { op: 'a', want: 1, horizonUs: 0 })), 1).replies[0]!;
  await new Promise((res) => setTimeout(res, 20));
  const late = parseLeaseReply(await evalScript(r, LEASE, ['k5'], leaseArgs(slow, { op: 'a', want: 1, horizonUs: 0, after: g.segEnd })), 1)
    .replies[0]!;
  t.equal(late.joined, false, 'a lease whose end has passed is not continued');
});
