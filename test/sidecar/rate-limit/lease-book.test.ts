import t from 'tap';
import { Lease, RateMeter, isHot, leaseSize } from '../../../sidecar/src/stages/rate-limit/lease/book.js';

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
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 1000, pods: 4 }), 100, 'never more than the limit\'s rate × period');
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 0, pods: 4 }), 25, 'at the limit: this pod\'s share of the refill');
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 0, pods: 8 }), 12);
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: -50, pods: 8 }), 12, 'queued (negative free) is the same as at the limit');
  t.equal(leaseSize({ ...base, ratePerMs: 0.05, demandPerMs: 10, free: 0, pods: 8 }), 1, 'a share below one request: leases of one');
  const sizes = [1000, 400, 100, 20, 0].map((free) => leaseSize({ ...base, demandPerMs: 10, free, pods: 16 }));
  t.same(sizes, [68, 31, 12, 7, 6], 'shrinks as the key nears its limit');
  t.equal(leaseSize({ ...base, demandPerMs: 10, free: 1e6, pods: 1, maxUnits: 50 }), 50, 'hard cap');
  t.equal(leaseSize({ ...base, demandPerMs: 0, free: 0, pods: 1 }), 1, 'at least one');
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
