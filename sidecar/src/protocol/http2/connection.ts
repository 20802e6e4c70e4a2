import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Exchange } from '../exchange.js';
import { H } from '../headers.js';
import { addField } from '../http1/fields.js';
import { EMPTY_BODY, RequestBody } from '../body.js';
import type { FrontContext, Refusals } from '../front.js';
import {
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameType,
  frameHeader,
  MAX_MAX_FRAME,
  MAX_WINDOW,
  MIN_MAX_FRAME,
  Setting,
  settingsFrame,
  wordFrame,
  writeFrameHeader,
} from './frames.js';
import { encodeBlock, type FieldValues, HpackDecoder, HpackError } from './hpack.js';
import { H2Stream, type StreamOwner } from './stream.js';
import { RecentIds } from './recent-ids.js';

/** What a connection needs from the listener that owns it. */
export interface H2Host {
  readonly ctx: FrontContext;
  /** The app's wording of the refusals this engine makes (status, name, body). */
  readonly refusals: Refusals;
  readonly maxHeaderSize: number;
  readonly maxConcurrentStreams: number;
  /** Count a stream refused before a request was formed (sidegate_client_errors_total). */
  clientError(reason: string): void;
  /** The connection is gone. */
  closed(c: H2Connection): void;
  /** An unexpected exception while handling the connection's frames (logged; the connection ends). */
  internalError(err: unknown): void;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Receive windows we grant: per stream, and for the whole connection (which bounds what a connection buffers). */
const STREAM_WINDOW = 1 << 20;
const CONN_WINDOW = 8 << 20;
/** Give window back once this much of it is consumed (fewer WINDOW_UPDATE frames). */
const STREAM_CREDIT_AT = STREAM_WINDOW / 4;
const CONN_CREDIT_AT = CONN_WINDOW / 8;
/** Unsent bytes past which control answers (PING and SETTINGS acks) are a flood, not a peer's need. */
const CONTROL_BACKLOG = 1 << 20;
/**
 * Unsent bytes past which the peer's frames are not read until the socket drains: a peer that
 * does not read what it asks for (answers without a body, acks, resets) cannot make us queue more
 * of it. DATA already waits for the socket (`blocked`).
 */
const READ_STOP_BACKLOG = 256 * 1024;
/**
 * Streams a client may reset (CVE-2023-44487, rapid reset), or make us reset by an error on them
 * (CVE-2025-8671): a bucket of 1,000 that refills by 33 a second, nghttp2's defaults since 1.57;
 * an empty bucket ends the connection.
 */
const RESET_BURST = 1000;
const RESETS_PER_SECOND = 33;
/** CONTINUATION frames allowed in one header block (CVE-2024-27316 floods of empty ones). */
const MAX_CONTINUATIONS = 64;
/**
 * Consecutive DATA, HEADERS or CONTINUATION frames that carry nothing (`countEmpty`; CVE-2019-9518:
 * they cost no window, and each still costs a frame's work). Envoy's rule, whose default allows
 * 1; 100 leaves room for clients that flush nothing now and then.
 */
const MAX_EMPTY_FRAMES = 100;
const MAX_FIELDS = 2000;
/**
 * Closed streams whose ending is remembered for frames still arriving on them (RFC 9113 §5.1): each
 * until the stream this many opens after it ends (a power of two, RecentIds).
 */
const CLOSED_REMEMBERED = 256;

/** How a stream that left the table ended: which frames on it are errors. */
const enum Closed {
  /** We reset it (or refused it): the peer may still have frames in flight, ignored. */
  ByUs,
  /** The peer reset it: any frame but PRIORITY on it is a stream error STREAM_CLOSED. */
  ByPeer,
  /** Both sides ended it: DATA or HEADERS on it is a connection error STREAM_CLOSED. */
  Ended,
}

/** Field names a request may not carry in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** tchar (RFC 9110 §5.6.2): 1, or 2 for the uppercase letters HTTP/2 field names may not contain. */
const TCHAR = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") t[c.charCodeAt(0)] = 1;
  for (let c = 65; c <= 90; c++) t[c] = 2;
  return t;
})();

/** A non-empty token: a field name (`upper` false) or a method (`upper` true). */
function validToken(n: string, upper: boolean): boolean {
  if (n.length === 0) return false;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    const k = c < 128 ? TCHAR[c] : 0;
    if (k !== 1 && !(k === 2 && upper)) return false;
  }
  return true;
}

/** A control character but tab (RFC 9110 §5.5 allows none in a field value). */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;

/**
 * The last long value a connection found valid. A bearer token comes on every request of a
 * connection, and the connection's HPACK decoder hands back the same string for the same bytes
 * (HpackDecoder.str): `===` on the same string is a pointer comparison, so it is checked once per
 * connection, not on each request. Kept per connection: comparing the equal strings of two
 * connections would read them whole, which costs more than the scan.
 */
export interface ValidMemo {
  lastLong: string;
}

/**
 * No whitespace at either end (RFC 9113 §8.2.1) and no control character but tab anywhere (RFC
 * 9110 §5.5: field-vchar, obs-text, SP, HTAB): the bytes llhttp accepts in an HTTP/1.1 field
 * value, so HTTP/2 cannot carry into a request to an HTTP/1.1 app what HTTP/1.1 would refuse.
 */
