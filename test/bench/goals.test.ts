import { createPublicKey, verify } from 'node:crypto';
import t from 'tap';
import { decisionsTable, goalsTable, redisTable, standing, startupTable, tracingTable } from '../../bench/lib/goals.js';
import { h2loadCapacityArgs } from '../../bench/lib/h2load.js';
import type { Measurement, Noise, TargetRecord } from '../../bench/lib/model.js';
import { parseOptions } from '../../bench/lib/options.js';
import { parseCommandStats, redisDelta } from '../../bench/lib/redis.js';
import { AUDIENCE, generateKeys, ISSUER, mint, mintPool, wrkTokenScript } from '../../bench/lib/tokens.js';
import { wrkArgs } from '../../bench/lib/wrk.js';

const quiet: Noise = {
  loadavg: [0.1, 0.2, 0.3],
  preCore0Pct: 1,
  preCore1Pct: 1,
  waitedS: 0,
  core0Pct: 90,
  core1Pct: 95,
  core0ForeignPct: 1,
  core1ForeignPct: 2,
  stealPct: 0,
  top: [],
  noisy: false,
  reasons: [],
};

const names = [
  'direct',
  'sidegate',
  'nginx',
  'haproxy-jwt',
  'sidegate-full',
  'sidegate-full-trace-0.1',
  'sidegate-full-trace-1',
  'sidegate-fresh-token',
];
const targets: TargetRecord[] = names.map((name) => ({ name, description: name, command: '', protocols: ['h1', 'h2c'] }));
targets[4] = {
  ...targets[4]!,
  rssIdleKb: 48 * 1024,
  hwmKb: 120 * 1024,
  startupMs: [280, 310, 900],
  readyMs: 700,
  endMetrics: {
    'sidegate_ratelimit_decisions_total{limit="per-user",result="allowed",source="redis"}': 90,
    'sidegate_ratelimit_decisions_total{limit="per-user",result="allowed",source="fallback"}': 10,
    'sidegate_redis_errors_total{op="ratelimit",kind="timeout"}': 3,
  },
};
targets[5] = {
  ...targets[5]!,
  endMetrics: { sidegate_trace_spans_exported_total: 1200, 'sidegate_trace_spans_dropped_total{reason="queue_full"}': 3 },
};

const cap = (target: string, rps: number, cpu: number, scenario = 'capacity-h1'): Measurement => ({
  target,
  scenario,
  rep: 1,
  rps,
  errors: 0,
  noise: quiet,
  proxyCpuPct: target === 'direct' ? undefined : cpu,
  requests: rps * 8,
});
const lat = (target: string, p50Ms: number, p99Ms: number, cpu = 10, rssKb = 0): Measurement => ({
  target,
  scenario: 'latency-h1',
  rep: 1,
  errors: 0,
  noise: quiet,
  proxyCpuPct: target === 'direct' ? undefined : cpu,
  requests: 12000,
  latency: { count: 12000, errors: 0, p50Ms, p90Ms: p50Ms, p99Ms, maxMs: p99Ms, offeredRps: 1000 },
  rssMaxKb: rssKb,
});

const measurements: Measurement[] = [
  cap('direct', 40000, 0),
  cap('nginx', 30000, 60),
  cap('sidegate', 10000, 100),
  cap('haproxy-jwt', 15000, 100),
  {
    ...cap('sidegate-full', 9000, 100),
    redis: { sent: 72000, executed: 288000, byCommand: { evalsha: 72000, time: 72000, get: 72000, set: 72000 } },
  },
  cap('sidegate-full-trace-0.1', 6000, 100),
  cap('sidegate-full-trace-1', 4500, 100),
  cap('sidegate-fresh-token', 4000, 100),
  lat('direct', 0.1, 1),
  lat('nginx', 0.2, 2),
  lat('sidegate', 0.35, 3, 20),
  lat('haproxy-jwt', 0.3, 2.1, 10),
  lat('sidegate-full', 0.5, 3, 20, 65 * 1024),
  lat('sidegate-full-trace-0.1', 0.6, 4, 24),
  lat('sidegate-full-trace-1', 0.8, 5, 30),
];
const result = { targets, measurements };
const cells = (md: string, start: string): string[] =>
  md
    .split('\n')
    .find((l) => l.startsWith(`| ${start}`))!
    .split('|')
    .map((c) => c.trim())
    .slice(1, -1);

