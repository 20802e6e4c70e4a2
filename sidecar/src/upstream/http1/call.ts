import type { Readable } from 'node:stream';
import type { Clock } from '../../clock.js';
import { SidecarError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import { H } from '../../protocol/headers.js';
import { addField } from '../../protocol/http1/fields.js';
import { resendable } from '../../protocol/methods.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { CLIENT_CLOSED, interimFlood, MAX_INTERIM, upstreamError } from '../errors.js';
import { requestHead, responseHeadersFromFields } from '../headers.js';
import type { ConnUser, UpstreamConn } from './conn.js';
import type { ConnPool } from './pool.js';

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

export interface CallDeps {
  readonly pool: ConnPool;
  readonly clock: Clock;
  readonly metrics: Metrics;
}

const enum State {
  Sending,
  Receiving,
  Done,
}

/**
 * One request to the app over a pooled HTTP/1.1 connection: writes the head (and streams the
 * body), relays the response into the exchange's sink as llhttp parses it, and settles. The
 * timeout runs from sending until the response head, then between body chunks. A keep-alive
 * connection the app closed just as it was reused (nothing received yet) is retried once on a
 * fresh connection for idempotent requests without a body — the app cannot have acted on it.
 * (The breaker stage's policy retry of refused connections is a separate layer; both ask
 * `resendable`.)
 */
export class UpstreamCall implements ConnUser {
  private conn: UpstreamConn | undefined;
  private state = State.Sending;
  private timer: NodeJS.Timeout | undefined;
  private retried = false;
  private informational = false;
  private interim = 0;
  /** This call stopped its connection's reading for a client slower than the app. */
  private readingPaused = false;
  /** The request body was written whole (else the connection cannot be reused). */
  private bodySent: boolean;
  private pump: BodyPump | undefined;

  constructor(
    private readonly ex: Exchange,
    private readonly deps: CallDeps,
    private readonly resolve: () => void,
    private readonly reject: (e: unknown) => void,
  ) {
    this.bodySent = !ex.hasBody;
  }

  start(): void {
    const ex = this.ex;
    if (ex.hasBody && ex.body.destroyed) {
      // The client's body already failed (bad framing, too slow, gone): the app never hears of it.
      this.state = State.Done;
      if (ex.sink.closed) {
        ex.status = CLIENT_CLOSED;
        this.resolve();
        return;
      }
      this.reject(ex.body.errored ?? Object.assign(new Error('the request body was cut short'), { code: 'ECONNRESET' }));
      return;
    }
    ex.upstreamStart = this.deps.clock.monotonic();
    if (ex.sink.closed) {
      this.clientGone();
      return;
    }
    ex.sink.onClose(() => this.clientGone());
    if (ex.timeoutMs > 0) {
      this.timer = setTimeout(onTimeout, ex.timeoutMs, this);
      this.timer.unref();
    }
    this.attach();
  }

  private attach(): void {
    const idle = this.deps.pool.take();
    if (idle !== undefined) {
      this.conn = idle;
      idle.user = this;
      this.send();
      return;
    }
    const c = this.deps.pool.open();
    this.conn = c;
    c.user = this; // onConnected sends
  }

  onConnected(): void {
    this.send();
  }

  private send(): void {
    const c = this.conn!;
    c.responded = false;
    const ex = this.ex;
    const chunked = ex.hasBody && ex.headers[H.contentLength] === undefined;
    c.socket.write(requestHead(ex, chunked), 'latin1');
    if (ex.hasBody) this.pump = new BodyPump(ex.body, c, chunked, this);
  }

  // --- response, from the connection's parser

  onHead(status: number, fields: readonly string[], keepAlive: boolean): number {
    if (this.state === State.Done) return 0;
    if (status === 101) {
      // A switch to another protocol nobody offered: Upgrade requests go through the tunnel, not
      // here. Relayed, it would leave the client (or a proxy in front) believing the connection
      // had left HTTP while it had not.
      this.fail(Object.assign(new Error('the app answered 101 to a request without Upgrade'), { code: 'HPE_INVALID_STATUS' }));
      return 0;
    }
    if (status < 200) {
      if (++this.interim > MAX_INTERIM) {
        this.fail(interimFlood());
        return 0;
      }
      this.informational = true;
      return 0;
    } // 100, 103: not relayed
    const ex = this.ex;
    this.state = State.Receiving;
    ex.status = status;
    let trailers = false;
    for (let i = 0; i < fields.length; i += 2) {
      const n = fields[i]!;
      if (n.length === 10 && keepAlive && n.toLowerCase() === 'keep-alive') this.deps.pool.hint(this.conn!, fields[i + 1]!);
      else if (n.length === 7 && n.toLowerCase() === 'trailer') trailers = true;
    }
    // An HTTP/2 client that asked for trailers (te: trailers) gets the ones the app announced.
    const te = trailers && ex.protocol === 'h2' ? ex.headers[H.te] : undefined;
    ex.sink.writeHead(status, responseHeadersFromFields(ex, fields), false, te !== undefined && te.includes('trailers'), true);
    return ex.method === 'HEAD' ? 1 : 0;
  }

  onBody(chunk: Buffer): void {
    if (this.state !== State.Receiving) return;
    this.timer?.refresh();
    const sink = this.ex.sink;
    if (!sink.write(chunk) && !this.readingPaused) {
      const c = this.conn!;
      this.readingPaused = true;
      c.pauseReading();
      sink.onDrain(() => {
        // Only the pause this call made, on the connection it still holds.
        if (!this.readingPaused || this.conn !== c) return;
        this.readingPaused = false;
        c.resumeReading();
      });
    }
  }

  onComplete(trailers: readonly string[] | undefined): void {
    if (this.informational) {
      this.informational = false;
      return;
    }
    if (this.state !== State.Receiving) return;
    const c = this.conn!;
    this.settle();
    let t: Record<string, string | string[]> | undefined;
    if (trailers !== undefined) {
      t = {};
      for (let i = 0; i + 1 < trailers.length; i += 2) addField(t, trailers[i]!, trailers[i + 1]!);
    }
    // Reused only when in step: not when the app answered before reading the whole body, nor
    // after a HEAD (whether the app sent a body after its head cannot be told: those bytes would
    // be the next call's response) or a 101 (the app left HTTP). Back in the pool once the read
    // that carried this response's end is parsed (`park`): bytes after it close the connection.
    // A connection paused for a slow client reads again first: the response is all in hand, and
    // the next call on it, someone else's, must not wait for this client to read.
    if (this.bodySent && this.ex.method !== 'HEAD' && this.ex.status !== 101) {
      const pool = this.deps.pool;
      const paused = this.readingPaused;
      this.readingPaused = false;
      c.park(() => {
        if (paused) c.resumeReading();
        pool.release(c);
      });
    } else c.close();
    this.ex.sink.end(undefined, t);
    this.resolve();
  }

  /** The connection's parser has handled a read: a response head that came without body goes out. */
  onReadDone(): void {
    if (this.state === State.Receiving) this.ex.sink.flush?.();
  }

  onConnError(err: Error): void {
    if (this.state === State.Done) return;
    const c = this.conn;
    if (this.state === State.Sending && c !== undefined && c.served > 0 && !c.responded && !this.retried && resendable(this.ex)) {
      // The app closed an idle connection as we reused it: it never saw this request.
      this.retried = true;
      this.pump?.stop();
      this.attach();
      return;
    }
    this.fail(err);
  }

  /** A failure of the call: the client learns what happened (or nothing, if it is gone). */
  fail(err: unknown): void {
    if (this.state === State.Done) return;
    const ex = this.ex;
    this.settle();
    const c = this.conn;
    this.conn = undefined;
    if (c !== undefined && !c.dead) c.close();
    if (ex.sink.closed) {
      if (ex.status === 0 || !ex.sink.headersSent) ex.status = CLIENT_CLOSED;
      this.resolve();
      return;
    }
    // The client's own request failed (bad body framing, too slow): that is its answer.
    this.reject(err instanceof SidecarError ? err : upstreamError(err, ex.timeoutMs, this.deps.metrics));
  }

  /** The client went away (or the exchange ended): cancel the call to the app. */
  clientGone(): void {
    if (this.state === State.Done) return;
    const ex = this.ex;
    this.settle();
    const c = this.conn;
    this.conn = undefined;
    if (c !== undefined) c.close();
    if (ex.status === 0 || !ex.sink.headersSent) ex.status = CLIENT_CLOSED;
    this.resolve();
  }

  timedOut(): void {
    this.fail(Object.assign(new Error('the app did not answer in time'), { code: 'SIDEGATE_UPSTREAM_TIMEOUT' }));
  }

  bodyDone(): void {
    this.bodySent = true;
    this.pump = undefined;
  }

  private settle(): void {
    this.state = State.Done;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.pump?.stop();
    this.pump = undefined;
    const ex = this.ex;
    ex.upstreamMs = this.deps.clock.monotonic() - ex.upstreamStart;
    if (this.conn !== undefined) this.conn.user = undefined;
  }
}

function onTimeout(call: UpstreamCall): void {
  call.timedOut();
}

/**
 * Streams a request body to the app: Content-Length bodies byte for byte, the rest with chunked
 * encoding, pausing the body while the app's socket is full. A body that fails (the client's
 * framing was bad, it was too slow, or it went away) aborts the call: the app sees its request
 * cut off, never a complete request with a cut body.
 */
class BodyPump {
  private readonly onData = (chunk: Buffer): void => {
    if (chunk.length === 0) return;
    const s = this.conn.socket;
    let ok: boolean;
    if (this.chunked) {
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      ok = s.write(CRLF, 'latin1');
    } else {
      ok = s.write(chunk);
    }
    if (!ok) {
      this.body.pause();
      s.once('drain', this.onDrain);
    }
  };
  private readonly onDrain = (): void => {
    this.body.resume();
  };
  private readonly onEnd = (): void => {
    if (this.chunked) this.conn.socket.write(LAST_CHUNK, 'latin1');
    this.stop();
    this.call.bodyDone();
  };
  private readonly onError = (err: Error): void => {
    this.stop();
    this.call.fail(err);
  };
  private readonly onClose = (): void => {
    // Closed without ending: the client's stream was reset or destroyed.
    this.stop();
    this.call.fail(Object.assign(new Error('the request body was cut short'), { code: 'ECONNRESET' }));
  };

  constructor(
    private readonly body: Readable,
    private readonly conn: UpstreamConn,
    private readonly chunked: boolean,
    private readonly call: UpstreamCall,
  ) {
    if (body.destroyed) {
      // Failed or cut off before the call began (the client's framing was bad, or it left).
      const err = body.errored ?? Object.assign(new Error('the request body was cut short'), { code: 'ECONNRESET' });
      queueMicrotask(() => call.fail(err));
      return;
    }
    body.on('data', this.onData);
    body.once('end', this.onEnd);
    body.once('error', this.onError);
    body.once('close', this.onClose);
    if (body.isPaused()) body.resume();
  }

  stop(): void {
    this.body.off('data', this.onData);
    this.body.off('end', this.onEnd);
    this.body.off('error', this.onError);
    this.body.off('close', this.onClose);
    this.conn.socket.off('drain', this.onDrain);
  }
}
