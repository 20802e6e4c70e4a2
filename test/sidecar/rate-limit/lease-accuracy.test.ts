import t from 'tap';
import { RedisProcess } from '../../helpers/redis.js';
import { commandTotals, percentile, startWorkers } from './lease-procs.js';
import type { RunResult } from './lease-worker.js';
import { inspector } from './redis-fixtures.js';

/**
 * Four sidecar processes (lease-worker.ts) leasing one key in one redis-server, the key offered at
 * 10× its limit spread evenly across them: the admitted count stays within ±1 % of the limit, no
 * sliding second admits more than the limit plus the leases held, and Redis sees almost nothing.
 * Leasing runs with its defaults: adaptive period (160 requests per call, 100 ms to 1 s) and
 * renewals ahead.
 */

const RATE = 400;
const PODS = 4;
const DURATION_MS = 3000;
const WARM_MS = 1000;

const redis = await RedisProcess.start();
const look = inspector(redis.url);
t.teardown(async () => {
  look.disconnect();
  await redis.stop();
});

void t.test(
  `${PODS} processes, one hot key at 10× its limit: within ±1 % of the limit, never over, ≤ 0.05 Redis commands per request`,
  async (t) => {
    const workers = await startWorkers(PODS, (i) => ({
      redisUrl: redis.url,
      podId: `p${i}`,
      pods: PODS,
      lease: {},
      budgetMs: 500,
      limits: [{ name: 'hot', requests: RATE, perMs: 1000, onRedisError: 'deny' }],
    }));
    t.teardown(() => Promise.all(workers.map((w) => w.stop())));

    const startAt = Date.now() + 300;
    const runs = workers.map((w) => w.run(startAt, DURATION_MS, (10 * RATE) / PODS, '/api/x', WARM_MS));
    await new Promise((r) => setTimeout(r, startAt + WARM_MS - Date.now()));
    const from = commandTotals(await look.info('commandstats'));
    const results: RunResult[] = await Promise.all(runs);
    const to = commandTotals(await look.info('commandstats'));
    const sum = (f: (r: RunResult) => number): number => results.reduce((n, r) => n + f(r), 0);

    t.equal(
      sum((r) => r.other),
      0,
      'every request decided (no Redis budget overruns, no fallback)',
    );
    // Admissions are counted by when they were decided, so the limit's time runs from the first
    // admission (a full key gains nothing by waiting: if this machine starts the processes' loads
    // late, that time is no quota) to the last one (requests sent just before the end may be decided
    // after).
    const times = results.flatMap((r) => r.admitTimes).sort((a, b) => a - b);
    const firstAdmit = times[0]!;
    const lastAdmit = times[times.length - 1]!;
    // Whole run: the key starts full (capacity = one second's worth), then refills at the rate.
    const allAdmitted = sum((r) => r.allAdmitted);
    const allExpected = RATE + (RATE * (lastAdmit - firstAdmit)) / 1000;
    // A process stalled for longer than a lease's lifetime (0.4 s) forfeits the slots that vested
    // meanwhile (bound 4 in RESULTS.md): counted, and allowed for; on a machine that keeps up it is 0.
    const forfeited = sum((r) => r.forfeitedRequests);
    t.ok(
      allAdmitted >= allExpected * 0.99 - forfeited && allAdmitted <= allExpected * 1.01,
      `whole run: admitted ${allAdmitted}, limit allows ${allExpected.toFixed(1)} (forfeited in stalls: ${forfeited.toFixed(1)})`,
    );
    // Never over at any instant: by every admission, at most the full key plus the refill so far
    // (2 requests of slack: admissions are dated on the pods' clocks, limits on Redis').
    let over = -Infinity;
    times.forEach((at, i) => {
      over = Math.max(over, i + 1 - (RATE + (RATE * (at - firstAdmit)) / 1000));
    });
    t.ok(over <= 2, `at no instant more than the limit allowed so far (closest: ${over.toFixed(1)} requests ahead)`);
    // Steady part (leasing on everywhere, the key at its limit): a window, so slots vested before it
    // and spent in it count (bound 2 in RESULTS.md); reported, the cumulative counts are asserted.
    const admitted = sum((r) => r.admitted);
    const expected = (RATE * (lastAdmit - startAt - WARM_MS)) / 1000;
    t.comment(
      `steady part: admitted ${admitted}, limit × time ${expected.toFixed(1)}; first admission ${(firstAdmit - startAt).toFixed(1)} ms after the start`,
    );
    const sent = sum((r) => r.sent);
    const perRequest = (to.sent - from.sent) / sent;
    t.ok(perRequest <= 0.05, `${to.sent - from.sent} Redis calls for ${sent} requests: ${perRequest.toFixed(4)} per request`);
    // The goal counts what Redis executes (the scripts' TIME, GET, SET too); the benchmark measures
    // it closely, this only guards against a regression of several times.
    const executed = (to.executed - from.executed) / sent;
    t.ok(executed <= 0.05, `${to.executed - from.executed} commands executed: ${executed.toFixed(4)} per request`);
    // Each process sees 1,000/s: its effective period is 160 requests ÷ 1,000/s = 160 ms, not the
    // shortest period (100 ms), and never past the longest (1 s).
    const meanPeriod = sum((r) => r.periodSumMs) / sum((r) => r.grants);
    t.ok(
      meanPeriod >= 130 && Math.max(...results.map((r) => r.maxPeriodMs)) <= 1000,
      `effective period adapted to the demand: mean ${meanPeriod.toFixed(0)} ms`,
    );
    // How many renewals go ahead depends on how well this machine keeps up (a stalled process spends
    // the rest of its lease in one go and then waits); that each process does it is the point here.
    const ahead = sum((r) => r.renewals.ahead);
    t.ok(
      results.every((r) => r.renewals.ahead > 0),
      `every process renewed ahead of time (${ahead} ahead, ${sum((r) => r.renewals.on_request)} by a waiting request)`,
    );
    t.ok(sum((r) => r.sources.lease ?? 0) >= admitted * 0.9, 'steady admissions come from leases');
    t.ok(
      results.every((r) => r.switches.lease === 1),
      'each process switched the key to leasing, once',
    );
    const shares = results.map((r) => r.admitted / admitted);
    t.ok(
      shares.every((x) => x > 0.15 && x < 0.35),
      `steady admissions spread like the demand: ${shares.map((x) => x.toFixed(2)).join(', ')}`,
    );

    // Sliding one-second windows once the key is spent: at most the limit, plus what the pods'
    // leases held (slots vested before the window but spent in it: per pod, its lease's rest when it
    // renewed ahead — at most 20 % of it — and the renewal; see the error bound), plus what stalls
    // of this busy machine saved (a gap of G ms in admissions refills G × rate, as in
    // multi-process.test.ts).
    const held = results.reduce((n, r) => n + r.maxLease + Math.floor(0.2 * r.maxLease), 0);
    const gaps: { at: number; len: number }[] = [];
    for (let k = 1; k < times.length; k++)
      if (times[k]! - times[k - 1]! > 20) gaps.push({ at: times[k - 1]!, len: times[k]! - times[k - 1]! });
    let worst = 0;
    let worstAllowance = Infinity;
    let windows = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      const s = times[i]!;
      if (s < startAt + 200 || s + 1000 > lastAdmit) continue;
      windows++;
      if (j < i) j = i;
      while (j < times.length && times[j]! < s + 1000) j++;
      const saved = gaps.filter((g) => g.at >= s - 1000 && g.at < s + 1000).reduce((n, g) => n + (g.len * RATE) / 1000, 0);
      const allowance = RATE + held + saved;
      if (j - i - allowance > worst - worstAllowance) {
        worst = j - i;
        worstAllowance = allowance;
      }
    }
    t.ok(windows > 500, `${windows} windows checked`);
    t.ok(
      worst <= worstAllowance,
      `busiest sliding second: ${worst} admitted; allowed ${worstAllowance.toFixed(0)} (limit ${RATE} + leases held ${held} + stalls)`,
    );
    const lat = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
    t.comment(
      `stage p50 ${percentile(lat, 0.5).toFixed(0)} µs, p99 ${percentile(lat, 0.99).toFixed(0)} µs; mean lease ${(sum((r) => r.grantedRequests) / sum((r) => r.grants)).toFixed(1)}`,
    );
  },
);
