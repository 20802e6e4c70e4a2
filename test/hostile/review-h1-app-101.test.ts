import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import { spawnProxy } from '../helpers/spawn.js';
import { rawExchange } from './support.js';

/**
 * Regression test for the 2026-12-07 review: an app that answers 101 Switching Protocols to a
 * request that offered no Upgrade. Relayed, the client (or a proxy in front of the sidecar) would
 * take the connection for switched while the sidecar still spoke HTTP on it.
 */
t.test('a 101 to a request without Upgrade is not relayed: 502, and the next request is answered', async (t) => {
  const app = createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      if (text.startsWith('GET /switch ')) s.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
      else if (text.startsWith('GET ')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const p = await spawnProxy(`http://127.0.0.1:${(app.address() as AddressInfo).port}`);
  t.teardown(() => {
    p.proc.kill('SIGKILL');
    app.close();
  });
  const raw = await rawExchange(p.port, ['GET /switch HTTP/1.1\r\nhost: a\r\n\r\n', 'GET /after HTTP/1.1\r\nhost: a\r\n\r\n'], 800);
  t.notMatch(raw, /HTTP\/1\.1 101/, 'no 101 reaches the client');
  t.match(raw, /^HTTP\/1\.1 502 /, 'the request is answered 502');
  t.match(raw, /SIDEGATE_ERR_UPSTREAM_RESET/, 'with the upstream error code');
  t.match(raw, /HTTP\/1\.1 200 OK[\s\S]*ok$/, 'and the request after it on the same connection is answered by the app');
});
