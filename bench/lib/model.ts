import type { LatencyFigures } from './h2load.js';
import type { SoakResult } from './soak.js';
import type { Consumer, MachineInfo, SchedUse } from './procfs.js';
import type { RedisUse } from './redis.js';

/** The shape of a run's results (bench/results/<date>.json). */

export type Protocol = 'h1' | 'h2c';
export type Kind = 'capacity' | 'latency';

export interface Scenario {
  readonly id: string;
  readonly kind: Kind;
  readonly protocol: Protocol;
}

/**
 * In the order a run measures them: the fixed-rate scenarios first, so a proxy's memory at
 * 1,000 req/s is read before any saturation burst has grown its heap.
 */
export const SCENARIOS: readonly Scenario[] = [
  { id: 'latency-h1', kind: 'latency', protocol: 'h1' },
  { id: 'latency-h2c', kind: 'latency', protocol: 'h2c' },
  { id: 'capacity-h1', kind: 'capacity', protocol: 'h1' },
  { id: 'capacity-h2c', kind: 'capacity', protocol: 'h2c' },
];

/** What the machine was doing around one measurement. */
export interface Noise {
  readonly loadavg: readonly [number, number, number];
  /** Core busy % in the 1 s quiet check just before the measurement. */
  readonly preCore0Pct: number;
  readonly preCore1Pct: number;
  /** Seconds spent waiting for the machine to become quiet. */
  readonly waitedS: number;
  /** During the measurement: whole-core busy %, and the part not explained by our own processes. */
  readonly core0Pct: number;
  readonly core1Pct: number;
  readonly core0ForeignPct: number;
  readonly core1ForeignPct: number;
  readonly stealPct: number;
  /** The busiest processes that were not ours. */
  readonly top: readonly Consumer[];
  readonly noisy: boolean;
  readonly reasons: readonly string[];
}

export interface Measurement {
  readonly target: string;
  readonly scenario: string;
  readonly rep: number;
  readonly rps?: number;
  readonly latency?: LatencyFigures;
  /** CPU of the proxy under test, % of one core, over the measurement. */
  readonly proxyCpuPct?: number;
  /** Highest VmRSS of the proxy seen while the load ran. */
  readonly rssMaxKb?: number;
  /** Highest RssAnon (private memory, see procfs.ts) seen while the load ran. */
  readonly anonMaxKb?: number;
  readonly errors: number;
  /** How the proxy's threads were scheduled during the measurement (procfs.ts `schedDelta`). */
  readonly sched?: SchedUse;
  /** Requests the load generator completed or attempted (the denominator of per-request figures). */
  readonly requests?: number;
  /** Redis commands during the measurement (targets that use the harness's Redis). */
  readonly redis?: RedisUse;
  /** Set when the load generator failed; the measurement carries no figures then. */
  readonly failed?: string;
  readonly noise: Noise;
}

export interface TargetRecord {
  readonly name: string;
  readonly description: string;
  readonly command: string;
  readonly protocols: readonly Protocol[];
  readonly readyMs?: number;
  /** VmRSS after `--idle` seconds without traffic (V8 has compacted the start-up's heap by then). */
  readonly rssIdleKb?: number;
  /** RssAnon when idle (private memory; VmRSS also counts the shared executable's pages). */
  readonly anonIdleKb?: number;
  /** VmRSS and RssAnon 2 s after every target started: start-up garbage included. */
  readonly rssStartedKb?: number;
  readonly anonStartedKb?: number;
  /** VmHWM at the end of the run: the peak after every saturation burst. */
  readonly hwmKb?: number;
  /** Start → ready of fresh instances started one at a time on a quiet machine after the measurements. */
  readonly startupMs?: readonly number[];
  /** Selected counters from sidegate's /metrics at the end of the run (Redis budget misses, spans exported). */
  readonly endMetrics?: Readonly<Record<string, number>>;
  /** OTLP export requests and bytes the harness's sink received from this target. */
  readonly otlp?: { readonly requests: number; readonly bytes: number };
  readonly skipped?: string;
}

export interface RunResult {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly node: string;
  readonly tools: Readonly<Record<string, string>>;
  /** `git rev-parse --short HEAD` (+dirty) when the run started; the proxies run what dist/ held then. */
  readonly commit?: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly commands: Readonly<Record<string, string>>;
  readonly targets: readonly TargetRecord[];
  readonly measurements: readonly Measurement[];
  /** `--soak MIN`: the full-policy sidecar at 1,000 req/s for MIN minutes, memory sampled. */
  readonly soak?: SoakResult;
  readonly durationS: number;
}
