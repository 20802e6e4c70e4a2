import { connect, type Socket } from 'node:net';

/**
 * A raw HTTP/2 client: frames written byte by byte, so tests can send what node:http2 refuses to
 * (uppercase names, connection headers, floods, CONTINUATION without end). It only understands
 * enough of the answers to tell a response (and its :status) from a reset or a GOAWAY.
 */
export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** RFC 9113 §7 error codes by name, for messages. */
export const ERR: Record<number, string> = {
  0: 'NO_ERROR',
  1: 'PROTOCOL_ERROR',
  2: 'INTERNAL_ERROR',
  3: 'FLOW_CONTROL_ERROR',
  5: 'STREAM_CLOSED',
  6: 'FRAME_SIZE_ERROR',
  7: 'REFUSED_STREAM',
  8: 'CANCEL',
  9: 'COMPRESSION_ERROR',
  11: 'ENHANCE_YOUR_CALM',
};
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Header block of "literal without indexing, new name" fields, no Huffman: any bytes go through as given. */
export function block(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

export const GET = (path: string, extra: readonly (readonly [string, string])[] = []): (readonly [string, string])[] => [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':authority', 'x'],
  [':path', path],
  ...extra,
];

export const POST = (path: string, extra: readonly (readonly [string, string])[] = []): (readonly [string, string])[] => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':authority', 'x'],
  [':path', path],
  ...extra,
];

/** `acksBefore`: PING and SETTINGS acks received before this frame (acks are counted, not stored). */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
  readonly acksBefore?: number;
}

// HPACK Huffman codes of the digits (RFC 7541 Appendix B): enough to read a :status.
const DIGITS: readonly (readonly [number, number])[] = [
  [0b00000, 5],
  [0b00001, 5],
  [0b00010, 5],
  [0b011001, 6],
  [0b011010, 6],
  [0b011011, 6],
  [0b011100, 6],
  [0b011101, 6],
  [0b011110, 6],
  [0b011111, 6],
];
const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

function huffDigits(b: Buffer): string {
  let bits = '';
  for (const x of b) bits += x.toString(2).padStart(8, '0');
  let out = '';
  let i = 0;
  outer: while (i < bits.length) {
    for (let d = 0; d < 10; d++) {
      const [code, len] = DIGITS[d]!;
      if (bits.slice(i, i + len) === code.toString(2).padStart(len, '0')) {
        out += String(d);
        i += len;
        continue outer;
      }
    }
    break; // padding (all ones) or not a digit
  }
  return out;
}

/** The :status of a response header block when it is its first field (how servers send it); 0 if unreadable. */
export function statusOf(blockBytes: Buffer): number {
  const b = blockBytes[0] ?? 0;
  if (b & 0x80) return STATIC_STATUS[b & 0x7f] ?? 0;
  const index = (b & 0xc0) === 0x40 ? b & 0x3f : b & 0x0f;
  if (STATIC_STATUS[index] === undefined) return 0;
  const len = (blockBytes[1] ?? 0) & 0x7f;
  const raw = blockBytes.subarray(2, 2 + len);
  return Number((blockBytes[1] ?? 0) & 0x80 ? huffDigits(raw) : raw.toString('latin1')) || 0;
}

export class RawH2 {
  readonly frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private constructor(readonly socket: Socket) {}

  /** Connect, send the preface and an empty SETTINGS; the server's SETTINGS are acknowledged as they come. */
  static connect(port: number, opts: { ackSettings?: boolean } = {}): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      const c = new RawH2(s);
      s.on('data', (d: Buffer) => c.onData(d, opts.ackSettings ?? true));
      s.on('close', () => {
        c.closed = true;
      });
      s.on('error', () => {
        c.closed = true;
      });
      s.once('connect', () => {
        s.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0)]));
        resolve(c);
      });
      s.once('error', reject);
    });
  }

  send(...bufs: Buffer[]): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return this.socket.write(Buffer.concat(bufs));
  }

  /** HEADERS (END_HEADERS, END_STREAM unless `open`) carrying `fields`. */
  request(stream: number, fields: readonly (readonly [string, string])[], open = false): boolean {
    return this.send(frame(T.HEADERS, F.END_HEADERS | (open ? 0 : F.END_STREAM), stream, block(fields)));
  }

  goaway(): { lastStream: number; code: number } | undefined {
    const f = this.frames.find((x) => x.type === T.GOAWAY);
    return f === undefined ? undefined : { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  rst(stream: number): number | undefined {
    const f = this.frames.find((x) => x.type === T.RST_STREAM && x.stream === stream);
    return f?.payload.readUInt32BE(0);
  }

  status(stream: number): number | undefined {
    const f = this.frames.find((x) => x.type === T.HEADERS && x.stream === stream);
    return f === undefined ? undefined : statusOf(headerBlock(f));
  }

  /** How the server ended `stream`: `status 400`, `RST_STREAM PROTOCOL_ERROR`, `GOAWAY ...`, `closed`, or `nothing`. */
  fate(stream: number): string {
    const st = this.status(stream);
    if (st !== undefined) return `status ${st}`;
    const r = this.rst(stream);
    if (r !== undefined) return `RST_STREAM ${ERR[r] ?? r}`;
    const g = this.goaway();
    if (g !== undefined) return `GOAWAY ${ERR[g.code] ?? g.code}`;
    return this.closed ? 'closed' : 'nothing';
  }

  /** Poll until `pred` holds or `ms` pass; resolves with whether it held. */
  async until(pred: () => boolean, ms = 3000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer, ackSettings: boolean): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f: Frame = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        stream: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: this.buf.subarray(9, 9 + len),
        acksBefore: this.acks,
      };
      this.buf = this.buf.subarray(9 + len);
      // Keep memory flat under floods: PING and SETTINGS acks are counted, not stored one by one.
      if ((f.type === T.PING || f.type === T.SETTINGS) && f.flags & F.ACK) {
        this.acks++;
        continue;
      }
      this.frames.push(f);
      if (f.type === T.SETTINGS && ackSettings) this.send(frame(T.SETTINGS, F.ACK, 0));
    }
  }

  acks = 0;
}

/** The header block fragment of a HEADERS frame (padding and priority fields skipped). */
function headerBlock(f: Frame): Buffer {
  let p = f.payload;
  let pad = 0;
  if (f.flags & 0x8) {
    pad = p[0]!;
    p = p.subarray(1);
  }
  if (f.flags & 0x20) p = p.subarray(5);
  return p.subarray(0, p.length - pad);
}
