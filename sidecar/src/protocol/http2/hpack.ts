import { huffmanDecode } from './huffman.js';

/** RFC 7541 Appendix A: the static table, index 1 to 61. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Literals this long (bytes as sent) are remembered, one per connection (HpackDecoder.str). */
const REUSE_MIN = 64;
const REUSE_MAX = 4096;

/** Why a header block could not be decoded: always a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

/**
 * The decoder of one HTTP/2 connection (RFC 7541): static and dynamic tables, integers, literal
 * strings with or without Huffman coding. Its dynamic table must see every header block of the
 * connection in order, so a block is always decoded whole even when its request is refused.
 */
export class HpackDecoder {
  /**
   * Dynamic table: a ring of names and values in parallel, `count` entries from the oldest at
   * `head`. An entry takes at least 32 bytes, so `limit / 32` entries fill the table; the ring
   * holds that many (a power of two), and evicting is moving `head`, whatever the table holds.
   */
  private readonly names: string[];
  private readonly values: string[];
  private readonly mask: number;
  private head = 0;
  private count = 0;
  private size = 0;
  /** The table size the peer chose last (≤ `limit`, our SETTINGS_HEADER_TABLE_SIZE). */
  private max: number;
  private pos = 0;

  constructor(private readonly limit = 4096) {
    this.max = limit;
    let cap = 1;
    while (cap < Math.floor(limit / 32)) cap *= 2;
    this.names = new Array<string>(cap).fill('');
    this.values = new Array<string>(cap).fill('');
    this.mask = cap - 1;
  }

  /**
   * Decode a whole header block into a flat `[name, value, …]` list. Throws HpackError on any
   * coding error; `maxFields` bounds the list (a block of a million one-byte indexed fields).
   */
  /**
   * Set by `decode` when the block's header list (RFC 9113 §6.5.2: name + value + 32 per field)
   * went over its `maxSize`: fields past that point were decoded (the dynamic table must see
   * them) but not listed, so a block that names one large table entry thousands of times costs
   * the decoding, not thousands of copies.
   */
  oversize = false;

  decode(block: Buffer, maxFields: number, maxSize = Infinity): string[] {
    const out: string[] = [];
    this.pos = 0;
    this.oversize = false;
    this.listSize = 0;
    this.maxSize = maxSize;
    let first = true;
    while (this.pos < block.length) {
      const b = block[this.pos]!;
      if (b >= 0x80) {
        // indexed field
        const i = this.int(block, 7);
        if (i === 0) throw new HpackError('indexed field 0');
        this.push(out, this.nameAt(i), this.valueAt(i), maxFields);
      } else if (b >= 0x40) {
        // literal with incremental indexing
        const i = this.int(block, 6);
        const name = i === 0 ? this.str(block) : this.nameAt(i);
        const value = this.str(block);
        this.add(name, value);
        this.push(out, name, value, maxFields);
      } else if (b >= 0x20) {
        // dynamic table size update: only before the first field
        if (!first) throw new HpackError('table size update after a field');
        const n = this.int(block, 5);
        if (n > this.limit) throw new HpackError(`table size ${n} above the ${this.limit} allowed`);
        this.max = n;
        this.evict(0);
        continue;
      } else {
        // literal without indexing (0000) or never indexed (0001)
        const i = this.int(block, 4);
        const name = i === 0 ? this.str(block) : this.nameAt(i);
        this.push(out, name, this.str(block), maxFields);
      }
      first = false;
    }
    return out;
  }

  private listSize = 0;
  private maxSize = Infinity;

  private push(out: string[], name: string, value: string, maxFields: number): void {
    if (out.length >= maxFields * 2) throw new HpackError(`more than ${maxFields} fields in one block`);
    if (this.oversize) return;
    this.listSize += name.length + value.length + 32;
    if (this.listSize > this.maxSize) {
      this.oversize = true;
      return;
    }
    out.push(name, value);
  }

