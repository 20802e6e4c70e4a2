import { connect as h2connect } from 'node:http2';
import t from 'tap';
import { request } from 'undici';
import { h2request } from '../helpers/h2.js';
import { spawnProxy } from '../helpers/spawn.js';
import { ERR, F, frame, GET, POST, RawH2, T, block } from './h2raw.js';
import { rssOf, sleep, startRecordingApp } from './support.js';

/**
 * HTTP/2 misbehaviour from a raw client against a real `sidegate proxy` process: each bad
 * session or stream is refused or reset, nothing malformed reaches the app, another client is
 * served all along, and the process' memory stays bounded.
 */
const MB = 1024 * 1024;

/** Wait for the socket to drain, or 100 ms when the peer stopped reading (then give up on it). */
function drained(c: RawH2): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      c.socket.off('drain', done);
      resolve();
    };
    const timer = setTimeout(done, 100);
    c.socket.once('drain', done);
  });
}

t.test('HTTP/2 misbehaviour', async (t) => {
  const app = await startRecordingApp();
  const p = await spawnProxy(app.url, [
    '--max-concurrent-streams',
    '16',
    '--max-header-size',
    '8192',
    '--drain-delay',
    '0s',
    '--drain-timeout',
    '1s',
  ]);
  t.teardown(async () => {
    p.proc.kill('SIGKILL');
    await app.close();
  });
  const pid = p.proc.pid!;
  const port = p.port;

  // A well-behaved neighbour on its own session: it must be served after every attack.
  const good = h2connect(p.url);
  good.on('error', () => undefined);
  t.teardown(() => good.close());
  const neighbourServed = async (what: string): Promise<void> => {
    const r = await h2request(good, { ':path': '/public/neighbour' });
    t.equal(r.headers[':status'], 200, `${what}: another HTTP/2 client is still served`);
    const h1 = await request(`${p.url}/public/h1`);
    await h1.body.dump();
    t.equal(h1.statusCode, 200, `${what}: and an HTTP/1.1 one`);
  };
  await neighbourServed('start');
  /** Requests from the neighbour every 50 ms while an attack runs: how many, how many failed, the slowest. */
  const watchNeighbour = (): (() => Promise<{ n: number; failed: number; maxMs: number }>) => {
    let on = true;
    const stats = { n: 0, failed: 0, maxMs: 0 };
    const loop = (async () => {
      while (on) {
        const t0 = Date.now();
        try {
          const r = await h2request(good, { ':path': '/public/during' });
          if (Number(r.headers[':status']) !== 200) stats.failed++;
        } catch {
          stats.failed++;
        }
        stats.n++;
        stats.maxMs = Math.max(stats.maxMs, Date.now() - t0);
        await sleep(50);
      }
    })();
    return async () => {
      on = false;
      await loop;
      return stats;
    };
  };
  const rss0 = rssOf(pid);

  await t.test('malformed requests: each stream reset or refused, nothing reaches the app', async (t) => {
    const cases: [string, (readonly [string, string])[]][] = [
      ['unknown pseudo-header', [...GET('/public/a'), [':foo', 'bar']]],
      [
        'pseudo-header after a regular header',
        [
          [':method', 'GET'],
          [':scheme', 'http'],
          ['x-a', '1'],
          [':path', '/public/a'],
          [':authority', 'x'],
        ],
      ],
      [
        'missing :path',
        [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':authority', 'x'],
        ],
      ],
      [
        'missing :method',
        [
          [':scheme', 'http'],
          [':authority', 'x'],
          [':path', '/public/a'],
        ],
      ],
      ['duplicate :path', [...GET('/public/a'), [':path', '/admin/b']]],
      ['empty :path', GET('')],
      [':path without a leading slash', GET('admin/b')],
      [':path as a full URI', GET('http://evil.example/admin/b')],
      [':path * on a GET', GET('*')],
      ['response pseudo-header in a request', [...GET('/public/a'), [':status', '200']]],
      ['uppercase header name', GET('/public/a', [['X-Upper', '1']])],
      ['connection header', GET('/public/a', [['connection', 'keep-alive']])],
      ['transfer-encoding header', GET('/public/a', [['transfer-encoding', 'chunked']])],
      ['keep-alive header', GET('/public/a', [['keep-alive', 'timeout=5']])],
      ['proxy-connection header', GET('/public/a', [['proxy-connection', 'keep-alive']])],
      ['upgrade header', GET('/public/a', [['upgrade', 'h2c']])],
      ['te other than trailers', GET('/public/a', [['te', 'gzip']])],
      [
        'CONNECT',
        [
          [':method', 'CONNECT'],
          [':authority', 'evil.example:443'],
        ],
      ],
    ];
    const fates: string[] = [];
    for (const [name, fields] of cases) {
      const before = app.started.length;
      const c = await RawH2.connect(port);
      c.request(1, fields);
      await c.until(() => c.fate(1) !== 'nothing');
      const fate = c.fate(1);
      fates.push(`${name}: ${fate}`);
      t.ok(/^(RST_STREAM|GOAWAY|status 4\d\d)/.test(fate), `${name}: refused (${fate})`);
      await sleep(20);
      t.equal(app.started.length, before, `${name}: nothing reached the app`);
      c.close();
    }
    t.comment(fates.join('\n'));
    await neighbourServed('malformed requests');
  });

  await t.test('invalid field bytes: the stream is refused or the field dropped, never relayed', async (t) => {
    // nghttp2 ignores a regular field with an invalid name or value (RFC 9113 §8.2.1 allows
    // either); what matters is that the app never gets it, and nothing is split into a new header.
    const cases: [string, readonly [string, string]][] = [
      ['CR LF in a value', ['x-a', 'one\r\nx-injected: 1']],
      ['bare LF in a value', ['x-a', 'one\nx-injected: 1']],
      ['NUL in a value', ['x-a', 'a\x00b']],
      ['leading space in a value', ['x-a', ' padded']],
      // Values of 64 characters and more take another path (a regular expression, and the last
      // valid one remembered): the same refusals there.
      ['CR LF in a long value', ['x-a', `${'a'.repeat(100)}\r\nx-injected: 1`]],
      ['DEL at the end of a long value', ['x-a', `${'b'.repeat(200)}\x7f`]],
      ['trailing tab on a long value', ['x-a', `${'c'.repeat(80)}\t`]],
      ['space in a name', ['x a', '1']],
      ['colon in a name', ['x:a', '1']],
      ['non-ASCII in a name', ['x-\u00e9', '1']],
    ];
    const fates: string[] = [];
    for (const [name, field] of cases) {
      const before = app.received.length;
      const c = await RawH2.connect(port);
      c.request(1, GET('/public/field', [field]));
      await c.until(() => c.fate(1) !== 'nothing');
      const fate = c.fate(1);
      await sleep(20);
      const got = app.received.slice(before);
      const raw = got.flatMap((r) => r.rawHeaders);
      fates.push(`${name}: ${fate}${got.length ? `, app got ${got.length} request without the field` : ''}`);
      t.ok(/^(RST_STREAM|GOAWAY|status (4\d\d|200))/.test(fate), `${name}: ${fate}`);
      t.notOk(
        raw.some((h) => h.toLowerCase() === field[0] || /[\r\n\0]/.test(h) || h.toLowerCase() === 'x-injected'),
        `${name}: the app never got the field`,
      );
      c.close();
    }
    t.comment(fates.join('\n'));
  });

  await t.test('content-length disagreeing with DATA: reset, the app never completes a cut request', async (t) => {
    const c = await RawH2.connect(port);
    const before = app.received.length;
    c.send(
      frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/public/cl', [['content-length', '5']]))),
      frame(T.DATA, F.END_STREAM, 1, Buffer.from('hello GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n')),
    );
    await c.until(() => c.fate(1) !== 'nothing');
    t.match(c.fate(1), /RST_STREAM|GOAWAY|status 400/, `reset (${c.fate(1)})`);
    await sleep(50);
    t.equal(app.received.length, before, 'no complete request at the app');
    t.notOk(
      app.started.some((x) => x.includes('/admin')),
      'nothing smuggled to /admin',
    );
    // A body that looks like a request is just a body when framed by HTTP/2 alone.
    const c2 = await RawH2.connect(port);
    c2.send(
      frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/public/body'))),
      frame(T.DATA, F.END_STREAM, 1, Buffer.from('x\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n')),
    );
    await c2.until(() => c2.status(1) !== undefined);
    t.equal(c2.status(1), 200);
    await sleep(50);
    t.same(
      app.received.slice(before).map((r) => `${r.method} ${r.url}`),
      ['POST /public/body'],
      'the app framed one request',
    );
    c.close();
    c2.close();
  });

  await t.test('more streams than allowed: the excess is refused, the app never sees more than the limit', async (t) => {
    const c = await RawH2.connect(port);
    // The server's SETTINGS (max 16 streams) first: RawH2 acknowledges them on arrival, so the
    // server reads that ACK before the HEADERS below and the limit applies to them (a fixed wait
    // would race it).
    t.ok(await c.until(() => c.frames.some((f) => f.type === T.SETTINGS && !(f.flags & F.ACK))), "the server's SETTINGS arrived");
    const before = app.started.length;
    for (let i = 0; i < 100; i++) c.request(1 + 2 * i, GET(`/public/open-${i}`), true); // headers only: the app waits for the body
    // 10 s: on a busy 2-core machine the refusals can take seconds to arrive.
    await c.until(() => c.frames.filter((f) => f.type === T.RST_STREAM).length >= 84 || c.goaway() !== undefined, 10_000);
    const refused = c.frames.filter((f) => f.type === T.RST_STREAM).length;
    const g = c.goaway();
    t.ok(
      refused >= 84 || g !== undefined,
      `streams past 16 refused (${refused} RST_STREAM${g ? `, GOAWAY ${ERR[g.code] ?? g.code}` : ''})`,
    );
    await sleep(200);
    t.ok(app.started.length - before <= 16, `the app saw at most 16 (${app.started.length - before})`);
    c.close();
    await neighbourServed('too many streams');
  });

  await t.test('header list past the limit, and a CONTINUATION flood', async (t) => {
    const c = await RawH2.connect(port);
    const big = block([...GET('/public/big'), ...Array.from({ length: 40 }, (_, i) => [`x-big-${i}`, 'v'.repeat(1000)] as const)]);
    // 40 KB in 16 KB pieces: HEADERS + CONTINUATION frames.
    const pieces = [big.subarray(0, 16384), big.subarray(16384, 32768), big.subarray(32768)];
    c.send(
      frame(T.HEADERS, F.END_STREAM, 1, pieces[0]),
      frame(T.CONTINUATION, 0, 1, pieces[1]),
      frame(T.CONTINUATION, F.END_HEADERS, 1, pieces[2]),
    );
    await c.until(() => c.fate(1) !== 'nothing');
    t.match(c.fate(1), /status 431|RST_STREAM|GOAWAY|closed/, `oversized header list refused (${c.fate(1)})`);
    c.close();

    // CONTINUATION frames that never end the header block (CVE-2024-27316 shape).
    const flood = await RawH2.connect(port);
    flood.send(frame(T.HEADERS, F.END_STREAM, 1, block(GET('/public/flood'))));
    const piece = frame(T.CONTINUATION, 0, 1, block([['x-c', 'c'.repeat(1000)]]));
    let sent = 0;
    for (let i = 0; i < 20_000 && !flood.closed; i++) {
      if (!flood.send(piece)) await drained(flood);
      sent += piece.length;
    }
    await flood.until(() => flood.closed || flood.goaway() !== undefined, 5000);
    t.ok(
      flood.closed || flood.goaway() !== undefined,
      `the session was ended after ${(sent / MB).toFixed(1)} MiB of CONTINUATION (${flood.fate(1)})`,
    );
    flood.close();
    await neighbourServed('CONTINUATION flood');
  });

  await t.test('RST_STREAM, SETTINGS and PING floods', async (t) => {
    const neighbourBoundMs = 3000;
    const floods: [string, (c: RawH2, i: number) => Buffer][] = [
      // Rapid reset (CVE-2023-44487): open a stream and cancel it at once, over and over.
      [
        'RST_STREAM (rapid reset)',
        (_c, i) =>
          Buffer.concat([
            frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1 + 2 * i, block(GET('/public/rr'))),
            frame(T.RST_STREAM, 0, 1 + 2 * i, Buffer.from([0, 0, 0, 8])),
          ]),
      ],
      ['SETTINGS', () => frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 1, 0, 0]))],
      [
        'PING',
        (_c, i) => {
          const b = Buffer.alloc(8);
          b.writeUInt32BE(i, 4);
          return frame(T.PING, 0, 0, b);
        },
      ],
    ];
    for (const [name, make] of floods) {
      const startedBefore = app.started.length;
      const c = await RawH2.connect(port);
      if (name !== 'RST_STREAM (rapid reset)') c.socket.pause(); // never read the acks: they pile up server-side
      const watch = watchNeighbour();
      const t0 = Date.now();
      let i = 0;
      for (; i < 100_000 && !c.closed && Date.now() - t0 < 5000; i++) {
        if (!c.send(make(c, i))) await drained(c);
      }
      c.socket.resume();
      await c.until(() => c.closed || c.goaway() !== undefined, 3000);
      const g = c.goaway();
      const rss = rssOf(pid);
      const n = await watch();
      t.comment(
        `${name}: ${i} frames sent in ${Date.now() - t0} ms; ${g ? `GOAWAY ${ERR[g.code] ?? g.code}` : c.closed ? 'closed' : 'session still open'}; app saw ${app.started.length - startedBefore} requests; sidecar RSS ${(rss / MB).toFixed(0)} MiB; neighbour: ${n.n} requests, ${n.failed} failed, slowest ${n.maxMs} ms`,
      );
      t.equal(n.failed, 0, `${name}: the neighbour's requests all succeeded during the flood`);
      t.ok(
        n.maxMs < neighbourBoundMs,
        `${name}: the neighbour waited at most ${n.maxMs} ms (< ${neighbourBoundMs / 1000} s while the flood takes the CPU)`,
      );
      t.ok(c.closed || g !== undefined || i === 100_000, `${name}: cut off, or absorbed all ${i} frames`);
      t.ok(rss < rss0 + 150 * MB, `${name}: memory bounded (${(rss / MB).toFixed(0)} MiB, started at ${(rss0 / MB).toFixed(0)} MiB)`);
      c.close();
      await neighbourServed(name);
    }
  });

  await t.test('stream ids and flow control abuse end the session, not the process', async (t) => {
    const abuses: [string, Buffer][] = [
      ['even stream id', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 2, block(GET('/public/even')))],
      ['WINDOW_UPDATE of 0', frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0, 0]))],
      ['DATA on stream 0', frame(T.DATA, 0, 0, Buffer.from('x'))],
      [
        'window overflow',
        Buffer.concat([
          frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff])),
          frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff])),
        ]),
      ],
      ['frame larger than SETTINGS_MAX_FRAME_SIZE', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, Buffer.alloc(20_000))],
      ['garbage after the preface', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ];
    for (const [name, bytes] of abuses) {
      const c = await RawH2.connect(port);
      c.send(bytes);
      await c.until(() => c.closed || c.goaway() !== undefined);
      const g = c.goaway();
      t.ok(c.closed || g !== undefined, `${name}: session ended (${g ? `GOAWAY ${ERR[g.code] ?? g.code}` : 'closed'})`);
      c.close();
    }
    await neighbourServed('protocol errors');
  });

  await t.test('empty frames (CVE-2019-9518): 100 in a row are let through, the 101st ends the session', async (t) => {
    const PADDED = 0x8;
    const empty = frame(T.DATA, 0, 1);
    const padOnly = frame(T.DATA, PADDED, 1, Buffer.from([0])); // a pad length of 0: no content
    const emptyBody = (): Buffer => Buffer.concat(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? empty : padOnly)));
    // Under the limit: runs of 100 empty frames, each ended by a frame that carries something: a
    // byte of body, or the END_STREAM of a stream still open. Both requests are served whole.
    const a = await RawH2.connect(port);
    a.send(
      frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/public/empty-under'))),
      frame(T.HEADERS, F.END_HEADERS, 3, block(POST('/public/empty-end'))),
      emptyBody(),
      frame(T.DATA, 0, 1, Buffer.from('x')),
      emptyBody(),
      frame(T.DATA, F.END_STREAM, 3),
      emptyBody(),
      frame(T.DATA, F.END_STREAM, 1, Buffer.from('y')),
    );
    t.ok(await a.until(() => (a.status(1) !== undefined && a.status(3) !== undefined) || a.closed), 'both requests were answered');
    t.equal(a.status(1), 200, 'runs of 100 empty frames split by a byte of body and by an END_STREAM: served');
    t.equal(a.status(3), 200, 'the request the empty END_STREAM ended: served');
    t.equal(a.goaway(), undefined);
    t.equal(app.received.find((r) => r.url === '/public/empty-under')?.body, 'xy', 'the app received the whole body');
    t.equal(app.received.find((r) => r.url === '/public/empty-end')?.body, '', 'and the empty one');
    a.close();
    // Over it: the 101st empty frame in a row, on an open stream and on one the server does not
    // know alike. Stream 1 below was never opened, and stream 3 was: DATA on 1 is ignored (RFC 9113
    // §5.1.1), yet counted; so is an END_STREAM there, which ends nothing.
    const get3 = frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, block(GET('/public/empty-closed')));
    const endOn1 = frame(T.DATA, F.END_STREAM, 1);
    for (const [name, opening, flood] of [
      ['on an open stream', frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/public/empty-over'))), [emptyBody(), empty]],
      ['on a stream below the last one', get3, [emptyBody(), empty]],
      ['END_STREAM on a stream below the last one', get3, Array.from({ length: 101 }, () => endOn1)],
    ] as const) {
      const c = await RawH2.connect(port);
      c.send(opening, ...flood);
      t.ok(await c.until(() => c.goaway() !== undefined), `${name}: GOAWAY`);
      t.equal(ERR[c.goaway()!.code], 'ENHANCE_YOUR_CALM', `${name}: the 101st empty frame ends the session`);
      c.close();
    }
    t.notOk(
      app.received.some((r) => r.url === '/public/empty-over'),
      'the request cut off by the flood never completed at the app',
    );
    await neighbourServed('empty frames');
  });

  await t.test('resets the client provokes (CVE-2025-8671, MadeYouReset) draw from the rapid-reset bucket', async (t) => {
    // Each stream opens a request the app starts on, then a frame that is an error on that stream
    // makes the sidecar reset it, freeing its slot: three kinds in turn (a WINDOW_UPDATE of 0, a
    // PRIORITY of 4 bytes, DATA past the content-length).
    const provoke = (id: number, i: number): Buffer =>
      Buffer.concat([
        frame(T.HEADERS, F.END_HEADERS, id, block(POST('/public/made-you-reset', [['content-length', '1']]))),
        i % 3 === 0
          ? frame(T.WINDOW_UPDATE, 0, id, Buffer.from([0, 0, 0, 0]))
          : i % 3 === 1
            ? frame(T.PRIORITY, 0, id, Buffer.from([0, 0, 0, 0]))
            : frame(T.DATA, 0, id, Buffer.from('xy')),
      ]);
    // A sidecar of its own: a thousand requests begun and cut grow the heap for a while, which
    // would blur the memory checks of the other attacks.
    const q = await spawnProxy(app.url, ['--drain-delay', '0s', '--drain-timeout', '1s']);
    t.teardown(() => q.proc.kill('SIGKILL'));
    const c = await RawH2.connect(q.port);
    const t0 = Date.now();
    let sent = 0;
    for (; sent < 5000 && !c.closed && c.goaway() === undefined; sent++) {
      if (!c.send(provoke(1 + 2 * sent, sent))) await drained(c);
      if (sent % 100 === 99) await sleep(0); // let the answers in
    }
    t.ok(await c.until(() => c.goaway() !== undefined, 5000), `GOAWAY (${sent} streams sent)`);
    const g = c.goaway()!;
    const elapsedS = (Date.now() - t0) / 1000;
    t.equal(ERR[g.code], 'ENHANCE_YOUR_CALM', 'the session ends as for rapid reset');
    // The GOAWAY names the last stream opened; each stream before it was reset, and its own reset
    // is the one the bucket refused (RST_STREAM frames still queued are dropped with the session).
    const resets = (g.lastStream + 1) / 2 - 1;
    t.ok(resets >= 1000, `the burst of 1,000 is honoured (${resets} provoked resets before the GOAWAY)`);
    t.ok(resets <= 1000 + 33 * (elapsedS + 1), `and no more than it and the refill allow (${resets} in ${elapsedS.toFixed(1)} s)`);
    c.close();
    const other = h2connect(q.url);
    other.on('error', () => undefined);
    t.equal((await h2request(other, { ':path': '/public/after' })).headers[':status'], 200, 'another client is served after it');
    other.close();
  });

  await t.test('a client that never reads: the sidecar stops reading it, and answers everything once it reads', async (t) => {
    // A sidecar of its own: answering this many requests grows the heap for a while, which would
    // blur the memory checks of the attacks above.
    const q = await spawnProxy(app.url, ['--drain-delay', '0s', '--drain-timeout', '1s']);
    t.teardown(() => q.proc.kill('SIGKILL'));
    const qpid = q.proc.pid!;
    // Requests the sidecar answers itself without a body (a gRPC call with a fragment in its path:
    // a trailers-only 400, one HEADERS frame), so neither the app nor DATA flow control slows them.
    const N = 200_000;
    const req = (id: number): Buffer =>
      frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, block(POST('/x#', [['content-type', 'application/grpc']])));
    const served = async (): Promise<number> => {
      const text = await (await request(`${q.adminUrl}/metrics`)).body.text();
      let n = 0;
      for (const l of text.split('\n')) if (l.startsWith('sidegate_http_requests_total{')) n += Number(l.slice(l.lastIndexOf(' ') + 1));
      return n;
    };
    const rssBefore = rssOf(qpid);
    const c = await RawH2.connect(q.port);
    await c.until(() => c.frames.some((f) => f.type === T.SETTINGS));
    c.socket.pause(); // never reads from here on
    for (let i = 0; i < N; i += 1000) c.socket.write(Buffer.concat(Array.from({ length: 1000 }, (_, k) => req(1 + 2 * (i + k)))));
    // Wait until the sidecar stops answering: the count holds still for a second.
    let last = -1;
    let unread = await served();
    while (unread !== last) {
      last = unread;
      await sleep(1000);
      unread = await served();
    }
    const rss = rssOf(qpid);
    t.ok(unread < N / 2, `while the client did not read, the sidecar answered ${unread} of ${N} and stopped`);
    t.ok(rss < rssBefore + 100 * MB, `memory bounded meanwhile (${(rssBefore / MB).toFixed(0)} → ${(rss / MB).toFixed(0)} MiB)`);
    const other = h2connect(q.url);
    other.on('error', () => undefined);
    t.equal((await h2request(other, { ':path': '/public/meanwhile' })).headers[':status'], 200, 'another client is served meanwhile');
    other.close();
    // Now it reads: every request is answered, none lost to the pause.
    const answered = new Set<number>();
    c.socket.resume();
    t.ok(
      await c.until(() => {
        for (const f of c.frames.splice(0)) if (f.type === T.HEADERS && f.flags & F.END_STREAM) answered.add(f.stream);
        return answered.size === N;
      }, 60_000),
      `once it reads, all ${N} requests are answered (${answered.size})`,
    );
    t.equal(c.goaway(), undefined, 'and the session is still open');
    c.close();
  });

  await t.test('a client that opens no window for the idle timeout, with answers waiting, is cut', async (t) => {
    const q = await spawnProxy(app.url, ['--idle-timeout', '1s', '--drain-delay', '0s', '--drain-timeout', '1s']);
    t.teardown(() => q.proc.kill('SIGKILL'));
    const openH2 = async (): Promise<number> => {
      const text = await (await request(`${q.adminUrl}/metrics`)).body.text();
      return Number(/sidegate_open_connections\{protocol="h2"\} (\d+)/.exec(text)?.[1] ?? 'NaN');
    };
    const c = await RawH2.connect(q.port);
    c.send(frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0]))); // SETTINGS_INITIAL_WINDOW_SIZE 0
    for (let i = 0; i < 4; i++) c.request(1 + 2 * i, GET(`/public/held-${i}`));
    t.ok(await c.until(() => [1, 3, 5, 7].every((id) => c.status(id) !== undefined), 5000), 'the answers began (HEADERS)');
    t.equal(await openH2(), 1, 'the session is open while its answers wait');
    t.ok(await c.until(() => c.closed || c.goaway() !== undefined, 10_000), 'then the sidecar ends it');
    let n = 1;
    for (const end = Date.now() + 5000; n !== 0 && Date.now() < end; await sleep(200)) n = await openH2();
    t.equal(n, 0, 'and closes it');
    c.close();
  });

  await t.test('frames on closed streams (RFC 9113 §5.1): by how each ended, each remembered for 256 streams', async (t) => {
    const done = (c: RawH2, id: number): boolean => c.frames.some((f) => f.stream === id && f.flags & F.END_STREAM);
    // Reset by the peer: DATA on it is a stream error STREAM_CLOSED; the session goes on.
    const a = await RawH2.connect(port);
    a.send(
      frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/public/reset-by-peer'))),
      frame(T.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 8])),
      frame(T.DATA, 0, 1, Buffer.from('late')),
    );
    t.ok(await a.until(() => a.rst(1) !== undefined), 'the server answered');
    t.equal(ERR[a.rst(1)!], 'STREAM_CLOSED', 'reset by the peer, then DATA: RST_STREAM STREAM_CLOSED');
    a.request(3, GET('/public/after'));
    t.ok(await a.until(() => a.status(3) !== undefined), 'the session still serves');
    t.equal(a.goaway(), undefined);
    a.close();

    // Ended on both sides: DATA on it is a connection error STREAM_CLOSED. Remembered until the
    // stream 256 opens later ends: stream 1 is forgotten once stream 513 has, and DATA on it is ignored.
    const b = await RawH2.connect(port);
    const ids: number[] = [];
    for (let id = 1; ids.length < 257; id += 2) ids.push(id);
    for (let i = 0; i < ids.length; i += 8) {
      const batch = ids.slice(i, i + 8);
      for (const id of batch) b.request(id, GET(`/public/closed-${id}`));
      t.ok(await b.until(() => batch.every((id) => done(b, id))), `streams ${batch[0]}–${batch.at(-1)} answered`);
    }
    const acks = b.acks;
    b.send(frame(T.DATA, 0, 1, Buffer.from('forgotten')), frame(T.PING, 0, 0, Buffer.alloc(8)));
    t.ok(await b.until(() => b.acks > acks), 'DATA on the forgotten stream 1, then a PING: acknowledged');
    t.equal(b.goaway(), undefined, 'stream 1 forgotten (stream 513 ended): its DATA ignored');
    t.equal(b.rst(1), undefined);
    b.send(frame(T.DATA, 0, 3, Buffer.from('remembered')));
    t.ok(await b.until(() => b.goaway() !== undefined), 'DATA on stream 3 (still remembered)');
    t.equal(ERR[b.goaway()!.code], 'STREAM_CLOSED', 'ended on both sides and remembered: GOAWAY STREAM_CLOSED');
    b.close();
    await neighbourServed('frames on closed streams');
  });

  const rss1 = rssOf(pid);
  t.comment(`sidecar RSS: ${(rss0 / MB).toFixed(0)} MiB before the attacks, ${(rss1 / MB).toFixed(0)} MiB after`);
  t.ok(rss1 < rss0 + 100 * MB, 'memory bounded after every attack');
  t.equal(p.proc.exitCode, null, 'the sidecar process is alive');
  const metrics = await (await request(`${p.adminUrl}/metrics`)).body.text();
  t.match(metrics, /sidegate_open_connections\{protocol="h2"\} [0-9]/, 'connections are tracked');
});
