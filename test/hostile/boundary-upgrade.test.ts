import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import WebSocket from 'ws';
import { startHttpApp } from '../helpers/apps.js';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, sleep, startRecordingApp, statuses } from './support.js';

/**
 * One HTTP/1.1 connection carrying more than one request: an Upgrade the app does not accept
 * must not turn the rest of the connection into an unjudged tunnel, and pipelined requests must
 * be held to the sidecar's own bounds and timeouts.
 */
const { yaml } = inlineProvider();
const POLICY = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: boundary-upgrade }
spec:
  auth:
    providers:
${yaml}        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/public/*] }, require: none }
`;
const CRLF = '\r\n';
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const SMUGGLED = `GET /admin/secret HTTP/1.1${CRLF}Host: x${CRLF}x-user-id: admin${CRLF}Connection: close${CRLF}${CRLF}`;

// Finding 1: an Upgrade the app answers without 101 must not open a tunnel for the bytes after it.
t.test('upgrade smuggling: the request after a refused Upgrade is judged by the sidecar', async (t) => {
  const upgrades: [string, string[]][] = [
    ['websocket', ['Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${WS_KEY}`, 'Sec-WebSocket-Version: 13']],
    ['made-up protocol', ['Upgrade: foo', 'Connection: Upgrade']],
    ['h2c', ['Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']],
  ];
  // Two apps that answer an Upgrade with 200: node:http without an 'upgrade' listener, and a raw
  // HTTP/1.1 server that keeps parsing the connection after it (as Go's net/http does).
  const apps = [
    {
      name: 'node:http app',
      start: async () => {
        const a = await startRecordingApp();
        return { url: a.url, seen: () => a.started, close: () => a.close() };
      },
    },
    {
      name: 'raw app',
      start: async () => {
        const a = await startLineApp();
        return { url: a.url, seen: () => a.heads, close: () => a.close() };
      },
    },
  ];
  for (const kind of apps) {
    await t.test(kind.name, async (t) => {
      const app = await kind.start();
      const p = await startProxy(app.url, [], { policy: POLICY });
      t.teardown(async () => {
        await p.close();
        await app.close();
      });
      for (const [name, lines] of upgrades) {
        const before = app.seen().length;
        const first = `GET /public/x HTTP/1.1${CRLF}Host: x${CRLF}${lines.map((l) => l + CRLF).join('')}${CRLF}`;
        const raw = await rawExchange(p.proxy.port, [first + SMUGGLED], 1000);
        await sleep(50);
        const seen = app.seen().slice(before);
        const got = statuses(raw);
        t.same(
          seen.filter((s) => /^GET \/admin/.test(s)),
          [],
          `${name}: /admin/secret never reached the app`,
        );
        t.notOk(
          seen.some((s) => /x-user-id: admin/i.test(s)),
          `${name}: the spoofed x-user-id never reached the app`,
        );
        t.same(
          got,
          [200, 401],
          `${name}: the app's 200 for the first request, then sidegate's 401 for the second (got ${JSON.stringify(got)})`,
        );
        t.match(raw, /SIDEGATE_ERR_UNAUTHENTICATED/, `${name}: the 401 is sidegate's own`);
      }
    });
  }
});

// Finding 1 (control): a real WebSocket upgrade still works end to end.
t.test('upgrade control: a WebSocket to a WebSocket app opens (101) and echoes', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], { policy: POLICY });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const ws = new WebSocket(`ws://127.0.0.1:${p.proxy.port}/public/ws`);
  const first = await new Promise<string>((resolve, reject) => {
    ws.once('message', (d) => resolve((d as Buffer).toString('utf8')));
    ws.once('error', reject);
  });
  t.match(first, /^hello /, 'the app greeted through the tunnel');
  const echo = new Promise<string>((r) => ws.once('message', (d) => r((d as Buffer).toString('utf8'))));
  ws.send('ping');
  t.equal(await echo, 'echo:ping', 'and echoes');
  await new Promise<void>((r) => {
    ws.once('close', () => r());
    ws.close();
  });
  await sleep(50);
  t.equal(p.logs.find((l) => l.msg === 'request' && l.path === '/public/ws')?.status, 101, 'logged as 101');
});

// Finding 1: a WebSocket handshake that is not one is refused before the app sees anything.
t.test('invalid WebSocket handshakes are refused 400 before the app sees them', async (t) => {
  const app = await startRecordingApp();
  const p = await startProxy(app.url, [], { policy: POLICY });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const cases: [string, string, string[]][] = [
    ['no Sec-WebSocket-Key', 'GET', ['Sec-WebSocket-Version: 13']],
    ['Sec-WebSocket-Key not 16 bytes of base64', 'GET', ['Sec-WebSocket-Key: c2hvcnQ=', 'Sec-WebSocket-Version: 13']],
    ['Sec-WebSocket-Key not base64', 'GET', ['Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==', 'Sec-WebSocket-Version: 13']],
    ['Sec-WebSocket-Version 8', 'GET', [`Sec-WebSocket-Key: ${WS_KEY}`, 'Sec-WebSocket-Version: 8']],
    ['no Sec-WebSocket-Version', 'GET', [`Sec-WebSocket-Key: ${WS_KEY}`]],
    ['POST', 'POST', [`Sec-WebSocket-Key: ${WS_KEY}`, 'Sec-WebSocket-Version: 13', 'Content-Length: 0']],
  ];
  for (const [name, method, lines] of cases) {
    const before = app.started.length;
    const head = `${method} /public/ws HTTP/1.1${CRLF}Host: x${CRLF}Upgrade: websocket${CRLF}Connection: Upgrade${CRLF}${lines.map((l) => l + CRLF).join('')}${CRLF}`;
    const raw = await rawExchange(p.proxy.port, [head]);
    await sleep(30);
    t.same(app.started.slice(before), [], `${name}: nothing reached the app`);
    t.equal(statuses(raw)[0], 400, `${name}: answered 400`);
  }
});

/** Connect, write `first`, call `onData` with everything received so far; resolves with it all on close or after `quietMs` of silence. */
function conversation(port: number, first: string, onData: (all: string, s: Socket) => void, quietMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      arm();
      onData(out, s);
    });
    s.on('close', done);
    s.on('error', () => undefined);
    s.on('connect', () => {
      s.write(first);
      arm();
    });
  });
}

