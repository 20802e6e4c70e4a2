import { createServer, type Server } from 'node:http';
import t from 'tap';
import { request } from 'undici';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { startHttpApp } from '../../helpers/apps.js';
import { freePort } from '../../helpers/ports.js';
import { miniSidecar, policyOf, sample, UPSTREAM } from './rig.js';

interface ErrBody {
  error: string;
  message: string;
  requestId: string;
}

async function get(
  url: string,
  method = 'GET',
  body?: string,
): Promise<{ status: number; error: string | undefined; retryAfter: string | undefined }> {
  const r = await request(url, { method: method as 'GET', body });
  const text = await r.body.text();
  const error =
    r.headers['content-type'] === 'application/json' && text.includes('"error"') ? (JSON.parse(text) as ErrBody).error : undefined;
  const ra = r.headers['retry-after'];
  return { status: r.statusCode, error, retryAfter: typeof ra === 'string' ? ra : undefined };
}

const breakerSpec = { consecutiveFailures: 3, openFor: '10s', maxOpenFor: '5m', halfOpenRequests: 2 };

void t.test(
  'an app answering 503 opens the breaker; while open nothing reaches the app; half-open success closes, failure reopens longer',
  async (t) => {
    const app = await startHttpApp();
    const clock = new ManualClock();
    const s = await miniSidecar(app.url, policyOf({ breaker: breakerSpec }), { clock });
    t.teardown(async () => {
      await s.close();
      await app.close();
    });

    for (let i = 0; i < 3; i++) {
      const r = await get(`${s.url}/status/503`);
      t.equal(r.status, 503, "the app's own 503 is relayed");
      t.equal(r.error, undefined, 'not a sidegate error');
    }
    t.equal(app.hits.count, 3);
    for (let i = 0; i < 20; i++) {
      const r = await get(`${s.url}/anything`);
      t.equal(r.error, 'SIDEGATE_ERR_BREAKER_OPEN');
      if (i === 0) {
        t.equal(r.status, 503);
        t.equal(r.retryAfter, '10', 'Retry-After: the open period');
      }
    }
    t.equal(app.hits.count, 3, 'no rejected request reached the app');
    clock.advance(4_000);
    t.equal((await get(`${s.url}/x`)).retryAfter, '6', 'Retry-After counts down');

    let m = await s.metricsText();
    t.equal(sample(m, 'sidegate_circuit_breaker_state', { upstream: UPSTREAM }), 2, 'state gauge: open');
    t.equal(
      sample(m, 'sidegate_circuit_breaker_transitions_total', {
        upstream: UPSTREAM,
        from: 'closed',
        to: 'open',
        reason: 'consecutive_failures',
      }),
      1,
    );
    t.equal(sample(m, 'sidegate_circuit_breaker_rejected_total', { upstream: UPSTREAM, reason: 'open' }), 21);
    t.equal(sample(m, 'sidegate_circuit_breaker_rejected_total', { upstream: UPSTREAM, reason: 'overflow' }), 0);
    t.ok(
      s.logs.some((l) => l.path === '/status/503' && l.breaker === 'closed'),
      'access log carries the state',
    );
    t.ok(s.logs.some((l) => l.path === '/anything' && l.breaker === 'open' && l.error === 'SIDEGATE_ERR_BREAKER_OPEN'));
    t.ok(
      s.logs.some((l) => l.msg === 'circuit breaker opened' && l.level === 'warn' && l.reason === 'consecutive_failures'),
      'opening is logged at warn',
    );

    // Half-open: a failed probe reopens, for twice as long.
    clock.advance(6_000);
    const probe = await get(`${s.url}/status/503`);
    t.equal(probe.status, 503);
    t.equal(probe.error, undefined, 'the probe reached the app');
    t.equal(app.hits.count, 4);
    const again = await get(`${s.url}/x`);
    t.equal(again.error, 'SIDEGATE_ERR_BREAKER_OPEN', 'reopened');
    t.equal(again.retryAfter, '20', 'for a longer wait (2 × openFor)');
    t.equal(app.hits.count, 4);

    // Half-open: both probes succeed → closed.
    clock.advance(20_000);
    t.equal((await get(`${s.url}/ok`)).status, 200, 'probe 1');
    t.equal(s.registry.guard(UPSTREAM).breaker?.state, 'half_open', 'one good probe is not enough');
    t.equal((await get(`${s.url}/ok`)).status, 200, 'probe 2');
    t.equal(s.registry.guard(UPSTREAM).breaker?.state, 'closed');
    t.equal((await get(`${s.url}/ok`)).status, 200, 'closed: traffic flows');
    t.equal(app.hits.count, 7);

    m = await s.metricsText();
    t.equal(sample(m, 'sidegate_circuit_breaker_state', { upstream: UPSTREAM }), 0, 'state gauge: closed');
    t.equal(
      sample(m, 'sidegate_circuit_breaker_transitions_total', {
        upstream: UPSTREAM,
        from: 'open',
        to: 'half_open',
        reason: 'backoff_elapsed',
      }),
      2,
    );
    t.equal(
      sample(m, 'sidegate_circuit_breaker_transitions_total', {
        upstream: UPSTREAM,
        from: 'half_open',
        to: 'open',
        reason: 'probe_failed',
      }),
      1,
    );
    t.equal(
      sample(m, 'sidegate_circuit_breaker_transitions_total', {
        upstream: UPSTREAM,
        from: 'half_open',
        to: 'closed',
        reason: 'probes_succeeded',
      }),
      1,
    );
    t.equal(sample(m, 'sidegate_upstream_inflight_requests', { upstream: UPSTREAM }), 0, 'in-flight gauge back to 0');
  },
);

