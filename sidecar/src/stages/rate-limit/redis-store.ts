import type { RedisConnection } from '../../redis/connection.js';
import { LuaScript, evalScript } from '../../redis/script.js';
import type { RateItem, RateStore, Verdict } from './types.js';

/**
 * GCRA for every key of one call, atomically, on Redis' clock (TIME), so the pods' own clocks never
 * enter a decision. All-or-nothing: if any enforced limit denies, no key is advanced (a rejected
 * request costs no quota); a shadow limit that would deny is not advanced either, so it tracks the
 * traffic it would have let through. Each key expires when its TAT passes: an absent key and an
 * expired one mean the same (full), so memory is bounded by the keys active within one window.
 *
 * ARGV per key: interval_us, tolerance_us, cost, enforce (1|0).
 * Returns per key: allowed (1|0), remaining, reset_us (until full), retry_us (until allowed);
 * then Redis' clock at the decision (µs since the epoch).
 * The +1 µs slack absorbs rounding of fractional intervals in the stored TAT.
 */
export const GCRA = new LuaScript(
  'gcra',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local commit = {}
local admit = true
for i = 1, #KEYS do
  local j = (i - 1) * 4
  local interval = tonumber(ARGV[j + 1])
  local tolerance = tonumber(ARGV[j + 2])
  local cost = tonumber(ARGV[j + 3])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local newTat = tat + cost * interval
  local diff = newTat - now
  if diff <= tolerance + 1 then
    commit[i] = newTat
    out[j + 1] = 1
    out[j + 2] = math.floor((tolerance - diff + 1) / interval)
    out[j + 3] = math.ceil(diff)
    out[j + 4] = 0
  else
    if ARGV[j + 4] == '1' then admit = false end
    out[j + 1] = 0
    out[j + 2] = math.max(0, math.floor((tolerance - (tat - now) + 1) / interval))
    out[j + 3] = math.ceil(tat - now)
    out[j + 4] = math.ceil(diff - tolerance)
  end
end
if admit then
  for i = 1, #KEYS do
    if commit[i] then
      local ttl = math.max(1, math.ceil((commit[i] - now) / 1000))
      redis.call('SET', KEYS[i], string.format('%.0f', commit[i]), 'PX', ttl)
    end
  end
end
out[#KEYS * 4 + 1] = now
return out
`,
);

/**
 * Standalone and Sentinel: one EVALSHA carrying every key (no slot rule applies). Cluster: keys are
 * grouped by hash tag (one tag per limit, so usually one group per limit) and the groups' EVALSHAs
 * go out together, each to its slot's node: one round trip of latency, atomic within each group
 * but not across groups (a request denied by one limit may still have advanced another).
 */
export class RedisRateStore implements RateStore {
  constructor(
    private readonly conn: RedisConnection,
    private readonly onNoScript?: () => void,
  ) {}

  check(items: readonly RateItem[]): Promise<readonly Verdict[]> {
    return this.conn.run('ratelimit', async (client) => {
      if (!this.conn.isCluster || items.length === 1) {
        return parse(
          await evalScript(
            client,
            GCRA,
            items.map((i) => i.key),
            items.flatMap(args),
            this.onNoScript,
          ),
          items.length,
        );
      }
      const groups = new Map<string, number[]>();
      items.forEach((it, i) => {
        const g = groups.get(it.tag);
        if (g) g.push(i);
        else groups.set(it.tag, [i]);
      });
      const out = new Array<Verdict>(items.length);
      await Promise.all(
        [...groups.values()].map(async (idx) => {
          const group = idx.map((i) => items[i]!);
          const verdicts = parse(
            await evalScript(
              client,
              GCRA,
              group.map((i) => i.key),
              group.flatMap(args),
              this.onNoScript,
            ),
            group.length,
          );
          idx.forEach((i, k) => {
            out[i] = verdicts[k]!;
          });
        }),
      );
      return out;
    });
  }
}

function args(it: RateItem): (string | number)[] {
  return [it.spec.intervalUs, it.spec.toleranceUs, it.spec.cost, it.spec.enforce ? 1 : 0];
}

function parse(reply: unknown, n: number): Verdict[] {
  if (!Array.isArray(reply) || reply.length !== n * 4 + 1) throw new Error('unexpected reply from the gcra script');
  const r = reply as number[];
  const redisTimeMs = Number(r[n * 4]) / 1000;
  const out: Verdict[] = [];
  for (let i = 0; i < n; i++) {
    const j = i * 4;
    out.push({
      outcome: r[j] === 1 ? 'allowed' : 'limited',
      source: 'redis',
      remaining: Number(r[j + 1]),
      resetMs: Number(r[j + 2]) / 1000,
      retryAfterMs: Number(r[j + 3]) / 1000,
      redisTimeMs,
    });
  }
  return out;
}
