import t from 'tap';
import { Lease, RateMeter } from '../../../sidecar/src/stages/rate-limit/lease/book.js';
import { effectivePeriod, isHot, leaseSize } from '../../../sidecar/src/stages/rate-limit/lease/sizing.js';

void t.test('a lease vests slot by slot, as GCRA would admit them, and is spent only as they vest', (t) => {
  // 5 slots, the first vesting at 100 ms, one every 10 ms after; expires at 500.
  const l = new Lease(5, 100, 10, 500, '123', 600);
  t.equal(l.vested(99.9), 0);
  t.equal(l.take(99.9), false, 'nothing before the first slot vests');
  t.equal(l.waiting(99.9), true, 'queued behind other pods');
  t.equal(l.nextVestAt(), 100);
  t.equal(l.take(100), true, 'slot 1 at its instant');
  t.equal(l.take(100), false, 'slot 2 not yet');
  t.equal(l.nextVestAt(), 110);
  t.equal(l.vested(130), 4);
  t.equal(l.available(130), 3, 'vested slots not spent yet can be spent later');
  t.ok(l.take(130) && l.take(130) && l.take(130));
  t.equal(l.take(130), false);
  l.refund();
  t.equal(l.spent, 3, 'a refund gives the request back to the lease');
  t.equal(l.available(1000), 0, 'expired: what vested and was not spent is forfeited');
  t.equal(l.waiting(1000), false);
  t.equal(l.unspent, 2);
  // A fractional step (e.g. 3 per second) must not lose a slot to rounding.
  const f = new Lease(3, 0, 1000 / 3, 5000, 'x', 5000);
  t.equal(f.vested(2000 / 3), 3);
  t.end();
});

void t.test('lease size: the demand of one period, capped by a fair share of what the key can still give', (t) => {
  const base = { ratePerMs: 1, periodMs: 100, maxUnits: 10_000 };
  t.equal(leaseSize({ ...base, demandPerMs: 0.3, free: 1000, pods: 4 }), 30, 'far from the limit: what this pod will use in a period');
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 1000, pods: 4 }), 100, "never more than the limit's rate × period");
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 0, pods: 4 }), 25, "at the limit: this pod's share of the refill");
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 0, pods: 8 }), 12);
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: -50, pods: 8 }), 12, 'queued (negative free) is the same as at the limit');
  t.equal(leaseSize({ ...base, ratePerMs: 0.05, demandPerMs: 10, free: 0, pods: 8 }), 1, 'a share below one request: leases of one');
  const sizes = [1000, 400, 100, 20, 0].map((free) => leaseSize({ ...base, demandPerMs: 10, free, pods: 16 }));
  t.same(sizes, [68, 31, 12, 7, 6], 'shrinks as the key nears its limit');
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 1e6, pods: 1, maxUnits: 50 }), 50, 'hard cap');
  t.equal(leaseSize({ ...base, demandPerMs: 0, free: 0, pods: 1 }), 1, 'at least one');
  t.end();
});

void t.test("effective period: long enough for a call to carry requestsPerCall of this pod's requests, between min and max", (t) => {
  const p = { minMs: 100, maxMs: 1000, requestsPerCall: 160 };
  t.equal(effectivePeriod({ ...p, demandPerMs: 10 }), 100, '10,000/s on this pod: the shortest period (1,000 requests per call)');
  t.equal(effectivePeriod({ ...p, demandPerMs: 1 }), 160, '1,000/s: 160 ms, one call per 160 requests');
  t.equal(effectivePeriod({ ...p, demandPerMs: 0.25 }), 640, '250/s (8 pods sharing 2,000/s): 640 ms');
  t.equal(effectivePeriod({ ...p, demandPerMs: 0.1 }), 1000, '100/s: capped at the longest period');
  t.equal(effectivePeriod({ ...p, demandPerMs: 0 }), 1000, 'no demand measured: the longest');
  const periods = [4, 1, 0.5, 0.25, 0.16, 0.1, 0.01].map((d) => effectivePeriod({ ...p, demandPerMs: d }));
  t.same(periods, [100, 160, 320, 640, 1000, 1000, 1000], "grows as this pod's demand falls, never past the cap");
  t.end();
});

void t.test("at the limit, the adaptive period keeps each pod's lease to requestsPerCall ÷ (its demand ÷ its fair share)", (t) => {
  // 200/s shared by 8 pods, each offered 250/s (10× its fair share of 25/s): period 640 ms.
  const ratePerMs = 0.2;
  const at = (demandPerMs: number, free: number, pods = 8): number => {
    const periodMs = effectivePeriod({ demandPerMs, minMs: 100, maxMs: 1000, requestsPerCall: 160 });
    return leaseSize({ demandPerMs, ratePerMs, periodMs, free, pods, maxUnits: 10_000 });
  };
  t.equal(at(0.25, 0), 16, '10× the fair share: 160 ÷ 10 = 16 slots per pod, 128 for all 8');
  t.equal(at(0.5, 0), 8, '20×: 8');
  t.equal(at(2.5, 0), 2, '100×: the shortest period, and its share of the refill, 200/s × 100 ms ÷ 8');
  t.same(
    [400, 100, 40, 10, 0].map((free) => at(0.25, free)),
    [66, 28, 21, 17, 16],
    'far from the limit larger (free capacity), shrinking as the key nears it',
  );
  t.equal(at(0.05, 0), 25, 'a pod offered less than its share at the limit: capped by the longest period, 200/s × 1 s ÷ 8');
  t.end();
});

void t.test('hot and cold: a lease must carry at least hotRequests', (t) => {
  t.equal(isHot(0.02, 1, 100, 2), true, '20/s on this pod, 100 ms period: 2 per lease');
  t.equal(isHot(0.019, 1, 100, 2), false);
  t.equal(isHot(1, 0.01, 100, 2), false, 'a slow limit is never hot, however much is offered: its denials are cached anyway');
  t.end();
});

void t.test('rate meter: requests per ms over a sliding second', (t) => {
  const m = new RateMeter(0);
  for (let i = 0; i < 5; i++) m.add(0);
  t.equal(m.perMs(0), 5 / 1000, 'a burst at one instant is measured over a whole second');
  t.notOk(isHot(m.perMs(0), 1, 100, 2), 'so a page load of 5 requests does not make a key hot');
  for (let ms = 0; ms < 1000; ms += 10) m.add(ms);
  t.ok(Math.abs(m.perMs(999) - 105 / 1000) < 1e-9, 'first second: count ÷ one second');
  t.ok(Math.abs(m.perMs(1500) - 0.0525) < 1e-9, 'half a second later, half of the last second still counts');
  t.equal(m.perMs(5000), 0, 'silence: zero');
  t.end();
});

void t.test('rate meter, eager estimate: the first second over the time seen, for sizing leases', (t) => {
  const m = new RateMeter(0);
  for (let ms = 0; ms < 200; ms++) m.add(ms);
  t.ok(Math.abs(m.perMs(200) - 0.2) < 1e-9, 'hotness: 200 requests over a whole second');
  t.ok(Math.abs(m.perMsEager(200, 100) - 1) < 1e-9, 'sizing: 200 requests over the 200 ms seen, 1 per ms');
  const young = new RateMeter(0);
  for (let ms = 0; ms <= 10; ms++) young.add(ms);
  t.ok(Math.abs(young.perMsEager(10, 100) - 0.11) < 1e-9, 'but over at least the floor: 11 requests in the first 10 ms count over 100 ms');
  m.add(1500);
  t.equal(m.perMsEager(1500, 100), m.perMs(1500), 'after the first second both are the same');
  t.end();
});