t.test('standing: goal, milestone or not, in the right direction', async (t) => {
  t.equal(standing(1.1, 1, 0.6, false), 'goal met');
  t.equal(standing(0.7, 1, 0.6, false), 'milestone met');
  t.equal(standing(0.5, 1, 0.6, false), 'not met');
  t.equal(standing(0.25, 0.3, 0.5, true), 'goal met');
  t.equal(standing(0.45, 0.3, 0.5, true), 'milestone met');
  t.equal(standing(0.6, 0.3, 0.5, true), 'not met');
  t.equal(standing(undefined, 1, 1, true), 'not measured');
});

t.test('goals table: ratios of the same run against issue 9 goals', async (t) => {
  const md = goalsTable(result);
  t.same(cells(md, 'full policy capacity ÷ haproxy+jwt+stick-table (HTTP/1.1)').slice(1), [
    '0.60× (per core 0.60×)',
    '≥ 1×',
    '≥ 0.6×',
    'milestone met',
  ]);
  t.same(cells(md, 'fresh-token capacity ÷ haproxy+jwt (HTTP/1.1)').slice(1, 2), ['0.27× (per core 0.27×)']);
  t.equal(cells(md, 'fresh-token capacity ÷ haproxy+jwt (HTTP/1.1)')[4], 'milestone met');
  t.same(
    cells(md, 'bare forwarding capacity ÷ nginx proxy (HTTP/1.1)').slice(1, 2),
    ['0.33× (per core 0.20×)'],
    'raw and per core both shown',
  );
  // nginx adds 0.1 ms, so the p50 goal is min(0.3, 2 × 0.1) = 0.2 ms; sidegate-full adds 0.4.
  const p50 = cells(md, 'added p50 at 1,000 req/s, sidegate-full (h1)');
  t.equal(p50[1], '0.40 ms (nginx 0.10 ms)');
  t.equal(p50[2], '≤ 0.3 ms and ≤ 2× nginx (0.20 ms)');
  t.equal(p50[4], 'milestone met');
  t.equal(cells(md, "added p99 at 1,000 req/s ÷ haproxy+jwt's, sidegate-full (h1)")[1], '1.82× (2.00 vs 1.10 ms)');
  t.same(cells(md, 'CPU at 1,000 req/s, full policy ÷ haproxy+jwt (h1)').slice(1), ['2.00×', '≤ 1.5×', '≤ 2.5×', 'milestone met']);
  t.same(cells(md, 'RSS idle, full policy').slice(1, 2), ['48.0 MB (private – MB)']);
  const started = goalsTable({
    ...result,
    targets: result.targets.map((x, i) => (i === 4 ? { ...x, rssStartedKb: 60 * 1024, anonIdleKb: 20 * 1024 } : x)),
  });
  t.same(
    cells(started, 'RSS idle, full policy').slice(1, 2),
    ['48.0 MB (private 20.0 MB; 2 s after start 60.0 MB)'],
    'idle is the settled reading, the one 2 s after start beside it',
  );
  t.equal(cells(md, 'RSS steady at 1,000 req/s, full policy')[4], 'milestone met');
  t.same(
    cells(md, 'start → ready (local keys)').slice(1),
    ['310 ms', '≤ 300 ms', '≤ 500 ms', 'milestone met'],
    'median of the fresh starts',
  );
  t.equal(cells(md, 'CPU at 1,000 req/s, full policy ÷ haproxy+jwt (h2c)')[4], 'not measured');
});

t.test('redis, decisions, start-up and tracing tables', async (t) => {
  t.same(cells(redisTable(result)!, 'sidegate-full').slice(1, 5), ['capacity-h1', '72,000', '1.000', '4.000']);
  t.same(cells(decisionsTable(result)!, 'sidegate-full').slice(1), [
    '100',
    '90 (90.0 %)',
    '0 (0.0 %)',
    '0 (0.0 %)',
    '10 (10.0 %)',
    '3 / 0',
  ]);
  t.same(cells(startupTable(result)!, 'sidegate-full').slice(1), ['310 (280–900)', '3', '700']);
  const tr = tracingTable(result)!;
  t.same(cells(tr, 'sidegate-full-trace-0.1 ').slice(1, 6), ['0.1', '6,000', '6,000', '0.67×', '24.0']);
  t.equal(cells(tr, 'sidegate-full-trace-0.1 ')[7], '1.20×');
  t.equal(cells(tr, 'sidegate-full-trace-0.1 ')[9], '1,200 / 3', "the sidecar's exported / dropped span counters");
  t.equal(cells(tr, 'sidegate-full-trace-1 ')[1], '1.0');
});

