import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { cgroupMemory, parseCgroupMounts, parseMemoryStat, parseProcCgroup } from '../../bench/lib/cgroup.js';
import {
  goalRows,
  goalsTable,
  marginals,
  marginalSlope,
  marginalTable,
  perInstanceTable,
  slope,
  stepsTable,
  type DensityInstance,
  type DensityTarget,
} from '../../bench/lib/density.js';
import { parseOptions } from '../../bench/lib/options.js';
import { parseSmapsRollup } from '../../bench/lib/procfs.js';
import { spawnPinned } from '../../bench/lib/procs.js';
import { RateLoad } from '../../bench/lib/rate-load.js';

const ROLLUP = `5592d979b000-7ffff1ea8000 ---p 00000000 00:00 0                          [rollup]
Rss:               85200 kB
Pss:               40500 kB
Pss_Dirty:         33000 kB
Pss_Anon:          32800 kB
Pss_File:           7700 kB
Pss_Shmem:             0 kB
Shared_Clean:      52000 kB
Shared_Dirty:          0 kB
Private_Clean:       120 kB
Private_Dirty:     33080 kB
Referenced:        85200 kB
Anonymous:         32800 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
`;

t.test('smaps_rollup: RSS, PSS and USS (private clean + dirty)', async (t) => {
  t.same(parseSmapsRollup(ROLLUP), { rssKb: 85200, pssKb: 40500, ussKb: 33200, pssAnonKb: 32800, pssFileKb: 7700 });
  t.throws(() => parseSmapsRollup('Name: node\n'), /smaps_rollup/);
  const own = parseSmapsRollup(readFileSync('/proc/self/smaps_rollup', 'utf8'));
  t.ok(own.ussKb > 0 && own.ussKb <= own.pssKb && own.pssKb <= own.rssKb, 'USS ≤ PSS ≤ RSS for this process');
});

t.test("cgroup layout: mounts and the process's groups, hybrid and unified", async (t) => {
  const hybrid = [
    '30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');
  t.same(parseCgroupMounts(hybrid), { v2: '/sys/fs/cgroup/unified', v1Memory: '/sys/fs/cgroup/memory' });
  t.same(parseCgroupMounts('29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate'), { v2: '/sys/fs/cgroup' });
  t.same(parseProcCgroup('9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n'), {
    v1Memory: '/process_api/abc',
    v2: '/',
  });
  t.same(parseProcCgroup('0::/system.slice/foo.service\n'), { v2: '/system.slice/foo.service' });
});

t.test('cgroup memory: v1 usage_in_bytes with rss/cache, v2 memory.current with anon/file/kernel', async (t) => {
  t.equal(parseMemoryStat('cache 4096\nrss 8192\ntotal_rss 9000\n').get('rss'), 8192);
  const v1 = cgroupMemory('v1', '36700160\n', '38000000\n', 'cache 1048576\nrss 33554432\nmapped_file 0\n');
  t.same(v1, {
    currentBytes: 36700160,
    peakBytes: 38000000,
    anonBytes: 33554432,
    fileBytes: 1048576,
    kernelBytes: 36700160 - 33554432 - 1048576,
  });
  const v2 = cgroupMemory('v2', '1000\n', undefined, 'anon 600\nfile 300\nkernel 100\nsock 0\n');
  t.same(v2, { currentBytes: 1000, peakBytes: undefined, anonBytes: 600, fileBytes: 300, kernelBytes: 100 });
  t.equal(cgroupMemory('v1', '100', '', 'cache 80\nrss 40\n').kernelBytes, 0, 'never negative (usage_in_bytes lags behind memory.stat)');
});

const MB = 1024;
const steps = [1, 2, 3, 4].map((n) => ({
  n,
  pssKb: (10 + 5 * (n - 1)) * MB + (n === 3 ? 2 * MB : 0),
  ussKb: 8 * n * MB,
  rssKb: 30 * n * MB,
  cgroupBytes: n * 9 * 1048576,
}));

