import t from 'tap';
import WebSocket from 'ws';
import { startHttpApp } from '../helpers/apps.js';
import { startProxy } from '../helpers/proxy.js';

function open(url: string): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', (d) => resolve({ ws, first: (d as Buffer).toString('utf8') }));
    ws.once('error', reject);
  });
}

t.test('WebSocket upgrade is tunnelled both ways', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const { ws, first } = await open(`ws://127.0.0.1:${p.proxy.port}/ws`);
  t.equal(first, 'hello 127.0.0.1', 'the app saw the forwarding headers on the upgrade');
  const texts: string[] = [];
  for (let i = 0; i < 10; i++) {
    const reply = new Promise<string>((r) => ws.once('message', (d) => r((d as Buffer).toString('utf8'))));
    ws.send(`m${i}`);
    texts.push(await reply);
  }
  t.same(
    texts,
    Array.from({ length: 10 }, (_, i) => `echo:m${i}`),
  );
  const big = Buffer.alloc(256 * 1024, 7);
  const bin = await new Promise<Buffer>((r) => {
    ws.once('message', (d) => r(d as Buffer));
    ws.send(big, { binary: true });
  });
  t.ok(bin.equals(big), 'binary frame of 256 KiB intact');
  await new Promise<void>((r) => {
    ws.once('close', () => r());
    ws.close();
  });
  await new Promise((r) => setTimeout(r, 50));
  const line = p.logs.find((l) => l.msg === 'request' && l.path === '/ws');
  t.equal(line?.status, 101, 'access log records the 101');
});

t.test('WebSocket to a dead app answers 503 with the error body', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  await app.close();
  t.teardown(() => p.close());
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.proxy.port}/ws`);
    ws.on('unexpected-response', (_req, r) => {
      let body = '';
      r.on('data', (c: Buffer) => {
        body += String(c);
      });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    ws.on('error', () => undefined);
    ws.on('open', () => reject(new Error('should not open')));
  });
  t.equal(res.status, 503);
  t.equal((JSON.parse(res.body) as { error: string }).error, 'SIDEGATE_ERR_UPSTREAM_UNAVAILABLE');
});
