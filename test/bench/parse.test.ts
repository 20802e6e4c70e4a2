import t from 'tap';
import { parseH2loadOutput, parseLatencyLog, h2loadLatencyArgs } from '../../bench/lib/h2load.js';
import { parseOptions } from '../../bench/lib/options.js';
import {
  coreUse,
  foreignPct,
  parseCtxtSwitches,
  parsePidStat,
  parsePidStatus,
  parseProcStat,
  parseSchedstat,
  readThreads,
  schedDelta,
  topConsumers,
  type PidStat,
  type ThreadSched,
} from '../../bench/lib/procfs.js';
import { median, percentile, spread } from '../../bench/lib/stats.js';
import { parseWrkOutput } from '../../bench/lib/wrk.js';
import { render } from '../../bench/lib/conf.js';
import { parseShebang } from '../../bench/targets.js';
import { readFileSync } from 'node:fs';

// Real output of the tools installed here (wrk 4.1.0, h2load 1.52.0), trimmed.
const WRK = `Running 1s test @ http://127.0.0.1:18081/1k.bin
  1 threads and 5 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   611.60us    1.10ms   8.56ms   88.28%
    Req/Sec    22.79k    12.34k   40.39k    70.00%
  22643 requests in 1.01s, 27.60MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  22403.09
Transfer/sec:     27.30MB
`;

const H2LOAD = `finished in 1.00s, 9949.00 req/s, 11.02MB/s
requests: 9949 total, 9953 started, 9949 done, 9940 succeeded, 9 failed, 2 errored, 1 timeout
status codes: 9940 2xx, 0 3xx, 3 4xx, 6 5xx
traffic: 11.02MB (11550887) total, 1.13MB (1183931) headers (space savings 38.34%), 9.72MB (10187776) data
`;

t.test('nearest-rank percentiles report values that were observed', async (t) => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  t.equal(percentile(v, 50), 50);
  t.equal(percentile(v, 99), 99);
  t.equal(percentile(v, 100), 100);
  t.equal(percentile([5], 99), 5);
  t.equal(percentile([1, 2, 3, 4, 1000], 90), 1000, 'a tail sample is not averaged away');
  t.throws(() => percentile([], 50));
  t.throws(() => percentile(v, 0));
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
  t.same(spread([10, 30, 20]), { median: 20, min: 10, max: 30, n: 3 });
  t.equal(spread([]), undefined);
});

t.test('latency percentiles come from the third column of the 2xx rows of an h2load log', async (t) => {
  // 200 rows, 1 ms apart: 198 successes of 1..198 ms (µs in the log), one failed stream, one 503.
  const rows: string[] = [];
  const start = 1795330007000000;
  for (let i = 0; i < 198; i++) rows.push(`${start + i * 1000}\t200\t${(i + 1) * 1000}`);
  rows.push(`${start + 198 * 1000}\t-1\t5`, `${start + 199 * 1000}\t503\t7`);
  rows.reverse(); // h2load writes in end-of-response order, not start order
  const f = parseLatencyLog(`${rows.join('\n')}\n`);
  t.equal(f.count, 198);
  t.equal(f.errors, 2);
  t.equal(f.p50Ms, 99);
  t.equal(f.p90Ms, 179);
  t.equal(f.p99Ms, 197);
  t.equal(f.maxMs, 198);
  t.equal(Math.round(f.offeredRps), 1000, '200 starts over 199 ms');
  t.throws(() => parseLatencyLog('garbage\n'), /malformed/);
  t.throws(() => parseLatencyLog(`${start}\t-1\t3\n`), /no successful/);
});

