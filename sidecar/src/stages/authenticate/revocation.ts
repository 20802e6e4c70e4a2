import type { Cluster, Redis } from 'ioredis';
// Not via redis/index.js: that would load ioredis in sidecars that have no Redis.
import type { Clock } from '../../clock.js';
import { failureKind, withBudget } from '../../redis/budget.js';
import type { RedisConnection } from '../../redis/connection.js';
import { CUTOFFS_KEY, bannedKey, latestCutoff, revokedKey } from '../../revocation/redis-copy.js';
import { cutoffField, type RevocationList } from '../../revocation/list.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { clientOf } from '../../client-address.js';
import { ForbiddenError } from '../../errors.js';
import type { Stage } from '../../pipeline/stage.js';
import { REASON_MESSAGES } from './reasons.js';

/**
 * Revoked token ids and banned client addresses. Both methods reject when the store cannot
 * answer (Redis down, over budget, breaker open): the stage then applies the policy's
 * `onRedisError` switch.
 */
export interface RevocationStore {
  isRevoked(jti: string): Promise<boolean>;
  isBanned(ip: string): Promise<boolean>;
  /** The latest cut-off (ms) in force for the issuer or for this subject of it: tokens issued before it are revoked. */
  cutoff(iss: string, sub: string | undefined, now: number): Promise<number | undefined>;
}

/** The durable list as the pod holds it now (RevocationSource): read on every request, no I/O. */
export interface LocalRevocations {
  readonly list: RevocationList;
}

/** Key names shared with the runbooks and the admin tooling that writes them (sidecar/src/revocation/redis-copy.ts). */
export { bannedKey, revokedKey };

const cutoffFields = (iss: string, sub: string | undefined): string[] =>
  sub === undefined ? [cutoffField(iss)] : [cutoffField(iss), cutoffField(iss, sub)];

/** The metric label of revocation calls in sidegate_redis_errors_total / _duration_seconds. */
export const REVOCATION_OP = 'auth_revocation';

/**
 * Over the sidecar's shared Redis connection: its per-call budget, breaker and metrics apply,
 * so a Redis outage costs one failed call, not one per request. What the proxy should use.
 */
export class ConnectionRevocationStore implements RevocationStore {
  constructor(private readonly conn: RedisConnection) {}
  async isRevoked(jti: string): Promise<boolean> {
    return (await this.conn.run(REVOCATION_OP, (c) => c.exists(revokedKey(jti)))) > 0;
  }
  async isBanned(ip: string): Promise<boolean> {
    return (await this.conn.run(REVOCATION_OP, (c) => c.exists(bannedKey(ip)))) > 0;
  }
  async cutoff(iss: string, sub: string | undefined, now: number): Promise<number | undefined> {
    return latestCutoff(await this.conn.run(REVOCATION_OP, (c) => c.hmget(CUTOFFS_KEY, ...cutoffFields(iss, sub))), now);
  }
}

/**
 * Over a plain ioredis client (for tools, tests, or a dedicated connection). Writers set
 * `sidegate:revoked:jti:<jti>` to expire at the token's `exp` (`SET key 1 EXAT <exp>`) and
 * `banned:ip:<ip>` for the ban's length; only existence is read. Give the client
 * `enableOfflineQueue: false` and a `budgetMs` here so a request never waits on a dead Redis.
 */
export class RedisRevocationStore implements RevocationStore {
  constructor(
    private readonly redis: Redis | Cluster,
    /** `clock` times the budget (default: the system clock). */
    private readonly opts: { readonly budgetMs?: number; readonly metrics?: Metrics; readonly clock?: Clock } = {},
  ) {}

  isRevoked(jti: string): Promise<boolean> {
    return this.exists(revokedKey(jti));
  }
  isBanned(ip: string): Promise<boolean> {
    return this.exists(bannedKey(ip));
  }
  async cutoff(iss: string, sub: string | undefined, now: number): Promise<number | undefined> {
    return latestCutoff(await this.budgeted(this.redis.hmget(CUTOFFS_KEY, ...cutoffFields(iss, sub))), now);
  }

  /** Revoke a token until its expiry (seconds since the epoch). */
  async revoke(jti: string, expSeconds: number): Promise<void> {
    await this.redis.set(revokedKey(jti), '1', 'EXAT', Math.max(1, Math.ceil(expSeconds)));
  }

  /** Ban an address for `seconds`. */
  async ban(ip: string, seconds: number): Promise<void> {
    await this.redis.set(bannedKey(ip), '1', 'EX', Math.max(1, Math.ceil(seconds)));
  }

  private async exists(key: string): Promise<boolean> {
    return (await this.budgeted(this.redis.exists(key))) > 0;
  }

  private async budgeted<T>(p: Promise<T>): Promise<T> {
    try {
      return await (this.opts.budgetMs === undefined ? p : withBudget(p, this.opts.budgetMs, REVOCATION_OP, this.opts.clock));
    } catch (err) {
      this.opts.metrics?.redisErrors.inc({ op: REVOCATION_OP, kind: failureKind(err) });
      throw err;
    }
  }
}

/**
 * The authenticate stage of a policy without `auth`: only the durable list's bans apply (Redis is
 * consulted only where `auth.revocation` is enabled). Refused as the full stage refuses a ban.
 */
export function banOnly(local: LocalRevocations, metrics: Metrics, clock: Clock): Stage {
  return (next) => (ex) => {
    const list = local.list;
    if (list.size === 0 || list.banned(clientOf(ex), clock.now()) === undefined) return next(ex);
    metrics.securityViolations.inc({ kind: 'banned_ip' });
    metrics.authAttempts.inc({ provider: 'none', result: 'failure', reason: 'banned' });
    ex.auth = { provider: 'none', result: 'failure', reason: 'banned' };
    ex.note('revocation', 'list');
    return Promise.reject(new ForbiddenError('banned', REASON_MESSAGES.banned));
  };
}
