import type { CgroupMemory, CgroupMode } from './cgroup.js';
import { fmtSpread, markdownTable, num } from './format.js';
import type { MachineInfo, SmapsRollup } from './procfs.js';
import type { LoadCounts } from './rate-load.js';
import { median, spread } from './stats.js';

/**
 * The density bench's results (issue 26): N sidecars of one kind on one machine, each with its own
 * app and a low fixed rate, and what each costs in memory: USS, PSS and RSS from smaps_rollup, its
 * cgroup's charge, and the growth of the total from n − 1 to n instances. Pure:
 * test/bench/density.test.ts keeps it honest.
 */

export interface DensityInstance {
  readonly index: number;
  readonly pid: number;
  /** Start → ready while the earlier instances run under load. */
  readonly readyMs: number;
  /** Whether /proc/<pid>/cgroup showed it in its own group. */
  readonly inCgroup: boolean;
  /** At the end of the steady window. */
  readonly mem?: SmapsRollup;
  readonly cgroup?: CgroupMemory;
  /** CPU over the steady window, % of one core (threads' schedstat). */
  readonly cpuPct?: number;
  /** Requests over the steady window (the load never stops between steps). */
  readonly window: LoadCounts;
  /** Every request sent to it, from its start to the end of the window. */
  readonly total: LoadCounts;
}

/** Totals over the n instances running, read `settleS` after the n-th became ready. */
export interface DensityStep {
  readonly n: number;
  readonly pssKb: number;
  readonly ussKb: number;
  readonly rssKb: number;
  /** Sum of the groups' memory.current / usage_in_bytes. */
  readonly cgroupBytes?: number;
}

/** One sidecar alone in its group at a higher rate (1,000 req/s). */
export interface OneRate {
  readonly rate: number;
  readonly seconds: number;
  readonly requests: LoadCounts;
  /** The group at the end of the run. */
  readonly cgroup?: CgroupMemory;
  /** The highest memory.current / usage_in_bytes sampled once a second under load. */
  readonly maxCurrentBytes?: number;
  readonly mem?: SmapsRollup;
  readonly cpuPct?: number;
}

export interface DensityTarget {
  readonly target: string;
  readonly description: string;
  readonly command: string;
  readonly rate: number;
  readonly settleS: number;
  readonly windowS: number;
  readonly instances: readonly DensityInstance[];
  readonly steps: readonly DensityStep[];
  readonly oneRate?: OneRate;
  /** Fresh starts to /healthz/ready (or the first 200), one at a time, nothing else of ours under load. */
  readonly startupMs: readonly number[];
  /** The load average at the end of the steady window (how busy the machine was). */
  readonly loadavgWindow?: readonly number[];
  readonly failed?: string;
}

export interface DensityResult {
  readonly kind: 'density';
  readonly date: string;
  readonly machine: MachineInfo;
  readonly node: string;
  readonly commit: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly cgroup: { readonly mode?: CgroupMode; readonly base?: string; readonly unavailable?: string };
  readonly loadavg: { readonly start: readonly number[]; readonly end: readonly number[] };
  readonly targets: readonly DensityTarget[];
  readonly commands: Readonly<Record<string, string>>;
  readonly durationS: number;
}

export interface Marginal {
  readonly n: number;
  readonly pssKb: number;
  readonly ussKb: number;
}

/** Growth of the totals from n − 1 to n instances (the first step: the first instance's own figures). */
export function marginals(steps: readonly DensityStep[]): Marginal[] {
  const s = [...steps].sort((a, b) => a.n - b.n);
  return s.map((x, i) => ({ n: x.n, pssKb: x.pssKb - (s[i - 1]?.pssKb ?? 0), ussKb: x.ussKb - (s[i - 1]?.ussKb ?? 0) }));
}

/**
 * Least-squares slope of a total against n: the cost of one more instance with the noise of any
 * single step (a garbage collection in one of the others) averaged out. Undefined below two steps.
 */
