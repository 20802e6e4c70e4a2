import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp, type Seen } from '../helpers/apps.js';
import { startProxy } from '../helpers/proxy.js';

t.test('HTTP/1.1 through the sidecar', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });

  await t.test('forwards method, target and body; sets forwarding headers', async (t) => {
    const r = await request(`${p.url}/echo/path?q=1&token=abc`, {
      method: 'POST',
      body: 'hello',
      headers: { 'content-type': 'text/plain', host: 'orders.example', 'x-forwarded-for': '203.0.113.9' },
    });
    t.equal(r.statusCode, 200);
    const seen = (await r.body.json()) as Seen;
    t.equal(seen.method, 'POST');
    t.equal(seen.url, '/echo/path?q=1&token=abc');
    t.equal(seen.bodyBytes, 5);
    t.equal(seen.headers.host, 'orders.example', 'host kept');
    t.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'client IP appended');
    t.equal(seen.headers['x-forwarded-proto'], 'http');
    t.equal(seen.headers['x-forwarded-host'], 'orders.example');
    t.equal(seen.headers.via, '1.1 sidegate');
    t.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'request id generated');
    t.equal(r.headers['x-request-id'], seen.headers['x-request-id'], 'and echoed to the client');
  });

  await t.test('keeps a safe client request id, replaces an unsafe one', async (t) => {
    const ok = await request(`${p.url}/x`, { headers: { 'x-request-id': 'abc-123' } });
    t.equal(((await ok.body.json()) as Seen).headers['x-request-id'], 'abc-123');
    t.equal(ok.headers['x-request-id'], 'abc-123');
    const bad = await request(`${p.url}/x`, { headers: { 'x-request-id': 'a b"c{}' } });
    const id = ((await bad.body.json()) as Seen).headers['x-request-id'];
    t.not(id, 'a b"c{}');
    t.match(id, /^[0-9a-f-]{36}$/);
  });

  await t.test('strips hop-by-hop headers both ways', async (t) => {
    // node:http, not undici: undici refuses to send hop-by-hop headers at all.
    const r = await new Promise<{ headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${p.url}/hop`,
        {
          headers: {
            connection: 'keep-alive, x-drop-me',
            'x-drop-me': '1',
            'keep-alive': 'timeout=9',
            te: 'gzip',
            'proxy-authorization': 'Basic eA==',
            'x-keep': 'yes',
          },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += String(d);
          });
          res.on('end', () => resolve({ headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const seen = JSON.parse(r.body) as Seen;
    t.notMatch(seen.headers.connection ?? '', /x-drop-me/, "the client's Connection header is not forwarded (the pool's own may be)");
    for (const h of ['x-drop-me', 'keep-alive', 'te', 'proxy-authorization', 'upgrade', 'transfer-encoding']) {
      t.equal(seen.headers[h], undefined, `${h} not forwarded`);
    }
    t.equal(seen.headers['x-keep'], 'yes');
    t.equal(r.headers['x-app-private'], undefined, 'header the app listed in Connection not relayed');
    t.not(r.headers['keep-alive'], 'timeout=5', "app's keep-alive not relayed");
  });

  await t.test('relays app statuses untouched', async (t) => {
    for (const s of [201, 204, 404, 500, 503]) {
      const r = await request(`${p.url}/status/${s}`);
      await r.body.dump();
      t.equal(r.statusCode, s);
    }
  });

  await t.test('HEAD and chunked request bodies', async (t) => {
    const h = await request(`${p.url}/download?mb=1`, { method: 'HEAD' });
    t.equal(h.statusCode, 200);
    t.equal(h.headers['content-length'], String(1 << 20));
    t.equal((await h.body.arrayBuffer()).byteLength, 0);
    async function* gen(): AsyncGenerator<Buffer> {
      yield Buffer.from('abc');
      await new Promise((r) => setTimeout(r, 30));
      yield Buffer.from('def');
    }
    const c = await request(`${p.url}/chunked`, { method: 'PUT', body: Readable.from(gen()) });
    const seen = (await c.body.json()) as Seen;
    t.equal(seen.bodyBytes, 6);
    t.equal(seen.headers['transfer-encoding'], 'chunked');
  });
});
