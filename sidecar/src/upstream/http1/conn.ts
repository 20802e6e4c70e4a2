import { connect, type Socket } from 'node:net';
import { consumeSocket, newParser, setConsumedReading, Slot, type LlParser, type ParseError } from '../../protocol/http1/llhttp.js';

/** What a connection reports to the call it is carrying. */
export interface ConnUser {
  /** Response head; return 1 when the response can have no body (HEAD). */
  onHead(status: number, fields: readonly string[], keepAlive: boolean): number;
  onBody(chunk: Buffer): void;
  onComplete(trailers: readonly string[] | undefined): void;
  /** A read has been parsed whole (after the callbacks it brought). */
  onReadDone(): void;
  /** The connection failed or closed before the response was complete. */
  onConnError(err: Error): void;
  /** Connected and ready to write (new connections only). */
  onConnected(): void;
}

/**
 * One keep-alive connection to the app: a socket whose handle llhttp reads in C++ (responses
 * parsed without JavaScript buffers), carrying one call at a time. Parser callbacks are bound once
 * per connection and forwarded to whichever call holds it.
 */
export class UpstreamConn {
  readonly socket: Socket;
  user: ConnUser | undefined;
  /** Requests carried so far (a reused connection may have been closed by the app meanwhile). */
  served = 0;
  /** The last response allowed the connection to be kept. */
  keepAlive = false;
  /** How long it may sit idle: the app's `Keep-Alive: timeout` hint less a second, or the default. */
  keepAliveMs: number;
  idleSince = 0;
  /** Response bytes arrived for the current call (a failure after that cannot be retried). */
  responded = false;
  dead = false;
  private readonly parser: LlParser;
  private fields: string[] = [];
  private headDone = false;
  private consumed = false;
  /** A response has begun and not yet completed. */
  private inResponse = false;
  /** Back to the pool once the read being parsed is done (`park`). */
  private parked: (() => void) | undefined;

  constructor(
    host: string,
    port: number,
    defaultKeepAliveMs: number,
    private readonly onDead: (c: UpstreamConn) => void,
  ) {
    this.keepAliveMs = defaultKeepAliveMs;
    const p = newParser('response', 0);
    this.parser = p;
    p[Slot.MessageBegin] = () => {
      // A response nobody asked for (bytes the app sent beyond the last response's framing: a
      // body on a HEAD answer, a short Content-Length): the connection is out of step, and what
      // follows must never be read as the next call's response.
      if (this.user === undefined) {
        this.fail(Object.assign(new Error('the app sent a response no request was waiting for'), { code: 'SIDEGATE_UPSTREAM_PROTOCOL' }));
        return;
      }
      this.responded = true;
      this.headDone = false;
      this.inResponse = true;
    };
    p[Slot.Headers] = (f: string[]) => {
      for (const x of f) this.fields.push(x);
    };
    p[Slot.HeadersComplete] = (
      _maj: number,
      _min: number,
      f: string[] | undefined,
      _m: unknown,
      _u: unknown,
      status: number,
      _t: unknown,
      _up: boolean,
      ka: boolean,
    ) => {
      let raw = f ?? this.fields;
      if (f !== undefined && this.fields.length > 0) {
        for (const x of f) this.fields.push(x);
        raw = this.fields;
      }
      this.fields = [];
      this.headDone = true;
      this.keepAlive = ka;
      return this.user?.onHead(status, raw, ka) ?? 0;
    };
    p[Slot.Body] = (b: Buffer) => {
      this.user?.onBody(b);
    };
    p[Slot.MessageComplete] = () => {
      this.inResponse = false;
      let trailers: string[] | undefined;
      if (this.headDone && this.fields.length > 0) {
        trailers = this.fields;
        this.fields = [];
      }
      this.user?.onComplete(trailers);
    };
    p[Slot.Execute] = (ret: number | ParseError) => {
      if (typeof ret !== 'number') this.fail(ret);
      this.afterRead();
    };
    const socket = connect({ host, port, noDelay: true });
    this.socket = socket;
    socket.once('connect', () => {
      this.consumed = consumeSocket(p, socket);
      if (!this.consumed)
        socket.on('data', (d: Buffer) => {
          const r = p.execute(d);
          if (typeof r !== 'number') this.fail(r);
          this.afterRead();
        });
      // Flowing, so the app's end of the connection reaches 'end' (data itself goes to the parser).
      socket.resume();
      this.user?.onConnected();
    });
    socket.on('error', (err) => this.fail(err));
    // The app closed its side: a response delimited by the close ends here; anything else
    // in flight is cut short.
    socket.on('end', () => {
      const r = p.finish();
      if (r !== undefined && typeof r !== 'number') this.fail(r);
      else this.fail(Object.assign(new Error('the app closed the connection'), { code: 'ECONNRESET' }));
    });
    socket.on('close', () => this.fail(Object.assign(new Error('the app closed the connection'), { code: 'ECONNRESET' })));
  }

  /**
   * The call's response is complete: `release` puts the connection back in the pool once the
   * rest of the read that carried the response's end has been parsed (responses complete inside
   * the parser), so bytes after it are seen first and close the connection rather than reach
   * the next call, a pipelined client's next request among them.
   */
  park(release: () => void): void {
    this.parked = release;
  }

  private afterRead(): void {
    this.user?.onReadDone();
    const release = this.parked;
    if (release === undefined) return;
    this.parked = undefined;
    if (this.dead) return;
    if (this.inResponse) {
      this.close();
      return;
    } // the start of a stray response: out of step
    release();
  }

  /** Usable for another request now. */
  usable(now: number): boolean {
    return !this.dead && this.keepAlive && now - this.idleSince < this.keepAliveMs && !this.socket.destroyed;
  }

  pauseReading(): void {
    this.setReading(false);
  }
  resumeReading(): void {
    this.setReading(true);
  }

  private setReading(on: boolean): void {
    if (!this.consumed) {
      if (on) this.socket.resume();
      else this.socket.pause();
      return;
    }
    setConsumedReading(this.socket, on);
  }

  /** Broken, closed or no longer wanted: tell the call (once), close the socket, leave the pool. */
  fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.parked = undefined;
    const u = this.user;
    this.user = undefined;
    this.socket.destroy();
    if (this.consumed) {
      this.consumed = false;
      this.parser.unconsume();
    }
    setImmediate(() => this.parser.close());
    this.onDead(this);
    u?.onConnError(err);
  }

  close(): void {
    this.fail(Object.assign(new Error('connection closed by sidegate'), { code: 'SIDEGATE_CLOSED' }));
  }
}
