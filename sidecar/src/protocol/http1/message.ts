import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Exchange, ResponseSink } from '../exchange.js';
import { dateField, fieldLines, statusLine } from './head.js';

/** How the response body is framed on the wire. */
const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

/** What a message needs from its connection. */
export interface MessageOwner {
  readonly socket: Socket;
  readonly destroyed: boolean;
  /** The sidecar is draining, or the connection can carry no further request. */
  lastResponse(): boolean;
  /** This message's response is complete on the wire (or abandoned): start the next one. */
  finished(m: H1Message, close: boolean): void;
  /** Give up on the connection (a response that cannot be completed). */
  destroy(): void;
}

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n';

/** A head and a first body chunk up to this size leave as one buffer (copied): one write call. */
const JOIN_MAX = 16 * 1024;

function flushOnTick(m: H1Message): void {
  m.flush();
}

/**
 * One request/response on an HTTP/1.1 connection, and the ResponseSink its exchange writes to.
 * Writes go straight to the socket. The head is one latin1 string, held until the first body
 * chunk, the end, or the next tick (instead of the tick, the writer's `flush()` when it said it
 * would call one), whichever comes first. A head and a small first chunk leave as one buffer in
 * one write (no cork, no writev of a string and a buffer); a larger or chunked first chunk is
 * corked with the head until that flush or the end. The body is framed by Content-Length, chunked
 * encoding (HTTP/1.1 clients; each chunk's size line, data and CRLF in one writev) or the
 * connection's end (HTTP/1.0). Messages of a pipelined connection only write once they reach the
 * head of its queue.
 */
export class H1Message implements ResponseSink {
  ex!: Exchange;
  bytesOut = 0;
  headersSent = false;
  /** The request's body has been read to its end (or it had none). */
  requestDone: boolean;
  private ended = false;
  private framing = Framing.None;
  private close = false;
  private closeCbs: (() => void)[] | undefined;
  private notified = false;
  /** The head, not yet written (see the class comment). */
  private pendingHead: string | undefined;
  /** The socket was corked with the head and first chunk; `flush` uncorks it. */
  private corked = false;

  constructor(
    private readonly owner: MessageOwner,
    /** HTTP/1.1 client (else 1.0: no chunked encoding). */
    readonly http11: boolean,
    /** The client asked to keep the connection (llhttp's should_keep_alive). */
    readonly keepAlive: boolean,
    readonly head: boolean,
    readonly expectContinue: boolean,
    hasBody: boolean,
  ) {
    this.requestDone = !hasBody;
  }

  get closed(): boolean {
    return this.ended || this.owner.destroyed;
  }

  /** Answer `Expect: 100-continue` when the request's turn comes (node:http's default). */
  sendContinue(): void {
    if (this.expectContinue && !this.headersSent && !this.owner.destroyed) this.owner.socket.write(CONTINUE, 'latin1');
  }

