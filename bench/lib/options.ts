import { SCENARIOS } from './model.js';

/** Command-line options of `npm run bench`. Pure. */
export interface BenchOptions {
  readonly quick: boolean;
  readonly only?: readonly string[];
  readonly scenarios: readonly string[];
  readonly reps: number;
  /** Seconds of each closed-loop capacity measurement. */
  readonly capacityS: number;
  /** Seconds of closed-loop load on each target before its first measurement of a protocol. */
  readonly warmupS: number;
  /** Requests per fixed-rate latency measurement (at 1,000 req/s: seconds × 1,000). */
  readonly latencyRequests: number;
  /** Connections of the fixed-rate run and requests per second each: 10 × 100 = 1,000 req/s. */
  readonly latencyClients: number;
  readonly latencyRpsPerClient: number;
  /** Total seconds a run may spend waiting for the machine to become quiet. */
  readonly quietBudgetS: number;
  /** `nice -n` for the proxies, the app, the load generators and the harness (0: polite). */
  readonly nice: number;
  /** Fresh starts of each start-up-timed target after the measurements (0: skip). */
  readonly startupReps: number;
  /**
   * Seconds every target stays without traffic after start before its idle memory is read. V8's
   * memory reducer compacts a heap left idle (here ≈ 8 s and again ≈ 25 s after start-up), so a
   * reading 2 s after start (also kept) still holds the start-up's garbage.
   */
  readonly idleS: number;
  /** Minutes of the soak (the full-policy sidecar at 1,000 req/s, memory sampled); 0 skips it. */
  readonly soakMin: number;
  readonly outDir: string;
  readonly help: boolean;
  /** `--density N`: run the density bench (bench/density.ts) with N instances of each target instead. */
  readonly density?: number;
  /** Requests per second each density instance gets. */
  readonly densityRate: number;
  /** Seconds after each start before the totals are read. */
  readonly densitySettleS: number;
  /** Seconds of the steady window with all N running (CPU, and memory at its end). */
  readonly densityWindowS: number;
  /** Seconds of one sidecar alone in its cgroup at 1,000 req/s (0: skip). */
  readonly densityOneRateS: number;
}

export const USAGE = `usage: npm run bench -- [options]   (node dist/bench/run.js [options])
  --quick               short durations and one repetition: a smoke check, not figures
  --only=a,b            targets to measure (default: every default target; see bench/targets.ts), or groups:
                        @anchors (direct, haproxy, nginx), @issue9 (the default run), @auth (haproxy-jwt,
                        sidegate-full, sidegate-fresh-token + direct), @tracing (sidegate-full with tracing
                        off, 0.1, 1.0 + direct), @engines (engine-llhttp and engine-http-request, the
                        HTTP/1.1 engines without the pipeline, + direct, sidegate),
                        @runtimes (anchors, haproxy-jwt, sidegate and sidegate-full beside their Node 20 twins),
                        @runtimes26 (sidegate and sidegate-full on Node 20, the pinned Node and Node 26),
                        @parsers (sidegate beside its HTTP/1.1 fallbacks forced: --http1-fast-path off,
                        --http1-parser public + direct);
                        not in a group: sidegate-baseline, sidegate-full-baseline (the build in
                        SIDEGATE_BENCH_BASELINE), sidegate-maglev, sidegate-full-maglev, sidegate-h2c-upstream
  --scenarios=a,b       ${SCENARIOS.map((s) => s.id).join(', ')} (default: all)
  --reps N              interleaved repetitions of each measurement (default 3)
  --duration S          seconds per capacity measurement (default 8)
  --latency-requests N  requests per 1,000 req/s latency run (default 12000)
  --quiet-budget S      seconds the run may wait in total for an idle machine (default 60)
  --startup-reps N      fresh starts of sidegate, sidegate-full and haproxy-jwt to time start → ready (default 5)
  --idle S              seconds without traffic after start before idle memory is read (default 30; a
                        reading 2 s after start is kept beside it)
  --soak MIN            after the measurements, sidegate-full at 1,000 req/s for MIN minutes with its memory
                        sampled every 5 s: the RSS slope of issue 9's goals (default 0: no soak)
  --nice N              run everything measured at this niceness (-20..19, default 0); negative values
                        keep the cores on a shared machine, and slow everybody else down meanwhile
  --out DIR             where results go (default bench/results)
  --density [N]         instead of the above: the density bench (issue 26). N (default 20) sidegate-full,
                        then N haproxy-jwt, each with its own app and memory cgroup (root), each at a fixed
                        rate; per instance USS, PSS, RSS, CPU and cgroup memory, the marginal memory of the
                        n-th, one sidecar alone at 1,000 req/s, and start → ready (--startup-reps, each
                        start waiting for idle cores within --quiet-budget). --only picks the targets;
                        --quick shortens every phase
  --density-rate R      requests per second per density instance (default 50)
  --density-settle S    seconds after each start before the totals are read (default 5)
  --density-window S    seconds of the steady window with all N running (default 30)
  --density-1k S        seconds of one sidecar alone in its cgroup at 1,000 req/s (default 30; 0 skips)`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const kv = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const eq = a.indexOf('=');
    if (eq > 0) {
      kv.set(a.slice(2, eq), a.slice(eq + 1));
      continue;
    }
    const name = a.slice(2);
    if (name === 'quick' || name === 'help') {
      flags.add(name);
      continue;
    }
    const v = argv[i + 1];
    if (name === 'density' && (v === undefined || v.startsWith('--'))) {
      kv.set(name, '20');
      continue;
    }
    if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value\n${USAGE}`);
    kv.set(name, v);
    i++;
  }
  const known = new Set([
    'only',
    'scenarios',
    'reps',
    'duration',
    'latency-requests',
    'quiet-budget',
    'nice',
    'startup-reps',
    'idle',
    'soak',
    'out',
    'density',
    'density-rate',
    'density-settle',
    'density-window',
    'density-1k',
  ]);
  for (const k of kv.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const quick = flags.has('quick');
  const int = (name: string, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const s = kv.get(name);
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${s}`);
    return n;
  };
  const list = (name: string): string[] | undefined =>
    kv
      .get(name)
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const scenarios = list('scenarios') ?? SCENARIOS.map((s) => s.id);
  for (const s of scenarios)
    if (!SCENARIOS.some((x) => x.id === s)) throw new Error(`unknown scenario ${s}; known: ${SCENARIOS.map((x) => x.id).join(', ')}`);
  return {
    quick,
    only: list('only'),
    scenarios,
    reps: int('reps', quick ? 1 : 3, 1),
    capacityS: int('duration', quick ? 2 : 8, 1),
    warmupS: quick ? 1 : 3,
    latencyRequests: int('latency-requests', quick ? 2000 : 12000, 100),
    latencyClients: 10,
    latencyRpsPerClient: 100,
    quietBudgetS: int('quiet-budget', quick ? 5 : 60, 0),
    nice: int('nice', 0, -20, 19),
    startupReps: int('startup-reps', quick ? 1 : 5, 0),
    idleS: int('idle', quick ? 2 : 30, 2, 600),
    soakMin: int('soak', 0, 0, 600),
    outDir: kv.get('out') ?? 'bench/results',
    help: flags.has('help'),
    density: kv.has('density') ? int('density', 20, 1, 200) : undefined,
    densityRate: int('density-rate', 50, 1, 10_000),
    densitySettleS: int('density-settle', quick ? 1 : 5, 0, 600),
    densityWindowS: int('density-window', quick ? 3 : 30, 1, 3600),
    densityOneRateS: int('density-1k', quick ? 3 : 30, 0, 3600),
  };
}
