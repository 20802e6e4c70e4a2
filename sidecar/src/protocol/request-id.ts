import { randomFillSync } from 'node:crypto';

/** Ids we accept from clients: short, printable, no separators that could forge log fields. */
const SAFE_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** The client's `x-request-id` when it is safe to echo and log, else a fresh UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && SAFE_ID.test(header) ? header : randomUuid();
}

// Random bytes for 128 ids at a time, as crypto.randomUUID() keeps them, but each id written as
// hex into one buffer and read out as one flat string: randomUUID() joins 20 pieces, ≈ 0.6 KB of
// garbage per request (docs/benchmarks.md, "Allocation per request").
const POOL = 128 * 16;
const pool = Buffer.allocUnsafe(POOL);
let next = POOL;
const text = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where byte i of the id goes in the text. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** A version 4 UUID (RFC 9562 §5.4) from the CSPRNG, lower-case hex. */
export function randomUuid(): string {
  if (next === POOL) {
    randomFillSync(pool);
    next = 0;
  }
  for (let i = 0; i < 16; i++) {
    let b = pool[next + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    const at = AT[i]!;
    text[at] = HEX[b >> 4]!;
    text[at + 1] = HEX[b & 0x0f]!;
  }
  next += 16;
  return text.toString('latin1', 0, 36);
}
