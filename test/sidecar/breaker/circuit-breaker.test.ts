import t from 'tap';
import type { BreakerPolicy } from '../../../policies/src/types.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { CircuitBreaker, REJECTED, type Transition } from '../../../sidecar/src/stages/breaker/index.js';

function policy(over: Partial<BreakerPolicy> = {}): BreakerPolicy {
  return {
    consecutiveFailures: 5,
    failureRatio: undefined,
    windowMs: 10_000,
    minimumRequests: 20,
    openForMs: 1_000,
    maxOpenForMs: 10_000,
    halfOpenRequests: 2,
    failureStatuses: new Set([502, 503, 504]),
    ...over,
  };
}

function rig(over: Partial<BreakerPolicy> = {}, random: () => number = () => 0.5) {
  const clock = new ManualClock();
  const transitions: Transition[] = [];
  const cb = new CircuitBreaker(policy(over), { clock, random, onTransition: (x) => transitions.push(x) });
  /** One request through the breaker: 'rejected', or the outcome recorded. */
  const call = (outcome: 'success' | 'failure' | 'ignored'): 'rejected' | 'admitted' => {
    const ticket = cb.acquire();
    if (ticket === REJECTED) return 'rejected';
    cb.record(ticket, outcome);
    return 'admitted';
  };
  const brief = () => transitions.map((x) => `${x.from}>${x.to}:${x.reason}`);
  return { clock, cb, transitions, call, brief };
}

void t.test('opens after N consecutive failures; a success in between starts the count again', async (t) => {
  const { cb, call, brief } = rig({ consecutiveFailures: 3 });
  call('failure');
  call('failure');
  call('success');
  call('failure');
  call('failure');
  t.equal(cb.state, 'closed', '2 in a row after a success: still closed');
  call('ignored');
  t.equal(cb.state, 'closed', 'an ignored outcome (client went away) neither counts nor resets');
  call('failure');
  t.equal(cb.state, 'open', 'third failure in a row opens');
  t.same(brief(), ['closed>open:consecutive_failures']);
  t.equal(call('success'), 'rejected', 'open: refused');
});

void t.test('open waits openFor, then half-open admits exactly halfOpenRequests probes; all succeeding closes', async (t) => {
  const { clock, cb, call, brief, transitions } = rig({ consecutiveFailures: 1, openForMs: 1_000, halfOpenRequests: 2 });
  call('failure');
  t.equal(transitions[0]?.openForMs, 1_000, 'first open period is openFor (random 0.5: no jitter)');
  t.equal(cb.retryAfterMs(), 1_000);
  clock.advance(999);
  t.equal(cb.acquire(), REJECTED, '1 ms before the end: still refused');
  t.equal(cb.retryAfterMs(), 1);
  clock.advance(1);
  const p1 = cb.acquire();
  const p2 = cb.acquire();
  t.not(p1, REJECTED);
  t.not(p2, REJECTED);
  t.equal(cb.state, 'half_open');
  t.equal(cb.acquire(), REJECTED, 'a third request while two probes are out is refused');
  cb.record(p1, 'success');
  t.equal(cb.state, 'half_open', 'one probe succeeded: not yet');
  t.equal(cb.acquire(), REJECTED, 'the used probe slot is not handed out again');
  cb.record(p2, 'success');
  t.equal(cb.state, 'closed', 'every probe succeeded: closed');
  t.same(brief(), ['closed>open:consecutive_failures', 'open>half_open:backoff_elapsed', 'half_open>closed:probes_succeeded']);
  t.equal(call('success'), 'admitted');
});

void t.test('a failed probe reopens with a doubled wait, up to maxOpenFor; closing resets the backoff', async (t) => {
  const { clock, cb, call, transitions } = rig({ consecutiveFailures: 1, openForMs: 1_000, maxOpenForMs: 5_000, halfOpenRequests: 1 });
  call('failure');
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    const w = cb.retryAfterMs();
    waits.push(w);
    clock.advance(w);
    t.equal(call('failure'), 'admitted', 'the probe goes through after the wait');
    t.equal(cb.state, 'open', 'probe failed: open again');
  }
  t.same(waits, [1_000, 2_000, 4_000, 5_000, 5_000], 'doubling, capped at maxOpenFor');
  t.same(
    transitions.filter((x) => x.to === 'open').map((x) => x.reason),
    ['consecutive_failures', 'probe_failed', 'probe_failed', 'probe_failed', 'probe_failed', 'probe_failed'],
  );
  clock.advance(cb.retryAfterMs());
  call('success');
  t.equal(cb.state, 'closed');
  call('failure');
  t.equal(cb.retryAfterMs(), 1_000, 'after a close the next open period is openFor again');
});

void t.test('jitter spreads the wait by ±20% and never makes a reopen shorter than the open before it', async (t) => {
  const low = rig({ consecutiveFailures: 1, openForMs: 1_000 }, () => 0);
  low.call('failure');
  t.equal(low.cb.retryAfterMs(), 800, 'random 0 → 80%');
  const high = rig({ consecutiveFailures: 1, openForMs: 1_000, halfOpenRequests: 1 }, () => 0.999999);
  high.call('failure');
  t.equal(high.cb.retryAfterMs(), 1_200, 'random → 1 → 120%');
  // Worst case for "longer": the first wait at +20%, the second at -20%.
  const rolls = [0.999999, 0];
  const worst = rig({ consecutiveFailures: 1, openForMs: 1_000, halfOpenRequests: 1 }, () => rolls.shift() ?? 0);
  worst.call('failure');
  const first = worst.cb.retryAfterMs();
  worst.clock.advance(first);
  worst.call('failure');
  t.ok(worst.cb.retryAfterMs() > first, `reopen ${worst.cb.retryAfterMs()} ms > first ${first} ms`);
});

