import type { Clock } from '../clock.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { RedisUnavailableError, failureKind, withBudget } from './budget.js';
import type { RedisFailureKind } from './budget.js';
import { createRedisClient, reconnectDelay } from './client.js';
import type { ClientOptions, RedisClient } from './client.js';
import { describeRedis } from './config.js';
import type { RedisConfig } from './config.js';

export interface RedisConnectionOptions {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Default per-call budget in ms (`--redis-timeout`); request-path calls never wait longer. */
  readonly budgetMs?: number;
  /** Consecutive failed calls that open the breaker. A lost connection opens it at once. */
  readonly failureThreshold?: number;
  /** While open, how often to probe with PING; with the 250 ms reconnect cap this bounds recovery. */
  readonly probeIntervalMs?: number;
  /** Budget of a probe PING (off the request path, so it may be longer). */
  readonly probeBudgetMs?: number;
}

export const DEFAULT_REDIS_BUDGET_MS = 5;

/**
 * One Redis client shared by every sidecar feature that needs Redis, with a breaker in front.
 * Closed: calls go to Redis, each under a budget. Open (after `failureThreshold` consecutive
 * failures, or at once when the connection drops): calls fail immediately with `breaker_open`
 * without touching Redis, so an outage is paid once, not per request; a background PING probe
 * closes it again as soon as Redis answers.
 */
export class RedisConnection {
  readonly budgetMs: number;
  readonly isCluster: boolean;
  private open = false;
  private openedAt = 0;
  private failures = 0;
  private closing = false;
  private connectedOnce = false;
  /** Whether the current outage has been logged (one warn per outage). */
  private outageLogged = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private reviveTimer: NodeJS.Timeout | undefined;
  /** Whether revive() has logged during the current outage. */
  private revived = false;
  private probing = false;
  private readonly listeners = new Set<(available: boolean) => void>();
  private readonly threshold: number;
  private readonly probeIntervalMs: number;
  private readonly probeBudgetMs: number;

  static create(config: RedisConfig, opts: RedisConnectionOptions & ClientOptions): RedisConnection {
    return new RedisConnection(createRedisClient(config, opts), opts, describeRedis(config));
  }

  constructor(
    readonly client: RedisClient,
    private readonly opts: RedisConnectionOptions,
    readonly description = 'redis',
  ) {
    this.budgetMs = opts.budgetMs ?? DEFAULT_REDIS_BUDGET_MS;
    this.threshold = opts.failureThreshold ?? 3;
    this.probeIntervalMs = opts.probeIntervalMs ?? 100;
    this.probeBudgetMs = opts.probeBudgetMs ?? 250;
    this.isCluster = 'nodes' in client && typeof client.nodes === 'function';
    // ioredis prints unhandled 'error' events to stderr; ours go to the log, once per outage.
    client.on('error', (err: Error) => {
      this.trip('connection', err);
      // Not connected yet at start (quiet), then an error such as WRONGPASS: say so, once.
      if (this.open && !this.outageLogged) this.logOutage('connection', err);
    });
    client.on('close', () => {
      if (!this.closing) this.trip('connection');
    });
    client.on('ready', () => {
      if (this.open) this.scheduleProbe(0);
    });
    // 'end' means ioredis stopped reconnecting. Ours never asks it to (the retry strategies always
    // return a delay), but it gives up on its own in a few races: a Sentinel +switch-master notice
    // that arrives while it is resolving the master after a drop ends the client ("Connection is
    // closed.", status end), seen under load in the failover test. A sidecar must not stay degraded
    // until restart, so anything but our own close() starts the client again.
    client.on('end', () => {
      if (!this.closing) this.revive();
    });
    // Until the first connect completes, decide without Redis rather than queue.
    if (client.status !== 'ready') this.trip('connection', undefined, true);
  }

  /** False while the breaker is open: callers decide without Redis. */
  get available(): boolean {
    return !this.open;
  }

