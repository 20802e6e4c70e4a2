import type { Clock } from '../../clock.js';
import { UpstreamConn } from './conn.js';

export interface PoolOptions {
  readonly host: string;
  readonly port: number;
  /** Idle time before a kept connection is closed, unless the app says less (default 4 s). */
  readonly keepAliveMs?: number;
  /** Never keep one idle longer than this, whatever the app says (default 60 s). */
  readonly keepAliveMaxMs?: number;
}

/**
 * Keep-alive connections to the app. Idle connections are a stack: the most recently used one is
 * taken first, so a quiet period lets the others age out. No limit on connections: the breaker's
 * concurrency cap (`upstream.maxConcurrentRequests`) bounds them.
 */
export class ConnPool {
  private readonly idle: UpstreamConn[] = [];
  private readonly all = new Set<UpstreamConn>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  readonly keepAliveMs: number;
  readonly keepAliveMaxMs: number;

  constructor(
    private readonly opts: PoolOptions,
    private readonly clock: Clock,
  ) {
    this.keepAliveMs = opts.keepAliveMs ?? 4000;
    this.keepAliveMaxMs = opts.keepAliveMaxMs ?? 60_000;
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  /** An idle connection still worth using, or undefined. */
  take(): UpstreamConn | undefined {
    const now = this.clock.monotonic();
    for (let c = this.idle.pop(); c !== undefined; c = this.idle.pop()) {
      if (c.usable(now)) return c;
      c.close();
    }
    return undefined;
  }

  /** A new connection (the caller becomes its user before it connects). */
  open(): UpstreamConn {
    const c = new UpstreamConn(this.opts.host, this.opts.port, this.keepAliveMs, (dead) => this.forget(dead));
    this.all.add(c);
    return c;
  }

  /** Back to the pool after a complete exchange, or closed if it cannot be reused. */
  release(c: UpstreamConn): void {
    c.user = undefined;
    c.served++;
    if (this.closed || c.dead || !c.keepAlive) {
      c.close();
      return;
    }
    c.idleSince = this.clock.monotonic();
    this.idle.push(c);
  }

  private forget(c: UpstreamConn): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private sweep(): void {
    if (this.idle.length === 0) return;
    const now = this.clock.monotonic();
    for (const c of [...this.idle]) if (!c.usable(now)) c.close();
  }

  /** The app's `Keep-Alive: timeout=N` (seconds): keep for N − 1 s, within [1 s, keepAliveMaxMs]. */
  hint(c: UpstreamConn, keepAlive: string): void {
    const m = /timeout\s*=\s*(\d+)/i.exec(keepAlive);
    if (m === null) return;
    c.keepAliveMs = Math.min(this.keepAliveMaxMs, Math.max(1000, Number(m[1]) * 1000 - 1000));
  }

  /** Close idle connections now, busy ones when their exchange ends. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.idle.splice(0)) c.close();
  }

  /** Busy (carrying a call) connections. */
  get busy(): number {
    return this.all.size - this.idle.length;
  }
}
