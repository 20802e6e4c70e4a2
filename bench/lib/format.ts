import type { RunResult, Scenario } from './model.js';
import { SCENARIOS } from './model.js';
import { median, relativeSpread, spread, type Spread } from './stats.js';
import { addedLatency, capacityRatio, perCoreRatio, summarise, type Row } from './summary.js';

/** Result tables as Markdown (printed at the end of a run and pasted into docs/benchmarks.md). Pure. */

export const DIRECT = 'direct';
export const HAPROXY = 'haproxy';
export const NGINX = 'nginx';
export const HAPROXY_JWT = 'haproxy-jwt';

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${header.map((_, i) => (cells[i] ?? '').padEnd(width[i]!)).join(' | ')} |`;
  return [line(header), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** 45123.4 → "45,123"; fractional digits only where the magnitude needs them. */
export function num(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "45,123 (44,010–46,200)"; a single repetition is shown without a range. */
export function fmtSpread(s: Spread | undefined, digits = 0): string {
  if (!s) return '–';
  return s.n > 1 ? `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})` : num(s.median, digits);
}

export function fmtRatio(r: number | undefined): string {
  return r === undefined ? '–' : `${r.toFixed(2)}×`;
}

function signed(ms: number | undefined): string {
  if (ms === undefined) return '–';
  return `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(2)}`;
}

function noisy(r: Row): string {
  return r.noisyReps === 0 ? '' : `${r.noisyReps}/${r.reps}`;
}

const mb = (kb: number | undefined): string => (kb === undefined ? '–' : (kb / 1024).toFixed(1));

export function capacityTable(result: Pick<RunResult, 'measurements' | 'targets'>, scenario: Scenario): string {
  const rows = summarise(result, scenario);
  return markdownTable(
    [
      'target',
      'req/s median (min–max)',
      '±%',
      '× direct',
      '× haproxy',
      '× nginx',
      'proxy CPU %',
      'req/s per proxy core',
      'per core × haproxy',
      'errors',
      'noisy reps',
      '× haproxy-jwt',
      'per core × haproxy-jwt',
    ],
    rows.map((r) => [
      r.target,
      fmtSpread(r.rps),
      r.rps ? relativeSpread(r.rps).toFixed(1) : '–',
      fmtRatio(capacityRatio(rows, r, DIRECT)),
      fmtRatio(capacityRatio(rows, r, HAPROXY)),
      fmtRatio(capacityRatio(rows, r, NGINX)),
      r.cpu ? num(r.cpu.median) : '–',
      fmtSpread(r.perCore),
      fmtRatio(perCoreRatio(rows, r, HAPROXY)),
      num(r.errors),
      noisy(r),
      fmtRatio(capacityRatio(rows, r, HAPROXY_JWT)),
      fmtRatio(perCoreRatio(rows, r, HAPROXY_JWT)),
    ]),
  );
}

export function latencyTable(result: Pick<RunResult, 'measurements' | 'targets'>, scenario: Scenario): string {
  const rows = summarise(result, scenario);
  const direct = rows.find((r) => r.target === DIRECT);
  return markdownTable(
    [
      'target',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'added p50',
      'added p90',
      'added p99',
      'p99 × direct',
      'offered req/s',
      'proxy CPU % at that rate',
      'errors',
      'noisy reps',
    ],
    rows.map((r) => {
      const a = r.target === DIRECT ? {} : addedLatency(rows, r, DIRECT);
      const p99x = r.p99 && direct?.p99 ? r.p99.median / direct.p99.median : undefined;
      return [
        r.target,
        fmtSpread(r.p50, 2),
        fmtSpread(r.p90, 2),
        fmtSpread(r.p99, 2),
        signed(a.p50),
        signed(a.p90),
        signed(a.p99),
        fmtRatio(p99x),
        num(r.offeredRps?.median),
        r.cpu ? fmtSpread(r.cpu, 1) : '–',
        num(r.errors),
        noisy(r),
      ];
    }),
  );
}

export function memoryTable(result: Pick<RunResult, 'measurements' | 'targets'>): string {
  const latRows = SCENARIOS.filter((s) => s.kind === 'latency').flatMap((s) => summarise(result, s));
  const capRows = SCENARIOS.filter((s) => s.kind === 'capacity').flatMap((s) => summarise(result, s));
  return markdownTable(
    [
      'target',
      'RSS 2 s after start MB',
      'RSS idle MB',
      'RSS at 1,000 req/s MB',
      'RSS under saturation MB (max)',
      'VmHWM at end MB',
      'private (RssAnon) 2 s after start / idle / 1,000 req/s / saturation MB',
      'start → ready ms',
    ],
    result.targets
      .filter((t) => !t.skipped && t.name !== DIRECT)
      .map((t) => {
        const steady = latRows.filter((r) => r.target === t.name).flatMap((r) => (r.rssMaxKb ? [r.rssMaxKb.median] : []));
        const loads = capRows.filter((r) => r.target === t.name).flatMap((r) => (r.rssMaxKb ? [r.rssMaxKb.max] : []));
        const anonSteady = latRows.filter((r) => r.target === t.name).flatMap((r) => (r.anonMaxKb ? [r.anonMaxKb.median] : []));
        const anonLoads = capRows.filter((r) => r.target === t.name).flatMap((r) => (r.anonMaxKb ? [r.anonMaxKb.max] : []));
        const top = (v: number[]): string => (v.length ? mb(Math.max(...v)) : '–');
        return [
          t.name,
          mb(t.rssStartedKb),
          mb(t.rssIdleKb),
          top(steady),
          top(loads),
          mb(t.hwmKb),
          `${mb(t.anonStartedKb)} / ${mb(t.anonIdleKb)} / ${top(anonSteady)} / ${top(anonLoads)}`,
          num(t.readyMs),
        ];
      }),
  );
}

export function noiseTable(result: Pick<RunResult, 'measurements'>): string {
  const noisy = result.measurements.filter((m) => m.noise.noisy);
  if (noisy.length === 0) return 'No measurement was flagged noisy.';
  return markdownTable(
    ['target', 'scenario', 'rep', 'load avg (1 min)', 'core0 foreign %', 'core1 foreign %', 'steal %', 'why', 'busiest other processes'],
    noisy.map((m) => [
      m.target,
      m.scenario,
      String(m.rep),
      m.noise.loadavg[0].toFixed(2),
      m.noise.core0ForeignPct.toFixed(0),
      m.noise.core1ForeignPct.toFixed(0),
      m.noise.stealPct.toFixed(1),
      m.noise.reasons.join('; '),
      m.noise.top.map((c) => `${c.comm} ${c.cpuPct.toFixed(0)}%`).join(', '),
    ]),
  );
}

/**
 * How the proxy's event loop was scheduled at the fixed rate, per request (medians over reps):
 * how often it went to sleep and was woken (voluntary switches), how often it was preempted, its
 * time on the CPU, its run-queue wait (runnable but not running, which includes the wake-up
 * latency of an idle core), and the CPU of its other threads. Undefined when no latency
 * measurement has the figures.
 */
export function schedTable(result: Pick<RunResult, 'measurements' | 'targets'>): string | undefined {
  const rows: string[][] = [];
  for (const s of SCENARIOS.filter((x) => x.kind === 'latency')) {
    for (const t of result.targets) {
      const ms = result.measurements.filter(
        (m) => m.target === t.name && m.scenario === s.id && m.sched !== undefined && (m.requests ?? 0) > 0,
      );
      if (ms.length === 0) continue;
      const per = (f: (m: (typeof ms)[number]) => number, digits: number): string =>
        fmtSpread(spread(ms.map((m) => f(m) / m.requests!)), digits);
      rows.push([
        t.name,
        s.id,
        per((m) => m.sched!.main.voluntary, 2),
        per((m) => m.sched!.main.involuntary, 3),
        per((m) => m.sched!.main.cpuNs / 1000, 0),
        per((m) => m.sched!.main.waitNs / 1000, 0),
        per((m) => m.sched!.othersCpuNs / 1000, 1),
        num(median(ms.map((m) => m.sched!.threads))),
      ]);
    }
  }
  if (rows.length === 0) return undefined;
  return markdownTable(
    [
      'target',
      'scenario',
      'wake-ups / request',
      'preemptions / request',
      'main thread CPU µs / request',
      'run-queue wait µs / request',
      'other threads CPU µs / request',
      'threads',
    ],
    rows,
  );
}

/** Every table of a run, with headings. */
export function report(result: RunResult): string {
  const out: string[] = [`# sidegate bench ${result.date}`, ''];
  out.push(
    `${result.machine.cpuModel}, ${result.machine.cores} cores, kernel ${result.machine.kernel}, node ${result.node}; ${result.durationS.toFixed(0)} s${result.commit ? `; commit ${result.commit}` : ''}`,
    '',
  );
  // Capacity first in the report, though a run measures the fixed-rate scenarios first.
  for (const s of [...SCENARIOS].sort((a, b) => Number(a.kind !== 'capacity') - Number(b.kind !== 'capacity'))) {
    if (!result.measurements.some((m) => m.scenario === s.id)) continue;
    out.push(`## ${s.id}`, '', s.kind === 'capacity' ? capacityTable(result, s) : latencyTable(result, s), '');
  }
  const sched = schedTable(result);
  if (sched) out.push('## scheduling of the proxy at 1,000 req/s (per request)', '', sched, '');
  out.push('## memory', '', memoryTable(result), '', '## noise', '', noiseTable(result), '');
  const failed = result.measurements.filter((m) => m.failed !== undefined);
  if (failed.length)
    out.push('## failed measurements', '', ...failed.map((m) => `- ${m.target} ${m.scenario} rep ${m.rep}: ${m.failed}`), '');
  const skipped = result.targets.filter((t) => t.skipped);
  if (skipped.length) out.push('## skipped', '', ...skipped.map((t) => `- ${t.name}: ${t.skipped}`), '');
  return out.join('\n');
}
