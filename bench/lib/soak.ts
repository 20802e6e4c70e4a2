import type { RunResult } from './model.js';

/**
 * The soak: one target at a fixed 1,000 req/s for minutes, its memory sampled every few seconds.
 * The figure is the slope of a least-squares line through the samples after the first minute
 * (start-up and warm-up growth excluded), in MB per minute: a leak shows as a slope that does not
 * go to zero however long the run. Pure, tested.
 */

export interface SoakSample {
  /** Seconds since the soak began. */
  readonly t: number;
  readonly rssKb: number;
  readonly anonKb: number;
}

export interface SoakResult {
  readonly target: string;
  readonly minutes: number;
  readonly requests: number;
  readonly errors: number;
  readonly samples: readonly SoakSample[];
  /** MB per minute over the samples after `skipS` (VmRSS, and private memory). */
  readonly rssSlopeMbPerMin?: number;
  readonly anonSlopeMbPerMin?: number;
}

/** Least-squares slope of y over x; undefined with fewer than 3 points or no spread in x. */
export function slope(points: readonly (readonly [number, number])[]): number | undefined {
  if (points.length < 3) return undefined;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? undefined : sxy / sxx;
}

/** The MB-per-minute slopes of the samples taken after `skipS` seconds. */
export function soakSlopes(samples: readonly SoakSample[], skipS = 60): { rss?: number; anon?: number } {
  const late = samples.filter((s) => s.t >= skipS);
  const perMin = (f: (s: SoakSample) => number): number | undefined => {
    const k = slope(late.map((s) => [s.t / 60, f(s) / 1024] as const));
    return k === undefined ? undefined : k;
  };
  return { rss: perMin((s) => s.rssKb), anon: perMin((s) => s.anonKb) };
}

/** The soak's line for a run's report. */
export function soakTable(result: Pick<RunResult, 'soak'>): string | undefined {
  const s = result.soak;
  if (s === undefined) return undefined;
  const first = s.samples.find((x) => x.t >= 60) ?? s.samples[0];
  const last = s.samples.at(-1);
  const mb = (kb: number | undefined): string => (kb === undefined ? '–' : (kb / 1024).toFixed(1));
  const k = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(3));
  return [
    '| target | minutes at 1,000 req/s | requests | errors | RSS at 1 min → end MB | private at 1 min → end MB | RSS slope MB/min | private slope MB/min |',
    '|---|---|---|---|---|---|---|---|',
    `| ${s.target} | ${s.minutes} | ${s.requests} | ${s.errors} | ${mb(first?.rssKb)} → ${mb(last?.rssKb)} | ${mb(first?.anonKb)} → ${mb(last?.anonKb)} | ${k(s.rssSlopeMbPerMin)} | ${k(s.anonSlopeMbPerMin)} |`,
  ].join('\n');
}
