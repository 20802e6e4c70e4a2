/**
 * The breaker inside the assembled sidecar (`Proxy.start`): needs the wiring in
 * sidecar/src/inbound/pipeline.ts and sidecar/src/proxy.ts (breaker stage, BreakerRegistry, the
 * /breaker admin view). The other tests in this folder build the data path themselves.
 */
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { request } from 'undici';
import { ManualClock } from '../../../sidecar/src/clock.js';
import type { UpstreamView } from '../../../sidecar/src/stages/breaker/index.js';
import { startHttpApp } from '../../helpers/apps.js';
import { startProxy, until } from '../../helpers/proxy.js';
import { sample } from './rig.js';

const policy = (openFor: string): string => `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: breaker }
spec:
  upstream: { maxConcurrentRequests: 50 }
  breaker: { consecutiveFailures: 2, openFor: ${openFor}, halfOpenRequests: 1 }
`;

async function call(url: string): Promise<{ status: number; error?: string; retryAfter?: string }> {
  const r = await request(url);
  const text = await r.body.text();
  const error = r.headers['content-type'] === 'application/json' ? (JSON.parse(text) as { error?: string }).error : undefined;
  return { status: r.statusCode, error, retryAfter: r.headers['retry-after'] as string | undefined };
}

async function view(adminUrl: string): Promise<UpstreamView | undefined> {
  const r = await request(`${adminUrl}/breaker`);
  t.equal(r.statusCode, 200, 'GET /breaker on the admin port');
  return ((await r.body.json()) as { upstreams: UpstreamView[] }).upstreams[0];
}

void t.test('the assembled sidecar opens, reports and closes the breaker; a reload keeps its state', async (t) => {
  const app = await startHttpApp();
  const clock = new ManualClock();
  // random 0.5: no jitter, so the open period is exactly openFor.
  const p = await startProxy(app.url, [], { policy: policy('30s'), clock, random: () => 0.5 });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const upstream = `127.0.0.1:${app.port}`;

  t.equal((await view(p.adminUrl))?.breaker?.state, 'closed');
  t.equal((await call(`${p.url}/status/503`)).status, 503);
  t.equal((await call(`${p.url}/status/503`)).status, 503);
  const refused = await call(`${p.url}/ok`);
  t.equal(refused.status, 503);
  t.equal(refused.error, 'SIDEGATE_ERR_BREAKER_OPEN');
  t.equal(refused.retryAfter, '30');
  t.equal(app.hits.count, 2, 'the refused request never reached the app');

  const v = await view(p.adminUrl);
  t.equal(v?.upstream, upstream, 'labelled by the --upstream host:port');
  t.equal(v?.breaker?.state, 'open');
  t.equal(v?.maxConcurrentRequests, 50);
  const m = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.equal(sample(m, 'sidegate_circuit_breaker_state', { upstream }), 2);
  t.equal(sample(m, 'sidegate_circuit_breaker_rejected_total', { upstream, reason: 'open' }), 1);
  t.equal(
    sample(m, 'sidegate_circuit_breaker_transitions_total', { upstream, from: 'closed', to: 'open', reason: 'consecutive_failures' }),
    1,
  );
  await until(() => p.logs.some((l) => l.path === '/ok' && l.breaker === 'open'), 'breaker state in the access log');

  const version = p.proxy.policy?.version;
  writeFileSync(p.policyFile!, policy('1m'));
  await until(() => p.proxy.policy?.version !== version, 'the new policy is applied');
  t.equal((await call(`${p.url}/ok`)).error, 'SIDEGATE_ERR_BREAKER_OPEN', 'still open after the reload');
  t.equal((await view(p.adminUrl))?.breaker?.config.openForMs, 60_000, 'the new thresholds apply');

  clock.advance(30_000);
  t.equal((await call(`${p.url}/ok`)).status, 200, 'the probe goes through');
  t.equal((await view(p.adminUrl))?.breaker?.state, 'closed');
  t.equal(app.hits.count, 3);
});
