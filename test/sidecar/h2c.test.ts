import { connect } from 'node:http2';
import t from 'tap';
import { startH2cApp, startHttpApp, type Seen } from '../helpers/apps.js';
import { h2request } from '../helpers/h2.js';
import { startProxy } from '../helpers/proxy.js';

t.test('h2c (prior knowledge) client, HTTP/1.1 app, same port as HTTP/1.1', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  const session = connect(p.url);
  t.teardown(async () => {
    session.close();
    await p.close();
    await app.close();
  });

  const r = await h2request(
    session,
    { ':method': 'POST', ':path': '/from-h2?x=1', ':authority': 'svc.local', 'content-type': 'text/plain' },
    'body!',
  );
  t.equal(r.headers[':status'], 200);
  const seen = JSON.parse(r.body) as Seen;
  t.equal(seen.httpVersion, '1.1', 'app spoke HTTP/1.1');
  t.equal(seen.url, '/from-h2?x=1');
  t.equal(seen.headers.host, 'svc.local', ':authority became host');
  t.equal(seen.headers.via, '2 sidegate');
  t.equal(seen.bodyBytes, 5);
  t.ok(r.headers['x-request-id'], 'request id echoed on h2');
  t.equal(r.headers['x-app-private'], undefined);
  // Many concurrent streams on one session.
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => h2request(session, { ':method': 'GET', ':path': `/n/${i}` })));
  t.same(
    many.map((m) => (JSON.parse(m.body) as Seen).url),
    Array.from({ length: 50 }, (_, i) => `/n/${i}`),
  );
});

t.test('h2c client to an h2c app: trailers relayed', async (t) => {
  const app = await startH2cApp();
  const p = await startProxy(app.url);
  const session = connect(p.url);
  t.teardown(async () => {
    session.close();
    await p.close();
    await app.close();
  });
  const r = await h2request(session, { ':method': 'POST', ':path': '/t', te: 'trailers' }, 'abc');
  t.equal(r.headers[':status'], 200);
  const seen = JSON.parse(r.body) as Seen;
  t.equal(seen.httpVersion, '2.0');
  t.equal(seen.headers.te, 'trailers', 'te: trailers survives toward an HTTP/2 app');
  t.equal(seen.bodyBytes, 3);
  t.equal(r.trailers?.['x-checksum'], 'done', 'trailers relayed');
  const reset = await h2request(session, { ':method': 'GET', ':path': '/reset' });
  t.equal(reset.headers[':status'], 502);
  t.equal((JSON.parse(reset.body) as { error: string }).error, 'SIDEGATE_ERR_UPSTREAM_RESET');
});

t.test('interim (1xx) responses from an h2c app: up to 32 are skipped, more end the call with 502', async (t) => {
  const { createServer } = await import('node:http2');
  const server = createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined); // the sidecar resets a flooding stream
    const n = Number(String(headers[':path']).slice(1));
    for (let i = 0; i < n && !stream.destroyed; i++) stream.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
    // At the bound the final answer follows; past it the app never answers.
    if (n > 32) return;
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = await startProxy(`h2c://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`);
  const session = connect(p.url);
  t.teardown(async () => {
    session.close();
    await p.close();
    await new Promise((r) => server.close(r));
  });
  const ok = await h2request(session, { ':method': 'GET', ':path': '/32' });
  t.equal(ok.headers[':status'], 200, '32 interim responses, then the final one: relayed');
  t.equal(ok.body, 'ok');
  const flood = await h2request(session, { ':method': 'GET', ':path': '/200' });
  t.equal(flood.headers[':status'], 502, "the 33rd interim response ends the call (502, not the upstream timeout's 504)");
  t.equal((JSON.parse(flood.body) as { error: string }).error, 'SIDEGATE_ERR_UPSTREAM_RESET');
});
