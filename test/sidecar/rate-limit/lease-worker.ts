/**
 * A stand-in sidecar for the leasing tests and benchmark: its own process, its own Redis
 * connection, RateLimiter and rateLimit stage (exact or leasing), driven by an open-loop load
 * generator inside the process (no HTTP: the measurements are of the stage and Redis, and eight of
 * these plus a load generator must fit on a 2-core test machine).
 *
 * Started with child_process.fork; config in env LEASE_WORKER = JSON WorkerConfig. Messages:
 *   → { cmd: 'run', startAt, durationMs, perSecond, path, warmMs }   ← { type: 'result', ...RunResult }
 *     (`sent` and latencies: requests sent from startAt + warmMs on; `admitted`: admissions decided
 *     from then on; `all*`: everything)
 *   → { cmd: 'state' }                                        ← { type: 'state', leases } (LeasingStore.snapshot, once no call is out)
 *   → { cmd: 'stop' }                                         (closes: leases given back) then exits
 * Sends { type: 'ready' } once Redis is connected.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RateLimitPolicy } from '../../../policies/src/types.js';
import { systemClock } from '../../../sidecar/src/clock.js';
import { SidecarError } from '../../../sidecar/src/errors.js';
import { loadRedisConfig } from '../../../sidecar/src/redis/config.js';
import { RedisConnection } from '../../../sidecar/src/redis/connection.js';
import { LeasingStore } from '../../../sidecar/src/stages/rate-limit/lease/store.js';
import type { LeaseOptions } from '../../../sidecar/src/stages/rate-limit/lease/store.js';
import { CountingLeaseRecorder } from '../../../sidecar/src/stages/rate-limit/lease/recorder.js';
import { RateLimiter } from '../../../sidecar/src/stages/rate-limit/limiter.js';
import { RedisRateStore } from '../../../sidecar/src/stages/rate-limit/redis-store.js';
import { rateLimit } from '../../../sidecar/src/stages/rate-limit/stage.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { exchange, limit, matcher } from './fixtures.js';
import { waitAvailable } from './redis-fixtures.js';

export interface WorkerConfig {
  readonly redisUrl: string;
  readonly podId: string;
  /** Leasing options, or false for the exact path. */
  readonly lease: LeaseOptions | false;
  /** Pods assumed for lease sizing (heartbeats are off so Redis commands are only the stage's). */
  readonly pods: number;
  readonly budgetMs?: number;
  readonly limits: readonly (Omit<Partial<RateLimitPolicy>, 'match'> & { name: string; prefixes?: string[] })[];
}

export interface RunResult {
  readonly allSent: number;
  readonly allAdmitted: number;
  readonly sent: number;
  readonly admitted: number;
  readonly limited: number;
  readonly other: number;
  /** Admitted requests by decision source. */
  readonly sources: Record<string, number>;
  /** Stage time of every request, µs. */
  readonly latenciesUs: number[];
  /** Wall-clock ms (sub-ms, comparable across processes) of every admission, warm-up included. */
  readonly admitTimes: number[];
  /** Wall-clock ms of the first and last admission counted in `admitted`. */
  readonly firstAdmitAt: number;
  readonly lastAdmitAt: number;
  readonly grants: number;
  readonly grantedRequests: number;
  /** Largest lease granted during the run. */
  readonly maxLease: number;
  /** Effective periods of the leases granted during the run, summed (÷ grants for the mean), and the largest. */
  readonly periodSumMs: number;
  readonly maxPeriodMs: number;
  /** Leases asked for in the background before the one in use ran out, and by a request that waited. */
  readonly renewals: { ahead: number; on_request: number };
  readonly returnedRequests: number;
  readonly forfeitedRequests: number;
  readonly switches: { lease: number; exact: number };
}

