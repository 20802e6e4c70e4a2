import type { Clock } from '../clock.js';
import { RedisUnavailableError } from '../redis/budget.js';
import type { RedisConnection } from '../redis/connection.js';
import type { Logger } from '../telemetry/logger.js';
import { putEntry, putMark, seededKey } from './redis-copy.js';
import type { RevocationList } from './list.js';

/** The metric label of re-seed calls in sidegate_redis_errors_total / _duration_seconds. */
export const SEED_OP = 'revocation_seed';
const SEED_BUDGET_MS = 2000;

/** The `updated` time (ms) of the list a mark names; -1 when there is none. */
const markTime = (seen: string | null): number => {
  const t = seen === null ? NaN : Number(seen.slice(0, seen.indexOf(':')));
  return Number.isFinite(t) ? t : -1;
};

/**
 * Keeps Redis holding this pod's durable list: every `intervalMs` one GET of the namespace's
 * seeded mark (`<updated>:<version>` of the list last seeded); when it names neither this list
 * nor a newer one (Redis restarted empty, flushed, or the list changed), every entry in force is written back with SET NX / keep-the-later-cut-off, so
 * nothing a newer `sidegate revoke` wrote is undone. Also at once when the list changes and when
 * Redis comes back. Off the request path, with its own budget.
 */
export class RevocationSeeder {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private confirmedAt: number | undefined;
  private unsubscribe: (() => void) | undefined;
  /** One warn per failure streak. */
  private warned = false;

  constructor(
    private readonly o: {
      readonly redis: RedisConnection;
      readonly list: () => RevocationList;
      readonly namespace: string;
      readonly clock: Clock;
      readonly log: Logger;
      readonly intervalMs: number;
    },
  ) {}

  start(): void {
    this.unsubscribe = this.o.redis.onAvailabilityChange((up) => {
      if (up) void this.kick();
    });
    this.timer = setInterval(() => {
      void this.kick();
    }, this.o.intervalMs);
    this.timer.unref();
    void this.kick();
  }

  /** Seconds since Redis was last seen holding this pod's list (Infinity: never yet). */
  ageSeconds(): number {
    return this.confirmedAt === undefined ? Infinity : Math.max(0, (this.o.clock.monotonic() - this.confirmedAt) / 1000);
  }

  /** Check (and re-seed if needed) now; resolves when done. Concurrent calls coalesce. */
  kick(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.kick();
      }
    });
    return this.running;
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
  }

  private async pass(): Promise<void> {
    const { redis, namespace, clock, log } = this.o;
    const list = this.o.list();
    const key = seededKey(namespace);
    const mark = `${list.updated}:${list.version}`;
    try {
      const seen = await redis.run(SEED_OP, (c) => c.get(key), SEED_BUDGET_MS);
      // Ours, or a newer list's (written later: this pod's ConfigMap copy lags). Re-seeding an older
      // list would bring back what `sidegate revoke --remove` just lifted from Redis.
      if (seen === mark || markTime(seen) > list.updated) {
        this.confirmed();
        return;
      }
      const now = clock.now();
      const entries = list.inForce(now);
      await redis.run(
        SEED_OP,
        async (c) => {
          // Sequential on purpose: a handful of entries, off the request path, and a Cluster may route each to another node.
          for (const e of entries) await putEntry(c, e, now, true);
          await putMark(c, namespace, mark);
        },
        SEED_BUDGET_MS + 10 * entries.length,
      );
      this.confirmed();
      if (entries.length > 0)
        log.info({ entries: entries.length, version: list.version, previous: seen }, 'revocation list re-seeded into Redis');
    } catch (err) {
      // Counted by the connection (sidegate_redis_errors_total{op="revocation_seed"}); the local list still decides.
      if (this.warned || (err instanceof RedisUnavailableError && err.kind === 'breaker_open')) return;
      this.warned = true;
      log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'revocation list: re-seeding Redis failed; the local copy decides, retrying',
      );
    }
  }

  private confirmed(): void {
    this.confirmedAt = this.o.clock.monotonic();
    this.warned = false;
  }
}
