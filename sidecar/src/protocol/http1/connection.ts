import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Exchange, type UpgradeOffer } from '../exchange.js';
import { dropConnectionListed, H } from '../headers.js';
import { fieldsToHeaders, hostLines, TWO_HOSTS } from './fields.js';
import { consumeSocket, methodTable, newParser, setConsumedReading, Slot, type LlParser, type ParseError } from './llhttp.js';
import type { FrontContext, Refusal, Refusals } from '../front.js';
import { judgeUpgrade } from './upgrade.js';
import { EMPTY_BODY, RequestBody, type BodySource } from '../body.js';
import { H1Message, type MessageOwner } from './message.js';

/** What a connection needs from the listener that owns it. */
export interface H1Host {
  readonly ctx: FrontContext;
  /** The app's wording of the refusals this engine makes (status, name, body). */
  readonly refusals: Refusals;
  readonly maxHeaderSize: number;
  /** Count a connection refused before a request was formed (sidegate_client_errors_total). */
  clientError(reason: string): void;
  /** The connection is gone (closed, or handed to a tunnel). */
  closed(c: H1Connection): void;
}

/**
 * Parsed requests a connection may hold: the one being answered and those pipelined behind it.
 * At the bound the parser itself stops (mid-read if need be) and the bytes after it wait unparsed.
 */
const MAX_QUEUED = 9;
/** llhttp's HPE_PAUSED: returned from the headers callback, it stops the parser after that head. */
const HPE_PAUSED = 21;
/** How long a refused request's remaining body is read and dropped before the connection is cut. */
const LINGER_MS = 5000;
const EXPECT_CONTINUE = /(?:^|[\s,])100-continue(?:$|[\s,;])/i;

/**
 * Why reading is paused: any bit set keeps the socket unread. `Held`: the parser stopped with
 * bytes left unparsed (the queue is full, or an Upgrade request awaits the app's answer).
 */
const enum Pause {
  Held = 1,
  Body = 2,
  Stopped = 4,
}

/**
 * One client connection speaking HTTP/1.1 (or 1.0): llhttp parses requests straight from the
 * socket handle; each request becomes an Exchange with an H1Message as its sink. Pipelined
 * requests queue up and are answered in order, the next dispatched when the previous response is
 * complete. Timeouts (headers, whole request, idle, linger) are checked by the listener's sweep
 * from the timestamps kept here, so no request carries a timer of its own.
 */
export class H1Connection implements MessageOwner, BodySource {
  destroyed = false;
  /** Monotonic ms when the message now being read began (0: between messages). */
  messageStart: number;
  /** Monotonic ms when the connection last became idle (0: not idle). */
  idleSince = 0;
  /** While a refused request's body is still arriving after the answer: cut at this monotonic ms. */
  lingerUntil = 0;
  readonly remoteAddress: string;
  private readonly parser: LlParser;
  private readonly queue: H1Message[] = [];
  private readonly methods = methodTable();
  /** The message whose body is being read now, and that body. */
  private reading: H1Message | undefined;
  private body: RequestBody | undefined;
  /** Fields and URL of a head llhttp delivered in pieces (more than 32 fields, or split reads). */
  private fields: string[] = [];
  private url = '';
  private paused = 0;
  private consumed = false;
  /** The first message of a read was parsed: dispatch it once the parser has returned. */
  private startPending = false;
  /**
   * A request llhttp flagged as an Upgrade (or CONNECT): once it is parsed, llhttp stops, and
   * what follows stays unparsed until its answer is known: the app's 101 hands the bytes to the
   * tunnel; any other answer lets them be parsed as the next requests.
   */
  private upgradeMsg: H1Message | undefined;
  private upgradeStopped = false;
  /**
   * The connection has carried an Upgrade request. Node's parser binding then hides llhttp's
   * errors (it reports them only while no upgrade flag is set): a read parsed short is one.
   */
  private upgradeSeen = false;
  /** The parser was stopped at the queue bound (HPE_PAUSED) and must be resumed. */
  private parserPaused = false;
  /** Bytes read but not parsed while the parser is stopped (Pause.Held). */
  private held: Buffer | undefined;
  /** A framing error or timeout between requests, answered once the responses before it are out. */
  private failed: Refusal | undefined;
  private ending = false;

