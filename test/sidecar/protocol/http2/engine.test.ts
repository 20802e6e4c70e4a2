import { createHash } from 'node:crypto';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session } from 'node:http2';
import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import { F, frame, GET, POST, RawH2, T, block } from '../../../hostile/h2raw.js';
import { PATTERN, startHttpApp, type Seen } from '../../../helpers/apps.js';
import { systemClock } from '../../../../sidecar/src/clock.js';
import { REFUSALS } from '../../../../sidecar/src/errors.js';
import type { Exchange } from '../../../../sidecar/src/protocol/exchange.js';
import { H2Connection, type H2Host } from '../../../../sidecar/src/protocol/http2/connection.js';
import { startProxy } from '../../../helpers/proxy.js';

/**
 * sidegate's own HTTP/2 framing (the only inbound HTTP/2 engine) on real sockets: flow
 * control both ways, one DATA frame carrying END_STREAM for a small answer, many streams at once,
 * a body nobody reads.
 */

function get(s: ClientHttp2Session, path: string, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST' });
    const chunks: Buffer[] = [];
    let status = 0;
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(body);
  });
}

t.test('sidegate HTTP/2 engine', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const port = Number(new URL(p.url).port);

  await t.test('a 4 MiB answer to a client with 16 KiB windows arrives whole', async (t) => {
    const s = h2connect(p.url, { settings: { initialWindowSize: 16384 } });
    t.teardown(() => s.close());
    const r = await get(s, '/download?mb=4');
    t.equal(r.status, 200);
    t.equal(r.body.length, 4 * PATTERN.length);
    t.ok(
      r.body.subarray(0, PATTERN.length).equals(PATTERN) && r.body.subarray(3 * PATTERN.length).equals(PATTERN),
      'bytes as the app sent them',
    );
  });

  await t.test('the server never sends past the window the client gave', async (t) => {
    const c = await RawH2.connect(port);
    t.teardown(() => c.close());
    c.send(frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 100]))); // INITIAL_WINDOW_SIZE 100
    c.request(1, GET('/download?mb=1'));
    const dataBytes = (): number => c.frames.filter((f) => f.type === T.DATA && f.stream === 1).reduce((n, f) => n + f.payload.length, 0);
    await c.until(() => dataBytes() >= 100, 3000);
    await new Promise((r) => setTimeout(r, 200));
    t.equal(dataBytes(), 100, 'exactly the 100-byte window, then it waits');
    c.send(frame(T.WINDOW_UPDATE, 0, 1, Buffer.from([0, 0x10, 0, 0])), frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0x10, 0, 0])));
    const ended = await c.until(() => c.frames.some((f) => f.type === T.DATA && f.stream === 1 && (f.flags & F.END_STREAM) !== 0), 5000);
    t.ok(ended, 'the rest came once the window opened');
    t.equal(dataBytes(), PATTERN.length, 'all of it, no more');
  });

  await t.test('a SETTINGS that opens the window is acked before the DATA it lets out (h2spec 6.9.2)', async (t) => {
    const c = await RawH2.connect(port);
    t.teardown(() => c.close());
    c.send(frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0]))); // INITIAL_WINDOW_SIZE 0
    c.request(1, GET('/small'));
    // Wait for the answer's HEADERS, so its DATA is known to be held by the window before it opens.
    t.ok(await c.until(() => c.frames.some((f) => f.type === T.HEADERS && f.stream === 1), 3000), 'the answer is waiting on the window');
    const acks = c.acks;
    c.send(frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 1]))); // INITIAL_WINDOW_SIZE 1
    t.ok(await c.until(() => c.frames.some((f) => f.type === T.DATA && f.stream === 1), 3000), 'one byte of DATA once the window opened');
    const data = c.frames.find((f) => f.type === T.DATA && f.stream === 1)!;
    t.equal(data.payload.length, 1, 'exactly the 1-byte window');
    t.equal(data.acksBefore, acks + 1, 'the SETTINGS ack came before the DATA');
  });

  await t.test('a small answer is HEADERS and one DATA frame carrying END_STREAM', async (t) => {
    const c = await RawH2.connect(port);
    t.teardown(() => c.close());
    c.request(1, GET('/small'));
    await c.until(() => c.frames.some((f) => f.stream === 1 && (f.flags & F.END_STREAM) !== 0));
    const mine = c.frames
      .filter((f) => f.stream === 1)
      .map((f) => `${f.type === T.HEADERS ? 'HEADERS' : f.type === T.DATA ? 'DATA' : f.type}${f.flags & F.END_STREAM ? '+END' : ''}`);
    t.same(mine, ['HEADERS', 'DATA+END'], mine.join(' '));
    t.equal(c.status(1), 200);
  });

  await t.test('bodies both ways on 50 concurrent streams of one connection', async (t) => {
    const s = h2connect(p.url);
    t.teardown(() => s.close());
    const bodies = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000 + i * 5000, String.fromCharCode(97 + (i % 26))));
    const rs = await Promise.all(bodies.map((b, i) => get(s, `/echo/${i}`, b)));
    let right = 0;
    rs.forEach((r, i) => {
      const seen = JSON.parse(r.body.toString()) as Seen;
      if (
        r.status === 200 &&
        seen.url === `/echo/${i}` &&
        seen.bodyBytes === bodies[i]!.length &&
        seen.bodySha256 === createHash('sha256').update(bodies[i]!).digest('hex')
      )
        right++;
    });
    t.equal(right, 50, "each stream's body reached the app whole and the answer came back on its stream");
  });

  await t.test('an upload larger than the stream window (flow control toward the client)', async (t) => {
    const s = h2connect(p.url);
    t.teardown(() => s.close());
    const big = Buffer.alloc(6 << 20, 'u');
    const r = await get(s, '/upload', big);
    const seen = JSON.parse(r.body.toString()) as Seen;
    t.equal(seen.bodyBytes, big.length);
    t.equal(seen.bodySha256, createHash('sha256').update(big).digest('hex'));
  });
});

