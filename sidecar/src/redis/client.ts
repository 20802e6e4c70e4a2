import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { RedisConfig, RedisTls } from './config.js';

/** What every user of the connection talks to: ioredis' single-node client or its Cluster client. */
export type RedisClient = Redis | Cluster;

export interface ClientOptions {
  /** Shown in CLIENT LIST, so operators can tell sidecars from other clients. */
  readonly connectionName?: string;
  readonly connectTimeoutMs?: number;
}

/**
 * Reconnect quickly and forever: a sidecar must find Redis again within a second of it returning,
 * and giving up would leave the pod degraded until restart. 50, 100, ... capped at 250 ms.
 */
export const reconnectDelay = (times: number): number => Math.min(50 * times, 250);

/**
 * Build the ioredis client for a config. The options all serve one rule: a request never waits for
 * Redis beyond its budget. So no offline queue (a command while disconnected fails at once instead
 * of waiting for a reconnect), no retries or re-sends of in-flight commands after a reconnect (the
 * request that issued them has already decided without Redis).
 */
export function createRedisClient(config: RedisConfig, opts: ClientOptions = {}): RedisClient {
  const common: RedisOptions = {
    username: config.username,
    password: config.password?.reveal(),
    tls: tlsOptions(config.tls),
    connectionName: opts.connectionName ?? 'sidegate',
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    // RESP2: understood by every Redis and proxy in the field (Redis < 6 has no HELLO 3).
    protocol: 2,
    lazyConnect: false,
  };
  const t = config.topology;
  switch (t.kind) {
    case 'standalone':
      return new Redis({ ...common, host: t.node.host, port: t.node.port, db: t.db, retryStrategy: reconnectDelay });
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: t.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: t.masterName,
        db: t.db,
        sentinelPassword: config.sentinelPassword?.reveal(),
        enableTLSForSentinelMode: config.tls !== undefined,
        sentinelTLS: tlsOptions(config.tls),
        retryStrategy: reconnectDelay,
        sentinelRetryStrategy: reconnectDelay,
        sentinelReconnectStrategy: reconnectDelay,
        // A demoted master (manual failover, old master alive as a replica) answers READONLY to
        // writes: reconnect, which asks the sentinels for the current master.
        reconnectOnError: (err) => err.message.startsWith('READONLY'),
        // Subscribe to +switch-master so a failover is followed at once, not at the next error.
        failoverDetector: true,
      });
    case 'cluster': {
      const { tls, ...rest } = common;
      const clusterOpts: ClusterOptions = {
        enableOfflineQueue: false,
        enableReadyCheck: true,
        clusterRetryStrategy: reconnectDelay,
        scaleReads: 'master',
        slotsRefreshTimeout: 1000,
        retryDelayOnFailover: 50,
        retryDelayOnClusterDown: 50,
        redisOptions: { ...rest, ...(tls ? { tls } : {}) },
      };
      return new Cluster(
        t.nodes.map((n) => ({ host: n.host, port: n.port })),
        clusterOpts,
      );
    }
  }
}

function tlsOptions(tls: RedisTls | undefined): ConnectionOptions | undefined {
  if (!tls) return undefined;
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key?.reveal(),
    servername: tls.servername,
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}
