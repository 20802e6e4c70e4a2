import { spawn } from 'node:child_process';
import t from 'tap';
import { request } from 'undici';
import { CLI } from '../helpers/spawn.js';

/** `npm start` runs `sidegate demo`: it must show 200, 401 and 429 with no Redis and no cluster. */
t.test('the demo prints curl lines that show 200, 401 and 429', async (t) => {
  const proc = spawn(process.execPath, [CLI, 'demo', '--port', '0'], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += String(d);
  });
  proc.stderr.on('data', (d: Buffer) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  const deadline = Date.now() + 15_000;
  while (!out.includes('for i in')) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`demo did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const sidecar = /sidecar\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  const token = /TOKEN=(\S+)/.exec(out)![1]!;
  t.match(out, /curl -i http:\/\/127\.0\.0\.1:\d+\/public\/hello/);

  const get = async (path: string, auth?: string): Promise<{ status: number; body: string }> => {
    const r = await request(`${sidecar}${path}`, { headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` } });
    return { status: r.statusCode, body: await r.body.text() };
  };
  t.equal((await get('/public/hello')).status, 200, 'public: 200');
  const denied = await get('/api/orders');
  t.equal(denied.status, 401, 'no token: 401');
  t.match(denied.body, /SIDEGATE_ERR_UNAUTHENTICATED/);
  const ok = await get('/api/orders', token);
  t.equal(ok.status, 200, 'token: 200');
  t.match(JSON.parse(ok.body), { user: 'demo-user', sawAuthorizationHeader: false });
  const more: number[] = [];
  for (let i = 0; i < 5; i++) more.push((await get('/api/orders', token)).status);
  t.same(more, [200, 200, 200, 200, 429], 'then 429 past 5 per 10 s');

  proc.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C exits cleanly');
});
