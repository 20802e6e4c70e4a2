import type { RedisConnection } from './connection.js';
import { LuaScript, evalScript } from './script.js';

/**
 * Live-member counting for a group of sidecars (the pods of one service). Each member refreshes its
 * entry in one sorted set, scored by Redis' own clock, and drops entries older than the TTL in the
 * same script; the cardinality is the number of live pods. One key per group (a hash tag, so it is
 * one slot in a Cluster), expiring when every member has gone quiet.
 */
const HEARTBEAT = new LuaScript(
  'heartbeat',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl))
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`,
);

export interface HeartbeatOptions {
  /** The group, e.g. `<namespace>/<service>`. */
  readonly group: string;
  /** This member's id, unique among live members (pod name plus pid is plenty). */
  readonly member: string;
  readonly intervalMs?: number;
  /** A member missing beats for this long is not counted. Default 3 intervals. */
  readonly ttlMs?: number;
  /** Budget of one beat; off the request path. */
  readonly budgetMs?: number;
}

export function heartbeatKey(group: string): string {
  return `sidegate:pods:{${group}}`;
}

export class PodHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private count: number | undefined;
  private readonly key: string;
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private readonly budgetMs: number;
  private stopped = false;
  /** Beats left during which a lower count is not believed (see the constructor). */
  private settling = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly conn: RedisConnection,
    private readonly opts: HeartbeatOptions,
  ) {
    this.key = heartbeatKey(opts.group);
    this.intervalMs = opts.intervalMs ?? 5000;
    this.ttlMs = opts.ttlMs ?? 3 * this.intervalMs;
    this.budgetMs = opts.budgetMs ?? 500;
    // Beat as soon as Redis is back. If it came back empty (restarted without persistence), the
    // first beats see only the pods that beat so far: until every pod had a chance (one TTL),
    // keep the higher of the old and the new count, so a second outage right after the first
    // does not hand this pod the whole limit.
    this.unsubscribe = conn.onAvailabilityChange((up) => {
      if (!up) return;
      this.settling = Math.ceil(this.ttlMs / this.intervalMs) + 1;
      void this.beat();
    });
  }

  /** Start beating now and every interval. */
  start(): void {
    if (this.timer || this.stopped) return;
    void this.beat();
    this.timer = setInterval(() => {
      void this.beat();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Live members as last seen (this one included), or undefined if Redis never answered. */
  livePods(): number | undefined {
    return this.count;
  }

  /** One beat; failures are counted by the connection and otherwise ignored (the last count stands). */
  async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      const n = await this.conn.run(
        'heartbeat',
        (c) => evalScript(c, HEARTBEAT, [this.key], [this.opts.member, this.ttlMs]),
        this.budgetMs,
      );
      if (typeof n !== 'number' || n <= 0) return;
      if (this.settling > 0) {
        this.settling--;
        this.count = Math.max(this.count ?? 0, n);
      } else {
        this.count = n;
      }
    } catch {
      // Keep the last known count: it is the best estimate while Redis is away.
    }
  }

  /** Stop beating and leave the group, so the other pods' shares grow at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe();
    try {
      await this.conn.run('heartbeat', (c) => c.zrem(this.key, this.opts.member), this.budgetMs);
    } catch {
      // Redis away: the entry ages out after the TTL.
    }
  }
}