export function validValue(v: string, memo: ValidMemo): boolean {
  const n = v.length;
  if (n === 0) return true;
  let c = v.charCodeAt(0);
  if (c === 32 || c === 9) return false;
  c = v.charCodeAt(n - 1);
  if (c === 32 || c === 9) return false;
  if (n >= 64) {
    // The regular expression scans twice as fast as a loop over charCodeAt on long values.
    if (v === memo.lastLong) return true;
    if (CONTROL.test(v)) return false;
    memo.lastLong = v;
    return true;
  }
  for (let i = 0; i < n; i++) {
    c = v.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return false;
  }
  return true;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request the client framed wrongly: the stream is reset with PROTOCOL_ERROR. */
const MALFORMED = Symbol('malformed');

/**
 * One HTTP/2 connection (RFC 9113) from a client, server side, framed by sidegate on the socket
 * (h2c after the preface, or h2 over TLS). Requests become Exchanges with an H2Stream as their
 * sink. Frames out are gathered for the whole event-loop turn and leave in one socket write;
 * DATA obeys the peer's windows, and the windows we grant are given back only as request bodies
 * are consumed. Protocol errors end the connection with GOAWAY or the stream with RST_STREAM, as
 * the RFC says; floods (resets, CONTINUATION, empty frames, unread acks) end the connection with
 * ENHANCE_YOUR_CALM.
 */
export class H2Connection implements StreamOwner {
  dead = false;
  blocked = false;
  /** The peer's frames wait in the socket: too much of our output is unsent (READ_STOP_BACKLOG). */
  private readStopped = false;
  /** Monotonic ms since which no stream is open (0: streams are open). */
  idleSince: number;
  /**
   * Monotonic ms since which response bytes have waited for the peer (its windows, or its
   * reading) and none has gone out (0: nothing waits, or DATA went out since). `stalled` reads it.
   * Cleared by any DATA sent and when the last waiting stream leaves the table.
   */
  private waitingSince = 0;
  readonly remoteAddress: string;
  private readonly streams = new Map<number, H2Stream>();
  private readonly closedStreams = new RecentIds(CLOSED_REMEMBERED);
  /** The peer changed SETTINGS_HEADER_TABLE_SIZE: the next header block we send says so. */
  private tableSizeUpdate = false;
  private peerTableSize = 4096;
  private readonly hpack = new HpackDecoder();
  /** The last long field value found valid on this connection (validValue). */
  private readonly valid: ValidMemo = { lastLong: '' };
  private pending: Buffer | undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  private lastStreamId = 0;
  private goawaySent = false;
  private peerGone = false;
  // The peer's settings that matter to us.
  private peerWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MIN_MAX_FRAME;
  /** Connection-level windows: what we may send, what the peer may still send us. */
  private sendWindow = DEFAULT_WINDOW;
  private recvWindow = CONN_WINDOW;
  private connCredits = 0;
  private readonly credited = new Set<H2Stream>();
  /** Streams with queued response bytes waiting for the connection's window or the socket. */
  private readonly waiting = new Set<H2Stream>();
  /**
   * Streams with queued bytes waiting for their own window: the peer's WINDOW_UPDATE on the
   * stream or a larger SETTINGS_INITIAL_WINDOW_SIZE wakes them, not one on the connection.
   */
  private readonly windowBlocked = new Set<H2Stream>();
  // A header block spread over CONTINUATION frames.
  private hbStream = 0;
  private hbFlags = 0;
  private hbParts: Buffer[] = [];
  private hbLength = 0;
  private hbSelfDep = false;
  private readonly maxBlock: number;
  // Output gathered for this event-loop turn.
  private out: Buffer[] = [];
  private outLength = 0;
  private flushing = false;
  private readonly marked: H2Stream[] = [];
  // Reset accounting: what is left in the bucket, as of when.
  private resetTokens = RESET_BURST;
  private resetTokensAt: number;
  /** Empty frames in a row (MAX_EMPTY_FRAMES). */
  private emptyFrames = 0;

  private readonly onData = (chunk: Buffer): void => {
    this.receive(chunk);
  };
  private readonly onDrain = (): void => {
    this.blocked = false;
    this.pumpAll();
    for (const s of this.streams.values()) s.drained();
    this.resumeReading();
  };
  private readonly onGone = (): void => {
    this.destroy();
  };
  private readonly flushNow = (): void => {
    this.flush();
  };

  constructor(
    readonly socket: Socket,
    private readonly host: H2Host,
    first?: Buffer,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.idleSince = host.ctx.clock.monotonic();
    this.resetTokensAt = this.idleSince;
    this.maxBlock = Math.max(64 * 1024, host.maxHeaderSize * 8);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onGone);
    socket.on('end', this.onGone);
    socket.on('close', this.onGone);
    this.emit(
      settingsFrame([
        [Setting.MaxConcurrentStreams, host.maxConcurrentStreams],
        [Setting.InitialWindowSize, STREAM_WINDOW],
        [Setting.MaxHeaderListSize, host.maxHeaderSize * 4],
      ]),
    );
    this.emit(wordFrame(FrameType.WindowUpdate, 0, 0, CONN_WINDOW - DEFAULT_WINDOW));
    if (first !== undefined && first.length > 0) this.receive(first);
    if (!this.dead && !this.readStopped) socket.resume();
  }

  /** Graceful end: GOAWAY, finish the open streams, then close. */
  close(): void {
    if (this.dead) return;
    if (!this.goawaySent) this.goaway(ErrorCode.NoError, '');
    if (this.streams.size === 0) this.endSoon();
  }

  /** The peer has taken nothing of what waits for it for the idle timeout: end the connection. */
  stalledOut(): void {
    this.fail(ErrorCode.NoError, 'nothing read for the idle timeout');
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.off('data', this.onData);
    this.socket.destroy();
    for (const s of [...this.streams.values()]) this.retire(s, true);
    this.host.closed(this);
  }

  // --- input

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let at = 0;
    try {
      if (!this.prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length);
        if (PREFACE.compare(buf, 0, n, 0, n) !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'not the HTTP/2 connection preface');
        if (buf.length < PREFACE.length) {
          this.pending = buf;
          return;
        }
        this.prefaceSeen = true;
        at = PREFACE.length;
      }
      while (buf.length - at >= 9 && !this.dead) {
        if (this.socket.writableLength + this.outLength > READ_STOP_BACKLOG) {
          this.readStopped = true;
          this.socket.pause();
          break;
        }
        const len = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (len > MIN_MAX_FRAME) throw new ConnectionError(ErrorCode.FrameSizeError, `a ${len}-byte frame, above SETTINGS_MAX_FRAME_SIZE`);
        if (buf.length - at - 9 < len) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = buf.subarray(at + 9, at + 9 + len);
        at += 9 + len;
        this.frame(type, flags, id, payload);
      }
    } catch (err) {
      if (err instanceof ConnectionError) {
        this.fail(err.code, err.message);
        return;
      }
      // A bug of ours, not the peer's: this connection ends, the process and the others go on.
      this.host.internalError(err);
      this.fail(ErrorCode.InternalError, 'internal error');
      return;
    }
    if (this.dead) return;
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at)); // a partial frame, or reading stopped: keep a copy, not the whole read
    this.giveCredits();
  }

  private frame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.hbStream !== 0 && type !== FrameType.Continuation)
      throw new ConnectionError(ErrorCode.ProtocolError, 'a header block was not continued');
    if (!this.settingsSeen) {
      if (type !== FrameType.Settings || (flags & Flag.Ack) !== 0)
        throw new ConnectionError(ErrorCode.ProtocolError, 'the first frame was not SETTINGS');
      this.settingsSeen = true;
    }
    if (type <= FrameType.Headers || type === FrameType.Continuation) this.countEmpty(type, flags, id, p);
    switch (type) {
      case FrameType.Data:
        this.onDataFrame(flags, id, p);
        break;
      case FrameType.Headers:
        this.onHeaders(flags, id, p);
        break;
      case FrameType.Priority:
        if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'PRIORITY on stream 0');
        if (p.length !== 5) {
          this.resetId(id, ErrorCode.FrameSizeError);
          break;
        }
        // A stream cannot depend on itself (RFC 9113 §5.3.1): a stream error, or for an idle
        // stream, which may not be reset, a connection error (as nghttp2).
        if ((p.readUInt32BE(0) & 0x7fffffff) === id) {
          if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, `stream ${id} depends on itself`);
          this.resetId(id, ErrorCode.ProtocolError);
        }
        break;
      case FrameType.RstStream:
        this.onRst(id, p);
        break;
      case FrameType.Settings:
        this.onSettings(flags, id, p);
        break;
      case FrameType.PushPromise:
        throw new ConnectionError(ErrorCode.ProtocolError, 'PUSH_PROMISE from a client');
      case FrameType.Ping:
        if (p.length !== 8) throw new ConnectionError(ErrorCode.FrameSizeError, 'PING is not 8 bytes');
        if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'PING on a stream');
        if ((flags & Flag.Ack) === 0) this.control(Buffer.concat([frameHeader(8, FrameType.Ping, Flag.Ack, 0), p]));
        break;
      case FrameType.Goaway:
        if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'GOAWAY on a stream');
        this.peerGone = true;
        if (this.streams.size === 0) this.endSoon();
        break;
      case FrameType.WindowUpdate:
        this.onWindowUpdate(id, p);
        break;
      case FrameType.Continuation:
        this.onContinuation(flags, id, p);
        break;
      default:
        break; // unknown frame types are ignored (RFC 9113 §5.5)
    }
  }

  /**
   * Count DATA, HEADERS and CONTINUATION frames that carry nothing: no content once padding and
   * priority fields are taken off, and no END_STREAM that ends a stream still open from the peer's
   * side (one on a stream that is over, or that opens a stream, ends nothing). Bad padding is left
   * to the frame's handler.
   */
  private countEmpty(type: number, flags: number, id: number, p: Buffer): void {
    let n = p.length;
    if (type !== FrameType.Continuation) {
      if ((flags & Flag.Padded) !== 0 && n > 0) n -= 1 + p[0]!;
      if (type === FrameType.Headers && (flags & Flag.Priority) !== 0) n -= 5;
      if (n <= 0 && (flags & Flag.EndStream) !== 0 && this.streams.get(id)?.remoteDone === false) n = 1;
    }
    if (n > 0) this.emptyFrames = 0;
    else if (++this.emptyFrames > MAX_EMPTY_FRAMES)
      throw new ConnectionError(ErrorCode.EnhanceYourCalm, `more than ${MAX_EMPTY_FRAMES} empty frames in a row`);
  }

  /** Payload of a HEADERS or DATA frame without its padding (and HEADERS' priority fields). */
  private unpad(flags: number, p: Buffer, priority: boolean): Buffer {
    let start = 0;
    let end = p.length;
    if ((flags & Flag.Padded) !== 0) {
      if (end < 1) throw new ConnectionError(ErrorCode.FrameSizeError, 'padded frame without a pad length');
      end -= p[0]!;
      start = 1;
    }
    if (priority && (flags & Flag.Priority) !== 0) start += 5;
    if (end < start) throw new ConnectionError(ErrorCode.ProtocolError, 'padding longer than the frame');
    return p.subarray(start, end);
  }

  private onHeaders(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'HEADERS on stream 0');
    const frag = this.unpad(flags, p, true);
    const dep = (flags & Flag.Padded) !== 0 ? 1 : 0;
    const selfDep = (flags & Flag.Priority) !== 0 && (p.readUInt32BE(dep) & 0x7fffffff) === id;
    if ((flags & Flag.EndHeaders) !== 0) {
      this.onBlock(id, flags, frag, selfDep);
      return;
    }
    this.hbStream = id;
    this.hbFlags = flags;
    this.hbSelfDep = selfDep;
    this.hbParts = [Buffer.from(frag)];
    this.hbLength = frag.length;
  }

  private onContinuation(flags: number, id: number, p: Buffer): void {
    if (this.hbStream === 0 || id !== this.hbStream)
      throw new ConnectionError(ErrorCode.ProtocolError, 'CONTINUATION without a header block');
    this.hbLength += p.length;
    if (this.hbLength > this.maxBlock || this.hbParts.length >= MAX_CONTINUATIONS) {
      throw new ConnectionError(ErrorCode.EnhanceYourCalm, `a header block over ${this.maxBlock} bytes or ${MAX_CONTINUATIONS} frames`);
    }
    this.hbParts.push(Buffer.from(p));
    if ((flags & Flag.EndHeaders) === 0) return;
    const block = Buffer.concat(this.hbParts, this.hbLength);
    const sid = this.hbStream;
    this.hbStream = 0;
    this.hbParts = [];
    this.onBlock(sid, this.hbFlags, block, this.hbSelfDep);
  }

  /**
   * A whole header block: a new request, or the trailers of one. Always decoded first, even for
   * a stream that is refused: the dynamic table must see every block. The list stops growing
   * past the size limit (the request is answered 431), so repeated references cost no copies.
   */
  private onBlock(id: number, flags: number, block: Buffer, selfDep: boolean): void {
    let fields: string[];
    try {
      fields = this.hpack.decode(block, MAX_FIELDS, this.host.maxHeaderSize);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.CompressionError, err.message);
      throw err;
    }
    const endStream = (flags & Flag.EndStream) !== 0;
    const known = this.streams.get(id);
    if (known !== undefined) {
      if (selfDep) {
        this.malformed(known);
        return;
      }
      this.onTrailers(known, endStream, fields);
      return;
    }
    if (id <= this.lastStreamId) {
      this.onClosedStream(id, true);
      return;
    }
    if (id % 2 === 0) throw new ConnectionError(ErrorCode.ProtocolError, `stream ${id} opened by the client has an even id`);
    this.lastStreamId = id;
    if (selfDep) {
      this.refuse(id, ErrorCode.ProtocolError);
      return;
    } // RFC 9113 §5.3.1
    if (this.goawaySent || this.peerGone || this.streams.size >= this.host.maxConcurrentStreams) {
      this.refuse(id, ErrorCode.RefusedStream);
      return;
    }
    this.onRequest(id, endStream, fields, this.hpack.oversize);
  }

  /**
   * DATA or HEADERS on a stream that left the table (RFC 9113 §5.1): ignored if we reset it (the
   * peer may have sent them before it knew), a stream error if the peer reset it, a connection
   * error if both sides had ended it. A stream never opened below the last one (idle, closed by a
   * higher id) is a connection error for HEADERS (§5.1.1); DATA on one we no longer remember is
   * ignored, as nghttp2 does.
   */
  private onClosedStream(id: number, headers: boolean): void {
    const how = this.closedStreams.get(id) as Closed | undefined;
    if (how === Closed.ByUs) return;
    if (how === Closed.ByPeer) {
      this.control(wordFrame(FrameType.RstStream, 0, id, ErrorCode.StreamClosed));
      return;
    }
    if (how === Closed.Ended) throw new ConnectionError(ErrorCode.StreamClosed, `${headers ? 'HEADERS' : 'DATA'} on closed stream ${id}`);
    if (headers)
      throw new ConnectionError(ErrorCode.ProtocolError, `HEADERS on stream ${id}, not above the last stream ${this.lastStreamId}`);
  }

  /** Remember how a stream ended, until the stream CLOSED_REMEMBERED opens later ends. */
  private remember(id: number, how: Closed): void {
    this.closedStreams.add(id, how);
  }

  /** Reset a stream that never entered the table (refused, or malformed before it began). */
  private refuse(id: number, code: number): void {
    this.remember(id, Closed.ByUs);
    this.control(wordFrame(FrameType.RstStream, 0, id, code));
  }

  private onTrailers(s: H2Stream, endStream: boolean, fields: string[]): void {
    if (s.remoteDone) {
      this.peerFault(s, ErrorCode.StreamClosed);
      return;
    }
    if (!endStream) {
      this.malformed(s);
      return;
    }
    for (let i = 0; i < fields.length; i += 2)
      if (fields[i]!.charCodeAt(0) === 58) {
        this.malformed(s);
        return;
      }
    if (s.expected >= 0 && s.received !== s.expected) {
      this.malformed(s);
      return;
    }
    this.remoteEnd(s); // request trailers are not forwarded
  }

  private onRequest(id: number, endStream: boolean, fields: string[], oversize: boolean): void {
    const host = this.host;
    const parsed = oversize ? undefined : parseRequest(fields, this.valid);
    if (parsed === MALFORMED) {
      this.refuse(id, ErrorCode.ProtocolError);
      return;
    }
    if (parsed?.method === 'CONNECT') {
      this.refuse(id, ErrorCode.RefusedStream);
      return;
    }
    const cl = parsed?.headers[H.contentLength];
    let expected = -1;
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) {
        this.refuse(id, ErrorCode.ProtocolError);
        return;
      }
      expected = Number(cl);
      if (endStream && expected !== 0) {
        this.refuse(id, ErrorCode.ProtocolError);
        return;
      }
    }
    const s = new H2Stream(this, id, endStream, this.peerWindow, STREAM_WINDOW);
    s.expected = expected;
    this.streams.set(id, s);
    this.idleSince = 0;
    if (parsed === undefined || parsed.size > host.maxHeaderSize) {
      host.clientError('header_overflow');
      const e = host.refusals.headersTooLarge(host.maxHeaderSize);
      s.writeHead(e.status, { 'content-type': 'application/json' });
      s.end(e.body(''));
      return;
    }
    let body = EMPTY_BODY;
    if (!endStream) {
      const b = new RequestBody(s);
      s.body = b;
      body = b;
    }
    const headers = parsed.headers;
    const ctx = host.ctx;
    ctx.dispatch(
      Exchange.create(
        'h2',
        parsed.method,
        parsed.path,
        parsed.authority ?? headers.host ?? '',
        ctx.scheme,
        headers,
        this.remoteAddress,
        body,
        !endStream,
        s,
        headers[H.requestId],
        ctx.clock.monotonic(),
      ),
    );
  }

  private onDataFrame(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'DATA on stream 0');
    const len = p.length;
    this.recvWindow -= len;
    if (this.recvWindow < 0) throw new ConnectionError(ErrorCode.FlowControlError, 'DATA beyond the connection window');
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, `DATA on idle stream ${id}`);
      this.connCredits += len; // a stream that is over: the bytes are dropped, the window given back
      this.onClosedStream(id, false);
      return;
    }
    if (s.remoteDone) {
      this.connCredits += len;
      this.peerFault(s, ErrorCode.StreamClosed);
      return;
    }
    s.recvWindow -= len;
    if (s.recvWindow < 0) {
      this.connCredits += len;
      this.peerFault(s, ErrorCode.FlowControlError);
      return;
    }
    const data = this.unpad(flags, p, false);
    s.received += data.length;
    if (s.expected >= 0 && s.received > s.expected) {
      this.connCredits += len;
      this.malformed(s);
      return;
    }
    const padding = len - data.length;
    if (padding > 0) this.giveBack(s, padding);
    if (data.length > 0) {
      const b = s.body;
      if (b === undefined) this.giveBack(s, data.length);
      else {
        b.chunk(data);
        if (s.full) s.owed += data.length;
        else this.giveBack(s, data.length);
      }
    }
    if ((flags & Flag.EndStream) !== 0) {
      if (s.expected >= 0 && s.received !== s.expected) {
        this.malformed(s);
        return;
      }
      this.remoteEnd(s);
    }
  }

  private giveBack(s: H2Stream, n: number): void {
    s.credits += n;
    this.connCredits += n;
    this.credited.add(s);
  }

  /** StreamOwner: a body reader took `n` bytes it had been too full for. */
  credit(s: H2Stream, n: number): void {
    this.giveBack(s, n);
    this.giveCredits();
  }

  /** WINDOW_UPDATE for what request bodies consumed, in batches. */
  private giveCredits(): void {
    if (this.credited.size === 0) return;
    for (const s of this.credited) {
      if (s.finished || s.remoteDone) {
        s.credits = 0;
        continue;
      } // the peer sends no more on it
      if (s.credits >= STREAM_CREDIT_AT) {
        s.recvWindow += s.credits;
        this.emit(wordFrame(FrameType.WindowUpdate, 0, s.id, s.credits));
        s.credits = 0;
      }
    }
    this.credited.clear();
    if (this.connCredits >= CONN_CREDIT_AT) {
      this.recvWindow += this.connCredits;
      this.emit(wordFrame(FrameType.WindowUpdate, 0, 0, this.connCredits));
      this.connCredits = 0;
    }
  }

  private onRst(id: number, p: Buffer): void {
    if (p.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, 'RST_STREAM is not 4 bytes');
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'RST_STREAM on stream 0');
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, `RST_STREAM on idle stream ${id}`);
      return;
    }
    this.spendReset();
    this.reset(s, p.readUInt32BE(0), true);
  }

  /** Take one reset from the bucket; an empty bucket ends the connection. */
  private spendReset(): void {
    const now = this.host.ctx.clock.monotonic();
    this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetTokensAt) * RESETS_PER_SECOND) / 1000);
    this.resetTokensAt = now;
    if (this.resetTokens < 1)
      throw new ConnectionError(
        ErrorCode.EnhanceYourCalm,
        `streams reset faster than ${RESET_BURST} at once or ${RESETS_PER_SECOND} a second`,
      );
    this.resetTokens--;
  }

  /**
   * Reset a stream the app may be serving already, for the peer's error on it. The peer can
   * provoke such resets as fast as it can send its own (CVE-2025-8671, MadeYouReset): each frees a
   * stream slot while the app works on, so they draw from the same bucket.
   */
  private peerFault(s: H2Stream, code: number): void {
    this.spendReset();
    this.reset(s, code, false);
  }

  private onSettings(flags: number, id: number, p: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, 'SETTINGS on a stream');
    if ((flags & Flag.Ack) !== 0) {
      if (p.length !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, 'SETTINGS ack with a payload');
      return;
    }
    if (p.length % 6 !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, 'SETTINGS length not a multiple of 6');
    // SETTINGS_INITIAL_WINDOW_SIZE: the last value in the frame, applied to the streams once (a
    // frame can repeat it thousands of times).
    let window = -1;
    for (let i = 0; i < p.length; i += 6) {
      const key = p.readUInt16BE(i);
      const v = p.readUInt32BE(i + 2);
      if (key === Setting.EnablePush && v > 1) throw new ConnectionError(ErrorCode.ProtocolError, 'SETTINGS_ENABLE_PUSH not 0 or 1');
      if (key === Setting.InitialWindowSize) {
        if (v > MAX_WINDOW) throw new ConnectionError(ErrorCode.FlowControlError, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
        window = v;
      }
      if (key === Setting.HeaderTableSize && v !== this.peerTableSize) {
        this.peerTableSize = v;
        this.tableSizeUpdate = true;
      }
      if (key === Setting.MaxFrameSize) {
        if (v < MIN_MAX_FRAME || v > MAX_MAX_FRAME)
          throw new ConnectionError(ErrorCode.ProtocolError, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.peerMaxFrame = v;
      }
    }
    const delta = window < 0 ? 0 : window - this.peerWindow;
    if (delta !== 0) {
      this.peerWindow = window;
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FlowControlError, 'a stream window above 2^31-1');
      }
    }
    // The ack first, then the DATA the larger windows allow: a peer that waits for the ack before
    // it reads on (h2spec 6.9.2 does) must not find the DATA already behind it.
    this.control(frameHeader(0, FrameType.Settings, Flag.Ack, 0));
    if (delta > 0) {
      for (const s of this.windowBlocked) this.waiting.add(s);
      this.windowBlocked.clear();
      this.pumpAll();
    }
  }

  private onWindowUpdate(id: number, p: Buffer): void {
    if (p.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, 'WINDOW_UPDATE is not 4 bytes');
    const inc = p.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(ErrorCode.ProtocolError, 'WINDOW_UPDATE of 0');
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FlowControlError, 'connection window above 2^31-1');
      this.pumpAll();
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.ProtocolError, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (inc === 0) {
      this.malformed(s);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.peerFault(s, ErrorCode.FlowControlError);
      return;
    }
    this.pump(s);
  }

  // --- streams

  private malformed(s: H2Stream): void {
    if (s.body !== undefined)
      s.body.destroy(Object.assign(new Error('malformed HTTP/2 request body'), { code: 'ERR_HTTP2_PROTOCOL_ERROR' }));
    this.peerFault(s, ErrorCode.ProtocolError);
  }

  private resetId(id: number, code: number): void {
    const s = this.streams.get(id);
    if (s !== undefined) this.peerFault(s, code);
    else this.refuse(id, code);
  }

  /** StreamOwner: end a stream abruptly. */
  reset(s: H2Stream, code: number, byPeer: boolean): void {
    if (s.finished) return;
    if (!byPeer && !this.dead) this.emit(wordFrame(FrameType.RstStream, 0, s.id, code));
    this.retire(s, true, byPeer ? Closed.ByPeer : Closed.ByUs);
  }

  /** The request is complete on the client's side. */
  private remoteEnd(s: H2Stream): void {
    s.remoteDone = true;
    const b = s.body;
    if (b !== undefined && !b.destroyed) b.push(null);
  }

  /** Take a stream out of the table and tell whoever waits on it. */
  private retire(s: H2Stream, aborted: boolean, how = Closed.ByUs): void {
    if (s.finished) return;
    this.streams.delete(s.id);
    this.remember(s.id, how);
    this.waiting.delete(s);
    this.windowBlocked.delete(s);
    // The last stream waiting is gone without sending: a later wait is timed from its own start.
    if (this.waiting.size === 0 && this.windowBlocked.size === 0) this.waitingSince = 0;
    if (s.owed > 0) {
      this.connCredits += s.owed;
      s.owed = 0;
    } // bytes nobody will read: the connection's window back
    if (aborted && s.body !== undefined && !s.body.readableEnded) {
      s.body.destroy(Object.assign(new Error('the request body was cut short'), { code: 'ECONNRESET' }));
    }
    s.finish();
    if (this.streams.size === 0) {
      this.idleSince = this.host.ctx.clock.monotonic();
      if ((this.goawaySent || this.peerGone) && !this.dead) this.endSoon();
    }
  }

  /** Our response is complete: the stream is over once the client's request is too. */
  private localEnd(s: H2Stream): void {
    if (s.remoteDone) {
      this.retire(s, false, Closed.Ended);
      return;
    }
    // The answer is complete while the client is still sending: tell it to stop (RFC 9113 §8.1).
    this.emit(wordFrame(FrameType.RstStream, 0, s.id, ErrorCode.NoError));
    this.retire(s, true);
  }

  // --- output

  sendHeaders(s: H2Stream, status: number, headers: FieldValues, end: boolean): void {
    this.headerFrames(s.id, encodeBlock(9, status, headers, this.takeTableSizeUpdate()), end);
    if (end) this.localEnd(s);
  }

  /** Whether the block about to be encoded must begin with a dynamic table size update (once per change). */
  private takeTableSizeUpdate(): boolean {
    if (!this.tableSizeUpdate) return false;
    this.tableSizeUpdate = false;
    return true;
  }

  /** A block from `encodeBlock` (9 bytes free at the front) as HEADERS and, past the peer's frame size, CONTINUATION frames. */
  private headerFrames(id: number, b: Buffer, end: boolean): void {
    const len = b.length - 9;
    const max = this.peerMaxFrame;
    const flags = end ? Flag.EndStream : 0;
    if (len <= max) {
      writeFrameHeader(b, 0, len, FrameType.Headers, flags | Flag.EndHeaders, id);
      this.emit(b);
      return;
    }
    writeFrameHeader(b, 0, max, FrameType.Headers, flags, id);
    this.emit(b.subarray(0, 9 + max));
    for (let at = 9 + max; at < b.length; at += max) {
      const n = Math.min(max, b.length - at);
      this.emit(frameHeader(n, FrameType.Continuation, at + n === b.length ? Flag.EndHeaders : 0, id));
      this.emit(b.subarray(at, at + n));
    }
  }

  sendData(s: H2Stream, chunk: Buffer): void {
    const n = chunk.length;
    if (s.queue === undefined && !this.blocked && n <= s.sendWindow && n <= this.sendWindow && n <= this.peerMaxFrame) {
      this.data(s, chunk);
      return;
    }
    (s.queue ??= []).push(chunk);
    s.queued += n;
    this.pump(s);
  }

  sendEnd(s: H2Stream): void {
    if (s.queue === undefined) this.finishResponse(s);
    // else: pump() finishes it when the queue empties
  }

  private data(s: H2Stream, chunk: Buffer): void {
    this.waitingSince = 0;
    const h = frameHeader(chunk.length, FrameType.Data, 0, s.id);
    s.sendWindow -= chunk.length;
    this.sendWindow -= chunk.length;
    if (s.lastData === undefined) this.marked.push(s);
    s.lastData = h;
    this.emit(h);
    this.emit(chunk);
  }

  private finishResponse(s: H2Stream): void {
    if (s.wantTrailers) {
      this.headerFrames(s.id, encodeBlock(9, -1, s.trailers ?? {}, this.takeTableSizeUpdate()), true); // trailers: HEADERS without :status
    } else if (s.lastData !== undefined) {
      s.lastData[4] = s.lastData[4]! | Flag.EndStream; // still unsent: END_STREAM rides on the last DATA frame
    } else {
      this.emit(frameHeader(0, FrameType.Data, Flag.EndStream, s.id));
    }
    this.localEnd(s);
  }

  /** Send what `s` has queued, as far as the windows and the socket allow. */
  private pump(s: H2Stream): void {
    const q = s.queue;
    if (q === undefined || s.finished) return;
    this.windowBlocked.delete(s);
    while (q.length > 0) {
      if (this.blocked) {
        this.waiting.add(s);
        this.startWaiting();
        return;
      }
      const room = Math.min(s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (room <= 0) {
        if (s.sendWindow <= 0) this.windowBlocked.add(s);
        else this.waiting.add(s);
        this.startWaiting();
        return;
      }
      const c = q[0]!;
      if (c.length <= room) {
        q.shift();
        this.data(s, c);
        s.queued -= c.length;
      } else {
        q[0] = c.subarray(room);
        this.data(s, c.subarray(0, room));
        s.queued -= room;
      }
    }
    s.queue = undefined;
    this.waiting.delete(s);
    this.windowBlocked.delete(s);
    if (s.endPending) this.finishResponse(s);
    else s.drained();
  }

  private startWaiting(): void {
    if (this.waitingSince === 0) this.waitingSince = this.host.ctx.clock.monotonic();
  }

  /**
   * Monotonic ms for which response bytes have waited on the peer with nothing sent (0: none
   * wait): a peer that reads nothing, or opens no window, for the idle timeout is cut (the sweep).
   */
  stalled(now: number): number {
    return this.waitingSince === 0 ? 0 : now - this.waitingSince;
  }

  /**
   * Pump the streams waiting for the connection, in turn, while there is room: each visited once
   * (one pumped and still waiting goes to the back), and none once the window or the socket is full.
   */
  private pumpAll(): void {
    let n = this.waiting.size;
    for (const s of this.waiting) {
      if (n-- === 0 || this.blocked || this.sendWindow <= 0) break;
      this.waiting.delete(s);
      this.pump(s);
      if (!s.finished) s.drained();
    }
  }

  /** A control answer (ack, reset): ends the connection if the peer is not reading them. */
  private control(b: Buffer): void {
    if (this.socket.writableLength + this.outLength > CONTROL_BACKLOG) {
      this.fail(ErrorCode.EnhanceYourCalm, 'the peer does not read the answers to its control frames');
      return;
    }
    this.emit(b);
  }

  private emit(b: Buffer): void {
    this.out.push(b);
    this.outLength += b.length;
    this.schedule();
  }

  private schedule(): void {
    if (this.flushing || this.dead) return;
    this.flushing = true;
    setImmediate(this.flushNow);
  }

  /** Write everything gathered this turn in one socket write. */
  private flush(): void {
    this.flushing = false;
    if (this.dead) return;
    for (const s of this.marked) s.lastData = undefined;
    this.marked.length = 0;
    const out = this.out;
    if (out.length === 0) return;
    const b = out.length === 1 ? out[0]! : Buffer.concat(out, this.outLength);
    this.out = [];
    this.outLength = 0;
    if (!this.socket.write(b)) this.blocked = true;
    this.resumeReading();
  }

  /**
   * Read the peer's frames again once our unsent output is back under READ_STOP_BACKLOG: after a
   * flush the socket took whole (no 'drain' follows a write that returned true), or at 'drain'.
   */
  private resumeReading(): void {
    if (!this.readStopped || this.dead || this.socket.writableLength + this.outLength > READ_STOP_BACKLOG) return;
    this.readStopped = false;
    this.socket.resume();
    if (this.pending !== undefined) this.receive(Buffer.alloc(0));
  }

  private goaway(code: number, debug: string): void {
    this.goawaySent = true;
    const d = Buffer.from(debug.slice(0, 200));
    const b = Buffer.allocUnsafe(17 + d.length);
    writeFrameHeader(b, 0, 8 + d.length, FrameType.Goaway, 0, 0);
    b.writeUInt32BE(this.lastStreamId, 9);
    b.writeUInt32BE(code, 13);
    d.copy(b, 17);
    this.emit(b);
  }

  /** Connection error: GOAWAY with the code (and nothing else still unsent), then close. */
  private fail(code: number, message: string): void {
    if (this.dead) return;
    this.out = [];
    this.outLength = 0;
    this.goaway(code, message);
    this.shut();
  }

  /** Close once this turn's output is gathered (graceful: no stream is open). */
  private endSoon(): void {
    setImmediate(() => {
      if (!this.dead) this.shut();
    });
  }

  /** Write what is gathered, end the socket (destroyed a second later if the peer lingers), drop the streams. */
  private shut(): void {
    this.flush();
    this.dead = true;
    this.socket.off('data', this.onData);
    for (const s of [...this.streams.values()]) this.retire(s, true);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.host.closed(this);
  }
}

