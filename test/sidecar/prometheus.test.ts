import { openSync, closeSync, readFileSync } from 'node:fs';
import * as prom from 'prom-client';
import t from 'tap';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { registerProcessMetrics } from '../../sidecar/src/telemetry/process-metrics.js';
import { Counter, Gauge, Histogram, Registry } from '../../sidecar/src/telemetry/prometheus.js';
import { Metrics } from '../../sidecar/src/telemetry/metrics.js';

/**
 * sidegate's metrics library (sidecar/src/telemetry/prometheus.ts) against the one it replaced:
 * prom-client (a dev dependency, kept for this) writes the exposition for the same series, and the
 * text must be the same byte for byte. Then the process metrics: the names prom-client's defaults
 * export (what Node.js dashboards query), each series read against what the kernel or V8 says.
 */

/** The same updates applied to both libraries' metrics. */
function populate(
  lib: { Counter: typeof Counter; Gauge: typeof Gauge; Histogram: typeof Histogram },
  reg: unknown,
  buckets: number[],
): void {
  const registers = [reg] as never;
  const c = new lib.Counter({
    name: 'a_total',
    help: 'Counts\\ things\nover two lines.',
    labelNames: ['route', 'code'] as const,
    registers,
  });
  c.inc({ route: 'r"1"', code: 200 });
  c.inc({ route: 'back\\slash\nnewline', code: 500 }, 2.5);
  c.inc({ route: 'r"1"', code: 200 }, 3);
  c.labels('z', '404').inc();
  new lib.Counter({ name: 'unused_total', help: 'Never incremented.', registers });
  const g = new lib.Gauge({ name: 'g', help: 'A gauge.', registers });
  g.set(-4);
  g.inc(10);
  g.dec(0.5);
  const gl = new lib.Gauge({ name: 'gl', help: 'Labelled.', labelNames: ['k'] as const, registers });
  gl.set({ k: 'inf' }, Infinity);
  gl.set({ k: 'minus' }, -Infinity);
  gl.set({ k: 'nan' }, NaN);
  gl.set({ k: 'gone' }, 1);
  gl.remove('gone');
  gl.set({ k: 'tiny' }, 1e-7);
  const h = new lib.Histogram({ name: 'h_seconds', help: 'A histogram.', labelNames: ['op'] as const, buckets, registers });
  for (const v of [0.0005, 0.001, 0.002, 0.3, 9]) h.observe({ op: 'x' }, v);
  h.labels('y').observe(0.01);
  new lib.Histogram({ name: 'empty_seconds', help: 'No labels, no observations.', buckets: [1, 2], registers });
}

t.test('the exposition is what prom-client writes for the same series', async (t) => {
  const ours = new Registry();
  populate({ Counter, Gauge, Histogram }, ours, [0.001, 0.01, 0.5]);
  const theirs = new prom.Registry();
  populate(prom as never, theirs, [0.001, 0.01, 0.5]);
  const text = await ours.metrics();
  t.equal(text, await theirs.metrics());
  t.equal(ours.contentType, theirs.contentType);
  t.match(text, /^a_total\{route="r\\"1\\"",code="200"\} 4$/m, 'label values escaped, increments added');
  t.match(text, /^h_seconds_bucket\{le="0.01",op="x"\} 3$/m, 'buckets cumulative');
  t.notMatch(text, /k="gone"/, 'a removed series is gone');
  // prom-client writes nonsense for buckets out of order; ours sorts them.
  const unsorted = new Registry();
  populate({ Counter, Gauge, Histogram }, unsorted, [0.5, 0.001, 0.01]);
  t.equal(await unsorted.metrics(), text, 'buckets given out of order are sorted');
});

t.test('a metric name is registered once; counters only go up', async (t) => {
  const reg = new Registry();
  new Counter({ name: 'x_total', help: 'x', registers: [reg] });
  t.throws(() => new Gauge({ name: 'x_total', help: 'again', registers: [reg] }), /already been registered/);
  t.throws(() => new Counter({ name: 'bad-name', help: 'x' }), /Invalid metric name/);
  t.throws(() => new Counter({ name: 'ok', help: 'x', labelNames: ['le'] }), /Invalid label name/);
  t.throws(() => new Counter({ name: 'ok', help: 'x' }).inc(-1), /not possible to decrease/);
  t.throws(() => new Counter({ name: 'ok', help: 'x', labelNames: ['a', 'b'] }).labels('only one'), /Invalid number of arguments/);
});