// Finding 10a: a pipelined head waiting behind slow answers is not the client being slow.
t.test('pipelining: a request head queued behind slow answers is not timed out (no spurious 408)', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, ['--headers-timeout', '1s']);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const one = `GET /slow?ms=400 HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`;
  const last = `GET /slow?ms=400 HTTP/1.1${CRLF}Host: x${CRLF}Connection: close${CRLF}${CRLF}`;
  const half = Math.floor(last.length / 2);
  let sent = false;
  const raw = await conversation(p.proxy.port, one.repeat(12) + last.slice(0, half), (all, s) => {
    // The rest of the 13th head goes out as soon as the 12th answer is in.
    if (!sent && statuses(all).length >= 12) {
      sent = true;
      s.write(last.slice(half));
    }
  });
  const got = statuses(raw);
  t.ok(sent, 'the 12th answer arrived and the rest of the 13th head was sent');
  t.same(
    got,
    Array.from({ length: 13 }, () => 200),
    `13 answers, all 200 (got ${JSON.stringify(got)})`,
  );
  t.notOk(got.includes(408), 'no 408');
});

// Finding 10b: the sidecar reads no further ahead than its queue bound.
t.test('pipelining: the sidecar does not parse past its queue bound while the app holds the first request', async (t) => {
  // An app that holds /gate until released and answers anything else at once.
  const held: ServerResponse[] = [];
  let started = 0;
  const gate = createServer((req, res) => {
    started++;
    req.resume();
    const answer = (r: ServerResponse): void => {
      r.writeHead(200, { 'content-length': 2 });
      r.end('ok');
    };
    if (req.url === '/gate') held.push(res);
    else answer(res);
  });
  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  const appUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}`;
  const p = await startProxy(appUrl, []);
  t.teardown(async () => {
    await p.close();
    gate.closeAllConnections();
    gate.close();
  });
  const malformed = async (): Promise<number> => {
    const r = await request(`${p.adminUrl}/metrics`);
    const text = await r.body.text();
    return Number(/^sidegate_client_errors_total\{reason="malformed"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };
  t.equal(await malformed(), 0, 'no malformed request counted before');

  // 1 held request, 199 more, then bytes that are no request at all: the sidecar only finds out
  // they are malformed if it parses past the 8 queued requests its bound allows.
  const bytes =
    `GET /gate HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}` +
    `GET /public/x HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`.repeat(199) +
    `\x01\x02 not a request${CRLF}${CRLF}`;
  const s = connect(p.proxy.port, '127.0.0.1');
  let out = '';
  s.on('data', (d: Buffer) => {
    out += d.toString('latin1');
  });
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  await new Promise<void>((r) => s.on('connect', () => r()));
  s.write(bytes);
  while (held.length === 0) await sleep(10);
  await sleep(300); // generous: anything the sidecar was going to parse from that one write, it has
  t.equal(started, 1, 'the app holds the first request; nothing else was dispatched');
  t.equal(await malformed(), 0, 'the sidecar has not parsed the bytes 200 requests ahead (at most 8 queued + 1 in flight)');
  held[0]!.writeHead(200, { 'content-length': 2 });
  held[0]!.end('ok');
  await Promise.race([closed, sleep(10_000)]);
  const got = statuses(out);
  t.equal(got.filter((x) => x === 200).length, 200, 'all 200 requests answered 200 once released');
  t.equal(got.at(-1), 400, 'then the malformed bytes get their 400');
  s.destroy();
});
