import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { isLoopback } from '../../sidecar/src/inbound/admin/server.js';
import { startHttpApp } from '../helpers/apps.js';
import { spawnProxy } from '../helpers/spawn.js';
import { startProxy, until, writePolicy } from '../helpers/proxy.js';

const policyWithRoute = (name: string): string => `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: reload }
spec:
  routes:
    - { name: ${name}, match: { paths: [/api/*] } }
`;

async function routeOf(url: string): Promise<string> {
  const r = await request(`${url}/api/x`);
  await r.body.dump();
  return r.statusCode === 200 ? 'ok' : `status ${r.statusCode}`;
}

t.test('live reload: a bad edit keeps the last good policy, a good one applies', async (t) => {
  const app = await startHttpApp();
  const file = writePolicy(policyWithRoute('first'));
  const p = await startProxy(app.url, ['--policy', file]);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const lastRoute = (): unknown => p.logs.filter((l) => l.msg === 'request').at(-1)?.route;

  t.equal(await routeOf(p.url), 'ok');
  await until(() => lastRoute() === 'first', 'route "first" in the log');
  const v1 = p.proxy.policy?.version;

  writeFileSync(
    file,
    'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: reload }\nspec:\n  routes: [ { name: "Bad Name!", match: { paths: [1] } } ]\n  bogus: true\n',
  );
  await until(() => p.logs.some((l) => l.msg?.toString().startsWith('policy reload rejected')), 'reload rejected');
  const warn = p.logs.find((l) => l.msg?.toString().startsWith('policy reload rejected'))!;
  t.equal(warn.level, 'warn');
  t.ok((warn.problems as unknown[]).length >= 2, 'every problem logged');
  t.equal(p.proxy.policy?.version, v1, 'old policy still in force');
  t.equal(await routeOf(p.url), 'ok');
  await until(() => lastRoute() === 'first', 'still routed by the old policy');
  const m = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(m, /sidegate_policy_reload_failures_total 1/);

  writeFileSync(file, policyWithRoute('second'));
  await until(() => p.proxy.policy?.version !== v1, 'new policy applied');
  t.equal(await routeOf(p.url), 'ok');
  await until(() => lastRoute() === 'second', 'routed by the new policy');
  const m2 = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(m2, /sidegate_policy_reloads_total 1/);
  t.notMatch(m2, new RegExp(`version="${v1}"`), 'old policy_info series removed');
});

t.test('ConfigMap-style update (symlink swap of ..data) is picked up', async (t) => {
  const app = await startHttpApp();
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-cm-'));
  const v1 = join(dir, '..2026_v1');
  mkdirSync(v1);
  writeFileSync(join(v1, 'policy.yaml'), policyWithRoute('cm1'));
  symlinkSync('..2026_v1', join(dir, '..data'));
  symlinkSync('..data/policy.yaml', join(dir, 'policy.yaml'));
  const p = await startProxy(app.url, ['--policy', join(dir, 'policy.yaml')]);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const before = p.proxy.policy?.version;
  const v2 = join(dir, '..2026_v2');
  mkdirSync(v2);
  writeFileSync(join(v2, 'policy.yaml'), policyWithRoute('cm2'));
  symlinkSync('..2026_v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  await until(() => p.proxy.policy?.version !== before, 'reloaded after the swap');
  t.equal(p.proxy.policy?.routes[0]?.name, 'cm2');
});

t.test('an invalid policy at start is fatal and names every problem', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const file = writePolicy(
    'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: x }\nspec:\n  upstream: { timeout: soon }\n  nope: 1\n',
  );
  await t.rejects(spawnProxy(app.url, ['--policy', file]), /\/spec\/upstream\/timeout[\s\S]*\/spec/);
});

t.test('loopback check for drain controls', async (t) => {
  t.ok(isLoopback('127.0.0.1'));
  t.ok(isLoopback('127.3.4.5'));
  t.ok(isLoopback('::1'));
  t.ok(isLoopback('::ffff:127.0.0.1'));
  t.notOk(isLoopback('10.0.0.7'));
  t.notOk(isLoopback('::ffff:10.0.0.7'));
  t.notOk(isLoopback(undefined));
});

t.test('a policy file that does not exist yet: up, not ready, 503 NOT_READY, then loads it when it appears', async (t) => {
  const app = await startHttpApp();
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-missing-'));
  const file = join(dir, 'policy.yaml');
  const p = await startProxy(app.url, ['--policy', file]);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const ready = await request(`${p.adminUrl}/healthz/ready`);
  t.equal(ready.statusCode, 503);
  t.match(await ready.body.json(), { failing: ['policy'] });
  const r = await request(`${p.url}/api/x`);
  t.equal(r.statusCode, 503);
  t.match(await r.body.json(), { error: 'SIDEGATE_ERR_NOT_READY' });
  t.equal(app.hits.count, 0, 'nothing reached the app unprotected');
  t.ok(p.logs.some((l) => l.msg === 'policy file does not exist yet; not ready until it does' && l.level === 'warn'));
  writeFileSync(file, policyWithRoute('late'));
  await until(() => p.proxy.ready, 'ready once the file exists');
  t.equal(await routeOf(p.url), 'ok');
  await until(() => p.logs.some((l) => l.msg === 'request' && l.route === 'late'), 'served by the new policy');
});