  private int(b: Buffer, prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = b[this.pos++]! & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= b.length) throw new HpackError('integer cut short');
      const x = b[this.pos++]!;
      v += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new HpackError('integer too large');
    }
    if (v > 0x7fffffff) throw new HpackError('integer too large');
    return v;
  }

  private str(b: Buffer): string {
    if (this.pos >= b.length) throw new HpackError('string cut short');
    const huff = (b[this.pos]! & 0x80) !== 0;
    const len = this.int(b, 7);
    const start = this.pos;
    const end = start + len;
    if (end > b.length) throw new HpackError('string longer than the block');
    this.pos = end;
    if (len < REUSE_MIN || len > REUSE_MAX) return this.literal(b, huff, start, end);
    // The same bytes as the last long literal: the same string, without decoding it again.
    const last = this.lastRaw;
    if (last !== undefined && last.length === len && this.lastHuff === huff && b.compare(last, 0, len, start, end) === 0)
      return this.lastString;
    const s = this.literal(b, huff, start, end);
    this.lastRaw = Buffer.from(b.subarray(start, end));
    this.lastHuff = huff;
    this.lastString = s;
    return s;
  }

  private literal(b: Buffer, huff: boolean, start: number, end: number): string {
    if (!huff) return b.toString('latin1', start, end);
    const s = huffmanDecode(b, start, end);
    if (s === undefined) throw new HpackError('invalid Huffman coding');
    return s;
  }

  /**
   * The last literal of REUSE_MIN–REUSE_MAX bytes as sent, and its string. A bearer token comes on
   * every request of a connection as a literal the table never holds (nghttp2, Envoy and curl
   * never index `authorization`): it is decoded once per connection, not once per request.
   */
  private lastRaw: Buffer | undefined;
  private lastHuff = false;
  private lastString = '';

  /** Ring position of dynamic index `i` (62 the newest entry); throws past the table. */
  private slot(i: number): number {
    const d = i - STATIC_TABLE.length - 1;
    if (d >= this.count) throw new HpackError(`index ${i} past the tables`);
    return (this.head + this.count - 1 - d) & this.mask;
  }

  private nameAt(i: number): string {
    if (i <= STATIC_TABLE.length) return STATIC_TABLE[i - 1]![0];
    return this.names[this.slot(i)]!;
  }

  private valueAt(i: number): string {
    if (i <= STATIC_TABLE.length) return STATIC_TABLE[i - 1]![1];
    return this.values[this.slot(i)]!;
  }

  private add(name: string, value: string): void {
    const s = name.length + value.length + 32;
    if (s > this.max) {
      this.evict(this.max + 1); // RFC 7541 §4.4: the table is emptied
      return;
    }
    this.evict(s);
    const at = (this.head + this.count) & this.mask;
    this.names[at] = name;
    this.values[at] = value;
    this.count++;
    this.size += s;
  }

  /** Drop the oldest entries until `room` more bytes fit under the table size. */
  private evict(room: number): void {
    while (this.size + room > this.max && this.count > 0) {
      const h = this.head;
      this.size -= this.names[h]!.length + this.values[h]!.length + 32;
      this.names[h] = '';
      this.values[h] = '';
      this.head = (h + 1) & this.mask;
      this.count--;
    }
  }
}

/** Static-table index of each name (the first entry with it), for the encoder. */
const NAME_INDEX: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  STATIC_TABLE.forEach(([n], i) => {
    if (!m.has(n)) m.set(n, i + 1);
  });
  return m;
})();
/** `:status` values with an entry of their own. */
const STATUS_INDEX: ReadonlyMap<number, number> = new Map([
  [200, 8],
  [204, 9],
  [206, 10],
  [304, 11],
  [400, 12],
  [404, 13],
  [500, 14],
]);

let out = Buffer.allocUnsafe(16 * 1024);

function room(at: number, n: number): void {
  if (at + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + n));
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

function putInt(at: number, v: number, prefix: number, first: number): number {
  room(at, 6);
  const max = (1 << prefix) - 1;
  if (v < max) {
    out[at++] = first | v;
    return at;
  }
  out[at++] = first | max;
  v -= max;
  while (v >= 128) {
    out[at++] = (v % 128) + 128;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

function putStr(at: number, s: string): number {
  at = putInt(at, s.length, 7, 0);
  room(at, s.length);
  return at + out.write(s, at, s.length, 'latin1');
}

/**
 * Encode a response header block (`status` < 0: trailers) after `reserve` bytes left free (for
 * the frame header), without
 * the dynamic table or Huffman coding (valid for every decoder, cheap to produce): `:status`
 * indexed or with its static name, other fields as literals without indexing, by static name
 * where there is one. Names must already be lowercase. Returns a fresh buffer.
 */
/** Header values as node:http types them. */
export type FieldValues = Readonly<Record<string, number | string | readonly string[] | undefined>>;

export function encodeBlock(reserve: number, status: number, fields: FieldValues, tableSizeUpdate = false): Buffer {
  let at = reserve;
  room(at, 16);
  // The peer changed SETTINGS_HEADER_TABLE_SIZE: the first block after it starts with a dynamic
  // table size update (RFC 7541 §4.2). This encoder never indexes, so the size it announces is 0.
  if (tableSizeUpdate) out[at++] = 0x20;
  if (status >= 0) {
    // < 0: a trailers block, which has no :status
    const si = STATUS_INDEX.get(status);
    if (si !== undefined) out[at++] = 0x80 | si;
    else {
      out[at++] = 0x08;
      at = putStr(at, String(status));
    }
  }
  for (const name in fields) {
    if (name.charCodeAt(0) === 58) continue; // pseudo-headers: only :status, written above
    const v = fields[name];
    if (v === undefined) continue;
    const ni = NAME_INDEX.get(name);
    if (Array.isArray(v)) {
      for (const x of v as readonly string[]) at = field(at, name, ni, x);
    } else {
      at = field(at, name, ni, typeof v === 'string' ? v : String(v));
    }
  }
  const b = Buffer.allocUnsafe(at);
  out.copy(b, 0, 0, at);
  return b;
}

function field(at: number, name: string, ni: number | undefined, value: string): number {
  if (ni !== undefined) at = putInt(at, ni, 4, 0);
  else {
    room(at, 1);
    out[at++] = 0;
    at = putStr(at, name);
  }
  return putStr(at, value);
}
