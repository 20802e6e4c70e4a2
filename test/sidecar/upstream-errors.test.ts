import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, until, writePolicy } from '../helpers/proxy.js';

interface ErrBody {
  error: string;
  message: string;
  requestId: string;
}

t.test('app down, slow, resetting → 503, 504, 502 with codes', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], {
    policy: 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: t }\nspec:\n  upstream: { timeout: 300ms }\n',
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });

  const slow = await request(`${p.url}/slow?ms=2000`);
  t.equal(slow.statusCode, 504);
  const sb = (await slow.body.json()) as ErrBody;
  t.equal(sb.error, 'SIDEGATE_ERR_UPSTREAM_TIMEOUT');
  t.equal(slow.headers['content-type'], 'application/json');
  t.equal(sb.requestId, slow.headers['x-request-id']);

  const reset = await request(`${p.url}/reset`);
  t.equal(reset.statusCode, 502);
  t.equal(((await reset.body.json()) as ErrBody).error, 'SIDEGATE_ERR_UPSTREAM_RESET');

  const deadPort = await freePort();
  const dead = await startProxy(`http://127.0.0.1:${deadPort}`);
  t.teardown(() => dead.close());
  const refused = await request(`${dead.url}/x`);
  t.equal(refused.statusCode, 503);
  t.equal(((await refused.body.json()) as ErrBody).error, 'SIDEGATE_ERR_UPSTREAM_UNAVAILABLE');

  const metrics = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(metrics, /sidegate_upstream_errors_total\{kind="timeout"\} 1/);
  t.match(metrics, /sidegate_upstream_errors_total\{kind="reset"\} 1/);
  t.match(metrics, /sidegate_errors_total\{code="SIDEGATE_ERR_UPSTREAM_TIMEOUT"\} 1/);
  t.ok(
    p.logs.some((l) => l.error === 'SIDEGATE_ERR_UPSTREAM_RESET' && l.status === 502 && l.level === 'error'),
    'errors are logged',
  );
});

t.test('a route timeout overrides the upstream timeout', async (t) => {
  const app = await startHttpApp();
  const policy = writePolicy(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: t }
spec:
  upstream: { timeout: 5s }
  routes:
    - { name: quick, match: { paths: [/slow] }, timeout: 100ms }
`);
  const p = await startProxy(app.url, ['--policy', policy]);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const r = await request(`${p.url}/slow?ms=1000`);
  t.equal(r.statusCode, 504);
  await r.body.dump();
  const ok = await request(`${p.url}/other`);
  t.equal(ok.statusCode, 200);
  await ok.body.dump();
  t.ok(p.logs.some((l) => l.route === 'quick' && l.status === 504));
});

t.test('a client that goes away cancels the call to the app', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const ac = new AbortController();
  const pending = request(`${p.url}/hang`, { signal: ac.signal }).catch((e: unknown) => e);
  await until(() => app.hits.count === 1, 'request reached the app');
  ac.abort();
  await pending;
  await until(() => app.hits.aborted >= 1, 'the app saw its request cancelled');
  await until(() => p.logs.some((l) => l.path === '/hang'), 'access log line');
  t.equal(p.logs.find((l) => l.path === '/hang')?.status, 499, 'logged as client closed (499)');
});
