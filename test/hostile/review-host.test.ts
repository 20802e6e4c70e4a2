import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { rawExchange, statuses } from './support.js';

/**
 * Review finding: an HTTP/1.1 request without Host was forwarded with an empty `host:`, and one
 * with two Host lines went on with the first (llhttp keeps both; the app may read the last, and
 * route virtual hosts by it). RFC 9112 §3.2: a server answers 400 to an HTTP/1.1 request lacking
 * Host and to any request with more than one Host line. HTTP/1.0 may omit it.
 */
t.test('Host: missing on HTTP/1.1 or repeated is refused; HTTP/1.0 may omit it', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, []);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const ask = async (head: string): Promise<{ status: number | undefined; reached: number }> => {
    const before = app.lines.length;
    const raw = await rawExchange(p.proxy.port, [head], 300);
    return { status: statuses(raw)[0], reached: app.lines.length - before };
  };
  t.same(await ask('GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), { status: 200, reached: 1 }, 'one Host: forwarded');
  t.same(
    await ask('GET /x HTTP/1.1\r\nConnection: close\r\n\r\n'),
    { status: 400, reached: 0 },
    'HTTP/1.1 without Host: 400, the app sees nothing',
  );
  t.same(
    await ask('GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n'),
    { status: 400, reached: 0 },
    'two Host lines: 400',
  );
  t.same(
    await ask('GET /x HTTP/1.1\r\nHost: a\r\nhOsT: a\r\nConnection: close\r\n\r\n'),
    { status: 400, reached: 0 },
    'two Host lines in any case, even equal: 400',
  );
  t.same(await ask('GET /x HTTP/1.0\r\n\r\n'), { status: 200, reached: 1 }, 'HTTP/1.0 without Host: forwarded');
  t.same(await ask('GET /x HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n'), { status: 400, reached: 0 }, 'HTTP/1.0 with two Host lines: 400');
});
