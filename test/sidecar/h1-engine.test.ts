import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { startProxy, until } from '../helpers/proxy.js';
import { inlineProvider, rawExchange, statuses } from '../hostile/support.js';

/**
 * The HTTP/1.1 engine's own behaviour (sidecar/src/protocol/http1, sidecar/src/upstream/http1):
 * pipelining, interim and close-delimited responses, keep-alive toward the app and its races,
 * trailers, and what a refused upload sees. Everything over real sockets.
 */

interface App {
  url: string;
  server: Server;
  connections: number;
  close(): Promise<void>;
}

/** A node:http app with a handler of the test's own; counts the connections the sidecar opens. */
async function app(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<App> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  const a: App = {
    url: '',
    server,
    connections: 0,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  server.on('connection', (s) => {
    a.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  a.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return a;
}

/** Bytes of a raw exchange on one connection, until the server closes it or `quietMs` pass. */
function raw(port: number, bytes: string, quietMs = 500): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      arm();
    });
    s.on('end', () => {
      closed = true;
    });
    s.on('close', () => {
      closed = true;
      done();
    });
    s.on('error', () => undefined);
    s.on('connect', () => {
      s.write(bytes);
      arm();
    });
  });
}

t.test('pipelined requests are answered in order, however fast the app answers each', async (t) => {
  const a = await app((req, res) => {
    const ms = req.url === '/first' ? 150 : 0;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`body of ${req.url ?? ''}`);
    }, ms);
  });
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const r = await raw(p.proxy.port, get('/first') + get('/second') + get('/third'));
  const bodies = [...r.text.matchAll(/body of (\/\w+)/g)].map((m) => m[1]);
  t.same(bodies, ['/first', '/second', '/third'], 'responses in request order');
  t.same(statuses(r.text), [200, 200, 200]);
  t.notOk(r.closed, 'the connection stays open');
});

t.test('Expect: 100-continue gets an interim 100 before the app answers', async (t) => {
  const a = await startHttpApp();
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const s = connect(p.proxy.port, '127.0.0.1');
  let got = '';
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  await until(() => got.includes('100 Continue'), 'interim response');
  t.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\n$/, 'only the interim response so far');
  s.write('hello');
  await until(() => got.includes('"bodyBytes":5'), 'final response');
  t.match(got, /HTTP\/1\.1 200 OK/);
  t.notMatch(got, /"expect"/, 'Expect is not forwarded to the app');
  s.destroy();
});