t.test('marginal memory: growth from n − 1 to n, and the slope over all steps', async (t) => {
  t.same(
    marginals(steps).map((m) => [m.n, m.pssKb / MB, m.ussKb / MB]),
    [
      [1, 10, 8],
      [2, 5, 8],
      [3, 7, 8],
      [4, 3, 8],
    ],
  );
  t.same(
    marginals([steps[1]!, steps[0]!]).map((m) => m.n),
    [1, 2],
    'in order of n whatever the input order',
  );
  t.equal(marginalSlope(steps, 'ussKb'), 8 * MB);
  t.ok(Math.abs(marginalSlope(steps, 'pssKb')! / MB - 5.2) < 1e-9, 'one noisy step moves the slope a little, not by its own size');
  t.equal(slope([[1, 5]]), undefined, 'one point has no slope');
  t.equal(
    slope([
      [2, 5],
      [2, 7],
    ]),
    undefined,
  );
  t.equal(
    slope([
      [0, 1],
      [1, 3],
      [2, 5],
    ]),
    2,
  );
});

const counts = (sent: number, bad = 0): DensityInstance['total'] => ({ sent, ok: sent - bad, non2xx: bad, errors: 0 });
const inst = (index: number, ussMb: number, cpuPct: number): DensityInstance => ({
  index,
  pid: 100 + index,
  readyMs: 400 + index,
  inCgroup: true,
  cpuPct,
  mem: { rssKb: 80 * MB, pssKb: (ussMb + 6) * MB, ussKb: ussMb * MB, pssAnonKb: 0, pssFileKb: 0 },
  cgroup: { currentBytes: (ussMb + 2) * 1048576, anonBytes: ussMb * 1048576, fileBytes: 0, kernelBytes: 2 * 1048576 },
  window: counts(1500),
  total: counts(2000, index === 2 ? 3 : 0),
});
const sidecar: DensityTarget = {
  target: 'sidegate-full',
  description: '',
  command: '',
  rate: 50,
  settleS: 5,
  windowS: 30,
  steps,
  instances: [inst(1, 30, 4), inst(2, 32, 5), inst(3, 31, 3), inst(4, 33, 4)],
  oneRate: {
    rate: 1000,
    seconds: 30,
    requests: counts(30000),
    maxCurrentBytes: 36 * 1048576,
    cgroup: { currentBytes: 35 * 1048576, peakBytes: 37 * 1048576, anonBytes: 33 * 1048576, fileBytes: 0, kernelBytes: 2 * 1048576 },
  },
  startupMs: [240, 260, 230, 250, 900],
};
const haproxy: DensityTarget = {
  ...sidecar,
  target: 'haproxy-jwt',
  steps: steps.map((s) => ({ ...s, pssKb: s.n * 5 * MB, ussKb: s.n * 4 * MB })),
  oneRate: undefined,
  startupMs: [],
};

t.test('tables: per instance median (min–max), marginals, totals per step', async (t) => {
  const per = perInstanceTable({ targets: [sidecar, haproxy] });
  t.match(
    per,
    /\| sidegate-full \| 4 \| 50 req\/s +\| 31\.5 \(30\.0–33\.0\) \| 37\.5 \(36\.0–39\.0\) \| 80\.0 \(80\.0–80\.0\) \| 4\.0 \(3\.0–5\.0\) /,
  );
  t.match(per, /8,000 \/ 3 +\|/, 'requests and non-2xx over every instance');
  const marg = marginalTable({ targets: [sidecar, haproxy] });
  t.match(marg, /\| sidegate-full \| 4 \| 5\.2 +\| 3\.0 +\| 5\.0 +\| 8\.0 /);
  t.match(marg, /\| haproxy-jwt +\| 4 \| 5\.0 /);
  const st = stepsTable(sidecar).split('\n');
  t.equal(st.length, 2 + 4);
  t.match(st[4]!, /^\| 3 +\| 22\.0 +\| 24\.0 +\| 90\.0 +\| 27\.0 +\| 7\.0 +\| 8\.0 +\|$/);
});

