import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import hpack from 'hpack.js';
import { block, F, frame, T } from '../h2raw.js';

/**
 * Raw clients: bytes written exactly as the shape says, answers read just far enough to know each
 * request's fate (status, who answered, the request id echoed back).
 */
export interface ClientAnswer {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
}

const get = (h: readonly (readonly [string, string])[], n: string): string | undefined => h.find(([k]) => k.toLowerCase() === n)?.[1];
export const answerRequestId = (a: ClientAnswer): string | undefined => get(a.headers, 'x-request-id');
/** `h1` or `h2c` when the app answered (its marker header), undefined when the sidecar did. */
export const answeredBy = (a: ClientAnswer): string | undefined => get(a.headers, 'x-app');

export interface ConnectOpts {
  readonly port: number;
  /** TLS with this CA (self-signed), ALPN as given. */
  readonly tls?: { readonly ca: Buffer; readonly alpn: string } | undefined;
}

function open(o: ConnectOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (o.tls === undefined) {
      const s = netConnect(o.port, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', reject);
      return;
    }
    const s = tlsConnect({ port: o.port, host: '127.0.0.1', servername: 'localhost', ca: o.tls.ca, ALPNProtocols: [o.tls.alpn] });
    s.once('secureConnect', () => {
      if (s.alpnProtocol !== o.tls!.alpn) {
        s.destroy();
        reject(new Error(`ALPN chose ${String(s.alpnProtocol)}, wanted ${o.tls!.alpn}`));
        return;
      }
      resolve(s);
    });
    s.once('error', reject);
  });
}

// --- HTTP/1.1

export interface H1Result {
  readonly answers: ClientAnswer[];
  /** The server closed the connection (or it broke) before `expect` answers came. */
  readonly closed: boolean;
  readonly timedOut: boolean;
}

type ParsedAnswer = { a: ClientAnswer; used: number } | 'more';

function parseAnswer(buf: string, closed: boolean): ParsedAnswer {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return 'more';
  const lines = buf.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
  const headers: [string, string][] = lines.slice(1).map((l) => {
    const c = l.indexOf(':');
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
  let pos = end + 4;
  if (status >= 100 && status < 200 && status !== 101) return { a: { status, headers }, used: pos };
  const te = get(headers, 'transfer-encoding');
  const cl = get(headers, 'content-length');
  if (te !== undefined && /chunked/i.test(te)) {
    for (;;) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return 'more';
      const size = parseInt(buf.slice(pos, eol), 16);
      pos = eol + 2;
      if (!(size > 0)) {
        const tend = buf.indexOf('\r\n', pos) === pos ? pos + 2 : buf.indexOf('\r\n\r\n', pos) + 4;
        if (tend < pos) return 'more';
        pos = tend;
        break;
      }
      if (buf.length < pos + size + 2) return 'more';
      pos += size + 2;
    }
  } else if (cl !== undefined) {
    if (buf.length < pos + Number(cl)) return 'more';
    pos += Number(cl);
  } else if (status !== 204 && status !== 304 && status !== 101) {
    if (!closed) return 'more';
    pos = buf.length;
  }
  return { a: { status, headers }, used: pos };
}

/**
 * Write `chunks` on one connection (each its own write, in order) and read answers until
 * `expect` final answers came, the server closed, or `timeoutMs` passed (a safety net: a hang is
 * reported as such, never asserted on).
 */
export async function h1Exchange(o: ConnectOpts, chunks: readonly string[], expect: number, timeoutMs = 4000): Promise<H1Result> {
  const s = await open(o);
  return new Promise((resolve) => {
    let buf = '';
    const answers: ClientAnswer[] = [];
    let settled = false;
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ answers, closed, timedOut });
    };
    const drain = (closed: boolean): void => {
      for (;;) {
        const r = parseAnswer(buf, closed);
        if (r === 'more') break;
        buf = buf.slice(r.used);
        if (r.a.status >= 200 || r.a.status === 101) answers.push(r.a);
        if (buf === '') break;
      }
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      drain(false);
      if (answers.length >= expect) finish(false, false);
    });
    s.on('close', () => {
      drain(true);
      finish(true, false);
    });
    s.on('error', () => undefined);
    for (const c of chunks) s.write(Buffer.from(c, 'latin1'));
  });
}

// --- HTTP/2 (raw frames: any bytes in any field)

export interface H2StreamResult {
  readonly id: number;
  status: number | undefined;
  headers: [string, string][];
  ended: boolean;
  /** RST_STREAM error code, if the server reset the stream. */
  reset: number | undefined;
  /** The stream was above a GOAWAY's last stream id, or the connection ended first. */
  refused: boolean;
}

export interface H2Request {
  readonly fields: readonly (readonly [string, string])[];
  /** DATA payloads (latin1) and trailing fields; no body when undefined. */
  readonly body?: { readonly data: readonly string[]; readonly trailers: readonly (readonly [string, string])[] } | undefined;
}