t.test('tool output parsing', async (t) => {
  t.same(parseWrkOutput(WRK), { rps: 22403.09, requests: 22643, non2xx: 7, socketErrors: 3 });
  t.same(parseH2loadOutput(H2LOAD), { rps: 9949, total: 9949, succeeded: 9940, failed: 9, errored: 2, timeout: 1, non2xx: 9 });
  t.throws(() => parseWrkOutput('connection refused'), /unrecognised wrk/);
  t.throws(() => parseH2loadOutput('no'), /unrecognised h2load/);
  // A short run (the readiness probe's 4 requests) is timed in µs.
  const quick =
    'finished in 840us, 4761.90 req/s, 5.32MB/s\nrequests: 4 total, 4 started, 4 done, 4 succeeded, 0 failed, 0 errored, 0 timeout\nstatus codes: 4 2xx, 0 3xx, 0 4xx, 0 5xx\n';
  t.same(parseH2loadOutput(quick), { rps: 4761.9, total: 4, succeeded: 4, failed: 0, errored: 0, timeout: 0, non2xx: 0 }, 'µs durations');
  const args = h2loadLatencyArgs('http://x/1k.bin', { h1: true, clients: 10, requests: 15000, rpsPerClient: 100, logFile: 'l.log' });
  t.same(
    args.slice(0, 9),
    ['--h1', '-t1', '-c10', '-n15000', '-r1', '--rate-period=1ms', '--rps=100', '-m1', '--log-file=l.log'],
    'staggered client starts, as bench-reference/README.md prescribes',
  );
});

t.test('/proc parsing and foreign CPU', async (t) => {
  const a = parseProcStat('cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 100 0 50 1000 10 0 5 0 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n');
  const b = parseProcStat('cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 160 0 70 1010 10 0 15 5 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n');
  const u = coreUse(a.get('cpu0')!, b.get('cpu0')!);
  t.equal(u.ticks, 105);
  t.equal(u.taskTicks, 80);
  t.equal(Math.round(u.busyPct), 86);
  t.equal(Math.round(u.stealPct * 100) / 100, 4.76);
  t.equal(Math.round(foreignPct(u, 59)), 20, "80 task ticks, 59 of them the proxy's");
  t.equal(foreignPct(u, 200), 0);
  // Shaped like a real line of this kernel; comm with spaces and parentheses.
  const s = parsePidStat(
    '4242 (node worker (x)) S 0 0 0 0 -1 4194560 97602 7918205 0 756 1234 567 26144 5046 20 0 14 0 25 48902144 3864 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0',
  );
  t.same(s, { comm: 'node worker (x)', ticks: 1801, processor: 1 });
  const snap = (e: [number, string, number][]): Map<number, PidStat> =>
    new Map(e.map(([pid, comm, ticks]) => [pid, { comm, ticks, processor: 0 }]));
  const before = snap([
    [1, 'proxy', 100],
    [2, 'tsc', 50],
    [3, 'idle', 7],
  ]);
  const after = snap([
    [1, 'proxy', 900],
    [2, 'tsc', 250],
    [3, 'idle', 7],
    [4, 'tap', 100],
  ]);
  t.same(
    topConsumers(before, after, 10, new Set([1])),
    [
      { pid: 2, comm: 'tsc', cpuPct: 20 },
      { pid: 4, comm: 'tap', cpuPct: 10 },
    ],
    'ours left out, processes born during the run counted, idle ones dropped',
  );
  t.same(parsePidStatus('Name:\tnode\nVmHWM:\t  112640 kB\nVmRSS:\t   81920 kB\nRssAnon:\t   30000 kB\nRssFile:\t   51920 kB\n'), {
    rssKb: 81920,
    hwmKb: 112640,
    anonKb: 30000,
  });
});