// Only meaningful when forked by lease-procs.ts (a directory-wide `tap` run would start it bare).
if (process.env.LEASE_WORKER === undefined || !process.send) process.exit(0);
const cfg = JSON.parse(process.env.LEASE_WORKER) as WorkerConfig;
const metrics = new Metrics({ processMetrics: false });
const logger = {
  warn: (o: object, m: string) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...o, msg: m })}\n`),
  info: () => undefined,
  error: (o: object, m: string) => process.stderr.write(`${JSON.stringify({ level: 'error', ...o, msg: m })}\n`),
};
const identity = { namespace: 'test', service: 'lease' };
const conn = RedisConnection.create(loadRedisConfig(cfg.redisUrl, {}), {
  metrics,
  logger,
  clock: systemClock,
  budgetMs: cfg.budgetMs ?? 200,
});
const recorder = new CountingLeaseRecorder();
const store =
  cfg.lease === false
    ? undefined
    : new LeasingStore({
        ...cfg.lease,
        recorder,
        conn,
        exact: new RedisRateStore(conn),
        clock: systemClock,
        pods: () => cfg.pods,
      });
const limiter = new RateLimiter({
  redis: conn,
  identity,
  metrics,
  logger,
  clock: systemClock,
  heartbeat: false,
  fallbackReplicas: cfg.pods,
  podId: cfg.podId,
  store,
});
const limits = cfg.limits.map(({ prefixes, ...l }) => limit({ ...l, match: matcher(prefixes ?? []) }));
// Redis' clock at each Redis decision, so an admission is dated when it was decided, not when this
// (possibly stalled) process got to see the answer. Local lease decisions are dated locally.
const decided = new AsyncLocalStorage<{ at?: number }>();
const decide = limiter.decide.bind(limiter);
limiter.decide = async (items) => {
  const v = await decide(items);
  const store = decided.getStore();
  if (store && v[0]?.source === 'redis') store.at = v[0].redisTimeMs;
  return v;
};
const handler = rateLimit(limits, { limiter, metrics, logger, clock: systemClock, identity, trustedHops: 0 })(() => Promise.resolve());

const send = (m: object): void => {
  process.send?.(m);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(m: { startAt: number; durationMs: number; perSecond: number; path: string; warmMs?: number }): Promise<RunResult> {
  const before = {
    grants: recorder.grants,
    granted: recorder.grantedRequests,
    returned: recorder.returnedRequests,
    forfeited: recorder.forfeitedRequests,
    ...recorder.switches,
    ahead: recorder.renewals.ahead,
    onRequest: recorder.renewals.on_request,
  };
  while (Date.now() < m.startAt) await sleep(Math.min(5, m.startAt - Date.now()));
  const latenciesUs: number[] = [];
  const admitTimes: number[] = [];
  const sources: Record<string, number> = {};
  let admitted = 0;
  let limited = 0;
  let other = 0;
  let allAdmitted = 0;
  let steadySent = 0;
  const steadyFrom = m.startAt + (m.warmMs ?? 0);
  let firstAdmitAt = 0;
  let lastAdmitAt = 0;
  const pending = new Set<Promise<void>>();
  const one = async (): Promise<void> => {
    const ex = exchange({ path: m.path });
    const steady = performance.timeOrigin + performance.now() >= steadyFrom;
    if (steady) steadySent++;
    const s = performance.now();
    let ok = false;
    const when: { at?: number } = {};
    try {
      await decided.run(when, () => handler(ex));
      ok = true;
    } catch (err) {
      if (!(err instanceof SidecarError)) throw err;
      if (steady && err.status === 429) limited++;
      else if (steady) other++;
    }
    const at = when.at ?? performance.timeOrigin + performance.now();
    if (ok) {
      allAdmitted++;
      admitTimes.push(at);
    }
    if (steady) latenciesUs.push((performance.now() - s) * 1000);
    // Admissions count by when they were decided: that is the time the limit is about.
    if (ok && at >= steadyFrom) {
      admitted++;
      if (firstAdmitAt === 0) firstAdmitAt = at;
      lastAdmitAt = at;
      const src = String(ex.notes?.ratelimit_source ?? '');
      sources[src] = (sources[src] ?? 0) + 1;
    }
  };
  // Open loop: requests are due at a fixed rate whatever happened to earlier ones; after a stall
  // of this process the due ones go out at once, as a load balancer's queue would deliver them.
  // The schedule is on the wall clock from startAt, so every process covers the same interval
  // even if it got the message late.
  let sent = 0;
  for (;;) {
    const elapsed = performance.timeOrigin + performance.now() - m.startAt;
    if (elapsed >= m.durationMs) break;
    const due = Math.floor((m.perSecond * elapsed) / 1000);
    while (sent < due) {
      sent++;
      const p = one().finally(() => pending.delete(p));
      pending.add(p);
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return {
    allSent: sent,
    allAdmitted,
    sent: steadySent,
    admitted,
    limited,
    other,
    sources,
    latenciesUs,
    admitTimes,
    firstAdmitAt,
    lastAdmitAt,
    grants: recorder.grants - before.grants,
    maxLease: recorder.sizes.slice(before.grants).reduce((a, b) => Math.max(a, b), 0),
    periodSumMs: recorder.periods.slice(before.grants).reduce((a, b) => a + b, 0),
    maxPeriodMs: recorder.periods.slice(before.grants).reduce((a, b) => Math.max(a, b), 0),
    renewals: { ahead: recorder.renewals.ahead - before.ahead, on_request: recorder.renewals.on_request - before.onRequest },
    grantedRequests: recorder.grantedRequests - before.granted,
    returnedRequests: recorder.returnedRequests - before.returned,
    forfeitedRequests: recorder.forfeitedRequests - before.forfeited,
    switches: { lease: recorder.switches.lease - before.lease, exact: recorder.switches.exact - before.exact },
  };
}

process.on('message', (msg: { cmd: string } & Record<string, unknown>) => {
  switch (msg.cmd) {
    case 'run':
      void run(msg as unknown as Parameters<typeof run>[0]).then((r) => send({ type: 'result', ...r }));
      break;
    case 'state':
      void (store?.settled() ?? Promise.resolve()).then(() => send({ type: 'state', leases: store?.snapshot() ?? [] }));
      break;
    case 'stop':
      void limiter
        .close()
        .then(() => conn.close())
        .then(() => process.exit(0));
      break;
  }
});

await waitAvailable(conn, 10_000);
send({ type: 'ready' });
