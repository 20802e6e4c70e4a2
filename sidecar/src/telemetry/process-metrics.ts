import { readFileSync, readdirSync } from 'node:fs';
import { PerformanceObserver, constants as perf, monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from './prometheus.js';

/**
 * The process and Node.js runtime series every Node.js service exports, under the names
 * prom-client's default metrics gave them (dashboards and alerts written for Node.js services use
 * those): process_cpu_*, process_*memory*, file descriptors, start time, nodejs_heap_*,
 * nodejs_gc_duration_seconds, nodejs_active_*, nodejs_version_info and nodejs_eventloop_lag_*.
 *
 * The event-loop-delay series differ from prom-client's in two ways (docs/metrics.md). Node's
 * event-loop-delay histogram is a timer that records the whole interval between its runs, so at
 * prom-client's 10 ms resolution it woke an idle process 100 times a second and its series read
 * ≈ 0.010 s when the loop was not delayed at all. Here the timer runs every `resolutionMs` (100 ms
 * by default: ten wake-ups a second) and the resolution is subtracted, so the series are the delay
 * itself (0 when idle) whatever the resolution. There is one histogram, not prom-client's plus ours.
 *
 * Returns what stops the sampling timer and the GC observer (at shutdown).
 */
export function registerProcessMetrics(registry: Registry, opts: { eventLoopResolutionMs: number }): () => void {
  const registers = [registry];
  const stops: (() => void)[] = [];

  // --- CPU and start time
  let lastCpu = { user: 0, system: 0 };
  const cpuUser = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect: () => {
      const now = process.cpuUsage();
      // cpuUsage() is in microseconds and never goes back; the counters take the difference.
      cpuUser.inc((now.user - lastCpu.user) / 1e6);
      cpuSystem.inc((now.system - lastCpu.system) / 1e6);
      cpuTotal.inc((now.user - lastCpu.user + now.system - lastCpu.system) / 1e6);
      lastCpu = now;
    },
  });
  const cpuSystem = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers });
  const cpuTotal = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers });
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers }).set(
    startTime,
  );

  // --- memory (Linux reads /proc/self/status: the kernel's own figures, as prom-client did)
  const linux = process.platform === 'linux';
  const rss = new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect: () => {
      if (!linux) {
        rss.set(process.memoryUsage.rss());
        return;
      }
      const status = readProc('/proc/self/status');
      if (status === undefined) return;
      rss.set(statusKb(status, 'VmRSS'));
      vsize?.set(statusKb(status, 'VmSize'));
      vdata?.set(statusKb(status, 'VmData'));
    },
  });
  const vsize = linux ? new Gauge({ name: 'process_virtual_memory_bytes', help: 'Virtual memory size in bytes.', registers }) : undefined;
  const vdata = linux ? new Gauge({ name: 'process_heap_bytes', help: 'Process heap size in bytes.', registers }) : undefined;

  // --- file descriptors
  if (linux) {
    const openFds = new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers,
      collect: () => {
        try {
          // Minus the descriptor readdirSync itself opened (closed by now).
          openFds.set(readdirSync('/proc/self/fd').length - 1);
        } catch {
          // /proc unreadable: the last value stays.
        }
      },
    });
    const limits = readProc('/proc/self/limits');
    const max = limits === undefined ? NaN : Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
    if (Number.isFinite(max)) new Gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.', registers }).set(max);
  }

  // --- event loop
  const lag = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers,
    // A setImmediate timed at the scrape: how long the loop took to come round to it.
    collect: () =>
      new Promise<void>((resolve) => {
        const start = process.hrtime.bigint();
        setImmediate(() => {
          lag.set(Number(process.hrtime.bigint() - start) / 1e9);
          resolve();
        });
      }),
  });
  stops.push(eventLoopDelay(registers, opts.eventLoopResolutionMs));

  // --- libuv handles, requests and resources
  const internals = process as unknown as { _getActiveHandles?: () => object[]; _getActiveRequests?: () => object[] };
  for (const [what, read, help] of [
    ['handles', internals._getActiveHandles, 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.'],
    [
      'requests',
      internals._getActiveRequests,
      'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
    ],
  ] as const) {
    if (typeof read !== 'function') continue;
    const byType = new Gauge({
      name: `nodejs_active_${what}`,
      help,
      labelNames: ['type'] as const,
      registers,
      collect: () => {
        const items = read.call(process);
        byType.reset();
        for (const item of items) byType.inc({ type: item.constructor.name });
        total.set(items.length);
      },
    });
    const total = new Gauge({ name: `nodejs_active_${what}_total`, help: `Total number of active ${what}.`, registers });
  }
  const resources = new Gauge({
    name: 'nodejs_active_resources',
    help: 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    labelNames: ['type'] as const,
    registers,
    collect: () => {
      const info = process.getActiveResourcesInfo();
      resources.reset();
      for (const type of info) resources.inc({ type });
      resourcesTotal.set(info.length);
    },
  });
  const resourcesTotal = new Gauge({ name: 'nodejs_active_resources_total', help: 'Total number of active resources.', registers });

  // --- V8 heap
  const heapTotal = new Gauge({
    name: 'nodejs_heap_size_total_bytes',
    help: 'Process heap size from Node.js in bytes.',
    registers,
    collect: () => {
      const m = process.memoryUsage();
      heapTotal.set(m.heapTotal);
      heapUsed.set(m.heapUsed);
      external.set(m.external);
    },
  });
  const heapUsed = new Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'Process heap size used from Node.js in bytes.', registers });
  const external = new Gauge({ name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.', registers });
  const spaceTotal = new Gauge({
    name: 'nodejs_heap_space_size_total_bytes',
    help: 'Process heap space size total from Node.js in bytes.',
    labelNames: ['space'] as const,
    registers,
    collect: () => {
      for (const s of getHeapSpaceStatistics()) {
        const space = s.space_name.replace(/_space$/, '');
        spaceTotal.set({ space }, s.space_size);
        spaceUsed.set({ space }, s.space_used_size);
        spaceAvailable.set({ space }, s.space_available_size);
      }
    },
  });
  const spaceUsed = new Gauge({
    name: 'nodejs_heap_space_size_used_bytes',
    help: 'Process heap space size used from Node.js in bytes.',
    labelNames: ['space'] as const,
    registers,
  });
  const spaceAvailable = new Gauge({
    name: 'nodejs_heap_space_size_available_bytes',
    help: 'Process heap space size available from Node.js in bytes.',
    labelNames: ['space'] as const,
    registers,
  });

  // --- version
  const [major, minor, patch] = process.version.slice(1).split('.').map(Number);
  new Gauge({
    name: 'nodejs_version_info',
    help: 'Node.js version info.',
    labelNames: ['version', 'major', 'minor', 'patch'] as const,
    registers,
  }).set({ version: process.version, major: major!, minor: minor!, patch: patch! }, 1);

  // --- garbage collection
  const gcKinds: Record<number, string> = {
    [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const gc = new Histogram({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers,
  });
  const series = new Map<number, ReturnType<typeof gc.labels>>();
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? -1;
      let s = series.get(kind);
      if (s === undefined) {
        s = gc.labels(gcKinds[kind] ?? 'other');
        series.set(kind, s);
      }
      s.observe(e.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  stops.push(() => observer.disconnect());

  return () => {
    for (const stop of stops.splice(0)) stop();
  };
}

const EVENT_LOOP_SERIES = [
  ['min', 'The minimum event loop delay since the last scrape (sampling interval subtracted).', (h: ELDHistogram) => h.min],
  ['max', 'The maximum event loop delay since the last scrape (sampling interval subtracted).', (h: ELDHistogram) => h.max],
  ['mean', 'The mean event loop delay since the last scrape (sampling interval subtracted).', (h: ELDHistogram) => h.mean],
  ['stddev', 'The standard deviation of the event loop delays since the last scrape.', (h: ELDHistogram) => h.stddev],
  [
    'p50',
    'The 50th percentile of the event loop delays since the last scrape (sampling interval subtracted).',
    (h: ELDHistogram) => h.percentile(50),
  ],
  [
    'p90',
    'The 90th percentile of the event loop delays since the last scrape (sampling interval subtracted).',
    (h: ELDHistogram) => h.percentile(90),
  ],
  [
    'p99',
    'The 99th percentile of the event loop delays since the last scrape (sampling interval subtracted).',
    (h: ELDHistogram) => h.percentile(99),
  ],
] as const;

/** nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds; returns what stops the sampling. */
function eventLoopDelay(registers: Registry[], resolutionMs: number): () => void {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const resolutionNs = resolutionMs * 1e6;
  const gauges: Gauge[] = [];
  // The first gauge's collect sets all of them from one reading and starts a new window: a scrape
  // reads the metrics in the order they were registered. (Node's reset() also forgets when the
  // timer last ran, so the first interval after each scrape, 100–200 ms, goes unrecorded.)
  const collect = (): void => {
    const samples = histogram.count;
    for (const [i, [name, , read]] of EVENT_LOOP_SERIES.entries()) {
      const ns = samples === 0 ? 0 : read(histogram);
      gauges[i]!.set(Math.max(0, name === 'stddev' ? ns : ns - resolutionNs) / 1e9);
    }
    histogram.reset();
  };
  for (const [i, [name, help]] of EVENT_LOOP_SERIES.entries()) {
    gauges.push(new Gauge({ name: `nodejs_eventloop_lag_${name}_seconds`, help, registers, ...(i === 0 ? { collect } : {}) }));
  }
  return () => {
    histogram.disable();
    histogram.reset();
  };
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A `Key:   123 kB` line of /proc/self/status, in bytes. */
function statusKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return m === null ? NaN : Number(m[1]) * 1024;
}
