import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/** What the echo app saw, as JSON: lets tests check exactly what the sidecar forwarded. */
export interface Seen {
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
  bodySha256: string;
  bodyBytes: number;
}

export interface Hits {
  count: number;
  aborted: number;
  bytesIn: number;
  bytesOut: number;
}

export interface TestApp {
  readonly port: number;
  readonly url: string;
  /**
   * Requests that reached the app (any path), for "never reached the app" assertions; body bytes
   * read and `/download` bytes written so far, for "streamed, not buffered" ones.
   */
  readonly hits: Hits;
  close(): Promise<void>;
}

/**
 * A real HTTP/1.1 app. Paths: `/slow?ms=N` waits before answering, `/reset` destroys the socket,
 * `/status/N` answers N, `/download?mb=N` streams N MiB of a fixed pattern, `/hang` never
 * answers, anything else echoes what it saw (method, url, headers, body checksum) as JSON.
 * A WebSocket echo server is attached on the same port.
 */
export async function startHttpApp(): Promise<TestApp> {
  const hits: Hits = { count: 0, aborted: 0, bytesIn: 0, bytesOut: 0 };
  const server: Server = createServer((req, res) => {
    hits.count++;
    handle(req, res, hits).catch(() => res.destroy());
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${(data as Buffer).toString('utf8')}`, { binary: isBinary }));
    ws.send(`hello ${String(req.headers['x-forwarded-for'] ?? '')}`);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        wss.close();
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export const PATTERN = Buffer.alloc(1 << 20, 'sidegate-');

async function handle(req: IncomingMessage, res: ServerResponse, hits: Hits): Promise<void> {
  const u = new URL(req.url ?? '/', 'http://x');
  res.on('close', () => {
    if (!res.writableFinished) hits.aborted++;
  });
  if (u.pathname === '/reset') {
    req.socket.destroy();
    return;
  }
  if (u.pathname === '/hang') {
    req.on('close', () => hits.aborted++);
    return;
  }
  if (u.pathname.startsWith('/status/')) {
    res.writeHead(Number(u.pathname.slice(8)), { 'content-type': 'text/plain' });
    res.end('status');
    return;
  }
  if (u.pathname === '/slow') {
    await new Promise((r) => setTimeout(r, Number(u.searchParams.get('ms') ?? 100)));
  }
  if (u.pathname === '/download') {
    const mb = Number(u.searchParams.get('mb') ?? 1);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mb * PATTERN.length });
    for (let i = 0; i < mb; i++) {
      hits.bytesOut += PATTERN.length;
      if (!res.write(PATTERN)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
    return;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of req) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    hits.bytesIn += (chunk as Buffer).length;
  }
  const seen: Seen = {
    method: req.method ?? '',
    url: req.url ?? '',
    httpVersion: req.httpVersion,
    headers: req.headers,
    bodySha256: hash.digest('hex'),
    bodyBytes: bytes,
  };
  const body = JSON.stringify(seen);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    // Hop-by-hop headers the sidecar must not relay to the client.
    'keep-alive': 'timeout=5',
    'x-app-private': 'secret-hop',
    connection: 'x-app-private',
  });
  res.end(body);
}

/** A real h2c (prior knowledge) app that echoes like the HTTP/1.1 one and can send trailers. */
export async function startH2cApp(): Promise<TestApp> {
  const hits: Hits = { count: 0, aborted: 0, bytesIn: 0, bytesOut: 0 };
  const server: Http2Server = createH2Server();
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    hits.count++;
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    stream.on('end', () => {
      const path = String(headers[':path']);
      if (path === '/reset') {
        stream.close(2);
        return;
      }
      const body = JSON.stringify({
        method: headers[':method'],
        url: path,
        httpVersion: '2.0',
        headers,
        bodySha256: hash.digest('hex'),
        bodyBytes: bytes,
      });
      stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'done' }));
      stream.end(body);
    });
    stream.on('error', () => undefined);
  });
  const sessions = new Set<import('node:http2').Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `h2c://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}
