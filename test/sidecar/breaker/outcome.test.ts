import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import {
  BreakerOpenError,
  InternalError,
  OverloadedError,
  UpstreamResetError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../../sidecar/src/errors.js';
import type { Exchange } from '../../../sidecar/src/protocol/exchange.js';
import { compose } from '../../../sidecar/src/pipeline/stage.js';
import { breaker, BreakerRegistry, outcomeOfError, outcomeOfStatus, retryable } from '../../../sidecar/src/stages/breaker/index.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { fakeExchange, policyOf } from './rig.js';

const FAIL = new Set([502, 503, 504]);

void t.test('what counts as a failure', async (t) => {
  t.equal(outcomeOfStatus(200, FAIL), 'success');
  t.equal(outcomeOfStatus(404, FAIL), 'success', "a 4xx is the client's problem, not the app's health");
  t.equal(outcomeOfStatus(500, FAIL), 'success', '500 only when configured');
  t.equal(outcomeOfStatus(500, new Set([500])), 'failure');
  t.equal(outcomeOfStatus(503, FAIL), 'failure');
  t.equal(outcomeOfStatus(499, FAIL), 'ignored', 'client went away: says nothing about the app');
  t.equal(outcomeOfError(new UpstreamUnavailableError()), 'failure');
  t.equal(outcomeOfError(new UpstreamTimeoutError(100)), 'failure');
  t.equal(outcomeOfError(new UpstreamResetError()), 'failure');
  t.equal(outcomeOfError(new InternalError(new Error('bug'))), 'ignored', 'our own bug is not evidence against the app');
});

void t.test('only refused, idempotent, bodiless, unanswered requests are retryable', async (t) => {
  const refused = new UpstreamUnavailableError();
  t.ok(retryable(refused, fakeExchange({ method: 'GET' })));
  t.ok(retryable(refused, fakeExchange({ method: 'DELETE' })));
  t.notOk(retryable(refused, fakeExchange({ method: 'POST' })), 'POST is not idempotent');
  t.notOk(retryable(refused, fakeExchange({ method: 'PUT', hasBody: true })), 'a body cannot be replayed');
  t.notOk(retryable(new UpstreamResetError(), fakeExchange()), 'a reset may have reached the app');
  t.notOk(retryable(new UpstreamTimeoutError(1), fakeExchange()), 'a timeout may have reached the app');
  t.notOk(retryable(refused, fakeExchange({ closed: true })), 'the client is gone');
  t.notOk(retryable(refused, fakeExchange({ upgrade: true })), 'not a tunnel');
});

function stageRig(spec: Record<string, unknown>) {
  const clock = new ManualClock();
  const registry = new BreakerRegistry({ metrics: new Metrics({ processMetrics: false }), clock, random: () => 0.5 });
  const stage = breaker(policyOf(spec), { registry, upstream: 'u' });
  return { clock, registry, guard: registry.guard('u'), stage };
}

void t.test('WebSocket tunnels: refused unless closed, outside the request cap, only connect failures count', async (t) => {
  const { guard, stage } = stageRig({ upstream: { maxConcurrentRequests: 1 }, breaker: { consecutiveFailures: 2, openFor: '10s' } });
  let release: () => void = () => undefined;
  const held = stage((ex: Exchange) => {
    ex.status = 101;
    return new Promise<void>((r) => {
      release = r;
    });
  });
  const tunnel = held(fakeExchange({ upgrade: true }));
  t.equal(guard.inflight, 0, 'an open tunnel does not take a request slot');
  release();
  await tunnel;
  const refusing = stage(() => Promise.reject(new UpstreamUnavailableError()));
  await t.rejects(refusing(fakeExchange({ upgrade: true })), UpstreamUnavailableError);
  await t.rejects(refusing(fakeExchange({ upgrade: true })), UpstreamUnavailableError);
  t.equal(guard.breaker?.state, 'open', 'failures to connect a tunnel count');
  const ex = fakeExchange({ upgrade: true });
  await t.rejects(held(ex), BreakerOpenError, 'refused while open');
  t.equal(ex.notes?.breaker, 'open');
});

void t.test('a non-upstream error releases the slot and does not count', async (t) => {
  const { guard, stage } = stageRig({ upstream: { maxConcurrentRequests: 1 }, breaker: { consecutiveFailures: 1, openFor: '10s' } });
  const buggy = stage(() => Promise.reject(new InternalError(new Error('bug'))));
  await t.rejects(buggy(fakeExchange()), InternalError);
  t.equal(guard.inflight, 0);
  t.equal(guard.breaker?.state, 'closed');
  const hang = stage(() => new Promise<void>(() => undefined));
  void hang(fakeExchange());
  await t.rejects(hang(fakeExchange()), OverloadedError, 'cap 1: the second is refused');
});

void t.test('an overflow refusal in half-open hands the probe slot back', async (t) => {
  const { clock, guard, stage } = stageRig({
    upstream: { maxConcurrentRequests: 1 },
    breaker: { consecutiveFailures: 1, openFor: '1s', halfOpenRequests: 1 },
  });
  const fail = stage((ex) => {
    ex.status = 503;
    return Promise.resolve();
  });
  await fail(fakeExchange());
  t.equal(guard.breaker?.state, 'open');
  guard.enter(); // something else holds the only slot (e.g. a request of the previous policy version)
  clock.advance(1_000);
  await t.rejects(fail(fakeExchange()), OverloadedError);
  t.equal(guard.breaker?.state, 'half_open');
  guard.leave();
  const ok = stage((ex) => {
    ex.status = 200;
    return Promise.resolve();
  });
  await ok(fakeExchange());
  t.equal(guard.breaker?.state, 'closed', 'the probe slot was free for the next request');
});

void t.test('no breaker in the policy: the cap still applies and nothing is noted', async (t) => {
  const { guard, stage } = stageRig({ upstream: { maxConcurrentRequests: 2 } });
  t.equal(guard.breaker, undefined);
  const hang = compose([stage], () => new Promise<void>(() => undefined));
  const ex = fakeExchange();
  void hang(ex);
  void hang(fakeExchange());
  await t.rejects(hang(fakeExchange()), OverloadedError);
  t.equal(ex.notes?.breaker, undefined);
  t.equal(guard.inflight, 2);
});

void t.test('an open breaker answers at once: no timer, no I/O, nothing reaches the app', async (t) => {
  const { guard, stage } = stageRig({ breaker: { consecutiveFailures: 1, openFor: '1m' } });
  let reached = 0;
  const h = stage((ex) => {
    reached++;
    ex.status = 503;
    return Promise.resolve();
  });
  await h(fakeExchange());
  t.equal(guard.breaker?.state, 'open');
  let refused = 0;
  for (let i = 0; i < 1000; i++)
    void h(fakeExchange()).catch((e: unknown) => {
      if (e instanceof BreakerOpenError) refused++;
    });
  // Settled within the same turn of the event loop (promise reactions only). How fast, in
  // microseconds, is bench/pipeline's business, not a test's.
  await Promise.resolve();
  await Promise.resolve();
  t.equal(refused, 1000, 'every request refused before anything else could run');
  t.equal(reached, 1, 'none of them reached the app');
});
