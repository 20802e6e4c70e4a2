import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/**
 * The nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds series, in place of
 * prom-client's. Node's event-loop-delay histogram is a timer that records the whole interval
 * between its runs, so at prom-client's 10 ms resolution it wakes an idle process 100 times a
 * second and its series read ≈ 0.010 s when the loop is not delayed at all. Here the timer runs
 * every `resolutionMs` (100 ms by default: ten wake-ups a second) and the resolution is subtracted,
 * so the series are the delay itself (0 when idle) whatever the resolution.
 *
 * `nodejs_eventloop_lag_seconds` (a setImmediate timed at scrape) stays prom-client's. prom-client's
 * own histogram cannot be switched off; `PROM_CLIENT_RESOLUTION_MS` makes it run every 10 s.
 */
export const PROM_CLIENT_RESOLUTION_MS = 10_000;

const SERIES = [
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

/** Returns what stops the sampling (the series then read 0). */
export function replaceEventLoopLag(registry: Registry, resolutionMs: number): () => void {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const resolutionNs = resolutionMs * 1e6;
  const gauges: Gauge[] = [];
  // The first gauge's collect sets all of them from one reading and starts a new window, as
  // prom-client does: a scrape reads the metrics in the order they were registered.
  const collect = (): void => {
    const samples = histogram.count;
    for (const [i, [name, , read]] of SERIES.entries()) {
      const ns = samples === 0 ? 0 : read(histogram);
      gauges[i]!.set(Math.max(0, name === 'stddev' ? ns : ns - resolutionNs) / 1e9);
    }
    histogram.reset();
  };
  for (const [i, [name, help]] of SERIES.entries()) {
    const full = `nodejs_eventloop_lag_${name}_seconds`;
    registry.removeSingleMetric(full);
    gauges.push(new Gauge({ name: full, help, registers: [registry], ...(i === 0 ? { collect } : {}) }));
  }
  return () => {
    histogram.disable();
    histogram.reset();
  };
}
