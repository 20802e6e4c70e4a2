import t from 'tap';
import { Pool, request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { spawnProxy, type ProxyProcess } from '../helpers/spawn.js';

async function isReady(p: ProxyProcess): Promise<boolean> {
  try {
    const r = await request(`${p.adminUrl}/healthz/ready`);
    await r.body.dump();
    return r.statusCode === 200;
  } catch {
    return false;
  }
}

t.test('SIGTERM during steady concurrent load: zero failed requests, clean exit', async (t) => {
  const app = await startHttpApp();
  const flags = ['--drain-delay', '1s', '--drain-timeout', '5s'];
  const a = await spawnProxy(app.url, flags);
  const b = await spawnProxy(app.url, flags);
  t.teardown(async () => {
    a.proc.kill('SIGKILL');
    b.proc.kill('SIGKILL');
    await app.close();
  });

  // A stand-in for the endpoints controller: route only to sidecars whose readiness is 200.
  const ready = new Map<ProxyProcess, boolean>([
    [a, true],
    [b, true],
  ]);
  let polling = true;
  const poller = (async () => {
    while (polling) {
      for (const p of [a, b]) ready.set(p, await isReady(p));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const pools = new Map<ProxyProcess, Pool>([
    [a, new Pool(a.url)],
    [b, new Pool(b.url)],
  ]);
  const results = { ok: 0, failed: [] as string[], servedByA: 0, servedByAAfterTerm: 0 };
  let termSent = false;
  const stopAt = Date.now() + 4000;
  let rr = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < stopAt) {
      const candidates = [a, b].filter((p) => ready.get(p) === true);
      const target = candidates[rr++ % candidates.length]!;
      const path = rr % 5 === 0 ? '/slow?ms=300' : '/fast';
      try {
        const r = await pools.get(target)!.request({ path, method: 'GET' });
        await r.body.dump();
        if (r.statusCode === 200) {
          results.ok++;
          if (target === a) {
            results.servedByA++;
            if (termSent) results.servedByAAfterTerm++;
          }
        } else results.failed.push(`status ${r.statusCode}`);
      } catch (err) {
        results.failed.push(String(err));
      }
    }
  };
  const workers = Array.from({ length: 20 }, () => worker());
  await new Promise((r) => setTimeout(r, 1000));
  a.proc.kill('SIGTERM');
  termSent = true;
  const exit = await a.exited;
  await Promise.all(workers);
  polling = false;
  await poller;
  for (const p of pools.values()) await p.close();

  t.same(results.failed, [], 'no request failed');
  t.ok(results.ok > 200, `${results.ok} requests succeeded`);
  t.ok(results.servedByAAfterTerm > 0, `A kept serving in-flight requests after SIGTERM (${results.servedByAAfterTerm})`);
  // The delay and the timeout themselves are timed on a manual clock (lifecycle/drain.test.ts); here
  // the events show the choreography ran to its end without force.
  t.equal(exit.code, 0, 'clean exit');
  t.match(a.output.stdout, /"delay_ms":1000,"timeout_ms":5000,"msg":"draining"/);
  t.match(a.output.stdout, /"forced":false,"msg":"drained"/);
});

t.test('a second signal exits at once', async (t) => {
  const app = await startHttpApp();
  const p = await spawnProxy(app.url, ['--drain-delay', '10s', '--drain-timeout', '10s']);
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
  });
  p.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await isReady(p), false, 'not ready while draining');
  const during = await request(`${p.url}/still-serving`);
  t.equal(during.statusCode, 200, 'still serving during the drain delay');
  await during.body.dump();
  p.proc.kill('SIGTERM');
  const exit = await p.exited;
  t.equal(exit.code, 1);
  t.match(p.output.stdout, /"msg":"second signal: exiting now"/);
  t.notMatch(p.output.stdout, /"msg":"drained"/, 'did not wait for the 10 s delay to drain');
});

t.test('/quitquitquit on the admin port exits without the drain delay', async (t) => {
  const app = await startHttpApp();
  const p = await spawnProxy(app.url, ['--drain-delay', '10s']);
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
  });
  const r = await request(`${p.adminUrl}/quitquitquit`, { method: 'POST' });
  t.equal(r.statusCode, 202);
  await r.body.dump();
  const exit = await p.exited;
  t.equal(exit.code, 0);
});