t.test("INFO commandstats: deltas leave the harness's own INFO out and split sent from executed", async (t) => {
  const before = parseCommandStats(
    '# Commandstats\r\ncmdstat_info:calls=3,usec=10\r\ncmdstat_evalsha:calls=10,usec=5,usec_per_call=0.5\r\n',
  );
  const after = parseCommandStats(
    '# Commandstats\r\ncmdstat_info:calls=5,usec=10\r\ncmdstat_evalsha:calls=110,usec=5\r\ncmdstat_time:calls=100,usec=1\r\ncmdstat_get:calls=100,usec=1\r\ncmdstat_set:calls=100,usec=1\r\n',
  );
  t.same(redisDelta(before, after), { sent: 100, executed: 400, byCommand: { evalsha: 100, time: 100, get: 100, set: 100 } });
});

t.test('tokens verify against the published key and are distinct; the wrk script walks the pool', async (t) => {
  const keys = generateKeys();
  const token = mint(keys, { sub: 'u1' });
  const [h, p, s] = token.split('.');
  const pub = createPublicKey({ key: keys.jwks.keys[0] as import('node:crypto').JsonWebKey, format: 'jwk' });
  t.ok(verify('sha256', Buffer.from(`${h}.${p}`), pub, Buffer.from(s!, 'base64url')), 'RS256 signature checks with the JWKS key');
  t.ok(
    verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey(keys.publicPem), Buffer.from(s!, 'base64url')),
    'and with the PEM haproxy loads',
  );
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  t.match(claims, { iss: ISSUER, aud: AUDIENCE, sub: 'u1' });
  t.ok((claims.exp as number) > Date.now() / 1000 + 3600, 'outlives a run');
  const pool = mintPool(keys, 5);
  t.equal(new Set(pool).size, 5);
  t.match(wrkTokenScript('/tmp/x.txt'), /io\.lines\("\/tmp\/x\.txt"\)[\s\S]*wrk\.headers\["Authorization"\] = tokens\[i\]/);
});

t.test('load-generator arguments for fresh tokens', async (t) => {
  t.same(wrkArgs('http://h/x', { threads: 1, connections: 50, durationS: 8, script: '/s.lua' }), [
    '-t1',
    '-c50',
    '-d8s',
    '-s',
    '/s.lua',
    'http://h/x',
  ]);
  t.same(h2loadCapacityArgs('ignored', { h1: false, clients: 1, streams: 10, durationS: 8, inputFile: '/u.txt' }), [
    '-t1',
    '-c1',
    '-m10',
    '-D',
    '8',
    '-i',
    '/u.txt',
  ]);
  t.equal(parseOptions([]).startupReps, 5);
  t.equal(parseOptions(['--startup-reps', '0']).startupReps, 0);
  t.equal(parseOptions([]).latencyRequests, 12000);
});

t.test('soak: the slope of memory after the first minute, in MB per minute', async (t) => {
  const { slope, soakSlopes, soakTable } = await import('../../bench/lib/soak.js');
  t.equal(
    slope([
      [0, 1],
      [1, 3],
      [2, 5],
    ]),
    2,
    'a straight line',
  );
  t.equal(
    slope([
      [0, 1],
      [1, 1],
    ]),
    undefined,
    'too few points',
  );
  // 40 MB of start-up growth in the first minute, then 0.5 MB a minute: only the latter counts.
  const samples = Array.from({ length: 121 }, (_, i) => {
    const t = i * 5;
    const mb = t < 60 ? 30 + (t / 60) * 40 : 70 + ((t - 60) / 60) * 0.5;
    return { t, rssKb: mb * 1024, anonKb: (mb - 40) * 1024 };
  });
  const k = soakSlopes(samples);
  t.ok(Math.abs(k.rss! - 0.5) < 1e-9, `RSS slope ${k.rss}`);
  t.ok(Math.abs(k.anon! - 0.5) < 1e-9);
  const soak = {
    target: 'sidegate-full',
    minutes: 10,
    requests: 600000,
    errors: 0,
    samples,
    rssSlopeMbPerMin: k.rss,
    anonSlopeMbPerMin: k.anon,
  };
  t.match(soakTable({ soak })!, /\| sidegate-full \| 10 \| 600000 \| 0 \| 70\.0 → 74\.5 \| 30\.0 → 34\.5 \| 0\.500 \| 0\.500 \|/);
  const md = goalsTable({ ...result, soak });
  t.same(cells(md, '10-minute soak RSS slope').slice(1), ['0.500 MB/min (private 0.500)', '< 0.2 MB/min', '< 1 MB/min', 'milestone met']);
  t.equal(cells(goalsTable(result), '10-minute soak RSS slope')[4], 'not measured', 'no soak, no standing');
  t.equal(parseOptions(['--soak', '10']).soakMin, 10);
  t.throws(() => parseOptions(['--soak', '-1']));
});
