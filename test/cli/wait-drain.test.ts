import { spawnSync } from 'node:child_process';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { freePort } from '../helpers/ports.js';
import { CLI, spawnProxy } from '../helpers/spawn.js';

const run = (args: string[]): { status: number | null; out: string } => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 20_000 });
  return { status: r.status, out: r.stdout + r.stderr };
};

t.test('sidegate wait: 0 once the sidecar is ready, 1 after the timeout', async (t) => {
  const app = await startHttpApp();
  const p = await spawnProxy(app.url);
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
  });
  const ok = run(['wait', '--admin', `127.0.0.1:${p.adminPort}`, '--timeout', '5s']);
  t.equal(ok.status, 0, ok.out);
  const dead = await freePort();
  const late = run(['wait', '--admin', `127.0.0.1:${dead}`, '--timeout', '300ms']);
  t.equal(late.status, 1);
  t.match(late.out, /not ready after 300 ms/);
});

t.test('sidegate drain (the preStop hook) starts the drain and the sidecar exits cleanly', async (t) => {
  const app = await startHttpApp();
  const p = await spawnProxy(app.url, ['--drain-delay', '300ms']);
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
  });
  const r = run(['drain', '--admin', `127.0.0.1:${p.adminPort}`, '--wait', '0']);
  t.equal(r.status, 0, r.out);
  const ready = await request(`${p.adminUrl}/healthz/ready`).then(
    async (x) => {
      await x.body.dump();
      return x.statusCode;
    },
    () => 0,
  );
  t.not(ready, 200, 'not ready once draining');
  t.equal((await p.exited).code, 0);
});

t.test('the sidecar listens on [::] (IPv4 and IPv6 clients), as the injector configures it', async (t) => {
  const app = await startHttpApp();
  const port = await freePort();
  const p = await spawnProxy(app.url, ['--listen', `[::]:${port}`]);
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
  });
  for (const host of ['127.0.0.1', '[::1]']) {
    const r = await request(`http://${host}:${port}/x`);
    await r.body.dump();
    t.equal(r.statusCode, 200, host);
  }
});
