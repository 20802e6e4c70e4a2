import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { startProxy, until, writePolicy } from '../helpers/proxy.js';

t.test('access log: one JSON line per request, secrets redacted', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, ['--log-headers']);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const secret = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln';
  const r = await request(`${p.url}/orders/42?access_token=${secret}`, {
    method: 'POST',
    body: 'x'.repeat(10),
    headers: {
      authorization: `Bearer ${secret}`,
      cookie: `session_token=${secret}`,
      'x-api-key': secret,
      'x-request-id': 'req-1',
      'user-agent': 'curl/8',
    },
  });
  await r.body.dump();
  await until(() => p.logs.some((l) => l.request_id === 'req-1'), 'log line');
  const line = p.logs.find((l) => l.request_id === 'req-1')!;
  t.match(line, {
    msg: 'request',
    level: 'info',
    method: 'POST',
    path: '/orders/42',
    route: 'default',
    status: 200,
    protocol: 'http/1.1',
    client_ip: '127.0.0.1',
    bytes_in: 10,
    user_agent: 'curl/8',
  });
  t.type(line.duration_ms, 'number');
  t.type(line.upstream_duration_ms, 'number');
  t.ok((line.bytes_out as number) > 0);
  t.ok((line.duration_ms as number) >= (line.upstream_duration_ms as number));
  const all = JSON.stringify(p.logs);
  t.notOk(all.includes(secret), 'the token appears nowhere in the logs (header, cookie, api key, query)');
  t.equal((line.headers as Record<string, string>).authorization, '[REDACTED]');
  t.equal((line.headers as Record<string, string>)['user-agent'], 'curl/8', 'other headers kept');
});

t.test('sampling: errors always, successes at the configured rate, health checks never', async (t) => {
  const app = await startHttpApp();
  const policy = writePolicy(
    'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: s }\nspec:\n  logging: { successSampleRate: 0.25, excludePaths: [/healthz] }\n',
  );
  let i = 0;
  // Deterministic "random": cycles 0, 0.25, 0.5, 0.75 → exactly one success in four is logged.
  const p = await startProxy(app.url, ['--policy', policy], { random: () => (i++ % 4) / 4 });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  for (let n = 0; n < 40; n++) await (await request(`${p.url}/ok`)).body.dump();
  for (let n = 0; n < 5; n++) await (await request(`${p.url}/status/500`)).body.dump();
  for (let n = 0; n < 5; n++) await (await request(`${p.url}/status/404`)).body.dump();
  await (await request(`${p.url}/healthz`)).body.dump();
  await (await request(`${p.url}/ready`, { headers: { 'user-agent': 'kube-probe/1.30' } })).body.dump();
  await until(() => p.logs.filter((l) => l.msg === 'request').length >= 20, 'log lines');
  await new Promise((r) => setTimeout(r, 50));
  const lines = p.logs.filter((l) => l.msg === 'request');
  t.equal(lines.filter((l) => l.path === '/ok').length, 10, '1 in 4 of 40 successes');
  t.equal(lines.filter((l) => l.status === 500).length, 5, 'every 5xx');
  t.equal(lines.filter((l) => l.status === 404).length, 5, 'every 4xx');
  t.equal(lines.filter((l) => l.status === 500)[0]?.level, 'error');
  t.equal(lines.filter((l) => l.path === '/healthz' || l.path === '/ready').length, 0, 'health checks not logged');
});
