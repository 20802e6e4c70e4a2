import t from 'tap';
import { capacityTable, fmtSpread, latencyTable, markdownTable, memoryTable, noiseTable, schedTable } from '../../bench/lib/format.js';
import type { LatencyFigures } from '../../bench/lib/h2load.js';
import { SCENARIOS, type Measurement, type Noise, type TargetRecord } from '../../bench/lib/model.js';

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
const noisy: Noise = {
  ...quiet,
  loadavg: [7.5, 6, 5],
  core0ForeignPct: 40,
  noisy: true,
  reasons: ['core0 40% foreign'],
  top: [{ pid: 9, comm: 'tap', cpuPct: 38 }],
};

const targets: TargetRecord[] = ['direct', 'sidegate', 'haproxy', 'nginx'].map((name) => ({
  name,
  description: name,
  command: '',
  protocols: ['h1', 'h2c'],
}));
const cap = (target: string, rep: number, rps: number, noise = quiet): Measurement => ({
  target,
  scenario: 'capacity-h1',
  rep,
  rps,
  errors: 0,
  noise,
  proxyCpuPct: target === 'direct' ? undefined : 99,
  rssMaxKb: 20480,
});
const lat = (target: string, p50Ms: number, p99Ms: number): Measurement => {
  const latency: LatencyFigures = { count: 15000, errors: 0, p50Ms, p90Ms: p50Ms * 2, p99Ms, maxMs: p99Ms * 2, offeredRps: 999.6 };
  return { target, scenario: 'latency-h1', rep: 1, latency, errors: 0, noise: quiet, proxyCpuPct: 12.5 };
};

const measurements: Measurement[] = [
  cap('direct', 1, 48000),
  cap('direct', 2, 50000),
  cap('direct', 3, 46000),
  cap('sidegate', 1, 12000),
  cap('sidegate', 2, 10000),
  cap('sidegate', 3, 11000, noisy),
  cap('haproxy', 1, 40000),
  cap('haproxy', 2, 41000),
  cap('haproxy', 3, 42000),
  cap('nginx', 1, 44000),
  cap('nginx', 2, 45000),
  cap('nginx', 3, 46000),
  lat('direct', 0.1, 0.5),
  lat('sidegate', 0.4, 1.5),
  lat('haproxy', 0.2, 1.0),
  lat('nginx', 0.2, 0.9),
];
const result = { targets, measurements };

t.test('markdown tables line up', async (t) => {
  const md = markdownTable(
    ['a', 'long header'],
    [
      ['1', 'x'],
      ['12345', 'y'],
    ],
  );
  t.equal(md, '| a     | long header |\n|-------|-------------|\n| 1     | x           |\n| 12345 | y           |');
  t.equal(fmtSpread({ median: 45123.4, min: 44010, max: 46200, n: 3 }), '45,123 (44,010–46,200)');
  t.equal(fmtSpread({ median: 0.256, min: 0.256, max: 0.256, n: 1 }, 2), '0.26');
  t.equal(fmtSpread(undefined), '–');
});

t.test('capacity table: medians with ranges and ratios to direct, haproxy and nginx', async (t) => {
  const md = capacityTable(
    result,
    SCENARIOS.find((s) => s.id === 'capacity-h1')!,
  );
  const row = (name: string): string[] =>
    md
      .split('\n')
      .find((l) => l.startsWith(`| ${name} `))!
      .split('|')
      .map((c) => c.trim())
      .slice(1, -1);
  t.same(row('sidegate').slice(0, 6), ['sidegate', '11,000 (10,000–12,000)', '9.1', '0.23×', '0.27×', '0.24×']);
  t.same(row('direct').slice(3, 6), ['1.00×', '1.17×', '1.07×']);
  t.same(row('sidegate').slice(6, 9), ['99', '11,111 (10,101–12,121)', '0.27×'], 'per-core capacity: req/s ÷ CPU share');
  t.equal(row('direct')[7], '–', 'no proxy process on the direct path');
  t.equal(row('sidegate')[10], '1/3', 'the noisy repetition is counted');
  t.equal(row('haproxy')[10], '');
});

t.test('latency table: added latency is proxied minus direct at the same rate', async (t) => {
  const md = latencyTable(
    result,
    SCENARIOS.find((s) => s.id === 'latency-h1')!,
  );
  const row = md
    .split('\n')
    .find((l) => l.startsWith('| sidegate '))!
    .split('|')
    .map((c) => c.trim())
    .slice(1, -1);
  t.equal(row[1], '0.40');
  t.equal(row[4], '+0.30');
  t.equal(row[6], '+1.00');
  t.equal(row[7], '3.00×');
  t.equal(row[8], '1,000');
});

t.test('memory and noise tables', async (t) => {
  const mem = memoryTable({
    targets: targets.map((x) => ({
      ...x,
      rssStartedKb: 92160,
      anonStartedKb: 40960,
      rssIdleKb: 81920,
      anonIdleKb: 30720,
      hwmKb: 112640,
      readyMs: 412.4,
    })),
    measurements,
  });
  t.match(mem, /\| sidegate +\| 90\.0 +\| 80\.0 +\| – +\| 20\.0 +\| 110\.0 +\| 40\.0 \/ 30\.0 \/ – \/ – +\| 412 +\|/);
  t.notMatch(mem, /\| direct /, 'the direct path has no proxy process');
  const noise = noiseTable(result);
  t.match(noise, /\| sidegate \| capacity-h1 \| 3 +\| 7\.50 /);
  t.match(noise, /tap 38%/);
  t.equal(noiseTable({ measurements: [cap('direct', 1, 1)] }), 'No measurement was flagged noisy.');
});

t.test('scheduling table: per request, medians over reps, latency scenarios only', async (t) => {
  t.equal(schedTable(result), undefined, 'no measurement carries scheduling figures');
  const sched = (voluntary: number, cpuNs: number): Measurement['sched'] => ({
    main: { cpuNs, waitNs: cpuNs / 10, slices: voluntary, voluntary, involuntary: voluntary / 20 },
    othersCpuNs: cpuNs / 5,
    threads: 11,
  });
  const withSched: Measurement[] = [
    { ...lat('sidegate', 0.4, 1.5), requests: 10000, sched: sched(15000, 2e9) },
    { ...lat('sidegate', 0.4, 1.5), rep: 2, requests: 10000, sched: sched(13000, 1.8e9) },
    { ...cap('sidegate', 4, 12000), requests: 100000, sched: sched(1, 1) },
  ];
  const md = schedTable({ targets, measurements: withSched })!;
  const rows = md
    .split('\n')
    .slice(2)
    .map((l) =>
      l
        .split('|')
        .map((c) => c.trim())
        .slice(1, -1),
    );
  t.equal(rows.length, 1, 'the capacity measurement is left out');
  t.same(rows[0], [
    'sidegate',
    'latency-h1',
    '1.40 (1.30–1.50)',
    '0.070 (0.065–0.075)',
    '190 (180–200)',
    '19 (18–20)',
    '38.0 (36.0–40.0)',
    '11',
  ]);
});
