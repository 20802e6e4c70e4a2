import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import t from 'tap';
import { startHttpApp } from '../helpers/apps.js';
import { startProxy, until } from '../helpers/proxy.js';

t.test('an idle keep-alive connection is closed after --idle-timeout', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, ['--idle-timeout', '400ms']);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const s = connect(p.proxy.port, '127.0.0.1');
  let got = '';
  s.on('data', (d) => {
    got += String(d);
  });
  const start = Date.now();
  s.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((r) => s.once('close', () => r()));
  const ms = Date.now() - start;
  t.match(got, /^HTTP\/1\.1 200/, 'the request was answered');
  t.ok(ms >= 350 && ms < 3000, `then the idle connection was closed after ${ms} ms`);
});

t.test('a request body trickled past --request-timeout gets 408', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, ['--request-timeout', '600ms', '--headers-timeout', '500ms']);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const s = connect(p.proxy.port, '127.0.0.1');
  let got = '';
  s.on('data', (d) => {
    got += String(d);
  });
  s.on('error', () => undefined);
  s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  const iv = setInterval(() => {
    if (s.writable) s.write('a');
  }, 100);
  const start = Date.now();
  await new Promise<void>((r) => s.once('close', () => r()));
  clearInterval(iv);
  t.ok(Date.now() - start < 4000, 'cut within a few seconds');
  t.match(got, /^HTTP\/1\.1 408/, 'answered 408');
  t.match(got, /SIDEGATE_ERR_REQUEST_TIMEOUT/);
});

t.test('drain sends GOAWAY to HTTP/2 clients and lets their in-flight streams finish', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  t.teardown(() => app.close());
  const session = h2connect(p.url);
  let goaway = false;
  session.on('goaway', () => {
    goaway = true;
  });
  session.on('error', () => undefined);
  const req = session.request({ ':method': 'GET', ':path': '/slow?ms=400' });
  let status = 0;
  let body = '';
  req.on('response', (h) => {
    status = Number(h[':status']);
  });
  req.on('data', (c: Buffer) => {
    body += String(c);
  });
  const ended = new Promise<void>((r) => req.on('end', () => r()));
  await until(() => app.hits.count === 1, 'request in flight');
  const drained = p.proxy.shutdown(false);
  await until(() => goaway, 'GOAWAY received');
  await ended;
  t.equal(status, 200, 'the in-flight stream completed');
  t.match(body, /"url":"\/slow\?ms=400"/);
  t.same(await drained, { forced: false }, 'drained without forcing');
  session.close();
});
