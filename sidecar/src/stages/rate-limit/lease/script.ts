import { LuaScript } from '../../../redis/script.js';

/**
 * GCRA with leases, on Redis' clock. The key holds the same value as the exact script's (the
 * theoretical arrival time, TAT, in µs as an integer string), so exact and leasing pods can share
 * a key. A lease of k requests is k consecutive GCRA slots reserved in one call: the TAT moves by
 * k × step (step = cost × interval). Slot m of the lease *vests* — may be spent — exactly when GCRA
 * would have admitted a request that took it: at TAT_before + m × step − tolerance. So a lease can
 * never admit a request earlier than the exact path would have, which is what keeps leases within
 * the limit. Slots may vest in the future (up to `horizon`): the lease is then a place in the
 * queue, and the pod answers its own denials until its slots vest instead of asking again.
 *
 * Per key, ARGV (9 values):
 *   op         'e' exact (one request, as the gcra script) | 'a' acquire a lease | 'r' release only
 *   interval   µs per cost unit;  tolerance µs;  cost;  enforce '1'|'0'
 *   want       requests wanted in the lease (op 'a')
 *   horizon    µs: grant only slots vesting within this time from now
 *   rel_end    the TAT this pod's previous lease left ('' for none)
 *   rel_us     unused time of that lease (unspent requests × step); 0 when renewing ahead (the pod
 *              keeps spending that lease, and only asks whether the new one continues it)
 *
 * Release (before anything else, and committed even if the request is denied): only when the key's
 * TAT still equals `rel_end` — nobody reserved after that lease, so its unused slots are the last
 * ones — and only the part still in the future (slots already passed were lost; returning them
 * would let GCRA count them twice). Anything else keeps the slots reserved: under-admission by at
 * most that lease, never over-admission.
 *
 * All-or-nothing as the gcra script for the request itself: exact keys advance only if every
 * enforced key admits it. A granted lease is committed even when this request is denied (its slots
 * vest later, or another limit denied): the pod keeps it for the next requests.
 *
 * Reply per key (9 values): admitted now (1|0), granted, first_us (µs from now until the lease's
 * first slot vests; ≤ 0 = already), seg_end (TAT string after the grant, '' if none), remaining
 * (cost-1 requests left, may be negative when the lease queued), reset_us, retry_us, returned_us,
 * joined (1 when the grant starts exactly where the lease `rel_end` names ended — nobody reserved
 * in between and that end is not in the past — so the pod's unspent slots of both form one block
 * at the top of the key that a later release may give back together); then Redis' clock (µs since
 * the epoch).
 *
 * Commands inside: TIME and GET always; SET (or DEL) only when the key's TAT changed (a grant, a
 * give-back, an admitted exact request). A granted lease is 4 executed commands with the EVALSHA.
 */
