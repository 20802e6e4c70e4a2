import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { REFUSALS } from '../errors.js';
import type { Metrics } from '../telemetry/metrics.js';
import { bind } from './bind.js';
import type { FrontContext } from '../protocol/front.js';
import { H1Connection, type H1Host } from '../protocol/http1/connection.js';
import { H2Connection, type H2Host } from '../protocol/http2/connection.js';

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

/**
 * The inbound port: HTTP/1.1 and h2c on one cleartext port, told apart by the HTTP/2 preface
 * (Node's allowHTTP1 only works with TLS), or TLS with ALPN choosing h2 or http/1.1. Both
 * protocol servers never listen themselves: sockets are handed to them after sniffing.
 */
export class InboundListener {
  private readonly tcp: TcpServer;
  private readonly h1Host: H1Host;
  private readonly h1 = new Set<H1Connection>();
  private readonly h2Host: H2Host;
  private readonly h2own = new Set<H2Connection>();
  private readonly sockets = new Set<Duplex>();
  /** Cleartext connections whose first bytes have not yet said HTTP/1.1 or HTTP/2, by accept time. */
  private readonly sniffing = new Map<Socket, number>();
  private readonly sweeper: NodeJS.Timeout;
  private accepting = true;

  constructor(
    private readonly opts: ListenerOptions,
    private readonly ctx: FrontContext,
  ) {
    this.h1Host = {
      ctx,
      refusals: REFUSALS,
      maxHeaderSize: opts.maxHeaderSize,
      clientError: (reason) => opts.metrics.clientErrors.inc({ reason }),
      closed: (c) => {
        this.h1.delete(c);
      },
    };
    this.h2Host = {
      ctx,
      refusals: REFUSALS,
      maxHeaderSize: opts.maxHeaderSize,
      maxConcurrentStreams: opts.maxConcurrentStreams,
      clientError: (reason) => opts.metrics.clientErrors.inc({ reason }),
      closed: (c) => {
        this.h2own.delete(c);
      },
      internalError: (err) => opts.log.error({ err }, 'HTTP/2 connection failed on an internal error'),
    };
    // HTTP/1.1 deadlines (headers, whole request, idle) are checked here for every connection at
    // once, at a quarter of the headers timeout (≤ 1 s): a slowloris client is cut in time and
    // no request carries a timer of its own.
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, Math.floor(opts.headersTimeoutMs / 4))));
    this.sweeper.unref();
    this.tcp = opts.tls
      ? createTlsServer(
          {
            cert: opts.tls.cert,
            key: opts.tls.key,
            ALPNProtocols: ['h2', 'http/1.1'],
            minVersion: 'TLSv1.2',
            handshakeTimeout: opts.headersTimeoutMs,
          },
          (s) => this.onTlsSocket(s),
        )
      : createTcpServer({ noDelay: true }, (s) => this.onCleartextSocket(s));
    this.tcp.on('error', (err) => opts.log.error({ err }, 'inbound listener error'));
  }

  listen(): Promise<AddressInfo> {
    return bind(this.tcp, this.opts.host, this.opts.port);
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Drain step: refuse new connections, GOAWAY every HTTP/2 session, close idle HTTP/1.1 ones. */
  stopAccepting(): Promise<void> {
    this.accepting = false;
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const c of this.h2own) c.close();
    this.closeIdle();
    return closed;
  }

  /** Close HTTP/1.1 connections that are between requests (called repeatedly while draining). */
  closeIdle(): void {
    for (const c of this.h1) if (c.idle) c.destroy();
  }

  /** Last resort at the end of the grace period. */
  destroyAll(): void {
    clearInterval(this.sweeper);
    for (const c of this.h2own) c.destroy();
    for (const s of this.sockets) s.destroy();
    for (const s of this.sniffing.keys()) s.destroy();
  }

  private sweep(): void {
    const o = this.opts;
    const now = this.ctx.clock.monotonic();
    for (const [s, since] of this.sniffing)
      if (now - since >= o.headersTimeoutMs) {
        this.sniffing.delete(s);
        this.cut(s, 'idle_before_request');
      }
    for (const c of this.h2own) {
      if (c.idleSince > 0 && now - c.idleSince >= o.idleTimeoutMs) c.close();
      else if (c.stalled(now) >= o.idleTimeoutMs) c.stalledOut();
    }
    if (this.h1.size === 0) return;
    for (const c of this.h1) {
      if (c.lingerUntil > 0 && now >= c.lingerUntil) c.timedOut('linger');
      else if (c.inHeaders && now - c.messageStart >= o.headersTimeoutMs) c.timedOut('headers');
      else if (c.inBody && now - c.messageStart >= o.requestTimeoutMs) c.timedOut('request');
      else if (c.idle && c.idleSince > 0 && now - c.idleSince >= o.idleTimeoutMs) c.timedOut('idle');
      else if (c.stalledSince > 0 && now - c.stalledSince >= o.idleTimeoutMs) c.timedOut('idle');
    }
  }

  private track(socket: Duplex, protocol: string): void {
    this.sockets.add(socket);
    const g = this.opts.metrics.connections.labels(protocol);
    g.inc();
    socket.once('close', () => {
      this.sockets.delete(socket);
      g.dec();
    });
  }

  private onCleartextSocket(socket: Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    // A connection that has not said which protocol it speaks within the headers timeout is cut
    // like a slow header sender (the sweep): a deadline from accept, which bytes of the HTTP/2
    // preface sent one at a time do not push back.
    this.sniffing.set(socket, this.ctx.clock.monotonic());
    socket.once('close', () => this.sniffing.delete(socket));
    let buf: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const n = Math.min(buf.length, PREFACE.length);
      const h2 = PREFACE.compare(buf, 0, n, 0, n) === 0;
      if (h2 && buf.length < PREFACE.length) return; // could still be the preface: wait for more
      socket.off('data', onData);
      socket.pause();
      this.sniffing.delete(socket);
      // This read leaves the stream to read ahead on the next tick (Readable's maybeReadMore),
      // and the HTTP/1.1 engine may hand the socket to a parser in C++ and stop it at once (a
      // full pipeline, an Upgrade): a read-ahead then would feed a stopped parser, which drops
      // what it is given. So hand over after it, with whatever it brought in.
      setImmediate(() => {
        if (socket.destroyed) return;
        for (let more = socket.read() as Buffer | null; more !== null; more = socket.read() as Buffer | null)
          buf = Buffer.concat([buf!, more]);
        // The HTTP/2 and HTTP/1.1 engines take the sniffed bytes as their first input.
        this.handOver(socket, h2 ? 'h2' : 'http/1.1', buf);
      });
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  private onTlsSocket(socket: TLSSocket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    this.handOver(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1');
  }

  private handOver(socket: Socket, protocol: 'h2' | 'http/1.1', first?: Buffer): void {
    this.track(socket, protocol);
    if (protocol === 'h2') {
      this.h2own.add(new H2Connection(socket, this.h2Host, first));
    } else {
      const c = new H1Connection(socket, this.h1Host, first);
      if (!c.destroyed) this.h1.add(c); // it may already have handed the socket to a tunnel
    }
  }

  private cut(socket: Duplex, reason: string): void {
    this.opts.metrics.clientErrors.inc({ reason });
    socket.destroy();
  }
}
