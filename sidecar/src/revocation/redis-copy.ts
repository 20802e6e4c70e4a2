/**
 * Redis as the fast shared copy of the revocation list. `sidegate revoke`/`ban` write an entry
 * here (every pod sees it on its next request) and into the ConfigMap (durable); each sidecar
 * re-seeds Redis from its mounted copy, so a Redis restart without persistence or a FLUSHALL
 * loses nothing for longer than one re-seed period.
 *
 * Keys (one Redis may serve several namespaces; token ids and addresses are global facts):
 *   sidegate:revoked:jti:<jti>       "1", expiring at the entry's expiry (the runbooks' key)
 *   banned:ip:<ip>                   "1", expiring at the ban's end (the runbooks' key)
 *   sidegate:revoked:cutoffs         hash: field ["iss",ISS] or ["sub",ISS,SUB] (JSON) →
 *                                    "<issuedBefore ms> <expires ms>"; a later cut-off replaces an
 *                                    earlier one, expired fields are ignored and pruned by the CLI
 *   sidegate:revoked:seeded:<ns>     "<updated ms>:<version>" of the list a pod of <ns> last seeded
 *                                    (absent after a flush: the next pod to look re-seeds; a pod
 *                                    whose list is older than the mark's leaves Redis alone)
 */
import { LuaScript, evalScript } from '../redis/script.js';
import type { RedisClient } from '../redis/client.js';
import { cutoffField, type RevocationEntry } from './list.js';

export const revokedKey = (jti: string): string => `sidegate:revoked:jti:${jti}`;
export const bannedKey = (ip: string): string => `banned:ip:${ip}`;
export const CUTOFFS_KEY = 'sidegate:revoked:cutoffs';
export const seededKey = (namespace: string): string => `sidegate:revoked:seeded:${namespace}`;

/** Keep the later cut-off of a field; of equal cut-offs, the later expiry. Returns 1 when written. */
const PUT_CUTOFF = new LuaScript(
  'put_cutoff',
  `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local b, e = string.match(cur, '^(%d+) (%d+)$')
  if b and (tonumber(b) > tonumber(ARGV[2]) or (tonumber(b) == tonumber(ARGV[2]) and tonumber(e) >= tonumber(ARGV[3]))) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 1`,
);

/**
 * Write one entry. `onlyIfAbsent` (the re-seed): never shorten or replace what a newer
 * `sidegate revoke` wrote (of cut-offs, the later stays). Without it (`sidegate revoke`): the entry
 * as given. Expired entries are not written.
 */
export async function putEntry(c: RedisClient, e: RevocationEntry, now: number, onlyIfAbsent: boolean): Promise<void> {
  if (e.expires <= now) return;
  const exat = Math.ceil(e.expires / 1000);
  switch (e.kind) {
    case 'jti':
    case 'ip': {
      const key = e.kind === 'jti' ? revokedKey(e.jti) : bannedKey(e.ip);
      await (onlyIfAbsent ? c.set(key, '1', 'EXAT', exat, 'NX') : c.set(key, '1', 'EXAT', exat));
      return;
    }
    case 'issuer':
    case 'subject': {
      const field = e.kind === 'issuer' ? cutoffField(e.issuer) : cutoffField(e.issuer, e.subject);
      // `sidegate revoke` says what is in force, an earlier cut-off included (a correction).
      if (!onlyIfAbsent) await c.hset(CUTOFFS_KEY, field, `${Math.round(e.issuedBefore)} ${Math.round(e.expires)}`);
      else await evalScript(c, PUT_CUTOFF, [CUTOFFS_KEY], [field, Math.round(e.issuedBefore), Math.round(e.expires)]);
    }
  }
}

/** How long a seed mark lives: a namespace nobody re-seeds for a day is re-seeded on its next look. */
export const MARK_SECONDS = 86_400;

/** The mark of the list a pod of `namespace` seeded (or `sidegate revoke` wrote): `<updated ms>:<version>`. */
export async function putMark(c: RedisClient, namespace: string, mark: string): Promise<void> {
  await c.set(seededKey(namespace), mark, 'EX', MARK_SECONDS);
}

/** Remove one entry from the fast copy (lifting a revocation or ban). */
export async function deleteEntry(c: RedisClient, e: RevocationEntry): Promise<void> {
  if (e.kind === 'jti') await c.del(revokedKey(e.jti));
  else if (e.kind === 'ip') await c.del(bannedKey(e.ip));
  else await c.hdel(CUTOFFS_KEY, e.kind === 'issuer' ? cutoffField(e.issuer) : cutoffField(e.issuer, e.subject));
}

/** Drop expired cut-off fields (the hash has no per-field expiry on Redis 7.0). Returns how many. */
export async function pruneCutoffs(c: RedisClient, now: number): Promise<number> {
  const all = await c.hgetall(CUTOFFS_KEY);
  const stale = Object.entries(all)
    .filter(([, v]) => {
      const p = parseCutoff(v);
      return p === undefined || p.expires <= now;
    })
    .map(([k]) => k);
  if (stale.length > 0) await c.hdel(CUTOFFS_KEY, ...stale);
  return stale.length;
}

export function parseCutoff(v: string | null | undefined): { issuedBefore: number; expires: number } | undefined {
  if (v === null || v === undefined) return undefined;
  const m = /^(\d+) (\d+)$/.exec(v);
  return m === null ? undefined : { issuedBefore: Number(m[1]), expires: Number(m[2]) };
}

/** The latest in-force cut-off among the values of an HMGET (ms), if any. */
export function latestCutoff(values: readonly (string | null)[], now: number): number | undefined {
  let best: number | undefined;
  for (const v of values) {
    const p = parseCutoff(v);
    if (p !== undefined && p.expires > now && (best === undefined || p.issuedBefore > best)) best = p.issuedBefore;
  }
  return best;
}
