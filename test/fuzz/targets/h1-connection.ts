import { systemClock } from '../../../sidecar/src/clock.js';
import { REFUSALS } from '../../../sidecar/src/errors.js';
import type { Exchange } from '../../../sidecar/src/protocol/exchange.js';
import { H1Connection, type H1Host } from '../../../sidecar/src/protocol/http1/connection.js';
import { must, timeBounded } from '../property.js';
import { chunks, MemorySocket } from '../socket.js';

/**
 * sidegate's HTTP/1.1 front, server side: llhttp driven by H1Connection (heads, bodies, chunked
 * framing, pipelining, Expect: 100-continue, Upgrade, errors between requests), fed a client's
 * byte stream in chunks of sizes the input chooses, with the requests it forms answered as the
 * input says (no answer, empty, small or large; with Content-Length or without; the body read or
 * left alone; at once or a turn later; an Upgrade switched to a tunnel or answered as HTTP). At
 * the end the client may half-close, and the listener's sweep may find every deadline passed.
 *
 * The socket is in memory (test/fuzz/socket.ts): it has no `_handle`, so the front reads it
 * through 'data' and `execute()`, its fallback when llhttp cannot consume the handle in C++
 * (`--http1-fast-path off`); the parser, its callbacks and everything after them are the same.
 *
 * Checked on every input:
 * - nothing escapes: H1Connection has no catch-all, so an exception from a parser callback would
 *   leave `execute()` (a 'data' listener: an uncaught exception in the sidecar); none may;
 * - what goes out is a sequence of whole HTTP/1.1 responses (status line `HTTP/1.1 NNN ...`,
 *   framed by Content-Length, chunked coding or the close), 1xx only where asked for: each
 *   exchange's answer in order, byte for byte, then at most one error response of the
 *   connection's own (400, 408 or 431), and nothing after a response that closes;
 * - pipelining is bounded: at most MAX_QUEUED (9) requests parsed and unanswered, one of them
 *   dispatched at a time, each dispatched once; bytes held unparsed never more than were sent;
 * - bounded output: a fixed amount per input byte plus the answers' bytes;
 * - nothing written after the socket was ended, and once the connection is destroyed every
 *   exchange it made is closed.
 * Time per input as in property.ts.
 */

export const maxLen = 16384;

const MAX_QUEUED = 9;
const MAX_HEADER = 8192;
const BODY = [0, 10, 20_000, -1]; // -1: never answered
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** What the harness answered an exchange with, as the client should read it. */
interface Answer {
  readonly status: number;
  readonly body: Buffer;
  readonly head: boolean;
}

type Internals = { queue: unknown[]; held: Buffer | undefined };

async function once(data: Buffer): Promise<void> {
  const mode = data[0] ?? 0;
  const extra = data[1] ?? 0;
  const seed = data[2] ?? 0;
  const input = data.subarray(3);
  const sock = new MemorySocket();
  const exchanges: Exchange[] = [];
  const answers: Answer[] = []; // in the order answered, those written to an open exchange
  let answered = 0;
  let switched = false;

  const answer = (ex: Exchange): void => {
    if (ex.sink.closed) return;
    if (ex.invalid !== undefined) {
      // what the route stage does: 400 before anything reads the body
      const body = Buffer.from(JSON.stringify({ error: 'SIDEGATE_ERR_BAD_REQUEST', message: ex.invalid }));
      // Recorded first: ending one answer dispatches the next request, which is answered inside.
      answers.push({ status: 400, body, head: ex.method === 'HEAD' });
      answered += body.length;
      ex.sink.writeHead(400, { 'content-type': 'application/json', 'content-length': body.length });
      ex.sink.end(body);
      return;
    }
    if ((mode & 32) !== 0 && ex.upgrade !== undefined) {
      // the app said 101: the tunnel takes the socket
      const t = ex.upgrade.takeOver();
      if (t === undefined) return;
      must(t.head.length <= input.length, () => `the tunnel got ${t.head.length} bytes of a ${input.length}-byte input`);
      t.socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n', 'latin1');
      switched = true;
      return;
    }
    const n = BODY[mode & 3]!;
    if ((mode & 4) !== 0) ex.body.resume();
    if (n < 0) return;
    const body = Buffer.alloc(n, 0x61);
    const headers: Record<string, string | number> = { 'content-type': 'text/plain', 'x-fuzz': 'yes' };
    if ((mode & 16) === 0) headers['content-length'] = n;
    answers.push({ status: 200, body, head: ex.method === 'HEAD' });
    answered += n;
    ex.sink.writeHead(200, headers);
    if ((mode & 16) !== 0 && n > 1) {
      ex.sink.write(body.subarray(0, n >> 1));
      ex.sink.end(body.subarray(n >> 1), (extra & 8) !== 0 ? { 'x-trailer': 't' } : undefined);
    } else ex.sink.end(body);
  };

  const host: H1Host = {
    refusals: REFUSALS,
    ctx: {
      scheme: 'http',
      clock: systemClock,
      draining: () => (extra & 2) !== 0,
      dispatch: (ex) => {
        must(!exchanges.includes(ex), () => 'an exchange was dispatched twice');
        const open = exchanges.filter((e) => !e.sink.closed).length;
        must(open === 0, () => `dispatched while ${open} earlier exchange(s) are still unanswered (answers must go out in order)`);
        exchanges.push(ex);
        if ((mode & 8) !== 0) setImmediate(() => answer(ex));
        else answer(ex);
      },
    },
    maxHeaderSize: MAX_HEADER,
    clientError: () => undefined,
    closed: () => undefined,
  };

  const parts = chunks(input, seed);
  const first = (extra & 1) !== 0 ? parts.shift() : undefined;
  const conn = new H1Connection(sock.asSocket(), host, first);
  const inner = conn as unknown as Internals;
  const invariants = (): void => {
    must(sock.thrown.length === 0, () => `thrown while reading: ${String((sock.thrown[0] as Error)?.stack ?? sock.thrown[0])}`);
    must(inner.queue.length <= MAX_QUEUED, () => `${inner.queue.length} requests queued, above the bound of ${MAX_QUEUED}`);
    must((inner.held?.length ?? 0) <= input.length, () => `holding ${inner.held?.length} bytes of a ${input.length}-byte input`);
  };
  for (const c of parts) {
    sock.feed(c);
    invariants();
    await turn();
    invariants();
  }
  if ((mode & 64) !== 0) sock.feedEnd();
  await settle(sock);
  invariants();
  if ((mode & 128) !== 0 && !conn.destroyed) {
    // The listener's sweep with every deadline passed: what it would call, in its order.
    if (conn.lingerUntil > 0) conn.timedOut('linger');
    else if (conn.inHeaders) conn.timedOut('headers');
    else if (conn.inBody) conn.timedOut('request');
    else if (conn.idle) conn.timedOut('idle');
    await settle(sock);
    invariants();
  }

  must(sock.lateWrites === 0, () => `${sock.lateWrites} write(s) after the socket was ended`);
  const out = sock.output();
  const bound = 4096 + 32 * input.length + answered + 512 * exchanges.length;
  must(out.length <= bound, () => `${out.length} bytes out for a ${input.length}-byte input (bound ${bound})`);
  checkResponses(out, exchanges, answers, switched, sock);

  conn.destroy();
  await turn();
  const open = exchanges.filter((ex) => !ex.sink.closed).length;
  must(open === 0, () => `${open} of ${exchanges.length} exchanges still open after the connection was destroyed`);
}

