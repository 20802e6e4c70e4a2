import { systemClock } from '../../../sidecar/src/clock.js';
import { HeadersTooLargeError, REFUSALS } from '../../../sidecar/src/errors.js';
import type { Exchange } from '../../../sidecar/src/protocol/exchange.js';
import { H2Connection, type H2Host } from '../../../sidecar/src/protocol/http2/connection.js';
import { must, timeBounded } from '../property.js';
import { chunks, MemorySocket } from '../socket.js';
import { block, F, frame, GET, POST, T } from '../../hostile/h2raw.js';

/**
 * sidegate's HTTP/2 engine, server side: the frame reader, HPACK, the connection and stream state
 * machines and flow control, fed a client's byte stream (after the connection preface) in chunks
 * of sizes the input chooses, with the requests it forms answered as the input says (no answer,
 * empty, small, or larger than the default window; the request body read or left alone; at once
 * or a turn later). Checked on every input:
 * - nothing escapes: the engine's catch-all (`internalError`) is never reached;
 * - what goes out is well-framed HTTP/2: whole frames, none longer than the client allows;
 * - bounded: output at most a fixed amount per input byte plus the answers' bytes, DATA never
 *   more than the answers wrote, a partial frame held at most one frame's size;
 * - nothing left behind: once the connection is destroyed, every exchange it made is closed.
 * Time per input as in property.ts.
 */

export const maxLen = 16384;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const BODY = [0, 10, 70_000, -1]; // -1: never answered
/** The engine answers an oversized header list itself (431 and this body), not through dispatch. */
const OWN_431 = Buffer.byteLength(new HeadersTooLargeError(16384).body(''));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The largest valid SETTINGS_MAX_FRAME_SIZE the client announced (what we may send up to). */
function clientMaxFrame(input: Buffer): number {
  let max = 16384;
  for (let at = 0; at + 9 <= input.length;) {
    const len = input.readUIntBE(at, 3);
    const type = input[at + 3]!;
    const flags = input[at + 4]!;
    const p = input.subarray(at + 9, at + 9 + len);
    if (type === 4 && (flags & 1) === 0) {
      for (let i = 0; i + 6 <= p.length; i += 6) {
        const v = p.readUInt32BE(i + 2);
        if (p.readUInt16BE(i) === 5 && v >= 16384 && v <= 0xffffff) max = Math.max(max, v);
      }
    }
    at += 9 + len;
  }
  return max;
}

async function once(data: Buffer): Promise<void> {
  const mode = data[0] ?? 0;
  const seed = data[1] ?? 0;
  const input = data.subarray(2);
  const sock = new MemorySocket();
  const errors: unknown[] = [];
  const exchanges: Exchange[] = [];
  let answered = 0;
  const answer = (ex: Exchange): void => {
    const n = BODY[mode & 3]!;
    if ((mode & 4) !== 0) ex.body.resume();
    if (n < 0) return;
    ex.sink.writeHead(200, { 'content-type': 'text/plain', 'x-fuzz': 'yes' });
    ex.sink.end(Buffer.alloc(n, 0x61));
    answered += n;
  };
  const host: H2Host = {
    refusals: REFUSALS,
    ctx: {
      scheme: 'http',
      clock: systemClock,
      draining: () => false,
      dispatch: (ex) => {
        exchanges.push(ex);
        if ((mode & 8) !== 0) setImmediate(() => answer(ex));
        else answer(ex);
      },
    },
    maxHeaderSize: 16384,
    maxConcurrentStreams: 100,
    clientError: (reason) => {
      if (reason === 'header_overflow') answered += OWN_431;
    },
    closed: () => undefined,
    internalError: (err) => {
      errors.push(err);
    },
  };
  const conn = new H2Connection(sock.asSocket(), host);
  sock.feed(PREFACE);
  for (const c of chunks(input, seed)) {
    sock.feed(c);
    const pending = (conn as unknown as { pending?: Buffer }).pending;
    must((pending?.length ?? 0) <= 9 + 16384, () => `held ${pending?.length} bytes of a partial frame`);
    await turn();
  }
  await turn();
  await turn();
  must(errors.length === 0, () => `the engine's catch-all was reached: ${String((errors[0] as Error)?.stack ?? errors[0])}`);

  const out = sock.output();
  const max = clientMaxFrame(input);
  let data_ = 0;
  let at = 0;
  while (at + 9 <= out.length) {
    const len = out.readUIntBE(at, 3);
    must(len <= max, () => `a ${len}-byte frame (type ${out[at + 3]}) to a client that allows ${max}`);
    if (out[at + 3] === 0) data_ += len;
    at += 9 + len;
  }
  must(at === out.length, () => `output ends inside a frame: ${out.length - at} bytes over`);
  must(data_ <= answered, () => `${data_} bytes of DATA sent for ${answered} bytes of answers`);
  const bound = 4096 + 32 * data.length + answered + 256 * exchanges.length;
  must(out.length <= bound, () => `${out.length} bytes out for a ${data.length}-byte input (bound ${bound})`);

  conn.destroy();
  await turn();
  const open = exchanges.filter((ex) => !ex.sink.closed).length;
  must(open === 0, () => `${open} of ${exchanges.length} exchanges still open after the connection was destroyed`);
}

export async function fuzz(data: Buffer): Promise<void> {
  await timeBounded(data, () => once(data));
}

/** Seed inputs (test/fuzz/corpus/h2-connection/, written by test/fuzz/seeds.ts): one per kind of frame exchange. */
export function seeds(): Buffer[] {
  const settings = frame(T.SETTINGS, 0, 0);
  const ack = frame(T.SETTINGS, F.ACK, 0);
  const get = (id: number, path = '/'): Buffer => frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, block(GET(path)));
  const streams: Buffer[] = [
    Buffer.concat([settings, ack, get(1)]),
    Buffer.concat([settings, get(1), get(3, '/a/../b?q=1'), frame(T.PING, 0, 0, Buffer.alloc(8, 1))]),
    Buffer.concat([
      settings,
      frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/up', [['content-length', '5']]))),
      frame(T.DATA, 0, 1, Buffer.from('hel')),
      frame(T.DATA, F.END_STREAM, 1, Buffer.from('lo')),
    ]),
    Buffer.concat([
      settings,
      frame(T.HEADERS, 0, 1, block(GET('/c').slice(0, 2))),
      frame(T.CONTINUATION, F.END_HEADERS, 1, block(GET('/c').slice(2))),
    ]),
    Buffer.concat([
      frame(T.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])),
      get(1),
      frame(T.WINDOW_UPDATE, 0, 1, Buffer.from([0, 0, 0x10, 0])),
      frame(T.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0x10, 0])),
    ]),
    Buffer.concat([
      settings,
      frame(T.HEADERS, F.END_HEADERS, 1, block(POST('/x'))),
      frame(T.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 8])),
      frame(T.PRIORITY, 0, 3, Buffer.from([0, 0, 0, 1, 16])),
    ]),
    Buffer.concat([settings, get(1), frame(T.GOAWAY, 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]))]),
    Buffer.concat([frame(T.SETTINGS, 0, 0, Buffer.from([0, 5, 0, 0, 0x40, 0, 0, 1, 0, 0, 0, 0])), get(1, '/big')]),
  ];
  // Mode bytes: every answer kind once, read/unread body, at once/later; chunking whole or split.
  return streams.map((s, i) => Buffer.concat([Buffer.from([i % 16, i % 4 === 0 ? 1 : 4]), s]));
}