  /** Called with false when the breaker opens and true when it closes. Returns an unsubscribe. */
  onAvailabilityChange(cb: (available: boolean) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * Run one Redis operation (possibly several commands sent together) under a budget. Rejects with
   * RedisUnavailableError: `breaker_open` without calling Redis, else `timeout`, `connection` or
   * `reply`. `op` is a bounded metric label (ratelimit, heartbeat, probe, ...).
   */
  async run<T>(op: string, fn: (client: RedisClient) => Promise<T>, budgetMs = this.budgetMs): Promise<T> {
    if (this.open) throw new RedisUnavailableError('breaker_open', op);
    if (this.client.status !== 'ready') {
      this.trip('connection');
      throw new RedisUnavailableError('connection', op);
    }
    const start = this.opts.clock.monotonic();
    try {
      const v = await withBudget(fn(this.client), budgetMs, op, this.opts.clock);
      this.opts.metrics.redisDuration.observe({ op }, (this.opts.clock.monotonic() - start) / 1000);
      this.failures = 0;
      return v;
    } catch (err) {
      const kind = failureKind(err);
      this.opts.metrics.redisErrors.inc({ op, kind });
      // An error reply means Redis is there and talking: not a reason to stop using it.
      if (kind !== 'reply' && ++this.failures >= this.threshold) this.trip(kind, err);
      throw err instanceof RedisUnavailableError ? err : new RedisUnavailableError(kind, op, err);
    }
  }

  private trip(kind: RedisFailureKind, err?: unknown, quiet = false): void {
    if (this.open || this.closing) return;
    this.open = true;
    this.openedAt = this.opts.clock.monotonic();
    this.outageLogged = false;
    if (!quiet) this.logOutage(kind, err);
    for (const cb of this.listeners) cb(false);
    this.scheduleProbe(this.probeIntervalMs);
  }

  private logOutage(kind: RedisFailureKind, err: unknown): void {
    this.outageLogged = true;
    this.opts.logger.warn(
      { redis: this.description, kind, err: errMessage(err) },
      'redis unavailable: deciding without it until it answers again',
    );
  }

  private scheduleProbe(delayMs: number): void {
    if (this.closing || this.probing) return;
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => {
      void this.probe();
    }, delayMs);
    this.probeTimer.unref();
  }

  private revive(): void {
    this.trip('connection');
    clearTimeout(this.reviveTimer);
    this.reviveTimer = setTimeout(() => {
      if (this.closing || this.client.status !== 'end') return;
      if (!this.revived) this.opts.logger.info({ redis: this.description }, 'redis client had stopped reconnecting: connecting again');
      this.revived = true;
      // A failed connect ends the client again, which comes back here.
      this.client.connect().catch(() => undefined);
    }, reconnectDelay(Number.MAX_SAFE_INTEGER));
    this.reviveTimer.unref();
  }

  private async probe(): Promise<void> {
    if (!this.open || this.closing || this.probing) return;
    if (this.client.status !== 'ready') {
      this.scheduleProbe(this.probeIntervalMs);
      return;
    }
    this.probing = true;
    try {
      await withBudget(this.client.ping(), this.probeBudgetMs, 'probe', this.opts.clock);
      this.recover();
    } catch {
      // Still down: the next probe decides.
    } finally {
      this.probing = false;
    }
    if (this.open) this.scheduleProbe(this.probeIntervalMs);
  }

  private recover(): void {
    if (!this.open || this.closing) return;
    this.open = false;
    this.failures = 0;
    this.revived = false;
    const downMs = Math.round(this.opts.clock.monotonic() - this.openedAt);
    if (this.connectedOnce) this.opts.logger.info({ redis: this.description, downMs }, 'redis available again');
    else this.opts.logger.info({ redis: this.description }, 'redis connected');
    this.connectedOnce = true;
    for (const cb of this.listeners) cb(true);
  }

  /** Close the client. Owned by whoever created the connection (the proxy), after its users. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.probeTimer);
    clearTimeout(this.reviveTimer);
    this.listeners.clear();
    try {
      // Real time whatever the clock: closing must end even if nobody moves a test's clock.
      await withBudget(this.client.quit(), 1000, 'quit');
    } catch {
      // Not connected or not answering: nothing to say goodbye to.
    }
    // Also after QUIT: only disconnect() stops ioredis' Sentinel failover-detector connections,
    // which otherwise reconnect forever and keep the process alive.
    this.client.disconnect();
  }
}

function errMessage(err: unknown): string | undefined {
  return err instanceof Error ? err.message : undefined;
}