t.test('HTTP/1.0 clients: close unless keep-alive is asked, never chunked', async (t) => {
  const a = await app((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part one, ');
    res.end('part two');
  });
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const plain = await raw(p.proxy.port, 'GET /x HTTP/1.0\r\nHost: x\r\n\r\n');
  t.match(plain.text, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(plain.text, /\r\nconnection: close\r\n/i);
  t.notMatch(plain.text, /transfer-encoding/i, 'no chunked encoding for an HTTP/1.0 client');
  t.match(plain.text, /\r\n\r\npart one, part two$/, 'the body ends with the connection');
  t.ok(plain.closed, 'and the connection is closed');
  const ka = await raw(p.proxy.port, 'GET /x HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n', 300);
  t.match(ka.text, /^HTTP\/1\.1 200 OK\r\n/);
  // Without a length an HTTP/1.0 response can only end with the connection.
  t.match(ka.text, /\r\nconnection: close\r\n/i, 'a body of unknown length still closes');
  const a2 = await app((_req, res) => {
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  const p2 = await startProxy(a2.url);
  t.teardown(async () => {
    await p2.close();
    await a2.close();
  });
  const ka2 = await raw(p2.proxy.port, 'GET /x HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n', 300);
  t.match(ka2.text, /\r\nconnection: keep-alive\r\n/i, 'a sized body keeps an HTTP/1.0 keep-alive connection');
  t.notOk(ka2.closed);
});

t.test("chunked responses: the app's chunks and trailers reach an HTTP/1.1 client; a Date is added when missing", async (t) => {
  const a = await app((_req, res) => {
    res.sendDate = false;
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('abc');
    setTimeout(() => {
      res.addTrailers({ 'x-checksum': 'c0ffee' });
      res.end('def');
    }, 20);
  });
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const r = await raw(p.proxy.port, 'GET /x HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n');
  t.match(r.text, /\r\ntransfer-encoding: chunked\r\n/);
  t.match(r.text, /\r\ndate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/, 'Date added');
  t.match(r.text, /\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\nx-checksum: c0ffee\r\n\r\n$/, 'chunks then trailers');
});

t.test('keep-alive toward the app: one connection carries sequential requests', async (t) => {
  const a = await app((_req, res) => {
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  for (let i = 0; i < 20; i++) {
    const r = await request(`${p.url}/x${i}`);
    await r.body.dump();
    t.equal(r.statusCode, 200);
  }
  t.equal(a.connections, 1, '20 requests, one connection to the app');
});

t.test('the app closes a kept connection just as it is reused: idempotent requests are retried, others are not', async (t) => {
  // Every app connection answers its first request and is destroyed when its second arrives:
  // what an app whose idle timeout fires as the request reaches it looks like.
  let served = 0;
  const a = await app((req, res) => {
    const n = ((req.socket as Socket & { n?: number }).n = ((req.socket as Socket & { n?: number }).n ?? 0) + 1);
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    served++;
    res.writeHead(200, { 'content-length': '2' });
    res.end('ok');
  });
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const first = await request(`${p.url}/a`);
  await first.body.dump();
  const again = await request(`${p.url}/b`);
  await again.body.dump();
  t.equal(again.statusCode, 200, 'GET on the dead connection retried on a fresh one');
  t.equal(served, 2);
  const post = await request(`${p.url}/c`, { method: 'POST', body: 'x' });
  await post.body.dump();
  t.equal(post.statusCode, 502, 'a POST the app may have seen is not sent twice');
  t.equal(served, 2);
});

t.test('an upload refused before it is read: the client gets the answer, then the connection closes', async (t) => {
  const a = await startHttpApp();
  const { yaml } = inlineProvider();
  const p = await startProxy(a.url, [], {
    policy: `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: t }\nspec:\n  auth:\n    providers:\n${yaml}`,
  });
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const s = connect(p.proxy.port, '127.0.0.1');
  let got = '';
  let closed = false;
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  s.on('close', () => {
    closed = true;
  });
  s.on('error', () => undefined);
  s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
  s.write(Buffer.alloc(64 * 1024, 'a'));
  await until(() => /\r\n\r\n\{.*\}$/.test(got), 'the answer');
  t.match(got, /^HTTP\/1\.1 401 /, 'answered while the body was still coming');
  t.match(got, /\r\nconnection: close\r\n/i, 'with connection: close');
  t.equal(a.hits.count, 0, 'nothing reached the app');
  s.end(Buffer.alloc(1000000 - 64 * 1024, 'a'));
  await until(() => closed, 'connection closed once the body is over');
});

t.test('a request pipelined behind a refused upload is never dispatched: the connection is closing', async (t) => {
  // Found by the h1-connection fuzz target (test/fuzz/regressions/h1-connection/). The refused
  // body is read and dropped (lingering close); the request after it, in the same read, used to
  // be parsed and forwarded to the app, whose answer could never reach the client.
  const a = await startHttpApp();
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  // A kept connection to the app: a request dispatched now would go out on it at once.
  await (await request(`${p.url}/warm`)).body.text();
  // Half-open: the sidecar ends its side after the answer and still reads the rest of the body.
  const s = connect({ port: p.proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  let got = '';
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
  });
  s.on('error', () => undefined);
  s.write('POST /upload#x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe');
  await until(() => /\r\n\r\n\{.*\}$/.test(got), 'the answer');
  t.match(got, /^HTTP\/1\.1 400 [^]*\r\nconnection: close\r\n/i, 'refused with connection: close while the body was still coming');
  s.write('lloPOST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  await new Promise((r) => setTimeout(r, 300));
  s.destroy();
  t.equal(a.hits.count, 1, 'the request after the refused body never reached the app');
  t.same(
    p.proxy.port > 0 ? p.logs.filter((l) => l.path === '/after').map((l) => l.status) : [],
    [],
    'nor ran through the pipeline (no access log line)',
  );
  t.same(statuses(got), [400], 'one answer on the connection');
});

t.test('CONNECT is refused: not a forward proxy', async (t) => {
  const a = await startHttpApp();
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const r = await rawExchange(p.proxy.port, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n']);
  t.equal(statuses(r)[0], 400);
  t.match(r, /SIDEGATE_ERR_BAD_REQUEST/);
  t.equal(a.hits.count, 0);
});

t.test("h2 client, HTTP/1.1 app: the app's chunked trailers reach a client that asked for them", async (t) => {
  const a = await app((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.addTrailers({ 'x-checksum': 'c0ffee' });
    res.end('abc');
  });
  const p = await startProxy(a.url);
  t.teardown(async () => {
    await p.close();
    await a.close();
  });
  const s = h2connect(p.url);
  t.teardown(() => s.close());
  const req = s.request({ ':method': 'GET', ':path': '/x', te: 'trailers' });
  let body = '';
  let trailers: Record<string, unknown> = {};
  req.on('data', (c: Buffer) => {
    body += String(c);
  });
  req.on('trailers', (h) => {
    trailers = h;
  });
  await new Promise((r) => req.on('end', r));
  t.equal(body, 'abc');
  t.equal(trailers['x-checksum'], 'c0ffee');
});

t.test('an app response delimited by the end of its connection is relayed whole', async (t) => {
  const { createServer: createTcp } = await import('node:net');
  const server = createTcp((s) => {
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nuntil the end'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = await startProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(async () => {
    await p.close();
    await new Promise((r) => server.close(r));
  });
  for (let i = 0; i < 3; i++) {
    const r = await request(`${p.url}/x`);
    t.equal(r.statusCode, 200);
    t.equal(await r.body.text(), 'until the end', `response ${i + 1}: the whole body`);
  }
});

t.test('a response head the app sends before its body reaches the client before the body', async (t) => {
  const { createServer: createTcp } = await import('node:net');
  // The app writes the head, then holds the body until the test has seen the head at the client.
  const framings = {
    length: { head: 'content-length: 4\r\n', body: 'done' },
    chunked: { head: 'transfer-encoding: chunked\r\n', body: '4\r\ndone\r\n0\r\n\r\n' },
  };
  for (const [name, f] of Object.entries(framings)) {
    let sendBody: (() => void) | undefined;
    const server = createTcp((s) => {
      s.once('data', () => {
        s.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n${f.head}\r\n`);
        sendBody = () => s.write(f.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = await startProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const c = connect(p.proxy.port, '127.0.0.1');
    t.teardown(async () => {
      c.destroy();
      await p.close();
      await new Promise((r) => server.close(r));
    });
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString('latin1')));
    c.write('GET /held HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => text.includes('\r\n\r\n'), `${name}: the response head at the client`);
    t.match(text, /^HTTP\/1\.1 200 OK\r\n/, `${name}: the head came first`);
    t.notOk(text.includes('done'), `${name}: while the app still holds the body`);
    sendBody!();
    await until(() => text.includes('done'), `${name}: the body`);
  }
});

t.test('interim (1xx) responses from the app: up to 32 are skipped, more end the call with 502', async (t) => {
  const { createServer: createTcp } = await import('node:net');
  let interims = 0;
  const server = createTcp((s) => {
    s.on('error', () => undefined); // the sidecar hangs up on a flood mid-write
    s.on('data', () => {
      const n = interims;
      s.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n'.repeat(n));
      // At the bound the final answer follows; past it the app goes on flooding and never answers.
      if (n <= 32) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else s.write('HTTP/1.1 100 Continue\r\n\r\n'.repeat(5000));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = await startProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(async () => {
    await p.close();
    await new Promise((r) => server.close(r));
  });
  interims = 32;
  const ok = await request(`${p.url}/hints`);
  t.equal(ok.statusCode, 200, '32 interim responses, then the final one: relayed');
  t.equal(await ok.body.text(), 'ok');
  interims = 33;
  const flood = await request(`${p.url}/flood`);
  t.equal(flood.statusCode, 502, "the 33rd interim response ends the call (502, not the upstream timeout's 504)");
  t.match(await flood.body.text(), /SIDEGATE_ERR_UPSTREAM_RESET/, 'with the upstream error code');
  // An Upgrade request goes to the app on a connection of its own (the tunnel): the same bound.
  const upgrade = await raw(
    p.proxy.port,
    'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  t.same(statuses(upgrade.text), [502], 'an Upgrade request answered with a flood: 502');
  t.match(upgrade.text, /SIDEGATE_ERR_UPSTREAM_RESET/);
});