interface ParsedRequest {
  readonly method: string;
  readonly path: string;
  readonly authority: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** The header list's size as RFC 9113 §6.5.2 counts it. */
  readonly size: number;
}

/** Check a request's fields (RFC 9113 §8.2, §8.3) and split pseudo-headers from the rest. */
function parseRequest(fields: readonly string[], memo: ValidMemo): ParsedRequest | typeof MALFORMED {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let regular = false;
  let size = 0;
  const headers: IncomingHttpHeaders = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    size += name.length + value.length + 32;
    if (name.charCodeAt(0) === 58) {
      if (regular) return MALFORMED;
      if (name === ':method') {
        if (method !== undefined || !validToken(value, true)) return MALFORMED;
        method = value;
      } else if (name === ':path') {
        if (path !== undefined) return MALFORMED;
        path = value;
      } else if (name === ':scheme') {
        if (scheme !== undefined) return MALFORMED;
        scheme = value;
      } else if (name === ':authority') {
        if (authority !== undefined) return MALFORMED;
        authority = value;
      } else return MALFORMED;
      if (!validValue(value, memo)) return MALFORMED;
      continue;
    }
    regular = true;
    if (!validToken(name, false) || !validValue(value, memo) || CONNECTION_SPECIFIC.has(name)) return MALFORMED;
    if (name === 'te' && value !== 'trailers') return MALFORMED;
    // Content-Length at most once, as llhttp requires of HTTP/1.1 (a second one, equal or not, is refused).
    if (name === 'content-length' && headers[name] !== undefined) return MALFORMED;
    addField(headers, name, value);
  }
  if (method === undefined) return MALFORMED;
  // An empty :authority, or a Host naming another one, is malformed (RFC 9113 §8.3.1), as nghttp2
  // has it: the app would pick its virtual host from one and the sidecar log the other.
  if (authority === '' || (authority !== undefined && headers.host !== undefined && headers.host !== authority)) return MALFORMED;
  if (method !== 'CONNECT') {
    if (scheme === undefined || path === undefined) return MALFORMED;
    // Origin-form, or `*` for OPTIONS (RFC 9113 §8.3.1): never a full URI or a bare word.
    if (path.charCodeAt(0) !== 47 /* '/' */ && !(path === '*' && method === 'OPTIONS')) return MALFORMED;
  }
  return { method, path: path ?? '', authority, headers, size };
}