  private readonly onSocketError = (): void => {
    this.destroy();
  };
  private readonly onSocketClose = (): void => {
    this.onClose();
  };
  // A client that half-closes with requests outstanding is gone (node:http and nginx agree);
  // between requests its end is answered with ours.
  private readonly onSocketEnd = (): void => {
    if (this.queue.length === 0) this.socket.destroySoon();
    else this.destroy();
  };
  private readonly onSocketData = (d: Buffer): void => {
    this.afterExecute(this.parser.execute(d), d);
  };

  constructor(
    readonly socket: Socket,
    private readonly host: H1Host,
    first: Buffer | undefined,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.messageStart = host.ctx.clock.monotonic(); // the first request's headers are due from now
    const p = newParser('request', host.maxHeaderSize);
    this.parser = p;
    p[Slot.MessageBegin] = () => {
      this.messageStart = this.host.ctx.clock.monotonic();
      this.idleSince = 0;
    };
    p[Slot.Headers] = (f: string[], url: string) => {
      for (const x of f) this.fields.push(x);
      this.url += url;
    };
    p[Slot.HeadersComplete] = (
      _maj: number,
      min: number,
      f: string[] | undefined,
      m: number,
      url: string | undefined,
      _s: unknown,
      _t: unknown,
      up: boolean,
      ka: boolean,
    ) => this.onHeadersComplete(min, f, m, url, up, ka);
    p[Slot.Body] = (b: Buffer) => {
      this.body?.chunk(b);
    };
    p[Slot.MessageComplete] = () => {
      this.onMessageComplete();
    };
    p[Slot.Execute] = (ret: number | ParseError) => {
      this.afterExecute(ret, undefined);
    };
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('end', this.onSocketEnd);
    if (first !== undefined && first.length > 0) this.afterExecute(p.execute(first), first);
    if (this.destroyed || (this.paused & Pause.Stopped) !== 0) return;
    // Read in C++ straight into the parser (results arrive at Slot.Execute), or through 'data'.
    this.consumed = consumeSocket(p, socket);
    if (!this.consumed) socket.on('data', this.onSocketData);
    // The first bytes may already have stopped the parser (a full queue, an Upgrade): read later.
    if (this.paused === 0) socket.resume();
    else this.setReading(false);
  }

  /** Nothing in flight and nothing half-read: safe to close (drain, idle timeout). */
  get idle(): boolean {
    return this.queue.length === 0 && this.messageStart === 0 && this.held === undefined;
  }

  /**
   * Reading a request head the client still owes bytes of, with nothing ahead of it: the headers
   * timeout runs only then. Not while responses to earlier pipelined requests are still owed (the
   * client may wait for them, as nginx lets it) and not while sidegate itself has stopped reading
   * (a full queue, an Upgrade awaiting its answer, a body nobody reads yet); the clock starts
   * afresh when that ends.
   */
  get inHeaders(): boolean {
    return this.messageStart > 0 && this.reading === undefined && this.queue.length === 0 && this.paused === 0 && this.failed === undefined;
  }

  /** Reading a request body (not while sidegate holds the parser stopped). */
  get inBody(): boolean {
    return this.reading !== undefined && (this.paused & Pause.Held) === 0;
  }

  lastResponse(): boolean {
    return this.ending || this.host.ctx.draining();
  }

  // --- parser callbacks

