/**
 * Maintenance mode through the shipped sidecar (the bundle, as its own process): switched on and
 * off by editing the policy file (what kubelet does to a mounted ConfigMap), on HTTP/1.1, h2c and
 * gRPC, with health paths and an allow-listed identity still served.
 */
import * as grpc from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../../helpers/apps.js';
import { loadProtos, startGrpcServer, type Msg } from '../../helpers/grpc.js';
import { h2request } from '../../helpers/h2.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { until, writePolicy } from '../../helpers/proxy.js';
import { spawnProxy, type ProxyProcess } from '../../helpers/spawn.js';

const key = testKey('ES256', 'k1');

function policy(issuer: string, enabled: boolean): string {
  return `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  auth:
    providers: [ { name: corp, issuer: "${issuer}", algorithms: [ES256], jwks: { uri: "${issuer}/jwks.json" } } ]
    rules: [ { match: { paths: [/healthz, /status, /grpc.health.v1.Health/*] }, require: none } ]
  maintenance:
    enabled: ${enabled}
    retryAfter: 2m
    message: orders is being upgraded; back by 03:00 UTC
    except: [ { paths: [/healthz, /status, /grpc.health.v1.Health/*] } ]
    allow: { claims: { groups: [sre] } }
`;
}

async function metric(p: ProxyProcess, line: RegExp): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
  const m = text.split('\n').find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.slice(m.lastIndexOf(' ') + 1));
}

