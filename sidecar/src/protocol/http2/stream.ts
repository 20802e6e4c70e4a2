import type { OutgoingHttpHeaders } from 'node:http';
import type { ResponseSink } from '../exchange.js';
import type { BodySource, RequestBody } from '../body.js';
import { ErrorCode } from './frames.js';
import type { FieldValues } from './hpack.js';

/** Response bytes a stream may hold unsent before `write` says wait. */
const HIGH_WATER = 64 * 1024;

/** What a stream needs from its connection. */
export interface StreamOwner {
  readonly dead: boolean;
  /** The socket cannot take more now. */
  readonly blocked: boolean;
  /** Response HEADERS (+ CONTINUATION) for `s`; `end`: END_STREAM on them. */
  sendHeaders(s: H2Stream, status: number, headers: FieldValues, end: boolean): void;
  /** Queue or send response body bytes for `s` within the flow-control windows. */
  sendData(s: H2Stream, chunk: Buffer): void;
  /** Finish `s`'s response once its queued data is out (END_STREAM, or trailers). */
  sendEnd(s: H2Stream): void;
  /** Reset `s` with `code` (sends RST_STREAM unless the peer reset it). */
  reset(s: H2Stream, code: number, byPeer: boolean): void;
  /** `n` request body bytes were consumed: give the peer its window back. */
  credit(s: H2Stream, n: number): void;
}

/**
 * One HTTP/2 request stream and the ResponseSink its exchange writes to. Response bytes that the
 * flow-control windows do not let out yet wait in `queue`; the connection sends them as the peer
 * opens its windows. The request body, when there is one, is a RequestBody whose consumption
 * gives the peer its window back (so a slow reader holds at most one window per stream).
 */
export class H2Stream implements ResponseSink, BodySource {
  headersSent = false;
  bytesOut = 0;
  /** END_STREAM arrived from the client. */
  remoteDone: boolean;
  /** The stream is over and out of the connection's table: our END_STREAM is queued, or it was reset. */
  finished = false;
  /** The response must end with a trailers HEADERS frame (gRPC). */
  wantTrailers = false;
  trailers: OutgoingHttpHeaders | undefined;
  /** `end` was called; END_STREAM goes once `queue` is empty. */
  endPending = false;
  sendWindow: number;
  recvWindow: number;
  /** Response bytes waiting for a window, oldest first, and their total. */
  queue: Buffer[] | undefined;
  queued = 0;
  /** Header of this stream's last DATA frame in the connection's unsent batch (END_STREAM can be set on it). */
  lastData: Buffer | undefined;
  body: RequestBody | undefined;
  /** Request body bytes received and the declared content-length (-1: none). */
  received = 0;
  expected = -1;
  /** Consumed request bytes not yet given back as WINDOW_UPDATE, and received ones the reader has not taken. */
  credits = 0;
  owed = 0;
  full = false;
  private closeCbs: (() => void)[] | undefined;
  private drainCbs: (() => void)[] | undefined;

  constructor(
    private readonly owner: StreamOwner,
    readonly id: number,
    endStream: boolean,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.remoteDone = endStream;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get closed(): boolean {
    return this.finished || this.owner.dead;
  }

  writeHead(status: number, headers: OutgoingHttpHeaders, endStream = false, trailers = false): void {
    if (this.headersSent || this.finished || this.owner.dead) return;
    this.headersSent = true;
    this.wantTrailers = trailers;
    this.owner.sendHeaders(this, status, headers, endStream);
  }

  write(chunk: Uint8Array): boolean {
    if (this.finished || this.endPending || this.owner.dead) return true; // gone: the bytes have nowhere to go
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.bytesOut += b.length;
    if (b.length > 0) this.owner.sendData(this, b);
    return this.queued < HIGH_WATER && !this.owner.blocked;
  }

  onDrain(cb: () => void): void {
    (this.drainCbs ??= []).push(cb);
  }

  /** The connection sent some of the queue (or the socket drained): wake writers if there is room now. */
  drained(): void {
    if (this.drainCbs === undefined || this.queued >= HIGH_WATER || this.owner.blocked) return;
    const cbs = this.drainCbs;
    this.drainCbs = undefined;
    for (const cb of cbs) cb();
  }

  end(chunk?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void {
    if (this.finished || this.endPending || this.owner.dead) return;
    if (!this.headersSent) this.writeHead(200, {});
    if (chunk !== undefined) this.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.trailers = trailers;
    this.endPending = true;
    this.owner.sendEnd(this);
  }

  abort(): void {
    if (this.finished) return;
    this.owner.reset(this, ErrorCode.InternalError, false);
  }

  onClose(cb: () => void): void {
    if (this.finished) {
      queueMicrotask(cb);
      return;
    }
    (this.closeCbs ??= []).push(cb);
  }

  /** Called by the connection once, when the stream leaves its table. */
  finish(): void {
    this.finished = true;
    this.queue = undefined;
    this.drainCbs = undefined;
    const cbs = this.closeCbs;
    this.closeCbs = undefined;
    if (cbs !== undefined) for (const cb of cbs) cb();
  }

  // --- BodySource: the request body's reader

  bodyWanted(): void {
    this.full = false;
    if (this.owed > 0) {
      const n = this.owed;
      this.owed = 0;
      this.owner.credit(this, n);
    }
  }

  bodyFull(): void {
    this.full = true;
  }
}
