import { request as httpsRequest } from 'node:https';
import { connect } from 'node:http2';
import t from 'tap';
import { startHttpApp, type Seen } from '../helpers/apps.js';
import { startProxy } from '../helpers/proxy.js';
import { selfSigned } from '../helpers/tls.js';
import { h2request } from '../helpers/h2.js';

t.test('TLS with ALPN: h2 and http/1.1 on one port', async (t) => {
  const app = await startHttpApp();
  const c = selfSigned();
  const p = await startProxy(app.url, ['--tls-cert', c.certFile, '--tls-key', c.keyFile]);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const port = p.proxy.port;

  const h1 = await new Promise<{ alpn: string | false | null; seen: Seen }>((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/tls1', ca: c.cert, ALPNProtocols: ['http/1.1'] } as import('node:https').RequestOptions,
      (res) => {
        let b = '';
        const alpn = (res.socket as import('node:tls').TLSSocket).alpnProtocol;
        res.on('data', (d: Buffer) => {
          b += String(d);
        });
        res.on('end', () => resolve({ alpn, seen: JSON.parse(b) as Seen }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.equal(h1.alpn, 'http/1.1');
  t.equal(h1.seen.headers['x-forwarded-proto'], 'https');
  t.equal(h1.seen.url, '/tls1');

  const s = connect(`https://localhost:${port}`, { ca: c.cert });
  t.teardown(() => s.close());
  const r = await h2request(s, { ':method': 'GET', ':path': '/tls2' });
  t.equal(s.alpnProtocol, 'h2');
  t.equal(r.headers[':status'], 200);
  const seen = JSON.parse(r.body) as Seen;
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers.via, '2 sidegate');
});
