import { performance } from 'node:perf_hooks';

/**
 * What every fuzz target checks on every input, beside its own oracles: an exception the code
 * under test lets escape is a crash (the fuzzer reports it with the input); a broken property is
 * thrown as a PropertyViolation, which the fuzzer reports the same way.
 */
export class PropertyViolation extends Error {
  override readonly name = 'PropertyViolation';
}

export function must(cond: boolean, what: () => string): asserts cond {
  if (!cond) throw new PropertyViolation(what());
}

/**
 * Time per input is bounded: an input that takes longer than this (at most 64 KiB of it) is a
 * finding, whatever the input size. Run again twice before it counts, and only the fastest of
 * the three is judged, so a GC pause or a busy machine does not make a finding.
 */
export const TIME_LIMIT_MS = 100;

export async function timeBounded(input: Buffer, run: () => Promise<void>): Promise<void> {
  let best = Infinity;
  for (let i = 0; i < 3 && best > TIME_LIMIT_MS; i++) {
    const t0 = performance.now();
    await run();
    best = Math.min(best, performance.now() - t0);
  }
  slow(input, best);
}

/** timeBounded for a synchronous target (Jazzer's --sync mode, many more inputs a second). */
export function timeBoundedSync(input: Buffer, run: () => void): void {
  let best = Infinity;
  for (let i = 0; i < 3 && best > TIME_LIMIT_MS; i++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, performance.now() - t0);
  }
  slow(input, best);
}

function slow(input: Buffer, ms: number): void {
  if (ms > TIME_LIMIT_MS)
    throw new PropertyViolation(`${ms.toFixed(1)} ms for a ${input.length}-byte input, above the ${TIME_LIMIT_MS} ms bound`);
}

/**
 * A message for people: one line, no control characters (C0, DEL, C1, U+2028, U+2029). Values
 * it echoes from the input must be quoted with those escaped.
 */
export function oneLine(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return false;
  }
  return true;
}

/** Reads a fuzz input as a sequence of choices and byte strings (what FuzzedDataProvider does, without needing the addon). */
export class Choices {
  private at = 0;
  constructor(private readonly data: Buffer) {}
  get left(): number {
    return this.data.length - this.at;
  }
  byte(): number {
    return this.at < this.data.length ? this.data[this.at++]! : 0;
  }
  below(n: number): number {
    return n <= 1 ? 0 : this.byte() % n;
  }
  bytes(n: number): Buffer {
    const b = this.data.subarray(this.at, Math.min(this.data.length, this.at + n));
    this.at += b.length;
    return b;
  }
  rest(): Buffer {
    return this.bytes(this.left);
  }
}