const logLines = (p: ProxyProcess): Record<string, unknown>[] =>
  p.output.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('HTTP/1.1 and h2c: on and off by editing the policy, health paths and an allow-list still served', async (t) => {
  const idp = await JwksServer.start([key.jwk]);
  const app = await startHttpApp();
  const file = writePolicy(policy(idp.url, false));
  const p = await spawnProxy(app.url, ['--policy', file]);
  const session = connect(p.url);
  t.teardown(async () => {
    session.close();
    if (p.proc.exitCode === null) {
      p.proc.kill('SIGTERM');
      await p.exited;
    }
    await app.close();
    await idp.stop();
  });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const user = `Bearer ${await mint(key, { iss: idp.url, sub: 'u-1', groups: ['dev'], exp })}`;
  const sre = `Bearer ${await mint(key, { iss: idp.url, sub: 'ops-1', groups: ['sre'], exp })}`;
  const h1 = async (path: string, auth?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> => {
    const r = await request(`${p.url}${path}`, { headers: auth === undefined ? {} : { authorization: auth } });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  };
  const h2 = async (path: string, auth?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> => {
    const r = await h2request(session, { ':method': 'GET', ':path': path, ...(auth === undefined ? {} : { authorization: auth }) });
    return { status: Number(r.headers[':status']), headers: r.headers, body: r.body };
  };

  // Off: the app answers.
  t.equal((await h1('/api/orders', user)).status, 200);
  t.equal((await h2('/api/orders', user)).status, 200);
  t.equal(await metric(p, /^sidegate_maintenance_active /), 0);

  // On: one edit of the file, applied as soon as the reload is counted.
  writeFileSync(file, policy(idp.url, true));
  await until(async () => (await metric(p, /^sidegate_policy_reloads_total /)) === 1, 'the reload', 5000);
  t.equal(await metric(p, /^sidegate_maintenance_active /), 1);
  const hitsAtStart = app.hits.count;
  for (const [proto, send] of [
    ['HTTP/1.1', h1],
    ['h2c', h2],
  ] as const) {
    const hitsBefore = app.hits.count;
    const refused = await send('/api/orders', user);
    t.equal(refused.status, 503, `${proto}: 503`);
    t.equal(refused.headers['retry-after'], '120', `${proto}: Retry-After from retryAfter`);
    t.match(
      JSON.parse(refused.body),
      { error: 'SIDEGATE_ERR_MAINTENANCE', message: 'orders is being upgraded; back by 03:00 UTC' },
      `${proto}: the code and the message`,
    );
    t.equal((await send('/api/orders')).status, 503, `${proto}: no token: 503, not 401`);
    t.equal(app.hits.count, hitsBefore, `${proto}: nothing reached the app`);
    t.equal((await send('/healthz')).status, 200, `${proto}: the health path is served`);
    t.equal((await send('/status')).status, 200, `${proto}: the status page is served`);
    const allowed = await send('/api/orders', sre);
    t.equal(allowed.status, 200, `${proto}: the allow-listed identity reaches the app`);
    t.equal((JSON.parse(allowed.body) as { url: string }).url, '/api/orders');
  }
  t.equal(app.hits.count, hitsAtStart + 6, 'exactly the excepted and allow-listed requests reached the app');
  const ready = await request(`${p.adminUrl}/healthz/ready`);
  t.equal(ready.statusCode, 200, 'still ready: the pod stays in the Service and answers 503 itself');
  await ready.body.dump();
  t.equal(await metric(p, /^sidegate_maintenance_requests_total\{result="refused"\}/), 4);
  t.equal(await metric(p, /^sidegate_maintenance_requests_total\{result="excepted"\}/), 4);
  t.equal(await metric(p, /^sidegate_maintenance_requests_total\{result="allowed"\}/), 2);
  t.equal(await metric(p, /^sidegate_errors_total\{code="SIDEGATE_ERR_MAINTENANCE"\}/), 4);
  t.equal(await metric(p, /^sidegate_auth_attempts_total\{.*result="failure"/), 0, 'refused requests are no auth failures');

  // Off again.
  writeFileSync(file, policy(idp.url, false));
  await until(async () => (await metric(p, /^sidegate_policy_reloads_total /)) === 2, 'the second reload', 5000);
  t.equal((await h1('/api/orders', user)).status, 200, 'HTTP/1.1: the app answers again');
  t.equal((await h2('/api/orders', user)).status, 200, 'h2c: the app answers again');
  t.equal(await metric(p, /^sidegate_maintenance_active /), 0);

  // The log, complete once the process has flushed it on its way out.
  p.proc.kill('SIGTERM');
  await p.exited;
  const lines = logLines(p);
  const on = lines.filter((l) => String(l.msg).startsWith('maintenance mode on'));
  t.equal(on.length, 1, 'one line when it went on');
  t.match(on[0], {
    level: 'warn',
    maintenance: true,
    message: 'orders is being upgraded; back by 03:00 UTC',
    retry_after_s: 120,
    except: 1,
    allow_list: true,
  });
  t.match(
    lines.filter((l) => String(l.msg).startsWith('maintenance mode off')),
    [{ level: 'info', maintenance: false }],
    'one line when it went off',
  );
  t.equal(
    lines.filter((l) => l.msg === 'request' && l.error === 'SIDEGATE_ERR_MAINTENANCE' && l.maintenance === 'refused' && l.status === 503)
      .length,
    4,
    'each refusal has its access log line, saying why',
  );
});

type Unary = (
  m: Msg,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, r?: Msg) => void,
) => grpc.ClientUnaryCall;

t.test('gRPC: UNAVAILABLE with the message and retry-after; the health service still answers', async (t) => {
  const idp = await JwksServer.start([key.jwk]);
  const app = await startGrpcServer();
  const file = writePolicy(policy(idp.url, true));
  const p = await spawnProxy(`h2c://127.0.0.1:${app.port}`, ['--policy', file]);
  const { Echo, Health } = loadProtos();
  const echo = new Echo(`127.0.0.1:${p.port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  const health = new Health(`127.0.0.1:${p.port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
  t.teardown(async () => {
    echo.close();
    health.close();
    if (p.proc.exitCode === null) {
      p.proc.kill('SIGTERM');
      await p.exited;
    }
    await app.close();
    await idp.stop();
  });
  t.equal(await metric(p, /^sidegate_maintenance_active /), 1, 'on from the start');

  const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
    (echo.Unary as Unary).call(echo, { text: 'hi', n: 1 }, new grpc.Metadata(), {}, (e) =>
      e ? resolve(e) : reject(new Error('answered')),
    );
  });
  t.equal(err.code, grpc.status.UNAVAILABLE, 'grpc-status 14');
  t.equal(err.details, 'SIDEGATE_ERR_MAINTENANCE: orders is being upgraded; back by 03:00 UTC');
  t.equal(err.metadata.get('retry-after')[0], '120');

  const md = new grpc.Metadata();
  md.set(
    'authorization',
    `Bearer ${await mint(key, { iss: idp.url, sub: 'ops-1', groups: ['sre'], exp: Math.floor(Date.now() / 1000) + 600 })}`,
  );
  const ok = await new Promise<Msg>((resolve, reject) => {
    (echo.Unary as Unary).call(echo, { text: 'hi', n: 1 }, md, {}, (e, m) => (e ? reject(e) : resolve(m!)));
  });
  t.same(ok, { text: 'echo:hi', n: 1 }, 'the allow-listed identity is served');

  // health.proto: SERVING = 1 (enums load as numbers).
  const status = await new Promise<{ status: number }>((resolve, reject) => {
    (health.Check as (m: { service: string }, cb: (e: grpc.ServiceError | null, r?: { status: number }) => void) => void).call(
      health,
      { service: '' },
      (e, r) => (e ? reject(e) : resolve(r!)),
    );
  });
  t.equal(status.status, 1, 'the excepted health service answers SERVING');
  p.proc.kill('SIGTERM');
  await p.exited;
  t.match(
    logLines(p).filter((l) => String(l.msg).startsWith('maintenance mode on')),
    [{ level: 'warn' }],
    'said so at start',
  );
});