  private onHeadersComplete(
    minor: number,
    f: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    if ((this.paused & Pause.Stopped) !== 0) {
      // Reading has stopped for good (the connection is closing: a refused body just ended, a
      // response said close) but llhttp goes on through the rest of the read. A request there
      // is never answered, so it is never run either (RFC 9112 §9.6): llhttp stops at it.
      this.fields = [];
      this.url = '';
      return HPE_PAUSED;
    }
    let raw = f ?? this.fields;
    if (f !== undefined && this.fields.length > 0) {
      for (const x of f) this.fields.push(x);
      raw = this.fields;
    }
    this.fields = [];
    const target = url ?? this.url;
    this.url = '';
    const headers = fieldsToHeaders(raw);
    const name = this.methods[method] ?? 'GET';
    const te = headers[H.transferEncoding];
    const cl = headers[H.contentLength];
    // llhttp reads no body for CONNECT: what follows it would be the tunnel's bytes.
    const hasBody = name !== 'CONNECT' && (te !== undefined || (cl !== undefined && cl !== '0'));
    const expect = headers.expect;
    const connect = name === 'CONNECT';
    const msg = new H1Message(
      this,
      minor >= 1,
      keepAlive && !connect,
      name === 'HEAD',
      minor >= 1 && expect !== undefined && EXPECT_CONTINUE.test(expect),
      hasBody,
    );
    dropConnectionListed(headers, headers[H.connection]);
    const ex = Exchange.create(
      'http/1.1',
      name,
      target,
      headers.host ?? '',
      this.host.ctx.scheme,
      headers,
      this.remoteAddress,
      hasBody ? (this.body = new RequestBody(this)) : EMPTY_BODY,
      hasBody,
      msg,
      headers[H.requestId],
      this.messageStart,
    );
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host and for any with more than one, so
    // the app never picks a Host the sidecar did not read (llhttp keeps both; we read the first).
    const hosts = hostLines(raw);
    if (hosts > 1) ex.invalid ??= TWO_HOSTS;
    else if (hosts === 0 && minor >= 1) ex.invalid ??= 'HTTP/1.1 request without a Host header';
    msg.ex = ex;
    if (hasBody) this.reading = msg;
    this.queue.push(msg);
    if (this.queue.length === 1) this.startPending = true;
    if (upgrade) {
      // Judged here, answered through the pipeline like any request: a tunnel only after the app's 101.
      this.upgradeMsg = msg;
      this.upgradeSeen = true;
      const j = judgeUpgrade(ex, minor, hasBody);
      if (typeof j === 'string') ex.invalid ??= j;
      else if (j) ex.upgrade = this.offer(msg, headers[H.upgrade] ?? '');
      return 0;
    }
    if (this.queue.length >= MAX_QUEUED) {
      this.parserPaused = true;
      return HPE_PAUSED;
    }
    return 0;
  }

  private onMessageComplete(): void {
    const msg = this.reading;
    // Request trailers are dropped: never merged into the headers stages judged (they would arrive
    // after the checks ran), and not forwarded (as Envoy's HTTP/1.1 codec does by default).
    if (this.fields.length > 0) this.fields = [];
    this.url = ''; // and the URL llhttp reports beside them is not the next request's
    this.messageStart = 0;
    this.reading = undefined;
    const body = this.body;
    this.body = undefined;
    if (msg !== undefined) {
      msg.requestDone = true;
      body?.push(null);
    }
    if (this.lingerUntil > 0) {
      this.lingerUntil = 0;
      this.stopReading();
      this.socket.destroySoon();
      return;
    } // the refused body is over
    if (this.queue.length === 0) this.idleSince = this.host.ctx.clock.monotonic();
  }

  /** After the parser has consumed a buffer: errors, stops, and dispatching what was parsed. */
  private afterExecute(ret: number | ParseError, data: Buffer | undefined): void {
    if (typeof ret !== 'number') {
      if (ret.code === 'HPE_PAUSED') {
        // Stopped at the queue bound: the rest of this read waits, unparsed, for room. (Or at a
        // request after reading stopped for good: nothing will parse it.) A socket read (C++)
        // that reaches a parser already held, when reading should have stopped, was not parsed
        // at all: all of it waits, and reading stops again.
        if ((this.paused & Pause.Stopped) === 0) {
          const buf = data ?? this.parser.getCurrentBuffer();
          const again = data === undefined && (this.paused & Pause.Held) !== 0;
          this.hold(again ? buf : buf.subarray(Math.min(Math.max(ret.bytesParsed ?? 0, 0), buf.length)));
          if (again) this.setReading(false);
        }
      } else {
        this.parseError(ret);
      }
    } else if (this.upgradeMsg !== undefined && !this.upgradeStopped && this.upgradeMsg.requestDone) {
      // llhttp stopped after the Upgrade request: nothing after it is parsed until the app answers.
      this.upgradeStopped = true;
      this.hold((data ?? this.parser.getCurrentBuffer()).subarray(ret));
    } else if (this.upgradeSeen && this.upgradeMsg === undefined && ret < (data ?? this.parser.getCurrentBuffer()).length) {
      this.parseError(Object.assign(new Error('malformed request'), { code: 'HPE_INVALID' }));
    }
    // A request parsed before a stop or an error still runs: its answer comes first.
    if (this.startPending && this.awaitingDrain === undefined) {
      this.startPending = false;
      this.start();
    }
  }

  /** Keep bytes the parser did not take (copied: a read buffer is reused) and stop reading. */
  private hold(rest: Buffer): void {
    if (rest.length > 0) this.held = this.held === undefined ? Buffer.from(rest) : Buffer.concat([this.held, rest]);
    this.pause(Pause.Held);
  }