/** Turns until the connection has nothing more to do: no bytes waiting, output unchanged. */
async function settle(sock: MemorySocket): Promise<void> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    await turn();
    if (sock.writtenBytes === last && (sock.unread === 0 || sock.isPaused || sock.destroyed)) return;
    last = sock.writtenBytes;
  }
}

const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d) [^\r\n]*$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?([^\r\n]*)$/;

/** The output, read as the client reads it: each exchange's answer in order, then the connection's own error. */
function checkResponses(
  out: Buffer,
  exchanges: readonly Exchange[],
  answers: readonly Answer[],
  switched: boolean,
  sock: MemorySocket,
): void {
  const text = out.toString('latin1');
  let at = 0;
  let next = 0; // the answer the next final response must carry
  let closed = false;
  let errors = 0;
  const where = (): string => `at byte ${at} of ${out.length}: ${JSON.stringify(text.slice(at, at + 120))}`;
  while (at < text.length) {
    must(!closed, () => `bytes after a response that closed the connection, ${where()}`);
    const end = text.indexOf('\r\n\r\n', at);
    must(end >= 0, () => `a response head without its end, ${where()}`);
    const lines = text.slice(at, end).split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    must(m !== null, () => `not a status line, ${where()}`);
    const status = Number(m[1]);
    const fields = new Map<string, string[]>();
    for (const l of lines.slice(1)) {
      const f = FIELD.exec(l);
      must(f !== null, () => `not a field line ${JSON.stringify(l)}, ${where()}`);
      const k = f[1]!.toLowerCase();
      fields.set(k, [...(fields.get(k) ?? []), f[2]!]);
    }
    at = end + 4;
    if (status === 101) {
      must(switched, () => `a 101 nobody asked for, ${where()}`);
      return; // the rest is the tunnel's
    }
    if (status === 100) continue; // Expect: 100-continue, answered when the request's turn came
    const mine = next < answers.length ? answers[next] : undefined;
    const cl = fields.get('content-length');
    const te = fields.get('transfer-encoding');
    const closes = (fields.get('connection') ?? []).some((v) => /(^|,)\s*close\s*(,|$)/i.test(v));
    let body: Buffer;
    if (mine === undefined) {
      // The connection's own answer to a framing error or timeout: once, last, closing.
      errors++;
      must(errors === 1 && [400, 408, 431].includes(status), () => `an unexpected ${status} response of the connection's own, ${where()}`);
      must(
        cl?.length === 1 && te === undefined && closes,
        () => `the connection's error response is not framed by one Content-Length with connection: close, ${where()}`,
      );
    }
    if (mine?.head === true || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (te !== undefined) {
      must(
        te.join(',').trim().toLowerCase() === 'chunked' && cl === undefined,
        () => `transfer-encoding ${JSON.stringify(te)} with content-length ${JSON.stringify(cl)}, ${where()}`,
      );
      const r = readChunked(out, at);
      must(r !== undefined, () => `a malformed or cut chunked body, ${where()}`);
      body = r.body;
      at = r.end;
    } else if (cl !== undefined) {
      must(cl.length === 1 && /^\d+$/.test(cl[0]!), () => `content-length ${JSON.stringify(cl)}, ${where()}`);
      const n = Number(cl[0]);
      must(at + n <= out.length, () => `a body cut short: ${n} bytes announced, ${out.length - at} follow`);
      body = out.subarray(at, at + n);
      at += n;
    } else {
      // Delimited by the close: the last response, on a connection that ends.
      body = out.subarray(at);
      at = out.length;
      must(sock.ended || sock.destroyed, () => 'a response delimited by the close on a connection left open');
      closed = true;
    }
    if (mine !== undefined) {
      must(status === mine.status, () => `response ${next} has status ${status}, the exchange was answered ${mine.status}`);
      const want = mine.head ? Buffer.alloc(0) : mine.body;
      must(body.equals(want), () => `response ${next} carries ${body.length} bytes of body, the exchange wrote ${want.length}`);
      next++;
    }
    if (closes) closed = true;
  }
  must(
    next === answers.length,
    () => `${answers.length} exchanges answered, ${next} responses on the wire (${exchanges.length} dispatched)`,
  );
}

function readChunked(out: Buffer, from: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const eol = out.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const size = /^([0-9a-f]+)$/i.exec(out.toString('latin1', at, eol));
    if (size === null) return undefined;
    const n = parseInt(size[1]!, 16);
    at = eol + 2;
    if (n === 0) {
      // Trailer fields, then the empty line.
      for (;;) {
        const e = out.indexOf('\r\n', at, 'latin1');
        if (e < 0) return undefined;
        const line = out.toString('latin1', at, e);
        at = e + 2;
        if (line === '') return { body: Buffer.concat(parts), end: at };
        if (!FIELD.test(line)) return undefined;
      }
    }
    if (at + n + 2 > out.length || out.toString('latin1', at + n, at + n + 2) !== '\r\n') return undefined;
    parts.push(out.subarray(at, at + n));
    at += n + 2;
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  await timeBounded(data, () => once(data));
}

const CRLF = '\r\n';
const req = (line: string, ...fields: string[]): string => `${line}${CRLF}${fields.map((f) => f + CRLF).join('')}${CRLF}`;

/** Seed inputs (test/fuzz/corpus/h1-connection/, written by test/fuzz/seeds.ts): one per kind of exchange. */
export function seeds(): Buffer[] {
  const get = (path = '/', ...f: string[]): string => req(`GET ${path} HTTP/1.1`, 'Host: a', ...f);
  const streams: string[] = [
    get(),
    get('/a/../b?q=1') + get('/c', 'Connection: keep-alive') + req('HEAD /d HTTP/1.1', 'Host: a'),
    req('POST /up HTTP/1.1', 'Host: a', 'Content-Length: 5') + 'hello' + get('/next'),
    req('POST /up HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}x-t: 1${CRLF}${CRLF}` + get('/after'),
    req('PUT /e HTTP/1.1', 'Host: a', 'Expect: 100-continue', 'Content-Length: 3') + 'abc',
    req('GET /h HTTP/1.0', 'Host: a') + req('GET /k HTTP/1.0', 'Host: a', 'Connection: keep-alive'),
    Array.from({ length: 12 }, (_, i) => get(`/p${i}`)).join(''), // beyond the queue bound
    req(
      'GET /ws HTTP/1.1',
      'Host: a',
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
    ) + 'tunnel bytes',
    req('GET /u HTTP/1.1', 'Host: a', 'Upgrade: foo', 'Connection: upgrade') + get('/after-upgrade'),
    get() + 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    req('POST /cl HTTP/1.1', 'Host: a', 'Content-Length: 100') + 'only part of it',
    req('GET http://b.example/x?y HTTP/1.1', 'Host: a') +
      req('OPTIONS * HTTP/1.1', 'Host: a') +
      req('CONNECT a:443 HTTP/1.1', 'Host: a:443'),
    req(`GET /${'x'.repeat(9000)} HTTP/1.1`, 'Host: a'),
    get('/%2e%2e/admin') + get('/a#frag') + get('/a', 'Host: b'),
  ];
  // Mode bytes: every answer kind, read/unread body, now/later, length/chunked, switch, half-close, sweep.
  const modes = [0, 1, 4 | 1, 2 | 8, 4 | 16 | 1, 16 | 1, 1, 32 | 1, 1, 0, 64, 1 | 16, 128, 4 | 1];
  return streams.map((s, i) =>
    Buffer.concat([Buffer.from([modes[i]!, i % 3 === 0 ? 1 : i % 5 === 0 ? 8 : 0, i % 4 === 0 ? 4 : 1 + i]), Buffer.from(s, 'latin1')]),
  );
}