/**
 * One HTTP/2 connection (h2c prior knowledge, or TLS with ALPN h2): every request sent on its own
 * stream at once, answers decoded with an independent HPACK decoder (hpack.js). Resolves when
 * every stream has ended, was reset or refused, or after `timeoutMs`.
 */
export async function h2Exchange(
  o: ConnectOpts,
  requests: readonly H2Request[],
  timeoutMs = 4000,
): Promise<{ streams: H2StreamResult[]; goaway: number | undefined; timedOut: boolean }> {
  const s = await open(o.tls === undefined ? o : { ...o, tls: { ...o.tls, alpn: 'h2' } });
  const dec = hpack.decompressor.create({ table: { maxSize: 4096 } });
  const streams = requests.map((_, i): H2StreamResult => ({
    id: 1 + 2 * i,
    status: undefined,
    headers: [],
    ended: false,
    reset: undefined,
    refused: false,
  }));
  const byId = new Map(streams.map((x) => [x.id, x]));
  let goaway: number | undefined;
  let buf = Buffer.alloc(0);
  let headerBlock: { id: number; parts: Buffer[]; end: boolean } | undefined;
  return new Promise((resolve) => {
    let settled = false;
    const done = (): boolean => streams.every((x) => x.ended || x.reset !== undefined || x.refused);
    const finish = (timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      for (const x of streams) if (!x.ended && x.reset === undefined) x.refused = true;
      resolve({ streams, goaway, timedOut });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    const onHeaders = (id: number, parts: Buffer[], endStream: boolean): void => {
      dec.write(Buffer.concat(parts));
      dec.execute();
      const fields: [string, string][] = [];
      for (let f = dec.read(); f !== null; f = dec.read()) fields.push([f.name, f.value]);
      const st = byId.get(id);
      if (st === undefined) return;
      const status = fields.find(([n]) => n === ':status');
      if (status !== undefined && st.status === undefined) {
        st.status = Number(status[1]);
        st.headers = fields.filter(([n]) => !n.startsWith(':'));
      }
      if (endStream) st.ended = true;
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        let p = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === T.SETTINGS && (flags & F.ACK) === 0) s.write(frame(T.SETTINGS, F.ACK, 0));
        else if (type === T.PING && (flags & F.ACK) === 0) s.write(frame(T.PING, F.ACK, 0, p));
        else if (type === T.HEADERS || type === T.CONTINUATION) {
          if (type === T.HEADERS) {
            let pad = 0;
            if (flags & 0x8) {
              pad = p[0]!;
              p = p.subarray(1);
            }
            if (flags & 0x20) p = p.subarray(5);
            p = p.subarray(0, p.length - pad);
            headerBlock = { id, parts: [p], end: (flags & F.END_STREAM) !== 0 };
          } else if (headerBlock !== undefined) {
            headerBlock.parts.push(p);
          }
          if ((flags & F.END_HEADERS) !== 0 && headerBlock !== undefined) {
            onHeaders(headerBlock.id, headerBlock.parts, headerBlock.end);
            headerBlock = undefined;
          }
        } else if (type === T.DATA) {
          const st = byId.get(id);
          if (len > 0) s.write(Buffer.concat([frame(T.WINDOW_UPDATE, 0, 0, u32(len)), frame(T.WINDOW_UPDATE, 0, id, u32(len))]));
          if (st !== undefined && (flags & F.END_STREAM) !== 0) st.ended = true;
        } else if (type === T.RST_STREAM) {
          const st = byId.get(id);
          if (st !== undefined && !st.ended) st.reset = p.readUInt32BE(0);
        } else if (type === T.GOAWAY) {
          goaway = p.readUInt32BE(0) & 0x7fffffff;
          for (const x of streams) if (x.id > goaway && !x.ended && x.reset === undefined) x.refused = true;
        }
      }
      if (done()) finish(false);
    });
    s.on('close', () => finish(false));
    s.on('error', () => undefined);
    const out: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(T.SETTINGS, 0, 0)];
    requests.forEach((q, i) => {
      const id = 1 + 2 * i;
      const body = q.body;
      out.push(frame(T.HEADERS, F.END_HEADERS | (body === undefined ? F.END_STREAM : 0), id, block(q.fields)));
      if (body === undefined) return;
      const data = body.data.filter((x) => x !== '');
      const hasTrailers = body.trailers.length > 0;
      if (data.length === 0 && !hasTrailers) out.push(frame(T.DATA, F.END_STREAM, id));
      data.forEach((x, k) =>
        out.push(frame(T.DATA, !hasTrailers && k === data.length - 1 ? F.END_STREAM : 0, id, Buffer.from(x, 'latin1'))),
      );
      if (hasTrailers) out.push(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, block(body.trailers)));
    });
    s.write(Buffer.concat(out));
  });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