void t.test('timeouts and resets count as failures; statuses outside failureStatuses do not', async (t) => {
  const app = await startHttpApp();
  const clock = new ManualClock();
  const s = await miniSidecar(
    app.url,
    policyOf({
      upstream: { timeout: '5s' },
      routes: [{ name: 'quick', match: { paths: ['/hang'] }, timeout: '100ms' }],
      breaker: { consecutiveFailures: 3, openFor: '10s', failureStatuses: [503] },
    }),
    { clock },
  );
  t.teardown(async () => {
    await s.close();
    await app.close();
  });
  t.equal((await get(`${s.url}/status/500`)).status, 500);
  t.equal((await get(`${s.url}/status/502`)).status, 502, "502 is not in this policy's failureStatuses");
  t.equal((await get(`${s.url}/hang`)).error, 'SIDEGATE_ERR_UPSTREAM_TIMEOUT', 'the route timeout applies');
  t.equal((await get(`${s.url}/reset`)).error, 'SIDEGATE_ERR_UPSTREAM_RESET');
  t.equal(s.registry.guard(UPSTREAM).breaker?.state, 'closed', 'two failures so far');
  t.equal((await get(`${s.url}/hang`)).error, 'SIDEGATE_ERR_UPSTREAM_TIMEOUT');
  t.equal(s.registry.guard(UPSTREAM).breaker?.state, 'open', 'timeout, reset, timeout: three in a row');
  t.equal((await get(`${s.url}/ok`)).error, 'SIDEGATE_ERR_BREAKER_OPEN');
});