void t.test('failure ratio over the rolling window, only with the minimum request count', async (t) => {
  const { cb, call, brief } = rig({ consecutiveFailures: 0, failureRatio: 0.5, minimumRequests: 10, windowMs: 10_000 });
  for (let i = 0; i < 9; i++) call(i % 2 === 0 ? 'failure' : 'success');
  t.equal(cb.state, 'closed', '5 of 9 failed, but fewer than 10 requests');
  call('success');
  t.equal(cb.state, 'closed', 'the 10th is a success: the ratio is checked on failures');
  call('failure');
  t.equal(cb.state, 'open', '6 of 11 ≥ 50%');
  t.same(brief(), ['closed>open:failure_ratio']);

  const w = rig({ consecutiveFailures: 0, failureRatio: 0.5, minimumRequests: 4, windowMs: 10_000 });
  w.call('failure');
  w.call('failure');
  w.call('failure');
  w.clock.advance(10_001);
  w.call('success');
  w.call('success');
  w.call('success');
  w.call('failure');
  t.equal(w.cb.state, 'closed', 'failures older than the window no longer count (1 of 4 now)');
  w.call('failure');
  t.equal(w.cb.state, 'closed', '2 of 5 < 50%');
  w.call('failure');
  t.equal(w.cb.state, 'open', '3 of 6 ≥ 50%');
  t.same(w.cb.snapshot().window, { requests: 6, failures: 3 }, 'the snapshot shows the window');
});

void t.test('late outcomes of requests admitted under an earlier state are ignored', async (t) => {
  const { clock, cb } = rig({ consecutiveFailures: 2, halfOpenRequests: 1 });
  const slow = cb.acquire(); // admitted while closed, answers much later
  const a = cb.acquire();
  cb.record(a, 'failure');
  const b = cb.acquire();
  cb.record(b, 'failure');
  t.equal(cb.state, 'open');
  clock.advance(cb.retryAfterMs());
  const probe = cb.acquire();
  t.equal(cb.state, 'half_open');
  cb.record(slow, 'success');
  t.equal(cb.state, 'half_open', 'the closed-era success is not a probe result');
  cb.record(probe, 'success');
  t.equal(cb.state, 'closed');
  cb.record(slow, 'failure');
  t.equal(cb.snapshot().consecutiveFailures, 0, 'nor does a stale failure count after recovery');
});

void t.test('a probe whose client went away frees its slot for another probe', async (t) => {
  const { clock, cb } = rig({ consecutiveFailures: 1, halfOpenRequests: 1 });
  cb.record(cb.acquire(), 'failure');
  clock.advance(cb.retryAfterMs());
  const p = cb.acquire();
  t.equal(cb.acquire(), REJECTED);
  cb.record(p, 'ignored');
  t.equal(cb.state, 'half_open');
  const p2 = cb.acquire();
  t.not(p2, REJECTED, 'a new probe is admitted');
  cb.record(p2, 'success');
  t.equal(cb.state, 'closed');
});

void t.test('reconfigure keeps the state and applies new thresholds; reset closes', async (t) => {
  const { clock, cb, call, brief } = rig({ consecutiveFailures: 5, openForMs: 1_000, maxOpenForMs: 60_000, halfOpenRequests: 1 });
  for (let i = 0; i < 3; i++) call('failure');
  cb.reconfigure(policy({ consecutiveFailures: 4, openForMs: 1_000, maxOpenForMs: 60_000, halfOpenRequests: 1 }));
  t.equal(cb.snapshot().consecutiveFailures, 3, 'the count survives a reload');
  call('failure');
  t.equal(cb.state, 'open', 'the new threshold (4) applies');
  for (let i = 0; i < 3; i++) {
    clock.advance(cb.retryAfterMs());
    call('failure');
  }
  t.equal(cb.retryAfterMs(), 8_000, 'backoff level 3');
  cb.reconfigure(policy({ consecutiveFailures: 4, openForMs: 1_000, maxOpenForMs: 3_000, halfOpenRequests: 1 }));
  t.equal(cb.state, 'open', 'still open after the reload');
  t.equal(cb.retryAfterMs(), 3_000, 'a lower maxOpenFor shortens the current open period');
  cb.reset();
  t.equal(cb.state, 'closed');
  t.equal(brief().at(-1), 'open>closed:disabled');
});

void t.test('deciding while open takes microseconds', async (t) => {
  const { cb, call } = rig({ consecutiveFailures: 1, openForMs: 60_000 });
  call('failure');
  const n = 200_000;
  const start = process.hrtime.bigint();
  let refused = 0;
  for (let i = 0; i < n; i++) if (cb.acquire() === REJECTED) refused++;
  const perCallUs = Number(process.hrtime.bigint() - start) / n / 1000;
  t.equal(refused, n);
  t.ok(perCallUs < 5, `${perCallUs.toFixed(3)} µs per decision`);
});
