import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/**
 * The part of a net.Socket the fronts use, in memory, so a fuzz target can feed a connection
 * thousands of byte streams a second: 'data' in, writes collected, end and destroy recorded.
 * Not a stand-in for the network in tests (those use real sockets): only for the fuzz targets.
 *
 * Reading honours pause() as a socket does: bytes fed while paused wait, and resume() delivers
 * them a tick later (a stream resumes on the next tick, never inside the resume() call). It has
 * no `_handle`, so the HTTP/1.1 front reads it through 'data' events and `execute()` (the path
 * `--http1-fast-path off` takes) rather than llhttp's C++ `consume()`.
 */
export class MemorySocket extends EventEmitter {
  readonly written: Buffer[] = [];
  writtenBytes = 0;
  /** Writes after end() or destroy(): a socket refuses them (write after end is an error). */
  lateWrites = 0;
  destroyed = false;
  ended = false;
  writable = true;
  readonly remoteAddress = '192.0.2.1';
  readonly remotePort = 40000;
  readonly writableLength = 0;
  /** pause() was called and resume() not since. */
  isPaused = false;
  /** Bytes fed while paused, delivered after resume(). */
  private readonly backlog: Buffer[] = [];
  private flushing = false;
  /** What a listener threw while bytes were delivered from the backlog (a tick after resume()). */
  thrown: unknown[] = [];

  write(chunk: Uint8Array | string, enc?: unknown, cb?: unknown): boolean {
    const b =
      typeof chunk === 'string' ? Buffer.from(chunk, typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8') : Buffer.from(chunk);
    if (!this.destroyed && !this.ended) {
      this.written.push(b);
      this.writtenBytes += b.length;
    } else if (b.length > 0) this.lateWrites++;
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }

  cork(): void {
    /* writes are collected as they come */
  }
  uncork(): void {
    /* nothing held */
  }
  pause(): this {
    this.isPaused = true;
    return this;
  }
  resume(): this {
    this.isPaused = false;
    if (this.backlog.length > 0 && !this.flushing) {
      this.flushing = true;
      process.nextTick(() => this.flush());
    }
    return this;
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  end(chunk?: Uint8Array | string): this {
    if (chunk !== undefined) this.write(chunk);
    this.ended = true;
    this.writable = false;
    return this;
  }

  destroySoon(): void {
    this.end();
    this.destroy();
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    this.backlog.length = 0;
    process.nextTick(() => this.emit('close', false));
    return this;
  }

  /** The bytes the peer sends: delivered now, or after resume() if reading is paused. */
  feed(b: Buffer): void {
    if (this.destroyed || b.length === 0) return;
    if (this.isPaused || this.backlog.length > 0) {
      this.backlog.push(b);
      return;
    }
    this.emit('data', b);
  }

  /** The peer half-closes ('end' once what it sent was read). */
  feedEnd(): void {
    if (this.destroyed) return;
    if (this.isPaused || this.backlog.length > 0) {
      this.backlog.push(END);
      return;
    }
    this.emit('end');
  }

  /** Bytes fed and not yet read (the connection has reading paused). */
  get unread(): number {
    return this.backlog.reduce((n, b) => n + b.length, 0);
  }

  private flush(): void {
    this.flushing = false;
    try {
      while (this.backlog.length > 0 && !this.isPaused && !this.destroyed) {
        const b = this.backlog.shift()!;
        if (b === END) this.emit('end');
        else this.emit('data', b);
      }
    } catch (err) {
      this.thrown.push(err);
    }
  }

  asSocket(): Socket {
    return this as unknown as Socket;
  }

  output(): Buffer {
    return Buffer.concat(this.written);
  }
}

const END = Buffer.alloc(0);

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