t.test('scheduling: schedstat, context switches and the difference between two readings', async (t) => {
  t.same(parseSchedstat('487682675 171315379 324\n'), { cpuNs: 487682675, waitNs: 171315379, slices: 324 });
  t.throws(() => parseSchedstat('12 x\n'), /malformed schedstat/);
  t.same(parseCtxtSwitches('Name:\tnode\nvoluntary_ctxt_switches:\t1500\nnonvoluntary_ctxt_switches:\t42\n'), {
    voluntary: 1500,
    involuntary: 42,
  });
  const th = (tid: number, cpuNs: number, waitNs: number, voluntary: number, involuntary = 0): ThreadSched => ({
    tid,
    cpuNs,
    waitNs,
    slices: voluntary + involuntary,
    voluntary,
    involuntary,
  });
  const d = schedDelta(
    100,
    [th(100, 1e9, 2e8, 1000, 10), th(101, 5e7, 1e6, 20)],
    [th(100, 3e9, 2.5e8, 3000, 60), th(101, 6e7, 1e6, 25), th(102, 4e6, 0, 3)],
  );
  t.same(
    d,
    { main: { cpuNs: 2e9, waitNs: 5e7, slices: 2050, voluntary: 2000, involuntary: 50 }, othersCpuNs: 1e7 + 4e6, threads: 3 },
    'the main thread alone; other threads summed, one born between the readings counted from zero',
  );
  t.equal(schedDelta(100, [], [th(100, 1, 1, 1)]), undefined, 'no main thread in the first reading: no figures');
  // This process's own threads, read from the kernel: the main thread first, and it is running now.
  const before = readThreads(process.pid);
  t.equal(before[0]?.tid, process.pid);
  const cpu0 = process.cpuUsage();
  const used = (): number => {
    const u = process.cpuUsage(cpu0);
    return (u.user + u.system) / 1000;
  };
  while (used() < 30) {
    /* spin until this process has had 30 ms of CPU, however loaded the machine */
  }
  const spun = schedDelta(process.pid, before, readThreads(process.pid))!;
  t.ok(spun.main.cpuNs >= 20e6, `30 ms of spinning shows as main-thread CPU (${spun.main.cpuNs} ns)`);
  t.same(readThreads(2 ** 22 + 1), [], 'a process that does not exist has no threads');
});

t.test('options and config templates', async (t) => {
  const d = parseOptions([]);
  t.equal(d.reps, 3);
  t.equal(d.latencyClients * d.latencyRpsPerClient, 1000, 'latency is measured at 1,000 req/s');
  const q = parseOptions(['--quick', '--only=direct,nginx', '--reps', '2']);
  t.same(q.only, ['direct', 'nginx']);
  t.equal(q.reps, 2);
  t.ok(q.capacityS < d.capacityS);
  t.throws(() => parseOptions(['--reps', '0']), /integer/);
  t.throws(() => parseOptions(['--nice', '-21']), /integer in/);
  t.equal(parseOptions(['--nice=-5']).nice, -5);
  t.equal(d.idleS, 30, 'idle memory is read after 30 s without traffic');
  t.equal(parseOptions(['--idle', '10']).idleS, 10);
  t.throws(() => parseOptions(['--idle', '1']), /integer/, 'the 2 s reading comes first');
  t.throws(() => parseOptions(['--scenarios=warp']), /unknown scenario/);
  t.throws(() => parseOptions(['--bogus=1']), /unknown option/);
  t.equal(render('listen {{H1_PORT}}; root {{DIR}};', { H1_PORT: 80, DIR: '/x' }), 'listen 80; root /x;');
  t.throws(() => render('{{A}} {{B}}', { A: 1 }), /B/);
});

t.test("the bench reads the environment and V8 flags of the sidegate command's #! line", async (t) => {
  t.same(parseShebang('#!/usr/bin/env -S A_B=1 C_=131072 node --x=2 --y'), {
    env: { A_B: '1', C_: '131072' },
    nodeFlags: ['--x=2', '--y'],
  });
  t.same(parseShebang('#!/usr/bin/env -S node --max-semi-space-size=2'), { env: {}, nodeFlags: ['--max-semi-space-size=2'] });
  t.same(parseShebang('#!/usr/bin/env node'), { env: {}, nodeFlags: [] });
  // Anything else must stop the run rather than measure a sidecar without the shipped settings.
  t.throws(() => parseShebang('#!/usr/bin/node --x'), /not a "#!\/usr\/bin\/env -S/);
  t.throws(() => parseShebang('#!/usr/bin/env -S node --x trailing-word'), /not a/);
  t.throws(() => parseShebang('import x from "y";'), /not a/);
  // The shipped line parses, and carries what docs/benchmarks.md says it does.
  const shipped = parseShebang(readFileSync('cli/main.ts', 'utf8').split('\n', 1)[0]!);
  t.equal(shipped.env.MALLOC_ARENA_MAX, '1');
  t.ok(shipped.nodeFlags.includes('--no-maglev'));
  t.ok(shipped.nodeFlags.includes('--bytecode-old-age=2'));
  t.ok(shipped.nodeFlags.includes('--no-sparkplug'));
  // Dropped on Node 24: V8 13 pools the pages compaction frees, resident, until a memory-reducing GC.
  t.notOk(shipped.nodeFlags.includes('--compact-on-every-full-gc'));
});
