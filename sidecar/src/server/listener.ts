import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createH2Server, constants as h2c, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { BadRequestError, HeadersTooLargeError, RequestTimeoutError, type SidecarError } from '../errors.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { FrontContext } from './front.js';
import { h1Exchange } from './h1.js';
import { h2Exchange, headerListSize } from './h2.js';
import { bind } from './bind.js';
import { upgradeExchange } from './upgrade.js';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly maxHeaderSize: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConcurrentStreams: number;
  readonly metrics: Metrics;
  readonly log: Logger;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const ACTIVE = Symbol('sidegate.activeStreams');
type TrackedSession = Http2Session & { [ACTIVE]?: number };

/**
 * The inbound port: HTTP/1.1 and h2c on one cleartext port, told apart by the HTTP/2 preface
 * (Node's allowHTTP1 only works with TLS), or TLS with ALPN choosing h2 or http/1.1. Both
 * protocol servers never listen themselves: sockets are handed to them after sniffing.
 */
export class InboundListener {
  private readonly tcp: TcpServer;
  private readonly h1: HttpServer;
  private readonly h2: Http2Server;
  private readonly sessions = new Set<TrackedSession>();
  private readonly sockets = new Set<Duplex>();
  private accepting = true;

  constructor(private readonly opts: ListenerOptions, private readonly ctx: FrontContext) {
    this.h1 = this.createH1();
    this.h2 = this.createH2();
    this.tcp = opts.tls
      ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ['h2', 'http/1.1'], minVersion: 'TLSv1.2', handshakeTimeout: opts.headersTimeoutMs },
        (s) => this.onTlsSocket(s))
      : createTcpServer({ noDelay: true }, (s) => this.onCleartextSocket(s));
    this.tcp.on('error', (err) => opts.log.error({ err }, 'inbound listener error'));
  }

  listen(): Promise<AddressInfo> { return bind(this.tcp, this.opts.host, this.opts.port); }

  get openConnections(): number { return this.sockets.size; }

  /** Drain step: refuse new connections, GOAWAY every HTTP/2 session, close idle HTTP/1.1 ones. */
  stopAccepting(): Promise<void> {
    this.accepting = false;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const s of this.sessions) if (!s.closed) s.close();
    this.h1.closeIdleConnections();
    return closed;
  }

  /** Close HTTP/1.1 connections that are between requests (called repeatedly while draining). */
  closeIdle(): void { this.h1.closeIdleConnections(); }

  /** Last resort at the end of the grace period. */
  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    this.h1.close(() => undefined);
  }

  private track(socket: Duplex, protocol: string): void {
    this.sockets.add(socket);
    const g = this.opts.metrics.connections.labels(protocol);
    g.inc();
    socket.once('close', () => { this.sockets.delete(socket); g.dec(); });
  }

  private onCleartextSocket(socket: Socket): void {
    if (!this.accepting) { socket.destroy(); return; }
    // A connection that never sends a byte is cut like a slow header sender.
    socket.setTimeout(this.opts.headersTimeoutMs, () => this.cut(socket, 'idle_before_request'));
    let buf: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const n = Math.min(buf.length, PREFACE.length);
      const h2 = PREFACE.compare(buf, 0, n, 0, n) === 0;
      if (h2 && buf.length < PREFACE.length) return; // could still be the preface: wait for more
      socket.off('data', onData);
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(buf);
      this.handOver(socket, h2 ? 'h2' : 'http/1.1');
      // The HTTP/1.1 server reads through the JS stream and needs it flowing again; the HTTP/2
      // session drains the unshifted bytes itself and then reads the handle natively.
      if (!h2) socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  private onTlsSocket(socket: TLSSocket): void {
    if (!this.accepting) { socket.destroy(); return; }
    socket.on('error', () => socket.destroy());
    this.handOver(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1');
  }

  private handOver(socket: Duplex, protocol: 'h2' | 'http/1.1'): void {
    this.track(socket, protocol);
    if (protocol === 'h2') this.h2.emit('connection', socket);
    else this.h1.emit('connection', socket);
  }

  private cut(socket: Duplex, reason: string): void {
    this.opts.metrics.clientErrors.inc({ reason });
    socket.destroy();
  }

  private createH1(): HttpServer {
    const o = this.opts;
    const server = createHttpServer({
      maxHeaderSize: o.maxHeaderSize,
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      keepAliveTimeout: o.idleTimeoutMs,
      // Node checks header/request timeouts on this interval (30 s by default): too coarse for slowloris.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.headersTimeoutMs / 4))),
      requireHostHeader: false,
      noDelay: true,
    }, (req: IncomingMessage, res: ServerResponse) => this.ctx.dispatch(h1Exchange(req, res, this.ctx)));
    server.timeout = o.idleTimeoutMs;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.ctx.dispatch(upgradeExchange(req, socket, head, this.ctx)));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    // The server never listens (sockets are handed over), but 'listening' is what starts Node's
    // connection tracking: header/request timeouts and closeIdleConnections() depend on it.
    server.emit('listening');
    return server;
  }

  private onClientError(err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Duplex): void {
    let e: SidecarError | undefined;
    let reason = 'reset';
    if (err.code === 'HPE_HEADER_OVERFLOW') { e = new HeadersTooLargeError(this.opts.maxHeaderSize); reason = 'header_overflow'; }
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') { e = new RequestTimeoutError(); reason = 'request_timeout'; }
    else if (err.code?.startsWith('HPE_') === true) { e = new BadRequestError(`malformed request (${err.code.slice(4).toLowerCase()})`); reason = 'malformed'; }
    this.opts.metrics.clientErrors.inc({ reason });
    const inResponse = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (e === undefined || !socket.writable || inResponse) { socket.destroy(); return; }
    const body = e.body('');
    socket.end(`HTTP/1.1 ${e.status} ${e.name}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }

  private createH2(): Http2Server {
    const o = this.opts;
    const server = createH2Server({
      maxSessionMemory: 64,
      maxHeaderListPairs: 256,
      // Room above our own limit so oversize blocks reach us and get a 431 instead of a reset.
      maxSendHeaderBlockLength: 64 * 1024,
      settings: { maxConcurrentStreams: o.maxConcurrentStreams, initialWindowSize: 1 << 20, maxHeaderListSize: o.maxHeaderSize * 4, enablePush: false },
      unknownProtocolTimeout: o.headersTimeoutMs,
    });
    server.on('session', (session: TrackedSession) => {
      this.sessions.add(session);
      session[ACTIVE] = 0;
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => session.destroy());
      session.once('connect', () => session.setLocalWindowSize(8 << 20));
      if (!this.accepting) session.close();
      session.setTimeout(o.idleTimeoutMs, () => { if (session[ACTIVE] === 0) session.close(); });
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => this.onStream(stream, headers, flags));
    return server;
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    const session: TrackedSession | undefined = stream.session;
    if (session) {
      session[ACTIVE] = (session[ACTIVE] ?? 0) + 1;
      stream.once('close', () => { session[ACTIVE] = (session[ACTIVE] ?? 1) - 1; });
    }
    stream.on('error', () => undefined); // resets are handled through 'close'; never crash on them
    if (headerListSize(headers) > this.opts.maxHeaderSize) {
      this.opts.metrics.clientErrors.inc({ reason: 'header_overflow' });
      const e = new HeadersTooLargeError(this.opts.maxHeaderSize);
      stream.respond({ ':status': e.status, 'content-type': 'application/json' });
      stream.end(e.body(''));
      return;
    }
    if (headers[':method'] === 'CONNECT') { stream.close(h2c.NGHTTP2_REFUSED_STREAM); return; }
    this.ctx.dispatch(h2Exchange(stream, headers, flags, this.ctx));
  }
}