t.test('goals: marginal PSS, cgroup memory at 1,000 req/s, start → ready', async (t) => {
  const rows = goalRows({ targets: [sidecar, haproxy] });
  t.equal(rows.length, 3);
  t.match(rows[0]!.value, /^5\.2 MB PSS slope, 8\.0 MB USS \(from 3 to 4: \+3\.0 MB PSS; haproxy-jwt: 5\.0 PSS, 4\.0 USS\)$/);
  t.equal(rows[0]!.standing, "met (not the goal's 20 × 50 req/s)", "four sidecars are not the goal's twenty");
  t.equal(rows[1]!.value, '36.0 MB (at the end anon + kernel 35.0 MB, page cache 0.0 MB; kernel peak 37.0 MB)');
  t.equal(rows[1]!.standing, 'met');
  t.equal(rows[2]!.value, '250 ms', 'median of the fresh starts');
  t.equal(rows[2]!.standing, 'met');
  const twenty = {
    ...sidecar,
    steps: Array.from({ length: 20 }, (_, i) => ({ n: i + 1, pssKb: (i + 1) * 28 * MB, ussKb: (i + 1) * 24 * MB, rssKb: 0 })),
    startupMs: [300],
  };
  const r20 = goalRows({ targets: [twenty] });
  t.equal(r20[0]!.standing, 'not met');
  t.equal(r20[2]!.standing, 'not met (fewer than 5 starts)');
  t.same(
    goalRows({ targets: [] }).map((r) => r.standing),
    ['not measured', 'not measured', 'not measured'],
  );
  t.match(goalsTable({ targets: [sidecar] }), /\| figure +\| this run +\| goal +\| standing +\|/);
});

t.test('--density options', async (t) => {
  t.equal(parseOptions([]).density, undefined, 'not a density run unless asked');
  t.equal(parseOptions(['--density']).density, 20, 'N defaults to 20');
  t.equal(parseOptions(['--density', '--quick']).density, 20);
  const o = parseOptions(['--density', '3', '--quick']);
  t.same([o.density, o.densityRate, o.densitySettleS, o.densityWindowS, o.densityOneRateS], [3, 50, 1, 3, 3]);
  const d = parseOptions(['--density=5', '--density-rate', '100', '--density-1k', '0']);
  t.same([d.density, d.densityRate, d.densitySettleS, d.densityWindowS, d.densityOneRateS], [5, 100, 5, 30, 0]);
  t.throws(() => parseOptions(['--density', '0']), /integer/);
});

t.test('RateLoad: fixed rate per target, non-2xx and failures counted apart', async (t) => {
  const srv = createServer((req, res) => {
    res.statusCode = req.url === '/bad' ? 500 : 200;
    res.end(req.headers.authorization ?? '');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const load = new RateLoad();
  const ok = load.add({ url: `http://127.0.0.1:${port}/`, headers: { authorization: 'Bearer x' }, rate: 100, phaseMs: 0 });
  const bad = load.add({ url: `http://127.0.0.1:${port}/bad`, rate: 100, phaseMs: 5 });
  const dead = load.add({ url: 'http://127.0.0.1:1/', rate: 20, phaseMs: 0 });
  await sleep(500);
  await load.stop();
  srv.close();
  const a = load.counts(ok);
  t.ok(a.sent >= 40 && a.sent <= 60, `about 50 requests in 0.5 s at 100 req/s (${a.sent})`);
  t.equal(a.ok, a.sent);
  const b = load.counts(bad);
  t.equal(b.non2xx, b.sent);
  t.equal(b.ok, 0);
  const c = load.counts(dead);
  t.ok(c.sent > 0 && c.errors === c.sent, 'connection refused counts as failed');
});

t.test("spawnPinned with a cgroup.procs file: the shell writes the command's own pid there", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'density-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const procs = join(dir, 'cgroup.procs');
  const m = spawnPinned('sleeper', 0, 'sleep', ['5'], join(dir, 'log'), undefined, procs);
  for (let i = 0; i < 100 && readFileSync(`/proc/${m.pid}/comm`, 'utf8').trim() !== 'sleep'; i++) await sleep(10);
  t.equal(readFileSync(`/proc/${m.pid}/comm`, 'utf8').trim(), 'sleep', 'the pid ends up running the command (sh and taskset exec)');
  t.equal(readFileSync(procs, 'utf8').trim(), String(m.pid));
  await m.stop();
});
