import type { Redis } from 'ioredis';

/**
 * Revoked token ids and banned client addresses. Both methods reject when the store cannot
 * answer (Redis down, timeout): the stage then applies the policy's `onRedisError` switch.
 */
export interface RevocationStore {
  isRevoked(jti: string): Promise<boolean>;
  isBanned(ip: string): Promise<boolean>;
}

/** Key names shared with the runbooks and the admin tooling that writes them. */
export const revokedKey = (jti: string): string => `sidegate:revoked:jti:${jti}`;
export const bannedKey = (ip: string): string => `banned:ip:${ip}`;

/**
 * The Redis implementation. Writers set `sidegate:revoked:jti:<jti>` with an expiry at the
 * token's `exp` (`SET key 1 EXAT <exp>`) and `banned:ip:<ip>` with whatever ban length they
 * choose; existence is all that is read. Timeouts and offline behaviour come from the client's
 * own options (`commandTimeout`, `enableOfflineQueue: false`), set by the connection factory.
 */
export class RedisRevocationStore implements RevocationStore {
  constructor(private readonly redis: Redis) {}

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.redis.exists(revokedKey(jti))) > 0;
  }

  async isBanned(ip: string): Promise<boolean> {
    return (await this.redis.exists(bannedKey(ip))) > 0;
  }

  /** Revoke a token until its expiry (seconds since the epoch). For tools and tests. */
  async revoke(jti: string, expSeconds: number): Promise<void> {
    await this.redis.set(revokedKey(jti), '1', 'EXAT', Math.max(1, Math.ceil(expSeconds)));
  }

  /** Ban an address for `seconds`. For tools and tests. */
  async ban(ip: string, seconds: number): Promise<void> {
    await this.redis.set(bannedKey(ip), '1', 'EX', Math.max(1, Math.ceil(seconds)));
  }
}
