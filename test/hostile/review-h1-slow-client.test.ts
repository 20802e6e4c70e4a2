import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { spawnProxy, type ProxyProcess } from '../helpers/spawn.js';
import { F, frame, GET, RawH2, T, block } from './h2raw.js';
import { rssOf, sleep } from './support.js';

/**
 * Regression tests for the 2026-12-07 review of the HTTP/1.1 front (clients that read slowly or
 * not at all, and the first read of a connection), each against the shipped CLI. Each failed on
 * the code before its fix.
 */
const MB = 1024 * 1024;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function httpApp(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number; close: () => void }> {
  const s = createHttpServer(handler);
  s.keepAliveTimeout = 30_000;
  const port = await listen(s);
  return {
    port,
    close: () => {
      s.closeAllConnections();
      s.close();
    },
  };
}

/** The shipped CLI in front of the app on `appPort`, killed when the test ends. */
async function sidecar(t: Test, appPort: number, flags: string[] = []): Promise<ProxyProcess> {
  const p = await spawnProxy(`http://127.0.0.1:${appPort}`, flags);
  t.teardown(() => p.proc.kill('SIGKILL'));
  return p;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** One GET on a connection of its own: the status, or the error. */
function probe(port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('probe timed out')));
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
}

/** Count of `HTTP/1.1 <status>` status lines in what a socket reads, as it reads. */
function countStatuses(s: Socket, status: number): () => number {
  let n = 0;
  let tail = '';
  const line = `HTTP/1.1 ${status} `;
  s.on('data', (d: Buffer) => {
    const text = tail + d.toString('latin1');
    for (let i = text.indexOf(line); i >= 0; i = text.indexOf(line, i + 1)) n++;
    tail = text.slice(-line.length);
  });
  return () => n;
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

t.test('3,000 requests pipelined in one write: every one answered, none dropped (the first read)', async (t) => {
  let seen = 0;
  const app = await httpApp((_req, res) => {
    seen++;
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  t.teardown(() => app.close());
  const p = await sidecar(t, app.port);
  const N = 3000;
  const c = await open(p.port);
  const answered = countStatuses(c, 200);
  // One write of ≈ 95 KB: the connection's first read is a full 64 KB, past the pipelining bound.
  c.write(Buffer.from(Array.from({ length: N }, (_, i) => `GET /p${i} HTTP/1.1\r\nhost: a\r\n\r\n`).join(''), 'latin1'));
  t.ok(await until(() => answered() === N, 20_000), `all ${N} answered (${answered()})`);
  t.equal(seen, N, 'the app saw each once');
  c.destroy();
});

t.test('an Upgrade: bytes sent before the app switched reach it through the tunnel, all of them', async (t) => {
  // A raw app: reads the request head, switches 300 ms later, then counts what the tunnel brings.
  let tunnelled = 0;
  const app = createServer((s) => {
    s.on('error', () => undefined);
    let head = '';
    const onHead = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onHead);
      tunnelled += Buffer.byteLength(head.slice(end + 4), 'latin1');
      setTimeout(() => {
        s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
        s.on('data', (more: Buffer) => (tunnelled += more.length));
      }, 300);
    };
    s.on('data', onHead);
  });
  const appPort = await listen(app);
  t.teardown(() => app.close());
  const p = await sidecar(t, appPort);
  const c = await open(p.port);
  let got = '';
  c.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  // The head alone is the connection's first read; 10,000 bytes follow in a later one, before the
  // app has answered (while the sidecar has stopped reading for the Upgrade).
  c.write(
    `GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`,
  );
  await sleep(50);
  c.write(Buffer.alloc(10_000, 'a'));
  t.ok(await until(() => got.startsWith('HTTP/1.1 101'), 5000), 'the client got the 101');
  c.write(Buffer.alloc(1000, 'b'));
  t.ok(await until(() => tunnelled === 11_000, 5000), `the app received all 11,000 bytes (${tunnelled})`);
  c.destroy();
});

t.test('a client that never reads cannot make answers pile up: the next request waits for it', async (t) => {
  // Bodiless answers with an 8 KB head each (HEAD): nothing but the client's reading limits them.
  let seen = 0;
  const pad = 'x'.repeat(8000);
  const app = await httpApp((req, res) => {
    if (req.method !== 'HEAD') {
      res.end('ok');
      return;
    }
    seen++;
    res.writeHead(200, { 'x-pad': pad, 'content-length': '10' });
    res.end();
  });
  t.teardown(() => app.close());
  const p = await sidecar(t, app.port);
  const pid = p.proc.pid!;
  const rss0 = rssOf(pid);
  const N = 5000; // ≈ 40 MB of answers, far past what the kernel's socket buffers hold
  const c = await open(p.port);
  c.pause(); // never reads, for now
  c.write(Buffer.from(Array.from({ length: N }, (_, i) => `HEAD /h${i} HTTP/1.1\r\nhost: a\r\n\r\n`).join(''), 'latin1'));
  let last = -1;
  while (seen !== last) {
    last = seen;
    await sleep(1000);
  }
  const rss = rssOf(pid);
  t.ok(seen < N / 2, `while the client did not read, the app was asked ${seen} of ${N} and no more`);
  t.ok(rss < rss0 + 100 * MB, `memory bounded (${(rss0 / MB).toFixed(0)} → ${(rss / MB).toFixed(0)} MiB)`);
  t.equal(await probe(p.port, '/neighbour'), 200, 'another client is served meanwhile');
  const answered = countStatuses(c, 200);
  c.resume();
  t.ok(await until(() => answered() === N, 30_000), `once it reads, all ${N} are answered (${answered()})`);
  c.destroy();
});

t.test('a client that reads nothing for the idle timeout, while answers wait for it, is cut', async (t) => {
  const pad = 'x'.repeat(8000);
  const app = await httpApp((_req, res) => {
    res.writeHead(200, { 'x-pad': pad, 'content-length': '10' });
    res.end();
  });
  t.teardown(() => app.close());
  const p = await sidecar(t, app.port, ['--idle-timeout', '1s']);
  // Counted by the sidecar: a client that does not read does not see the close either.
  const open1 = async (): Promise<number> => {
    const text = await (await fetch(`${p.adminUrl}/metrics`)).text();
    return Number(/sidegate_open_connections\{protocol="http\/1\.1"\} (\d+)/.exec(text)?.[1] ?? 'NaN');
  };
  const c = await open(p.port);
  c.on('error', () => undefined);
  c.pause();
  c.write(Buffer.from(Array.from({ length: 2000 }, (_, i) => `HEAD /h${i} HTTP/1.1\r\nhost: a\r\n\r\n`).join(''), 'latin1'));
  await sleep(300);
  t.equal(await open1(), 1, 'the connection is open while answers go out');
  let n = 1;
  for (const end = Date.now() + 10_000; n !== 0 && Date.now() < end; await sleep(200)) n = await open1();
  t.equal(n, 0, 'the sidecar closed it');
  c.destroy();
});

t.test('an app connection paused for a slow client is never handed to the next request paused', async (t) => {
  // An HTTP/2 client with a window of 0 asks for 100 KB: the sidecar pauses reading the app
  // connection as the stream's queue fills, and the response ends in that same read. The app
  // connection goes back to the pool; the next request, another client's, takes it.
  const big = Buffer.alloc(100_000, 'z');
  const app = await httpApp((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-length': String(big.length) });
      res.end(big);
      return;
    }
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  t.teardown(() => app.close());
  const p = await sidecar(t, app.port);
  const c = await RawH2.connect(p.port);
  c.send(frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0]))); // SETTINGS_INITIAL_WINDOW_SIZE 0
  c.send(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(GET('/big'))));
  t.ok(await c.until(() => c.status(1) !== undefined, 5000), 'the slow client got its HEADERS');
  await sleep(200); // the whole 100 KB is read from the app by now, and the connection released
  const t0 = Date.now();
  t.equal(await probe(p.port, '/neighbour'), 200, 'the next request is answered');
  t.ok(Date.now() - t0 < 5000, `at once (${Date.now() - t0} ms), not at the upstream timeout`);
  c.close();
});

t.test('the HTTP/2 preface sent a byte at a time does not hold the connection past the headers timeout', async (t) => {
  const app = await httpApp((_req, res) => res.end('ok'));
  t.teardown(() => app.close());
  const p = await sidecar(t, app.port, ['--headers-timeout', '1s']);
  const c = await open(p.port);
  let closed = false;
  c.on('close', () => (closed = true));
  c.on('error', () => undefined);
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r');
  let sent = 0;
  for (; sent < preface.length && !closed; sent++) {
    c.write(preface.subarray(sent, sent + 1));
    await sleep(250);
  }
  t.ok(closed, `cut after ${sent} of ${preface.length} bytes, one every 250 ms, with a 1 s headers timeout`);
  t.ok(sent <= 12, 'within about the timeout and the sweep that enforces it');
  c.destroy();
});