  writeHead(status: number, headers: OutgoingHttpHeaders, endStream = false, _trailers = false, flushes = false): void {
    if (this.headersSent || this.closed) return;
    this.headersSent = true;
    let out = statusLine(status);
    let length = false;
    let date = false;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      // Framing and connection management are this connection's, never the app's or a stage's.
      if (name === 'connection' || name === 'transfer-encoding' || name === 'keep-alive') continue;
      if (name === 'content-length') length = true;
      else if (name === 'date') date = true;
      out += fieldLines(name, v);
    }
    if (!date) out += dateField();
    const bodiless = endStream || this.head || status === 204 || status === 304 || status < 200;
    if (bodiless) {
      this.framing = Framing.None;
      if (endStream && !length && !this.head && status !== 204 && status !== 304 && status >= 200) out += 'content-length: 0\r\n';
    } else if (length) {
      this.framing = Framing.Length;
    } else if (this.http11) {
      this.framing = Framing.Chunked;
      out += 'transfer-encoding: chunked\r\n';
    } else {
      this.framing = Framing.UntilClose;
    }
    // Close after this response when the client asked, the sidecar is draining, the body's end
    // is the connection's end, or the request body was not read (what follows it is unknown).
    this.close = !this.keepAlive || this.framing === Framing.UntilClose || !this.requestDone || this.owner.lastResponse();
    if (this.close) out += 'connection: close\r\n';
    else if (!this.http11) out += 'connection: keep-alive\r\n';
    this.pendingHead = out + CRLF;
    if (endStream) this.end();
    else if (!flushes) process.nextTick(flushOnTick, this);
  }

  /**
   * Write the held head (no body came with it), and uncork what the first chunk corked: at the
   * end, on the next tick, or when the writer that said `flushes` has handled its read.
   */
  flush(): void {
    const head = this.pendingHead;
    const socket = this.owner.socket;
    if (head !== undefined) {
      this.pendingHead = undefined;
      if (!this.owner.destroyed) socket.write(head, 'latin1');
    }
    if (this.corked) {
      this.corked = false;
      socket.uncork();
    }
  }

  /**
   * The held head with the first chunk: one buffer when the chunk is small and sent as it is
   * (Content-Length or close-delimited framing); else the socket is corked with the head until
   * the flush or the end, so they still leave in one writev.
   */
  private headWith(chunk: Uint8Array): boolean {
    const head = this.pendingHead!;
    this.pendingHead = undefined;
    const socket = this.owner.socket;
    if (this.framing !== Framing.Chunked && chunk.byteLength <= JOIN_MAX) {
      const buf = Buffer.allocUnsafe(head.length + chunk.byteLength);
      buf.write(head, 0, 'latin1');
      buf.set(chunk, head.length);
      return socket.write(buf);
    }
    socket.cork();
    this.corked = true;
    socket.write(head, 'latin1');
    return this.body(chunk);
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed || !this.headersSent || chunk.byteLength === 0) return true;
    this.bytesOut += chunk.byteLength;
    if (this.framing === Framing.None) return true;
    return this.pendingHead !== undefined ? this.headWith(chunk) : this.body(chunk);
  }

  /** One body chunk, framed. */
  private body(chunk: Uint8Array): boolean {
    const socket = this.owner.socket;
    if (this.framing !== Framing.Chunked) return socket.write(chunk);
    // Size line, data and CRLF in one writev (unless already corked until the next tick).
    const cork = !this.corked;
    if (cork) socket.cork();
    socket.write(`${chunk.byteLength.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write(CRLF, 'latin1');
    if (cork) socket.uncork();
    return ok;
  }

  onDrain(cb: () => void): void {
    this.owner.socket.once('drain', cb);
  }

  end(chunk?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void {
    if (this.closed) return;
    if (chunk !== undefined) this.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.ended = true;
    if (this.framing === Framing.Chunked) {
      let tail = LAST_CHUNK;
      if (trailers !== undefined)
        for (const name in trailers) {
          const v = trailers[name];
          if (v !== undefined) tail += fieldLines(name, v);
        }
      const head = this.pendingHead ?? '';
      this.pendingHead = undefined;
      this.owner.socket.write(head + tail + CRLF, 'latin1');
    }
    this.flush();
    this.owner.finished(this, this.close);
    this.notifyClosed();
  }

  /** The connection was handed to a tunnel (the app answered 101): nothing more is written here. */
  detach(): void {
    this.ended = true;
    this.notifyClosed();
  }

  abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.pendingHead = undefined; // the connection is cut: nothing more is written
    this.owner.destroy();
    this.notifyClosed();
  }

  onClose(cb: () => void): void {
    if (this.notified) {
      cb();
      return;
    }
    (this.closeCbs ??= []).push(cb);
  }

  /** The exchange is over (finished, aborted, or the client went away). */
  notifyClosed(): void {
    if (this.notified) return;
    this.notified = true;
    const cbs = this.closeCbs;
    this.closeCbs = undefined;
    if (cbs !== undefined) for (const cb of cbs) cb();
  }
}
