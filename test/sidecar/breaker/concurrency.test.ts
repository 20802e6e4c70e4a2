import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Agent, request } from 'undici';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { until } from '../../helpers/proxy.js';
import { miniSidecar, policyOf, sample, UPSTREAM } from './rig.js';

/** An app that holds every request until released, and records the most it ever held at once. */
async function holdingApp() {
  const held: ServerResponse[] = [];
  const stats = { hits: 0, now: 0, max: 0 };
  const server = createServer((req, res) => {
    stats.hits++;
    stats.now++;
    stats.max = Math.max(stats.max, stats.now);
    res.on('close', () => {
      stats.now--;
    });
    req.resume();
    held.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    release: () => {
      for (const res of held.splice(0)) res.end('done');
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

for (const withBreaker of [false, true]) {
  void t.test(
    `cap 10, 50 parallel slow requests: exactly 10 reach the app, 40 are refused (breaker ${withBreaker ? 'on' : 'off'})`,
    async (t) => {
      const app = await holdingApp();
      const spec: Record<string, unknown> = { upstream: { timeout: '30s', maxConcurrentRequests: 10 } };
      if (withBreaker) spec.breaker = { consecutiveFailures: 1, openFor: '10s' };
      const s = await miniSidecar(app.url, policyOf(spec), { clock: new ManualClock() });
      // Enough client connections for all 50 to be in flight at once.
      const client = new Agent({ connections: 100 });
      t.teardown(async () => {
        await client.close();
        await s.close();
        await app.close();
      });

      const results: { status: number; error?: string; retryAfter?: string }[] = [];
      const all = Array.from({ length: 50 }, async (_, i) => {
        const r = await request(`${s.url}/slow/${i}`, { dispatcher: client });
        const text = await r.body.text();
        const error = r.statusCode === 503 ? (JSON.parse(text) as { error: string }).error : undefined;
        results.push({ status: r.statusCode, error, retryAfter: r.headers['retry-after'] as string | undefined });
      });
      await until(() => results.length === 40 && app.stats.now === 10, '40 refusals while 10 are held by the app');
      t.equal(app.stats.hits, 10, 'exactly 10 reached the app');
      t.equal(s.registry.guard(UPSTREAM).inflight, 10);
      let m = await s.metricsText();
      t.equal(sample(m, 'sidegate_upstream_inflight_requests', { upstream: UPSTREAM }), 10, 'in-flight gauge');

      app.release();
      await Promise.all(all);
      t.equal(app.stats.max, 10, 'never more than 10 at the app at once');
      t.equal(results.filter((r) => r.status === 200).length, 10);
      const refused = results.filter((r) => r.status === 503);
      t.equal(refused.length, 40);
      t.ok(
        refused.every((r) => r.error === 'SIDEGATE_ERR_OVERLOADED' && r.retryAfter === '1'),
        'all 40: 503 OVERLOADED, Retry-After 1',
      );
      m = await s.metricsText();
      t.equal(sample(m, 'sidegate_circuit_breaker_rejected_total', { upstream: UPSTREAM, reason: 'overflow' }), 40);
      t.equal(sample(m, 'sidegate_upstream_inflight_requests', { upstream: UPSTREAM }), 0);
      if (withBreaker) t.equal(s.registry.guard(UPSTREAM).breaker?.state, 'closed', 'overload refusals are not failures of the app');

      // The slots are free again: the next wave gets through.
      const next = request(`${s.url}/after`, { dispatcher: client });
      await until(() => app.stats.hits === 11, 'the next request reaches the app');
      app.release();
      t.equal((await next).statusCode, 200);
    },
  );
}
