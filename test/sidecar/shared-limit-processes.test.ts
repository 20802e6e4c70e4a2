import t from 'tap';
import { Pool } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { writePolicy } from '../helpers/proxy.js';
import { RedisProcess } from '../helpers/redis.js';
import { spawnProxy, type ProxyProcess } from '../helpers/spawn.js';

/**
 * Four real `sidegate proxy` processes of one service share a limit through one Redis: however
 * the demand is spread, together they admit exactly the limit. (The ±1 % accuracy under sustained
 * load and the clock-skew cases are in test/sidecar/rate-limit/.)
 */
t.test('four sidecar processes admit exactly the shared limit between them', async (t) => {
  const app = await startHttpApp();
  const redis = await RedisProcess.start();
  const policy = writePolicy(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: shared }
spec:
  rateLimits:
    - { name: per-service, key: [ { constant: all } ], limit: { requests: 40, per: 1h, burst: 0 }, onRedisError: deny }
`);
  // A 1 s Redis budget: what is checked here is the sharing. With 50 ms, one full-suite run got 38
  // of the 200 answers neither 200 nor 429 (four cold processes, 200 requests at once, a loaded
  // machine: deny mode answers 503 when a call misses the budget, as it should); the budget's own
  // behaviour is the fault tests' subject. The messages now show the statuses.
  const flags = ['--policy', policy, '--redis', redis.url, '--service', 'orders', '--namespace', 'shop', '--redis-timeout', '1s'];
  const sidecars: ProxyProcess[] = [];
  for (let i = 0; i < 4; i++) sidecars.push(await spawnProxy(app.url, [...flags, '--pod-name', `orders-${i}`]));
  t.teardown(async () => { for (const s of sidecars) s.proc.kill('SIGKILL'); await app.close(); await redis.stop(); });

  const pools = sidecars.map((s) => new Pool(s.url, { connections: 8 }));
  const byStatus = new Map<number, number>();
  const perSidecar = [0, 0, 0, 0];
  await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const r = await pools[i % 4]!.request({ path: '/x', method: 'GET' });
    await r.body.dump();
    byStatus.set(r.statusCode, (byStatus.get(r.statusCode) ?? 0) + 1);
    if (r.statusCode === 200) perSidecar[i % 4]!++;
  }));
  for (const p of pools) await p.close();
  const mix = JSON.stringify(Object.fromEntries(byStatus));
  t.equal(byStatus.get(200), 40, `exactly the limit admitted across all four (answers by status: ${mix})`);
  t.equal(byStatus.get(429), 160, `the rest refused with 429 (${mix})`);
  t.ok(perSidecar.filter((n) => n > 0).length >= 2, `admissions came through several sidecars (${perSidecar.join(', ')})`);
});