export function slope(points: readonly (readonly [number, number])[]): number | undefined {
  if (points.length < 2) return undefined;
  const mx = points.reduce((a, p) => a + p[0], 0) / points.length;
  const my = points.reduce((a, p) => a + p[1], 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? undefined : sxy / sxx;
}

export function marginalSlope(steps: readonly DensityStep[], key: 'pssKb' | 'ussKb'): number | undefined {
  return slope(steps.map((s) => [s.n, s[key]] as const));
}

const mbKb = (kb: number | undefined, digits = 1): string => (kb === undefined || !Number.isFinite(kb) ? '–' : (kb / 1024).toFixed(digits));
const mbB = (b: number | undefined, digits = 1): string => (b === undefined || !Number.isFinite(b) ? '–' : (b / 1048576).toFixed(digits));
const spreadMb = (kbs: readonly number[]): string => fmtSpread(spread(kbs.map((k) => k / 1024)), 1);
const defined = <T>(xs: readonly (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);

function errorsOf(t: DensityTarget): { requests: number; bad: number } {
  let requests = 0;
  let bad = 0;
  for (const i of t.instances) {
    requests += i.total.sent;
    bad += i.total.non2xx + i.total.errors;
  }
  return { requests, bad };
}

/** Per instance at the steady window's end: median (min–max) over the N instances, MB and % of a core. */
export function perInstanceTable(r: Pick<DensityResult, 'targets'>): string {
  return markdownTable(
    [
      'target',
      'N',
      'rate each',
      'USS MB',
      'PSS MB',
      'RSS MB',
      'CPU % of a core',
      'cgroup MB (current)',
      'cgroup anon / cache / kernel MB (median)',
      'requests / non-2xx or failed',
    ],
    r.targets.map((t) => {
      const cg = defined(t.instances.map((i) => i.cgroup));
      const med = (f: (c: CgroupMemory) => number): string => (cg.length ? mbB(median(cg.map(f))) : '–');
      const e = errorsOf(t);
      return [
        t.target,
        String(t.instances.length),
        `${num(t.rate)} req/s`,
        spreadMb(defined(t.instances.map((i) => i.mem?.ussKb))),
        spreadMb(defined(t.instances.map((i) => i.mem?.pssKb))),
        spreadMb(defined(t.instances.map((i) => i.mem?.rssKb))),
        fmtSpread(spread(defined(t.instances.map((i) => i.cpuPct))), 1),
        cg.length ? fmtSpread(spread(cg.map((c) => c.currentBytes / 1048576)), 1) : '–',
        `${med((c) => c.anonBytes)} / ${med((c) => c.fileBytes)} / ${med((c) => c.kernelBytes)}`,
        `${num(e.requests)} / ${num(e.bad)}`,
      ];
    }),
  );
}

/** What one more instance costs: the n-th step, the median step, and the slope over all steps. */
export function marginalTable(r: Pick<DensityResult, 'targets'>): string {
  return markdownTable(
    [
      'target',
      'N',
      'marginal PSS MB: slope over n = 1..N',
      'of the N-th',
      'median step (2..N)',
      'marginal USS MB: slope',
      'of the N-th',
      'median step',
      'total PSS / USS MB at N',
      'total cgroup MB at N',
    ],
    r.targets.map((t) => {
      const m = marginals(t.steps);
      const last = m[m.length - 1];
      const later = m.filter((x) => x.n >= 2);
      const medOf = (k: 'pssKb' | 'ussKb'): string => (later.length ? mbKb(median(later.map((x) => x[k]))) : '–');
      const top = t.steps[t.steps.length - 1];
      return [
        t.target,
        String(t.steps.length),
        mbKb(marginalSlope(t.steps, 'pssKb')),
        mbKb(last?.pssKb),
        medOf('pssKb'),
        mbKb(marginalSlope(t.steps, 'ussKb')),
        mbKb(last?.ussKb),
        medOf('ussKb'),
        `${mbKb(top?.pssKb)} / ${mbKb(top?.ussKb)}`,
        mbB(top?.cgroupBytes),
      ];
    }),
  );
}

/** Totals after each start: the data behind the marginal figures. */
export function stepsTable(t: DensityTarget): string {
  const m = marginals(t.steps);
  return markdownTable(
    ['n', 'total PSS MB', 'total USS MB', 'total RSS MB', 'total cgroup MB', '+PSS MB', '+USS MB'],
    t.steps.map((s, i) => [
      String(s.n),
      mbKb(s.pssKb),
      mbKb(s.ussKb),
      mbKb(s.rssKb),
      mbB(s.cgroupBytes),
      mbKb(m[i]?.pssKb),
      mbKb(m[i]?.ussKb),
    ]),
  );
}

export function oneRateTable(r: Pick<DensityResult, 'targets'>): string | undefined {
  const rows = r.targets.filter((t) => t.oneRate !== undefined);
  if (rows.length === 0) return undefined;
  return markdownTable(
    [
      'target',
      'rate',
      'seconds',
      'cgroup MB: highest sampled',
      'at the end',
      'kernel peak (incl. start-up)',
      'anon / cache / kernel MB at the end',
      'USS / PSS / RSS MB',
      'CPU % of a core',
      'requests / non-2xx or failed',
    ],
    rows.map((t) => {
      const o = t.oneRate!;
      const c = o.cgroup;
      return [
        t.target,
        `${num(o.rate)} req/s`,
        num(o.seconds),
        mbB(o.maxCurrentBytes),
        mbB(c?.currentBytes),
        mbB(c?.peakBytes),
        c ? `${mbB(c.anonBytes)} / ${mbB(c.fileBytes)} / ${mbB(c.kernelBytes)}` : '–',
        o.mem ? `${mbKb(o.mem.ussKb)} / ${mbKb(o.mem.pssKb)} / ${mbKb(o.mem.rssKb)}` : '–',
        o.cpuPct === undefined ? '–' : o.cpuPct.toFixed(1),
        `${num(o.requests.sent)} / ${num(o.requests.non2xx + o.requests.errors)}`,
      ];
    }),
  );
}

export function densityStartupTable(r: Pick<DensityResult, 'targets'>): string | undefined {
  const rows = r.targets.filter((t) => t.startupMs.length > 0);
  if (rows.length === 0) return undefined;
  return markdownTable(
    ['target', 'start → ready ms, fresh starts: median (min–max)', 'starts', 'under load (the N density starts): median (min–max)'],
    rows.map((t) => [
      t.target,
      fmtSpread(spread(t.startupMs.filter(Number.isFinite))),
      String(t.startupMs.length),
      fmtSpread(spread(t.instances.map((i) => i.readyMs))),
    ]),
  );
}

export const SIDECAR = 'sidegate-full';

export interface GoalRow {
  readonly figure: string;
  readonly value: string;
  readonly goal: string;
  readonly standing: string;
}

const standing = (v: number | undefined, goal: number, caveat = ''): string =>
  v === undefined ? 'not measured' : `${v <= goal ? 'met' : 'not met'}${caveat}`;

/** Issue 26's goals, from sidegate-full's figures (haproxy-jwt's beside them for scale). */
export function goalRows(r: Pick<DensityResult, 'targets'>): GoalRow[] {
  const t = r.targets.find((x) => x.target === SIDECAR);
  const ref = r.targets.find((x) => x.target !== SIDECAR && x.steps.length > 0);
  const rows: GoalRow[] = [];
  const n = t?.steps.length ?? 0;
  const pss = t ? marginalSlope(t.steps, 'pssKb') : undefined;
  const uss = t ? marginalSlope(t.steps, 'ussKb') : undefined;
  const lastPss = t ? marginals(t.steps).at(-1)?.pssKb : undefined;
  const refText = ref
    ? `; ${ref.target}: ${mbKb(marginalSlope(ref.steps, 'pssKb'))} PSS, ${mbKb(marginalSlope(ref.steps, 'ussKb'))} USS`
    : '';
  rows.push({
    figure: `marginal memory per extra sidecar (PSS), ${num(t?.rate)} req/s each, ${n} sidecars`,
    value:
      pss === undefined
        ? '–'
        : `${mbKb(pss)} MB PSS slope, ${mbKb(uss)} MB USS (from ${n - 1} to ${n}: +${mbKb(lastPss)} MB PSS${refText})`,
    goal: '≤ 20 MB (20 sidecars at 50 req/s)',
    standing: standing(pss === undefined ? undefined : pss / 1024, 20, n < 20 || t?.rate !== 50 ? " (not the goal's 20 × 50 req/s)" : ''),
  });
  const o = t?.oneRate;
  const cg = o?.maxCurrentBytes;
  rows.push({
    figure: `cgroup memory of one sidecar at ${num(o?.rate ?? 1000)} req/s (highest memory.current / usage_in_bytes sampled)`,
    value:
      cg === undefined
        ? '–'
        : `${mbB(cg)} MB (at the end anon + kernel ${mbB(o?.cgroup === undefined ? undefined : o.cgroup.anonBytes + o.cgroup.kernelBytes)} MB, page cache ${mbB(o?.cgroup?.fileBytes)} MB; kernel peak ${mbB(o?.cgroup?.peakBytes)} MB)`,
    goal: '≤ 40 MB',
    standing: standing(cg === undefined ? undefined : cg / 1048576, 40),
  });
  const starts = t?.startupMs.filter(Number.isFinite) ?? [];
  const st = starts.length ? median(starts) : undefined;
  rows.push({
    figure: `start → ready (local keys), median of ${starts.length} fresh starts`,
    value: st === undefined ? '–' : `${num(st)} ms`,
    goal: '≤ 250 ms',
    standing: standing(st, 250, starts.length > 0 && starts.length < 5 ? ' (fewer than 5 starts)' : ''),
  });
  return rows;
}

export function goalsTable(r: Pick<DensityResult, 'targets'>): string {
  return markdownTable(
    ['figure', 'this run', 'goal', 'standing'],
    goalRows(r).map((g) => [g.figure, g.value, g.goal, g.standing]),
  );
}

/** The run's Markdown report. */
export function densityReport(r: DensityResult): string {
  const out = [
    `# Density bench ${r.date}`,
    '',
    `commit ${r.commit}, Node ${r.node}, ${r.machine.cores} cores (${r.machine.cpuModel}), kernel ${r.machine.kernel}; load average at start ${r.loadavg.start.join(' ')}, at end ${r.loadavg.end.join(' ')}; ${Math.round(r.durationS)} s`,
    `cgroups: ${r.cgroup.mode === undefined ? `not used (${r.cgroup.unavailable ?? 'unknown'})` : `${r.cgroup.mode === 'v2' ? 'v2, memory.current' : 'v1, memory.usage_in_bytes'} under ${r.cgroup.base}`}`,
    '',
    '## goals',
    '',
    goalsTable(r),
    '',
    '## per instance, end of the steady window',
    '',
    perInstanceTable(r),
    '',
    '## marginal memory',
    '',
    marginalTable(r),
    '',
  ];
  const one = oneRateTable(r);
  if (one) out.push('## one sidecar in its cgroup at a higher rate', '', one, '');
  const st = densityStartupTable(r);
  if (st) out.push('## start → ready', '', st, '');
  for (const t of r.targets) {
    if (t.failed) out.push(`**${t.target} failed:** ${t.failed}`, '');
    if (t.steps.length)
      out.push(
        `## ${t.target}: totals after each start${t.loadavgWindow ? ` (load average at the window's end ${t.loadavgWindow.join(' ')})` : ''}`,
        '',
        stepsTable(t),
        '',
      );
  }
  out.push('## commands', '', ...Object.entries(r.commands).map(([k, v]) => `- ${k}: \`${v}\``), '');
  return out.join('\n');
}
