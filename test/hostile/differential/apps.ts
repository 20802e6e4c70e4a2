import { createServer as createH2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * Echo apps that record exactly what reached them. The HTTP/1.1 one is a `net` server that
 * frames requests itself, leniently, so that whatever bytes the sidecar writes are recorded (a
 * strict parser would refuse the interesting ones before anyone saw them): the raw request line,
 * the raw header lines, the body and any chunked trailers. It declines Upgrade requests with a
 * plain 200 and goes on parsing the connection, as an app without WebSocket support does.
 */
export interface AppRequest {
  readonly app: 'h1' | 'h2c';
  /** Connection number at the app, and the request's place on it. */
  readonly conn: number;
  readonly seq: number;
  /** The request line as received (h2c: `:method :path`). */
  readonly requestLine: string;
  readonly method: string;
  readonly target: string;
  /** HTTP/1.1: the line is `METHOD SP target SP HTTP/1.x` with no other SP (h2c: true). */
  readonly lineWellFormed: boolean;
  /** Header fields as received: names as spelled, values with surrounding whitespace removed. */
  readonly headers: readonly (readonly [string, string])[];
  readonly trailers: readonly (readonly [string, string])[];
  readonly body: string;
  /** Framing problems the app noticed (several Content-Length, a bad chunk...). */
  readonly anomalies: readonly string[];
}

export interface RecordingApp {
  readonly url: string;
  readonly received: AppRequest[];
  /** Bytes the app could not frame as a request at all (per connection). */
  readonly garbage: string[];
  close(): Promise<void>;
}

const CRLF = '\r\n';

/** Values of a header (case-insensitive name) in order. */
export function headerValues(fields: readonly (readonly [string, string])[], name: string): string[] {
  const n = name.toLowerCase();
  return fields.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

function splitFields(lines: readonly string[], anomalies: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      anomalies.push(`header line without a name: ${JSON.stringify(line)}`);
      continue;
    }
    out.push([line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return out;
}

type Parsed = { req: AppRequest; used: number; close: boolean } | 'more' | 'garbage';

function parseOne(buf: string, conn: number, seq: number): Parsed {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > 256 * 1024 ? 'garbage' : 'more';
  const head = buf.slice(0, end);
  const lines = head.split(CRLF);
  const requestLine = lines[0]!;
  const anomalies: string[] = [];
  const first = requestLine.indexOf(' ');
  const last = requestLine.lastIndexOf(' ');
  if (first <= 0 || last === first) return 'garbage';
  const method = requestLine.slice(0, first);
  const target = requestLine.slice(first + 1, last);
  const version = requestLine.slice(last + 1);
  const lineWellFormed = /^HTTP\/1\.[01]$/.test(version) && !target.includes(' ');
  const headers = splitFields(lines.slice(1), anomalies);
  let pos = end + 4;
  let body = '';
  const trailers: [string, string][] = [];
  const te = headerValues(headers, 'transfer-encoding').join(',').toLowerCase();
  const cls = headerValues(headers, 'content-length');
  if (
    te
      .split(',')
      .map((s) => s.trim())
      .at(-1) === 'chunked'
  ) {
    if (cls.length > 0) anomalies.push('both Transfer-Encoding and Content-Length');
    for (;;) {
      const eol = buf.indexOf(CRLF, pos);
      if (eol < 0) return 'more';
      const size = parseInt(buf.slice(pos, eol).split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size)) {
        anomalies.push(`bad chunk size ${JSON.stringify(buf.slice(pos, eol))}`);
        return 'garbage';
      }
      pos = eol + 2;
      if (size === 0) {
        const tend = buf.indexOf(CRLF, pos) === pos ? pos : buf.indexOf('\r\n\r\n', pos);
        if (tend < 0) return 'more';
        if (tend > pos) trailers.push(...splitFields(buf.slice(pos, tend).split(CRLF), anomalies));
        pos = tend + (tend === pos ? 2 : 4);
        break;
      }
      if (buf.length < pos + size + 2) return 'more';
      body += buf.slice(pos, pos + size);
      pos += size + 2;
    }
  } else if (cls.length > 0) {
    if (new Set(cls).size > 1 || cls.length > 1) anomalies.push(`several Content-Length: ${cls.join(' | ')}`);
    const n = Number(cls[0]);
    if (!Number.isInteger(n) || n < 0) {
      anomalies.push(`bad Content-Length ${cls[0]!}`);
      return 'garbage';
    }
    if (buf.length < pos + n) return 'more';
    body = buf.slice(pos, pos + n);
    pos += n;
  }
  const close = /(?:^|,)\s*close\s*(?:,|$)/i.test(headerValues(headers, 'connection').join(','));
  return {
    req: { app: 'h1', conn, seq, requestLine, method, target, lineWellFormed, headers, trailers, body, anomalies },
    used: pos,
    close,
  };
}

export async function startRawApp(): Promise<RecordingApp> {
  const received: AppRequest[] = [];
  const garbage: string[] = [];
  const sockets = new Set<Socket>();
  let conns = 0;
  const server: Server = createServer((socket) => {
    const conn = ++conns;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    let seq = 0;
    let closing = false;
    socket.on('data', (d: Buffer) => {
      if (closing) return;
      buf += d.toString('latin1');
      for (;;) {
        const r = parseOne(buf, conn, seq);
        if (r === 'more') return;
        if (r === 'garbage') {
          garbage.push(buf.slice(0, 2000));
          closing = true;
          socket.end(`HTTP/1.1 400 Bad Request${CRLF}content-length: 0${CRLF}connection: close${CRLF}${CRLF}`);
          return;
        }
        seq++;
        received.push(r.req);
        buf = buf.slice(r.used);
        const body = JSON.stringify({ app: 'h1', conn, seq: r.req.seq });
        socket.write(
          `HTTP/1.1 200 OK${CRLF}content-type: application/json${CRLF}content-length: ${body.length}${CRLF}x-app: h1${CRLF}${r.close ? `connection: close${CRLF}` : ''}${CRLF}${body}`,
        );
        if (r.close) {
          closing = true;
          socket.end();
          return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    garbage,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** The h2c app (the sidecar's `h2c://` upstream): node:http2, recording each stream. */
export async function startH2cApp(): Promise<RecordingApp> {
  const received: AppRequest[] = [];
  const garbage: string[] = [];
  const server = createH2Server();
  const sockets = new Set<Socket>();
  let conns = 0;
  const seqs = new WeakMap<object, { conn: number; seq: number }>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('session', (session) => {
    seqs.set(session, { conn: ++conns, seq: 0 });
    session.on('error', () => undefined);
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    stream.on('error', () => undefined);
    const at = seqs.get(stream.session ?? {}) ?? { conn: 0, seq: 0 };
    const seq = at.seq++;
    const fields: [string, string][] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2)
      if (!rawHeaders[i]!.startsWith(':')) fields.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
    const trailers: [string, string][] = [];
    stream.on('trailers', (_h, raw: string[]) => {
      for (let i = 0; i + 1 < raw.length; i += 2) trailers.push([raw[i]!, raw[i + 1]!]);
    });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      // A stream the sidecar reset (a failed request body) is no request the app received.
      if (stream.aborted || (stream.rstCode !== undefined && stream.rstCode !== 0)) return;
      const method = String(headers[':method'] ?? '');
      const target = String(headers[':path'] ?? '');
      received.push({
        app: 'h2c',
        conn: at.conn,
        seq,
        requestLine: `${method} ${target}`,
        method,
        target,
        lineWellFormed: true,
        headers: fields,
        trailers,
        body: Buffer.concat(chunks).toString('latin1'),
        anomalies: [],
      });
      if (stream.destroyed) return;
      const body = JSON.stringify({ app: 'h2c', conn: at.conn, seq });
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-app': 'h2c' });
      stream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `h2c://127.0.0.1:${port}`,
    received,
    garbage,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
