import type { RedisConnection } from '../../../redis/connection.js';
import { evalScript } from '../../../redis/script.js';
import type { RateItem } from '../types.js';
import { LEASE, leaseArgs, parseLeaseReply } from './script.js';
import type { LeaseOp, LeaseReply } from './script.js';

/**
 * One round trip of the lease script for a request's keys. Standalone and Sentinel: one EVALSHA
 * with every key. Cluster: one per hash tag (slot), sent together, as the exact store does —
 * atomic within a slot, not across slots.
 */
export function runLease(
  conn: RedisConnection,
  items: readonly RateItem[],
  ops: readonly LeaseOp[],
  onNoScript?: () => void,
): Promise<{ replies: LeaseReply[]; redisTimeMs: number }> {
  return conn.run('ratelimit', async (client) => {
    const run = async (idx: readonly number[]): Promise<{ replies: LeaseReply[]; redisTimeMs: number }> =>
      parseLeaseReply(
        await evalScript(
          client,
          LEASE,
          idx.map((i) => items[i]!.key),
          idx.flatMap((i) => leaseArgs(items[i]!.spec, ops[i]!)),
          onNoScript,
        ),
        idx.length,
      );
    const all = items.map((_, i) => i);
    if (!conn.isCluster || items.length === 1) return run(all);
    const groups = new Map<string, number[]>();
    for (const i of all) {
      const g = groups.get(items[i]!.tag);
      if (g) g.push(i);
      else groups.set(items[i]!.tag, [i]);
    }
    const replies = new Array<LeaseReply>(items.length);
    let redisTimeMs = 0;
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const r = await run(idx);
        redisTimeMs = r.redisTimeMs;
        idx.forEach((i, k) => {
          replies[i] = r.replies[k]!;
        });
      }),
    );
    return { replies, redisTimeMs };
  });
}