  /** The reason the parser stopped is gone: parse what was held, then read again. */
  private release(): void {
    if (this.destroyed) return;
    if (this.parserPaused) {
      this.parserPaused = false;
      this.parser.resume();
    }
    this.upgradeMsg = undefined;
    this.upgradeStopped = false;
    const h = this.held;
    this.held = undefined;
    if (h !== undefined) {
      this.afterExecute(this.parser.execute(h), h);
      if (this.destroyed || this.parserPaused || this.upgradeStopped || this.failed !== undefined) return;
    }
    this.resume(Pause.Held);
  }

  // --- flow

  private start(): void {
    const msg = this.queue[0];
    if (msg === undefined || this.destroyed) return;
    msg.sendContinue();
    this.host.ctx.dispatch(msg.ex);
  }

  /**
   * A response is complete on the wire: close, or go on with the next request. Not while the
   * client has not read what it was sent (the socket asked for a drain): pipelined requests then
   * wait, parsed or unread, so answers without a body cannot pile up in memory one after another.
   */
  finished(m: H1Message, close: boolean): void {
    if (this.queue[0] !== m) return;
    this.queue.shift();
    if (close) {
      this.closeAfter(m);
      return;
    }
    if (this.socket.writableNeedDrain) {
      this.awaitingDrain = m;
      this.socket.once('drain', this.onWritten);
      this.stalledSince = this.host.ctx.clock.monotonic();
      return;
    }
    this.goOn(m);
  }

  /** The response `finished` waits to go on from until the client has read (the socket drained). */
  private awaitingDrain: H1Message | undefined;
  /**
   * Monotonic ms since the connection has waited for the client to read what it was sent (0: it
   * is not waiting): a client that reads nothing for the idle timeout is cut like an idle one.
   */
  stalledSince = 0;
  private readonly onWritten = (): void => {
    const m = this.awaitingDrain;
    this.awaitingDrain = undefined;
    this.stalledSince = 0;
    if (m !== undefined && !this.destroyed) this.goOn(m);
  };

  private goOn(m: H1Message): void {
    const next = this.queue.length > 0;
    // The Upgrade request was answered without switching: what followed it is HTTP, parsed now.
    // A full queue has room again: the parser goes on where it stopped. (A request parsed here
    // into an empty queue is started by the parse itself.)
    if ((m === this.upgradeMsg && this.upgradeStopped) || (this.parserPaused && this.queue.length < MAX_QUEUED)) this.release();
    if (this.destroyed) return;
    if (next) {
      this.startPending = false; // one parsed while the client was not reading waited for this
      this.start();
      return;
    }
    if (this.queue.length > 0) return;
    if (this.failed !== undefined) {
      this.answerFailure();
      return;
    }
    // Nothing is owed to the client any more: a head it had begun is due from now.
    if (this.messageStart === 0) this.idleSince = this.host.ctx.clock.monotonic();
    else if (this.reading === undefined) this.messageStart = this.host.ctx.clock.monotonic();
  }

  /**
   * The response said `connection: close`. Requests pipelined behind it are dropped unanswered
   * (RFC 9112 §9.3.2: the client retries them). If the client is still sending a body nobody
   * will read, it is read and dropped for a while so the client sees the answer rather than a
   * reset (nginx's lingering close).
   */
  private closeAfter(m: H1Message): void {
    this.ending = true;
    for (const other of this.queue.splice(0)) other.notifyClosed();
    if (!m.requestDone && this.reading === m && !this.destroyed) {
      m.ex.body.resume();
      this.lingerUntil = this.host.ctx.clock.monotonic() + LINGER_MS;
      this.socket.end();
      return;
    }
    this.stopReading();
    this.socket.destroySoon();
  }

  bodyWanted(): void {
    this.resume(Pause.Body);
  }
  bodyFull(): void {
    this.pause(Pause.Body);
  }

  private pause(bit: Pause): void {
    const was = this.paused;
    this.paused |= bit;
    if (was === 0) this.setReading(false);
  }

  private resume(bit: Pause): void {
    if ((this.paused & bit) === 0) return;
    this.paused &= ~bit;
    if (this.paused === 0 && !this.destroyed) {
      // A message begun before reading stopped: the client owes its rest from now, not from then.
      if (this.messageStart > 0) this.messageStart = this.host.ctx.clock.monotonic();
      this.setReading(true);
    }
  }

