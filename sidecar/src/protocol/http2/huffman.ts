/**
 * HPACK's Huffman code (RFC 7541 Appendix B), decoding only: sidegate never Huffman-encodes.
 *
 * The code is canonical (codes of one length are consecutive, in symbol order, after all shorter
 * ones), so the bit lengths below define it; `codes()` rebuilds the table's codes from them. A
 * string is decoded four bits at a time through a state machine built once from the code's tree:
 * the states are the tree's 256 inner nodes, and no four bits can complete more than one symbol
 * (the shortest code has five).
 */

/** Bit length of the code of each symbol 0–255, then EOS (256), from RFC 7541 Appendix B. */
export const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10,
  12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7,
  7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22,
  23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22,
  23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20,
  24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/** The canonical codes for CODE_LENGTHS, by symbol (exported for the tests that check them against the RFC). */
export function codes(): number[] {
  const order = CODE_LENGTHS.map((_, s) => s).sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const s of order) {
    const l = CODE_LENGTHS[s]!;
    code *= 2 ** (l - len); // up to 30 bits: multiply, not shift, to stay clear of the sign bit
    len = l;
    out[s] = code;
    code++;
  }
  return out;
}

// Entry layout of the decoding table: next state in bits 0–7, a symbol was completed (bit 8), the
// symbol in bits 9–17, the walk hit EOS or left the tree (bit 30).
const EMIT = 0x100;
const FAIL = 0x40000000;

interface Tables {
  /** [state * 16 + nibble] → entry. */
  readonly step: Int32Array;
  /** The state may end a string: the root, or a run of at most 7 one-bits (EOS's prefix, the padding). */
  readonly accepting: Uint8Array;
}

function build(): Tables {
  // The tree: inner nodes are numbered as they are made (root 0); children < 0 are leaves (~symbol).
  const kids: number[][] = [[0, 0]];
  const c = codes();
  for (let s = 0; s <= EOS; s++) {
    const len = CODE_LENGTHS[s]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(c[s]! / 2 ** i) % 2;
      if (i === 0) {
        kids[node]![bit] = ~s;
        break;
      }
      let next = kids[node]![bit]!;
      if (next === 0) {
        next = kids.length;
        kids.push([0, 0]);
        kids[node]![bit] = next;
      }
      node = next;
    }
  }
  if (kids.length !== 256) throw new Error(`HPACK Huffman tree has ${kids.length} inner nodes, expected 256`);
  const accepting = new Uint8Array(256);
  accepting[0] = 1;
  for (let node = 0, depth = 0; depth < 7; depth++) {
    node = kids[node]![1]!;
    accepting[node] = 1;
  }
  const step = new Int32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nib = 0; nib < 16; nib++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = kids[node]![(nib >> i) & 1]!;
        if (next < 0) {
          const sym = ~next;
          if (sym === EOS || (entry & EMIT) !== 0) {
            entry |= FAIL;
            break;
          }
          entry |= EMIT | (sym << 9);
          node = 0;
        } else {
          node = next;
        }
      }
      step[state * 16 + nib] = entry | node;
    }
  }
  return { step, accepting };
}

let tables: Tables | undefined;
let scratch = Buffer.allocUnsafe(4096);

/**
 * Decode `src[start, end)` as a Huffman-coded string (latin1). Undefined when it is not a valid
 * coding: an EOS symbol inside, padding longer than seven bits, or padding that is not EOS's
 * prefix (all RFC 7541 §5.2 decoding errors).
 */
export function huffmanDecode(src: Buffer, start: number, end: number): string | undefined {
  const t = (tables ??= build());
  const step = t.step;
  // The shortest code is 5 bits: at most 8/5 of a symbol per byte.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    let e = step[(state << 4) | (b >> 4)]!;
    if ((e & FAIL) !== 0) return undefined;
    if ((e & EMIT) !== 0) out[n++] = (e >> 9) & 0xff;
    e = step[((e & 0xff) << 4) | (b & 15)]!;
    if ((e & FAIL) !== 0) return undefined;
    if ((e & EMIT) !== 0) out[n++] = (e >> 9) & 0xff;
    state = e & 0xff;
  }
  if (t.accepting[state] !== 1) return undefined;
  return out.toString('latin1', 0, n);
}
