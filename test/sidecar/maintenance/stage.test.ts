import t from 'tap';
import { compilePolicy } from '../../../policies/src/compile.js';
import type { CompiledPolicy } from '../../../policies/src/types.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { MaintenanceError, SidecarError } from '../../../sidecar/src/errors.js';
import { compose, type Handler } from '../../../sidecar/src/pipeline/stage.js';
import { AuthRuntime, InlineJwksSource } from '../../../sidecar/src/stages/authenticate/index.js';
import { maintenance } from '../../../sidecar/src/stages/maintenance/index.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { mint, testKey } from '../../helpers/jwks.js';
import { bearer, exchange, MemoryLogger, type ExchangeInit } from '../authenticate/support.js';

const ISSUER = 'https://id.example.com';
const key = testKey('ES256', 'k1');
const stranger = testKey('ES256', 'k1'); // same kid, another key: a bad signature

function policy(maintenanceSection: Record<string, unknown> | undefined): CompiledPolicy {
  const r = compilePolicy({
    apiVersion: 'sidegate.dev/v1',
    kind: 'Policy',
    metadata: { name: 'm' },
    spec: {
      auth: {
        providers: [{ name: 'corp', issuer: ISSUER, algorithms: ['ES256'], jwks: { keys: [key.jwk] } }],
        default: { require: 'any' },
      },
      ...(maintenanceSection === undefined ? {} : { maintenance: maintenanceSection }),
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.policy;
}

/** The maintenance stage in front of the real authenticate stage, as the pipeline has them. */
async function rig(p: CompiledPolicy): Promise<{
  run: (init: ExchangeInit) => Promise<{ reached: boolean; error: SidecarError | undefined; notes: unknown }>;
  metrics: Metrics;
  close: () => void;
}> {
  const metrics = new Metrics({ processMetrics: false });
  const clock = new ManualClock(Date.now(), 0);
  const rt = new AuthRuntime({
    metrics,
    logger: new MemoryLogger(),
    clock,
    keyManagerOptions: { sourceFor: (pr) => new InlineJwksSource(pr.jwks?.inline ?? []) },
  });
  const authenticate = await rt.prepare(p.auth);
  const identify = p.maintenance?.allow === undefined ? undefined : rt.identify(p.auth!, p.maintenance.allow);
  let reached = false;
  const app: Handler = () => {
    reached = true;
    return Promise.resolve();
  };
  const h = compose([maintenance(p.maintenance, { metrics, identify }), authenticate], app);
  return {
    metrics,
    close: () => rt.close(),
    async run(init) {
      reached = false;
      const ex = exchange(init);
      try {
        await h(ex);
        return { reached, error: undefined, notes: ex.notes };
      } catch (err) {
        if (!(err instanceof SidecarError)) throw err;
        return { reached, error: err, notes: ex.notes };
      }
    },
  };
}

const count = async (m: Metrics, name: string, labels: Record<string, string>): Promise<number> => {
  const json = await m.registry.getSingleMetric(name)!.get();
  return json.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
};
const exp = Math.floor(Date.now() / 1000) + 600;

t.test('off or absent: not in the pipeline at all', async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  const next: Handler = () => Promise.resolve();
  t.equal(maintenance(undefined, { metrics, identify: undefined })(next), next, 'absent');
  t.equal(maintenance(policy({ enabled: false }).maintenance, { metrics, identify: undefined })(next), next, 'enabled: false');
});

t.test('on: 503 with the message and Retry-After, before authentication runs', async (t) => {
  const r = await rig(policy({ retryAfter: '2m', message: 'orders is being upgraded' }));
  t.teardown(r.close);
  const res = await r.run({ headers: bearer('not even a token') });
  t.ok(res.error instanceof MaintenanceError);
  t.equal(res.error?.status, 503);
  t.equal(res.error?.code, 'SIDEGATE_ERR_MAINTENANCE');
  t.equal(res.error?.message, 'orders is being upgraded');
  t.same(res.error?.headers, { 'retry-after': '120' });
  t.notOk(res.reached);
  t.same(res.notes, { maintenance: 'refused' });
  t.equal(await count(r.metrics, 'sidegate_maintenance_requests_total', { result: 'refused' }), 1);
  t.equal(await count(r.metrics, 'sidegate_auth_attempts_total', {}), 0, 'no token was judged: the bad one counts as no auth failure');
});

t.test('except: listed paths and methods go on to authentication as usual', async (t) => {
  const r = await rig(policy({ except: [{ paths: ['/healthz', '/status/*'] }, { methods: ['OPTIONS'] }] }));
  t.teardown(r.close);
  const health = await r.run({ target: '/healthz' });
  t.equal(health.error?.code, 'SIDEGATE_ERR_UNAUTHENTICATED', 'excepted, then judged by the auth rules like any request');
  t.same(health.notes, { maintenance: 'excepted' });
  const token = await mint(key, { iss: ISSUER, sub: 'u', exp });
  t.ok((await r.run({ target: '/status/page', headers: bearer(token) })).reached, 'a prefix');
  t.ok((await r.run({ method: 'OPTIONS', target: '/api/x', headers: bearer(token) })).reached, 'a method');
  t.equal((await r.run({ target: '/api/x', headers: bearer(token) })).error?.code, 'SIDEGATE_ERR_MAINTENANCE', 'anything else');
  t.equal(await count(r.metrics, 'sidegate_maintenance_requests_total', { result: 'excepted' }), 3);
  t.equal(await count(r.metrics, 'sidegate_maintenance_requests_total', { result: 'refused' }), 1);
});

t.test('allow: a valid token meeting the claim condition goes through; anything else is refused', async (t) => {
  const r = await rig(policy({ allow: { claims: { groups: ['sre'] } } }));
  t.teardown(r.close);
  const sre = await mint(key, { iss: ISSUER, sub: 'ops', groups: ['dev', 'sre'], exp });
  const first = await r.run({ headers: bearer(sre) });
  t.ok(first.reached, 'allow-listed: reaches the app');
  t.same(first.notes, { maintenance: 'allowed' });
  t.ok((await r.run({ headers: bearer(sre) })).reached, 'again, from the verified-token cache');

  const dev = await mint(key, { iss: ISSUER, sub: 'dev', groups: ['dev'], exp });
  const forged = await mint(stranger, { iss: ISSUER, sub: 'ops', groups: ['sre'], exp });
  const expired = await mint(key, { iss: ISSUER, sub: 'ops', groups: ['sre'], exp: Math.floor(Date.now() / 1000) - 3600 });
  for (const [what, init] of [
    ['no token', {}],
    ['lacks the claim', { headers: bearer(dev) }],
    ['bad signature', { headers: bearer(forged) }],
    ['expired', { headers: bearer(expired) }],
  ] as const) {
    const res = await r.run(init);
    t.equal(res.error?.code, 'SIDEGATE_ERR_MAINTENANCE', `${what}: 503, not a 401 or 403`);
    t.notOk(res.reached);
  }
  t.equal(await count(r.metrics, 'sidegate_maintenance_requests_total', { result: 'allowed' }), 2);
  t.equal(await count(r.metrics, 'sidegate_maintenance_requests_total', { result: 'refused' }), 4);
  t.equal(await count(r.metrics, 'sidegate_auth_attempts_total', { result: 'failure' }), 0, 'refused requests count no auth failures');
  t.equal(await count(r.metrics, 'sidegate_auth_attempts_total', { result: 'success' }), 2, 'the allowed ones were authenticated as usual');
});

t.test('allow with providers: a token of another provider does not pass', async (t) => {
  const other = testKey('ES256', 'k2');
  const r = compilePolicy({
    apiVersion: 'sidegate.dev/v1',
    kind: 'Policy',
    metadata: { name: 'm' },
    spec: {
      auth: {
        providers: [
          { name: 'corp', issuer: ISSUER, algorithms: ['ES256'], jwks: { keys: [key.jwk] } },
          { name: 'partners', issuer: 'https://partners.example.com', algorithms: ['ES256'], jwks: { keys: [other.jwk] } },
        ],
      },
      maintenance: { allow: { providers: ['corp'], claims: { groups: 'sre' } } },
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const h = await rig(r.policy);
  t.teardown(h.close);
  t.ok((await h.run({ headers: bearer(await mint(key, { iss: ISSUER, sub: 'a', groups: 'sre', exp })) })).reached);
  const partner = await mint(other, { iss: 'https://partners.example.com', sub: 'b', groups: 'sre', exp });
  t.equal((await h.run({ headers: bearer(partner) })).error?.code, 'SIDEGATE_ERR_MAINTENANCE');
});