  private stopReading(): void {
    this.pause(Pause.Stopped);
    if (this.consumed) {
      this.consumed = false;
      this.parser.unconsume();
    }
    this.socket.off('data', this.onSocketData);
  }

  /** The parser consumes the handle, bypassing the JS stream: start and stop it at the handle. */
  private setReading(on: boolean): void {
    if (!this.consumed) {
      if (on) this.socket.resume();
      else this.socket.pause();
      return;
    }
    setConsumedReading(this.socket, on);
  }

  // --- errors and timeouts

  private parseError(err: ParseError): void {
    const overflow = err.code === 'HPE_HEADER_OVERFLOW';
    this.stopReading();
    const e = overflow
      ? this.host.refusals.headersTooLarge(this.host.maxHeaderSize)
      : this.host.refusals.badRequest(`malformed request (${err.code.startsWith('HPE_') ? err.code.slice(4).toLowerCase() : 'invalid'})`);
    this.fail(e, overflow ? 'header_overflow' : 'malformed');
  }

  /** The listener's sweep found this connection past one of its deadlines. */
  timedOut(kind: 'headers' | 'request' | 'idle' | 'linger'): void {
    if (kind === 'idle' || kind === 'linger') {
      this.destroy();
      return;
    }
    this.stopReading();
    this.fail(this.host.refusals.requestTimeout(), 'request_timeout');
  }

  /**
   * Nothing more can be read. A request whose body was being read gets the error through its own
   * pipeline: its body fails, the call to the app is aborted, `respond` answers (the message was
   * not read whole, so that answer closes the connection). An error between requests is answered
   * here once the responses before it are out.
   */
  private fail(e: Refusal, reason: string): void {
    this.messageStart = 0;
    const reading = this.reading;
    this.reading = undefined;
    const body = this.body;
    this.body = undefined;
    if (reading !== undefined) {
      body?.destroy(e);
      if (reading.headersSent) this.destroy();
      return;
    }
    this.failed = e;
    this.host.clientError(reason);
    if (this.queue.length === 0) this.answerFailure();
  }

  private answerFailure(): void {
    const e = this.failed;
    if (e === undefined || this.destroyed) return;
    this.ending = true;
    if (!this.socket.writable) {
      this.destroy();
      return;
    }
    const body = e.body('');
    this.socket.write(
      `HTTP/1.1 ${e.status} ${e.name}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      'latin1',
    );
    this.socket.destroySoon();
  }

  // --- upgrade (WebSocket and other protocols, after the app's 101 only)

  private offer(msg: H1Message, protocols: string): UpgradeOffer {
    return { protocols, takeOver: () => this.takeOver(msg) };
  }

  /**
   * The app answered the Upgrade request `msg` with 101: the connection leaves HTTP. The tunnel
   * gets the socket and the bytes the client sent after the request (held unparsed since).
   */
  private takeOver(msg: H1Message): { readonly socket: Duplex; readonly head: Buffer } | undefined {
    if (this.destroyed || this.queue[0] !== msg || msg !== this.upgradeMsg || !this.upgradeStopped) return undefined;
    this.destroyed = true;
    this.queue.shift();
    this.socket.off('error', this.onSocketError);
    this.socket.off('close', this.onSocketClose);
    this.socket.off('end', this.onSocketEnd);
    this.socket.off('data', this.onSocketData);
    if (this.consumed) {
      this.consumed = false;
      this.parser.unconsume();
      // Reads go to the JS stream again. Start them at the handle: the stream may believe a read
      // of its own is still under way (the listener's read-ahead before the parser took over), and
      // would then never ask for one.
      setConsumedReading(this.socket, true);
    }
    this.host.closed(this);
    setImmediate(() => this.parser.close());
    const head = this.held ?? Buffer.alloc(0);
    this.held = undefined;
    msg.detach();
    return { socket: this.socket, head };
  }

  // --- teardown

  destroy(): void {
    if (!this.destroyed) this.socket.destroy();
  }

  private onClose(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.body?.destroy();
    this.body = undefined;
    for (const m of this.queue.splice(0)) m.notifyClosed();
    if (this.consumed) {
      this.consumed = false;
      this.parser.unconsume();
    }
    this.host.closed(this);
    setImmediate(() => this.parser.close());
  }
}
