import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { startProxy } from '../helpers/proxy.js';
import { h2request } from '../helpers/h2.js';

/** Send raw bytes, collect everything until the server closes; resolves with text and elapsed ms. */
function raw(port: number, write: (s: import('node:net').Socket) => void): Promise<{ text: string; ms: number }> {
  return new Promise((resolve) => {
    const start = Date.now();
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => {
      text += String(d);
    });
    s.on('close', () => resolve({ text, ms: Date.now() - start }));
    s.on('error', () => undefined);
    s.on('connect', () => write(s));
  });
}

t.test('limits', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [
    '--max-header-size',
    '4096',
    '--headers-timeout',
    '500ms',
    '--idle-timeout',
    '1s',
    '--max-concurrent-streams',
    '16',
  ]);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });

  await t.test('oversize headers → 431 with code (HTTP/1.1)', async (t) => {
    const r = await request(`${p.url}/x`, { headers: { 'x-big': 'a'.repeat(8000) } });
    t.equal(r.statusCode, 431);
    t.equal(((await r.body.json()) as { error: string }).error, 'SIDEGATE_ERR_HEADERS_TOO_LARGE');
    t.equal(app.hits.count, 0, 'never reached the app');
  });

  await t.test('oversize headers → 431 with code (h2c)', async (t) => {
    const s = h2connect(p.url);
    t.teardown(() => s.close());
    const r = await h2request(s, { ':method': 'GET', ':path': '/x', 'x-big': 'a'.repeat(6000) });
    t.equal(r.headers[':status'], 431);
    t.equal((JSON.parse(r.body) as { error: string }).error, 'SIDEGATE_ERR_HEADERS_TOO_LARGE');
    const ok = await h2request(s, { ':method': 'GET', ':path': '/x' });
    t.equal(ok.headers[':status'], 200, 'the session keeps serving');
    t.equal(s.remoteSettings.maxConcurrentStreams, 16, 'max concurrent streams advertised');
  });

  await t.test('slowloris: headers trickled past the timeout → 408 and cut', async (t) => {
    const r = await raw(p.proxy.port, (s) => {
      s.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const iv = setInterval(() => {
        if (s.writable) s.write('X-a: b\r\n');
        else clearInterval(iv);
      }, 100);
      s.on('close', () => clearInterval(iv));
    });
    t.match(r.text, /^HTTP\/1\.1 408/);
    t.match(r.text, /SIDEGATE_ERR_REQUEST_TIMEOUT/);
    t.ok(r.ms < 2500, `cut after ${r.ms} ms`);
  });

  await t.test('a connection that never speaks is closed', async (t) => {
    const r = await raw(p.proxy.port, () => undefined);
    t.equal(r.text, '');
    t.ok(r.ms >= 400 && r.ms < 2500, `closed after ${r.ms} ms`);
  });

  await t.test('malformed request → 400 with code, server keeps serving', async (t) => {
    const r = await raw(p.proxy.port, (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n'));
    t.match(r.text, /^HTTP\/1\.1 400/);
    t.match(r.text, /SIDEGATE_ERR_BAD_REQUEST/);
    const ok = await request(`${p.url}/after`);
    t.equal(ok.statusCode, 200);
    await ok.body.dump();
  });

  const m = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(m, /sidegate_client_errors_total\{reason="header_overflow"\} 2/);
  t.match(m, /sidegate_client_errors_total\{reason="request_timeout"\} 1/);
  t.match(m, /sidegate_client_errors_total\{reason="idle_before_request"\} 1/);
});