void t.test('a reload keeps the state and applies new thresholds; removing the breaker closes it', async (t) => {
  const app = await startHttpApp();
  const clock = new ManualClock();
  const s = await miniSidecar(app.url, policyOf({ breaker: { consecutiveFailures: 2, openFor: '10s', halfOpenRequests: 1 } }), { clock });
  t.teardown(async () => {
    await s.close();
    await app.close();
  });
  await get(`${s.url}/status/503`);
  s.reload(policyOf({ breaker: { consecutiveFailures: 2, openFor: '1m', halfOpenRequests: 1 } }));
  await get(`${s.url}/status/503`);
  t.equal((await get(`${s.url}/ok`)).error, 'SIDEGATE_ERR_BREAKER_OPEN', 'the failure count survived the reload');
  t.equal((await get(`${s.url}/ok`)).retryAfter, '60', 'the new openFor applies');
  s.reload(policyOf({ breaker: { consecutiveFailures: 2, openFor: '1m', halfOpenRequests: 1 } }));
  t.equal((await get(`${s.url}/ok`)).error, 'SIDEGATE_ERR_BREAKER_OPEN', 'still open after another reload');

  const view = s.registry.view();
  t.equal(view.upstreams[0]?.upstream, UPSTREAM);
  t.equal(view.upstreams[0]?.breaker?.state, 'open');
  t.equal(view.upstreams[0]?.breaker?.retryInMs, 60_000);
  t.equal(view.upstreams[0]?.breaker?.config.openForMs, 60_000);
  t.doesNotThrow(() => JSON.stringify(view), 'the admin view is plain JSON');

  s.reload(policyOf({}));
  t.equal((await get(`${s.url}/ok`)).status, 200, 'no breaker in the policy: traffic flows');
  const m = await s.metricsText();
  t.equal(sample(m, 'sidegate_circuit_breaker_state', { upstream: UPSTREAM }), 0);
  t.equal(
    sample(m, 'sidegate_circuit_breaker_transitions_total', { upstream: UPSTREAM, from: 'open', to: 'closed', reason: 'disabled' }),
    1,
  );
  t.equal(s.registry.view().upstreams[0]?.breaker, null);
});

/** A server that starts on a given port on demand: the app "comes back" during the retry pause. */
function lateApp(port: number): { start(): Promise<void>; hits: string[]; close(): Promise<void> } {
  const hits: string[] = [];
  let server: Server | undefined;
  return {
    hits,
    start: async () => {
      server = createServer((req, res) => {
        hits.push(`${req.method} ${req.url}`);
        req.resume();
        res.end('ok');
      });
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
    },
    close: () =>
      new Promise<void>((r) => {
        if (server === undefined) r();
        else {
          server.closeAllConnections();
          server.close(() => r());
        }
      }),
  };
}

void t.test('a refused idempotent request without a body is retried once; others are not', async (t) => {
  const port = await freePort();
  const app = lateApp(port);
  let pauses = 0;
  const clock = new ManualClock();
  const s = await miniSidecar(`http://127.0.0.1:${port}`, policyOf({ breaker: { consecutiveFailures: 5 } }), {
    clock,
    retry: { attempts: 1, backoffMs: 25 },
    sleep: async () => {
      pauses++;
      if (pauses === 1) await app.start();
    },
  });
  t.teardown(async () => {
    await s.close();
    await app.close();
  });

  const post = await get(`${s.url}/post`, 'POST', 'payload');
  t.equal(post.error, 'SIDEGATE_ERR_UPSTREAM_UNAVAILABLE', 'POST with a body: never retried');
  t.equal(pauses, 0);
  const r = await get(`${s.url}/retried`);
  t.equal(r.status, 200, 'GET refused once, retried after the pause, answered');
  t.equal(pauses, 1);
  t.same(app.hits, ['GET /retried'], 'the app saw it exactly once');
  t.ok(
    s.logs.some((l) => l.path === '/retried' && l.retries === 1),
    'the retry is in the access log',
  );
  await app.close();

  const gone = await get(`${s.url}/gone`);
  t.equal(gone.error, 'SIDEGATE_ERR_UPSTREAM_UNAVAILABLE', 'one retry only: the second refusal is the answer');
  t.equal(pauses, 2);
  const m = await s.metricsText();
  t.equal(sample(m, 'sidegate_upstream_errors_total', { kind: 'refused' }), 4, 'POST 1 + GET 1 + GET 2: every attempt is an outcome');
});