/** The series of one scrape, by name and label text. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, m[2] === '+Inf' ? Infinity : Number(m[2]));
  }
  return out;
}

t.test("the process metrics are prom-client's default names, and read what the process is", async (t) => {
  const theirs = new prom.Registry();
  prom.collectDefaultMetrics({ register: theirs });
  const expected = (await theirs.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`).sort();
  const reg = new Registry();
  const stop = registerProcessMetrics(reg, { eventLoopResolutionMs: 100 });
  t.teardown(stop);
  t.same((await reg.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`).sort(), expected, 'the same names and types');

  const before = series(await reg.metrics());
  // Node's delay histogram records from its second timer run after a reset (each scrape resets it).
  await new Promise((r) => setTimeout(r, 250));
  // Work that each series must see: CPU spent, a file opened, garbage collected.
  const fd = openSync('/proc/self/status', 'r');
  t.teardown(() => closeSync(fd));
  const start = process.cpuUsage();
  const wall = Date.now();
  let junk: unknown[] = [];
  while (process.cpuUsage(start).user < 200_000 || Date.now() - wall < 200) junk = [...junk.slice(-1000), { a: Math.random() }];
  // The event-loop-delay timer fires after the stall; GC entries are delivered asynchronously.
  await new Promise((r) => setTimeout(r, 50));
  const after = series(await reg.metrics());

  const cpu = (after.get('process_cpu_user_seconds_total') ?? 0) - (before.get('process_cpu_user_seconds_total') ?? 0);
  t.ok(cpu >= 0.2, `process_cpu_user_seconds_total grew by ${cpu} s over 0.2 s of user CPU`);
  t.ok(after.get('process_cpu_seconds_total')! >= after.get('process_cpu_user_seconds_total')!, 'total ≥ user');
  t.equal(after.get('process_open_fds'), before.get('process_open_fds')! + 1, 'one more file descriptor open');
  const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1];
  t.equal(after.get('process_max_fds'), Number(limit), 'the soft limit from /proc/self/limits');
  const rss = after.get('process_resident_memory_bytes')!;
  const nodeRss = process.memoryUsage.rss();
  t.ok(Math.abs(rss - nodeRss) < nodeRss * 0.2, `process_resident_memory_bytes ${rss} ≈ Node's rss ${nodeRss}`);
  t.ok(after.get('process_virtual_memory_bytes')! > rss, 'virtual > resident');
  t.equal(
    after.get(
      `nodejs_version_info{version="${process.version}",major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"}`,
    ),
    1,
  );
  const minor = (m: Map<string, number>): number => m.get('nodejs_gc_duration_seconds_count{kind="minor"}') ?? 0;
  t.ok(minor(after) > minor(before), `minor GCs counted: ${minor(before)} → ${minor(after)}`);
  const used = after.get('nodejs_heap_size_used_bytes')!;
  t.ok(used > 1e6 && used <= after.get('nodejs_heap_size_total_bytes')!, 'heap used ≤ heap total');
  t.ok(after.get('nodejs_heap_space_size_used_bytes{space="old"}')! > 0, 'per-space series, named without _space');
  t.ok(after.get('nodejs_active_handles_total')! >= 0 && after.has('nodejs_active_resources_total'), 'libuv counts');
  t.ok(after.get('nodejs_eventloop_lag_seconds')! >= 0, 'event loop lag read at the scrape');
  // The stall lasted ≥ 200 ms, so the sampling interval it fell in was ≥ 200 ms: ≥ 100 ms of delay.
  t.ok(
    (after.get('nodejs_eventloop_lag_max_seconds') ?? 0) >= 0.09,
    `a 200 ms stall seen: max ${after.get('nodejs_eventloop_lag_max_seconds')} s`,
  );
  t.ok(after.get('process_start_time_seconds')! <= Date.now() / 1000, 'started in the past');
  void junk;
});

t.test('docs/metrics.md names every process metric', async (t) => {
  const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
  const named = new Set<string>();
  for (const [, name] of doc.matchAll(/`((?:process|nodejs)_[a-z0-9_{},]+)`/g)) {
    const m = /^(.*)\{([^}]+)\}(.*)$/.exec(name!);
    for (const n of m ? m[2]!.split(',').map((x) => m[1]! + x + m[3]!) : [name!]) named.add(n);
  }
  const reg = new Registry();
  t.teardown(registerProcessMetrics(reg, { eventLoopResolutionMs: 100 }));
  t.same([...named].sort(), (await reg.getMetricsAsJSON()).map((m) => m.name).sort());
});

t.test('the sidecar and injector registries carry the process metrics once', async (t) => {
  const m = new Metrics();
  const i = new InjectorMetrics();
  t.teardown(() => {
    m.close();
    i.close();
  });
  for (const reg of [m.registry, i.registry]) {
    const text = await reg.metrics();
    t.equal(text.match(/^# TYPE nodejs_eventloop_lag_p99_seconds /gm)?.length, 1);
    t.match(text, /^process_cpu_seconds_total \d/m);
  }
  const off = new Metrics({ processMetrics: false });
  t.notMatch(await off.registry.metrics(), /process_cpu/, 'processMetrics: false leaves them out');
});
