import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/**
 * The part of a net.Socket the fronts use, in memory, so a fuzz target can feed a connection
 * thousands of byte streams a second: 'data' in, writes collected, end and destroy recorded.
 * Not a stand-in for the network in tests (those use real sockets): only for the fuzz targets.
 */
export class MemorySocket extends EventEmitter {
  readonly written: Buffer[] = [];
  writtenBytes = 0;
  destroyed = false;
  ended = false;
  writable = true;
  readonly remoteAddress = '192.0.2.1';
  readonly remotePort = 40000;
  readonly writableLength = 0;

  write(chunk: Uint8Array | string, enc?: unknown, cb?: unknown): boolean {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, typeof enc === 'string' ? enc as BufferEncoding : 'utf8') : Buffer.from(chunk);
    if (!this.destroyed && !this.ended) { this.written.push(b); this.writtenBytes += b.length; }
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }

  cork(): void { /* writes are collected as they come */ }
  uncork(): void { /* nothing held */ }
  pause(): this { return this; }
  resume(): this { return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  setTimeout(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }

  end(chunk?: Uint8Array | string): this {
    if (chunk !== undefined) this.write(chunk);
    this.ended = true;
    this.writable = false;
    return this;
  }

  destroySoon(): void { this.end(); this.destroy(); }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    process.nextTick(() => this.emit('close', false));
    return this;
  }

  /** The bytes the peer sends. */
  feed(b: Buffer): void { if (!this.destroyed) this.emit('data', b); }

  asSocket(): Socket { return this as unknown as Socket; }

  output(): Buffer { return Buffer.concat(this.written); }
}

/** Split `b` into chunks whose sizes come from `seed` (deterministic per input). */
export function chunks(b: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let at = 0; at < b.length;) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = seed % 4 === 0 ? b.length : 1 + (x % 97) + ((x >>> 16) % 2 === 0 ? 0 : (x >>> 8) % 2000);
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}