export const LEASE = new LuaScript(
  'gcra_lease',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local write = {}
local pending = {}
local admit = true
for i = 1, #KEYS do
  local j = (i - 1) * 9
  local o = (i - 1) * 9
  local op = ARGV[j + 1]
  local interval = tonumber(ARGV[j + 2])
  local tolerance = tonumber(ARGV[j + 3])
  local cost = tonumber(ARGV[j + 4])
  local enforce = ARGV[j + 5] == '1'
  local want = tonumber(ARGV[j + 6])
  local horizon = tonumber(ARGV[j + 7])
  local relEnd = ARGV[j + 8]
  local relUs = tonumber(ARGV[j + 9])
  local raw = redis.call('GET', KEYS[i])
  local tat = tonumber(raw or now)
  local returned = 0
  if raw and relEnd ~= '' and raw == relEnd and relUs > 0 then
    local r = math.min(relUs, tat - now)
    if r > 0 then
      tat = tat - r
      returned = r
      write[i] = tat
    end
  end
  local joined = raw and relEnd ~= '' and raw == relEnd and relUs == 0 and tat >= now
  if tat < now then tat = now end
  local step = cost * interval
  local first = tat + step - tolerance - 1 - now
  out[o + 1] = 0
  out[o + 2] = 0
  out[o + 3] = math.ceil(first)
  out[o + 4] = ''
  out[o + 5] = math.floor((tolerance - (tat - now) + 1) / interval)
  out[o + 6] = math.ceil(tat - now)
  out[o + 7] = 0
  out[o + 8] = math.floor(returned)
  out[o + 9] = joined and 1 or 0
  if op == 'a' then
    local granted = 0
    if step <= tolerance + 1 and first <= horizon then
      granted = math.min(want, math.floor((horizon - first) / step) + 1)
    end
    if granted >= 1 then
      local seg = string.format('%.0f', tat + granted * step)
      local newTat = tonumber(seg)
      write[i] = newTat
      out[o + 2] = granted
      out[o + 4] = seg
      out[o + 5] = math.floor((tolerance - (newTat - now) + 1) / interval)
      out[o + 6] = math.ceil(newTat - now)
      if first <= 0 then
        out[o + 1] = 1
      else
        out[o + 7] = math.ceil(first)
        if enforce then admit = false end
      end
    else
      out[o + 7] = math.ceil(first + 1)
      if enforce then admit = false end
    end
  elseif op == 'e' then
    local newTat = tat + step
    local diff = newTat - now
    if diff <= tolerance + 1 then
      pending[i] = newTat
      out[o + 1] = 1
      out[o + 5] = math.floor((tolerance - diff + 1) / interval)
      out[o + 6] = math.ceil(diff)
    else
      out[o + 5] = math.max(0, out[o + 5])
      out[o + 7] = math.ceil(diff - tolerance)
      if enforce then admit = false end
    end
  end
end
if admit then
  for i, v in pairs(pending) do write[i] = v end
end
for i, v in pairs(write) do
  if v <= now then
    redis.call('DEL', KEYS[i])
  else
    redis.call('SET', KEYS[i], string.format('%.0f', v), 'PX', math.max(1, math.ceil((v - now) / 1000)))
  end
end
out[#KEYS * 9 + 1] = now
return out
`,
);

export type LeaseOp =
  | { readonly op: 'e' }
  | {
      readonly op: 'a';
      readonly want: number;
      readonly horizonUs: number;
      /** Give back the unused part of the lease this one replaces. */
      readonly release?: Release;
      /** Renewing ahead: the seg_end of the lease still being spent (reply says whether the grant continues it). */
      readonly after?: string;
    }
  | { readonly op: 'r'; readonly release: Release };

/** What a previous lease leaves behind: where it ended and how much of it went unused. */
export interface Release {
  readonly segEnd: string;
  readonly unusedUs: number;
}

export interface LeaseReply {
  readonly admitted: boolean;
  readonly granted: number;
  readonly firstUs: number;
  readonly segEnd: string;
  readonly remaining: number;
  readonly resetUs: number;
  readonly retryUs: number;
  readonly returnedUs: number;
  readonly joined: boolean;
}

export interface SpecArgs {
  readonly intervalUs: number;
  readonly toleranceUs: number;
  readonly cost: number;
  readonly enforce: boolean;
}

export function leaseArgs(spec: SpecArgs, op: LeaseOp): (string | number)[] {
  const rel = op.op === 'e' ? undefined : op.release;
  const after = op.op === 'a' ? op.after : undefined;
  return [
    op.op,
    spec.intervalUs,
    spec.toleranceUs,
    spec.cost,
    spec.enforce ? 1 : 0,
    op.op === 'a' ? op.want : 0,
    op.op === 'a' ? op.horizonUs : 0,
    rel?.segEnd ?? after ?? '',
    rel ? Math.max(0, Math.floor(rel.unusedUs)) : 0,
  ];
}

export function parseLeaseReply(reply: unknown, n: number): { replies: LeaseReply[]; redisTimeMs: number } {
  if (!Array.isArray(reply) || reply.length !== n * 9 + 1) throw new Error('unexpected reply from the gcra_lease script');
  const r = reply as (number | string)[];
  const replies: LeaseReply[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * 9;
    replies.push({
      admitted: Number(r[o]) === 1,
      granted: Number(r[o + 1]),
      firstUs: Number(r[o + 2]),
      segEnd: String(r[o + 3]),
      remaining: Number(r[o + 4]),
      resetUs: Number(r[o + 5]),
      retryUs: Number(r[o + 6]),
      returnedUs: Number(r[o + 7]),
      joined: Number(r[o + 8]) === 1,
    });
  }
  return { replies, redisTimeMs: Number(r[n * 9]) / 1000 };
}
