import type { Measurement, RunResult, Scenario } from './model.js';
import { ratio, spread, type Spread } from './stats.js';

/** Medians across repetitions and the ratios between targets. Pure. */

export interface Row {
  readonly target: string;
  readonly scenario: Scenario;
  readonly reps: number;
  readonly noisyReps: number;
  readonly errors: number;
  readonly rps?: Spread;
  readonly p50?: Spread;
  readonly p90?: Spread;
  readonly p99?: Spread;
  readonly cpu?: Spread;
  /**
   * Requests per second per core-second of proxy CPU (req/s ÷ CPU share). On a shared machine the
   * proxy may not get its whole core; this figure is what it would do with one, to first order.
   */
  readonly perCore?: Spread;
  readonly rssMaxKb?: Spread;
  readonly anonMaxKb?: Spread;
  readonly offeredRps?: Spread;
}

function collect(ms: readonly Measurement[], f: (m: Measurement) => number | undefined): Spread | undefined {
  const v: number[] = [];
  for (const m of ms) {
    const x = f(m);
    if (x !== undefined) v.push(x);
  }
  return spread(v);
}

export function summarise(result: Pick<RunResult, 'measurements' | 'targets'>, scenario: Scenario): Row[] {
  const rows: Row[] = [];
  for (const t of result.targets) {
    const ms = result.measurements.filter((m) => m.target === t.name && m.scenario === scenario.id);
    if (ms.length === 0) continue;
    rows.push({
      target: t.name,
      scenario,
      reps: ms.length,
      noisyReps: ms.filter((m) => m.noise.noisy).length,
      errors: ms.reduce((a, m) => a + m.errors, 0),
      rps: collect(ms, (m) => m.rps),
      p50: collect(ms, (m) => m.latency?.p50Ms),
      p90: collect(ms, (m) => m.latency?.p90Ms),
      p99: collect(ms, (m) => m.latency?.p99Ms),
      cpu: collect(ms, (m) => m.proxyCpuPct),
      perCore: collect(ms, (m) =>
        m.rps !== undefined && m.proxyCpuPct !== undefined && m.proxyCpuPct > 0 ? m.rps / (m.proxyCpuPct / 100) : undefined,
      ),
      rssMaxKb: collect(ms, (m) => m.rssMaxKb),
      anonMaxKb: collect(ms, (m) => m.anonMaxKb),
      offeredRps: collect(ms, (m) => m.latency?.offeredRps),
    });
  }
  return rows;
}

/** Capacity of `row` relative to the reference target's, by medians. */
export function capacityRatio(rows: readonly Row[], row: Row, reference: string): number | undefined {
  return ratio(row.rps?.median, rows.find((r) => r.target === reference)?.rps?.median);
}

/** Per-core capacity of `row` relative to the reference proxy's. */
export function perCoreRatio(rows: readonly Row[], row: Row, reference: string): number | undefined {
  return ratio(row.perCore?.median, rows.find((r) => r.target === reference)?.perCore?.median);
}

export interface AddedLatency {
  readonly p50?: number;
  readonly p90?: number;
  readonly p99?: number;
}

/** Latency a proxy adds over the direct path at the same rate: proxied median minus direct median. */
export function addedLatency(rows: readonly Row[], row: Row, direct: string): AddedLatency {
  const d = rows.find((r) => r.target === direct);
  const sub = (a: Spread | undefined, b: Spread | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : a.median - b.median;
  return { p50: sub(row.p50, d?.p50), p90: sub(row.p90, d?.p90), p99: sub(row.p99, d?.p99) };
}