t.test('an answer whose header block is larger than a frame goes out as HEADERS + CONTINUATION', async (t) => {
  // An h2c app: an HTTP/1.1 one could not send it (llhttp stops at 16 KB of response head).
  const big = 'b'.repeat(30_000);
  const app = createH2Server();
  app.on('stream', (st) => {
    st.respond({ ':status': 200, 'x-big': big });
    st.end('ok');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => app.close(() => r())));
  const p = await startProxy(`h2c://127.0.0.1:${(app.address() as AddressInfo).port}`);
  t.teardown(() => p.close());
  const c = await RawH2.connect(Number(new URL(p.url).port));
  t.teardown(() => c.close());
  c.request(1, GET('/big-head'));
  await c.until(() => c.frames.some((f) => f.stream === 1 && (f.flags & F.END_STREAM) !== 0));
  const kinds = c.frames.filter((f) => f.stream === 1).map((f) => f.type);
  t.same(kinds, [T.HEADERS, T.CONTINUATION, T.DATA], 'HEADERS (16 KiB), CONTINUATION (the rest), DATA');
  t.ok(
    c.frames.every((f) => f.payload.length <= 16384),
    'no frame above the default SETTINGS_MAX_FRAME_SIZE',
  );
  const s = h2connect(p.url);
  t.teardown(() => s.close());
  const got = await new Promise<string | undefined>((resolve, reject) => {
    const req = s.request({ ':path': '/big-head' });
    req.on('response', (h) => resolve(h['x-big'] as string | undefined));
    req.on('error', reject);
    req.resume();
  });
  t.equal(got, big, 'node:http2 reassembles the 30 KB header as sent');
});

t.test('flow control toward the client: a body nobody reads holds the window; DATA past it is refused', async (t) => {
  // The connection alone, with a front whose dispatch keeps every exchange and never reads its body.
  const held: Exchange[] = [];
  const host: H2Host = {
    refusals: REFUSALS,
    ctx: {
      scheme: 'http',
      clock: systemClock,
      draining: () => false,
      dispatch: (ex) => {
        held.push(ex);
      },
    },
    maxHeaderSize: 16384,
    maxConcurrentStreams: 16,
    clientError: () => undefined,
    closed: () => undefined,
    internalError: (err) => {
      throw err;
    },
  };
  const server = createServer((sock) => {
    sock.pause();
    new H2Connection(sock, host);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const c = await RawH2.connect((server.address() as AddressInfo).port);
  t.teardown(() => c.close());
  c.send(frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/x'))));
  const piece = frame(T.DATA, 0, 1, Buffer.alloc(16384));
  for (let i = 0; i < 64; i++) c.send(piece); // exactly the 1 MiB stream window
  await new Promise((r) => setTimeout(r, 300));
  t.equal(c.rst(1), undefined, 'a full window is accepted');
  t.notOk(
    c.frames.some((f) => f.type === T.WINDOW_UPDATE && f.stream === 1),
    'and none of it given back: the body was not read',
  );
  t.equal(held.length, 1, 'the request was dispatched');
  c.send(frame(T.DATA, 0, 1, Buffer.alloc(1)));
  await c.until(() => c.rst(1) !== undefined || c.goaway() !== undefined);
  t.equal(c.rst(1), 3, `one byte more: RST_STREAM FLOW_CONTROL_ERROR (${c.fate(1)})`);
  t.equal(held[0]!.body.destroyed, true, 'and the body fails, so a reader sees it cut short');
});
