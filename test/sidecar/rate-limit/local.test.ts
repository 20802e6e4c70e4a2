import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { LocalLimiter } from '../../../sidecar/src/stages/rate-limit/local.js';
import { DenyCache } from '../../../sidecar/src/stages/rate-limit/deny-cache.js';
import { limitSpec } from '../../../sidecar/src/stages/rate-limit/types.js';
import { policyItem, sfString, stateItem } from '../../../sidecar/src/stages/rate-limit/headers.js';
import { limit } from './fixtures.js';

const item = (over: Parameters<typeof limit>[0]) => ({ key: 'k', tag: 'x', spec: limitSpec(limit(over)) });

void t.test("local fallback: this pod's share is the rate divided by live pods", (t) => {
  const clock = new ManualClock();
  const l = new LocalLimiter(clock);
  const it = item({ name: 'l', requests: 100, perMs: 1000 });
  let admitted = 0;
  // 4 pods, 10 s of demand at 1 request per ms: share 25/s, tolerance one window (25 at once).
  for (let ms = 0; ms < 10_000; ms++) {
    if (l.check(it, 4).outcome === 'allowed') admitted++;
    clock.advance(1);
  }
  t.ok(admitted >= 270 && admitted <= 276, `25/s × 10 s + 25 burst ≈ 275: ${admitted}`);
  const one = new LocalLimiter(new ManualClock());
  const tiny = item({ name: 't', requests: 2, perMs: 1000 });
  t.equal(one.check(tiny, 8).outcome, 'allowed', 'a share below one request still admits one');
  t.equal(one.check(tiny, 8).outcome, 'limited');
  t.end();
});

void t.test('local fallback: keys are bounded', (t) => {
  const l = new LocalLimiter(new ManualClock(), 3);
  for (const k of ['a', 'b', 'c', 'd', 'e']) l.check({ ...item({ name: 'x' }), key: k }, 1);
  t.equal(l.size, 3);
  t.end();
});

void t.test('deny cache: expires on the clock, bounded', (t) => {
  const c = new DenyCache(2);
  c.add('a', 100, 0);
  t.equal(c.remaining('a', 40), 60);
  t.equal(c.remaining('a', 100), 0);
  c.add('b', 100, 0);
  c.add('c', 100, 0);
  c.add('d', 100, 0);
  t.equal(c.size, 2);
  t.equal(c.remaining('b', 0), 0, 'the oldest was dropped');
  t.end();
});

void t.test('header items follow the draft syntax', (t) => {
  t.equal(policyItem(limitSpec(limit({ name: 'p', requests: 100, perMs: 60_000, burst: 20 }))), '"p";q=100;w=60;sidegate-burst=20');
  t.equal(
    policyItem(limitSpec(limit({ name: 'half', requests: 5, perMs: 500 }))),
    '"half";q=10;w=1',
    'sub-second windows restated per second',
  );
  t.equal(policyItem(limitSpec(limit({ name: 'we"ird\\', requests: 1, perMs: 1000 }))), '"we\\"ird\\\\";q=1;w=1');
  t.equal(stateItem(sfString('p'), 3.7, 1001), '"p";r=3;t=2');
  t.end();
});
