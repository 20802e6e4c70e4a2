import hpack from 'hpack.js';
import { encodeBlock, HpackDecoder, HpackError } from '../../../sidecar/src/protocol/http2/hpack.js';
import { Choices, must, timeBoundedSync } from '../property.js';

/**
 * HPACK (RFC 7541), sidegate's decoder and encoder.
 *
 * Decoding, differential against hpack.js (an independent implementation): the input is a
 * connection's worth of header blocks, decoded in order by both with 4096-byte tables. Both must
 * accept a block and list the same fields, or both refuse it (the connection would end there).
 * Where the two may rightly differ, the RFC decides and the case is named below.
 *
 * Encoding, round trip: fields made from the input are encoded by `encodeBlock` and must decode to
 * the same list with sidegate's decoder and with hpack.js's.
 *
 * Bounded: the listed bytes never exceed the header list size asked for (the oversize flag says
 * fields were dropped), and time per input as in property.ts.
 */

export const maxLen = 8192;
export const sync = true;

const MAX_FIELDS = 1000;
const MAX_LIST = 16384;

/**
 * hpack.js's decoder without its stream wrapper: Jazzer runs a sync target without ever yielding
 * to the event loop, and the stream's process.nextTick callbacks (one per write and per field)
 * would pile up unrun, a leak of the harness and not of either decoder. So blocks go straight to
 * its bit decoder and fields come back through `push`, which its decoding steps call.
 */
type Decompressor = ReturnType<typeof hpack.decompressor.create>;
interface Bare {
  _decoder: { push(b: Buffer): void };
  push(f: { name: string; value: string }): boolean;
  execute(): void;
}

function theirs(d: Decompressor, block: Buffer): string[] | Error {
  const bare = d as unknown as Bare;
  const got: string[] = [];
  bare.push = (f) => {
    got.push(f.name, f.value);
    return true;
  };
  try {
    bare._decoder.push(block);
    bare.execute();
    return got;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function decodeDifferential(c: Choices): void {
  const mine = new HpackDecoder(4096);
  const other = hpack.decompressor.create({ table: { maxSize: 4096 } });
  while (c.left > 0) {
    const block = c.bytes(1 + c.below(200));
    let ours: string[] | HpackError;
    try {
      ours = mine.decode(block, MAX_FIELDS, Infinity);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err; // anything else escaping is a bug
      ours = err;
    }
    const them = theirs(other, block);
    if (ours instanceof HpackError) {
      if (them instanceof Error) return;
      // Refusals where hpack.js is laxer than the RFC, each checked against the block:
      // a table size update after a field (RFC 7541 §4.2: MUST be at the start of a block),
      // more fields than we allow in one block (our bound, not the RFC's).
      if (/table size update after a field|more than \d+ fields/.test(ours.message)) return;
      must(false, () => `sidegate refused a block hpack.js decoded (${ours.message}): ${block.toString('hex')} → ${JSON.stringify(them)}`);
    }
    must(
      !(them instanceof Error),
      () => `hpack.js refused a block sidegate decoded (${(them as Error).message}): ${block.toString('hex')} → ${JSON.stringify(ours)}`,
    );
    must(
      JSON.stringify(ours) === JSON.stringify(them),
      () => `decoded differently: ${block.toString('hex')}\n  sidegate ${JSON.stringify(ours)}\n  hpack.js ${JSON.stringify(them)}`,
    );
  }
}

/** The same blocks with a header-list bound: what is listed stays within it. */
function decodeBounded(input: Buffer): void {
  const d = new HpackDecoder(4096);
  const c = new Choices(input);
  while (c.left > 0) {
    const block = c.bytes(1 + c.below(200));
    let list: string[];
    try {
      list = d.decode(block, MAX_FIELDS, MAX_LIST);
    } catch (err) {
      if (err instanceof HpackError) return;
      throw err;
    }
    let size = 0;
    for (let i = 0; i < list.length; i += 2) size += list[i]!.length + list[i + 1]!.length + 32;
    must(size <= MAX_LIST, () => `listed ${size} bytes of fields, above the ${MAX_LIST} asked for`);
  }
}

const TCHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_';

function roundTrip(c: Choices): void {
  const fields: Record<string, string[]> = {};
  const want: string[] = [];
  const status = 100 + c.below(500);
  const n = c.below(12);
  for (let i = 0; i < n && c.left > 0; i++) {
    let name = '';
    const len = 1 + c.below(20);
    for (let k = 0; k < len; k++) name += TCHARS[c.below(TCHARS.length)];
    // Values are any bytes but CR, LF and NUL, as latin1 text (what the fronts hand the encoder).
    const value = [...c.bytes(c.below(300))]
      .filter((b) => b !== 13 && b !== 10 && b !== 0)
      .map((b) => String.fromCharCode(b))
      .join('');
    (fields[name] ??= []).push(value);
  }
  for (const [k, vs] of Object.entries(fields)) for (const v of vs) want.push(k, v);
  want.unshift(':status', String(status));
  const sizeUpdate = c.byte() % 2 === 1;
  const block = encodeBlock(0, status, fields, sizeUpdate);
  const back = new HpackDecoder(4096).decode(block, MAX_FIELDS, Infinity);
  must(
    JSON.stringify(back) === JSON.stringify(want),
    () => `round trip through sidegate's decoder: ${JSON.stringify(want)} → ${JSON.stringify(back)}`,
  );
  const d = hpack.decompressor.create({ table: { maxSize: 4096 } });
  const them = theirs(d, block);
  must(
    JSON.stringify(them) === JSON.stringify(want),
    () =>
      `hpack.js reads sidegate's block differently: ${JSON.stringify(want)} → ${them instanceof Error ? them.message : JSON.stringify(them)}`,
  );
}

export function fuzz(data: Buffer): void {
  timeBoundedSync(data, () => {
    const mode = data[0] ?? 0;
    const rest = data.subarray(1);
    if (mode % 2 === 0) {
      decodeDifferential(new Choices(rest));
      decodeBounded(rest);
    } else roundTrip(new Choices(rest));
  });
}

/** Seed inputs (test/fuzz/corpus/hpack/, written by test/fuzz/seeds.ts). */
export function seeds(): Buffer[] {
  const comp = hpack.compressor.create({ table: { maxSize: 4096 } });
  const blocks: Buffer[] = [];
  for (const path of ['/', '/a', '/a']) {
    comp.write([
      { name: ':method', value: 'GET' },
      { name: ':path', value: path },
      { name: 'x-tenant', value: 'acme' },
      { name: 'cookie', value: 'a=1', neverIndex: true },
    ]);
    for (let b = comp.read(); b !== null; b = comp.read()) blocks.push(b);
  }
  // A decode input is blocks back to back; the length byte layout is the Choices in decodeDifferential.
  const decode = Buffer.concat([Buffer.from([0]), ...blocks.map((b) => Buffer.concat([Buffer.from([b.length - 1]), b]))]);
  return [
    decode,
    Buffer.from([0, 0, 0x82]), // one indexed field
    Buffer.from([0, 1, 0x3f, 0xe1]), // a table size update
    Buffer.concat([Buffer.from([1, 0x20, 3]), Buffer.from('x-a\u0005hello', 'latin1')]), // round trip
  ];
}
