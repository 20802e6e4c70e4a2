import { Readable } from 'node:stream';

function ignore(): void {
  /* see RequestBody */
}

/** Flow control toward the connection the body is read from. */
export interface BodySource {
  /** The consumer wants more: read the socket again if the body had stopped it. */
  bodyWanted(): void;
  /** The consumer is full: stop reading the socket. */
  bodyFull(): void;
}

/**
 * A request body as a Readable, fed by the connection's parser. Only requests that have a body
 * get one (most do not: they share EMPTY_BODY). Backpressure reaches the socket: when the reader
 * is full the connection stops reading until `_read` asks again.
 */
export class RequestBody extends Readable {
  constructor(private readonly source: BodySource) {
    super({ highWaterMark: 64 * 1024 });
    // Failures are read from `errored` by whoever streams the body (or nobody, if it is refused
    // before that): an 'error' event alone must never crash the process.
    this.on('error', ignore);
  }

  override _read(): void {
    this.source.bodyWanted();
  }

  /** A chunk from the parser. */
  chunk(b: Buffer): void {
    if (this.destroyed) return;
    if (!this.push(b)) this.source.bodyFull();
  }
}

/** The body of every request without one: already ended, shared, never read by anyone. */
export const EMPTY_BODY: Readable = new Readable({
  read() {
    /* nothing to read */
  },
});
EMPTY_BODY.push(null);
EMPTY_BODY.resume();
