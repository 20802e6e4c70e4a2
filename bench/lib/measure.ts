import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { h2loadCapacityArgs, h2loadLatencyArgs, parseH2loadOutput, parseLatencyLog, type LatencyFigures } from './h2load.js';
import type { Measurement, Noise, Scenario } from './model.js';
import type { BenchOptions } from './options.js';
import {
  coreUse,
  foreignPct,
  loadAverage,
  readCores,
  readPidMemory,
  readPidStat,
  readThreads,
  schedDelta,
  snapshotProcesses,
  topConsumers,
} from './procfs.js';
import { runPinned, runPinnedMany } from './procs.js';
import { redisDelta } from './redis.js';
import { parseWrkOutput, wrkArgs } from './wrk.js';

/** One measurement of one target, with the machine's state around it. */

/** Busy % above which a core does not count as quiet, before and during a measurement. */
export const QUIET = { preCorePct: 10, core0ForeignPct: 10, core1ForeignPct: 15, stealPct: 5 } as const;

export interface Probe {
  readonly loadCore: number;
  readonly proxyCore: number;
  /** Processes of ours that sit on the load core (the app, Redis); their CPU is not foreign. */
  readonly loadCorePids: readonly number[];
  /** Every pid we started, so "who else was busy" leaves them out. */
  readonly ours: ReadonlySet<number>;
  readonly dir: string;
  readonly opts: BenchOptions;
  /** Seconds still allowed for waiting on a busy machine, shared by the whole run. */
  quietBudgetS: number;
}

export interface Load {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly proxyPid?: number;
  /** A distinct token per request: wrk script for HTTP/1.1 capacity, URL lists (one h2load each) for h2c capacity. */
  readonly fresh?: { readonly wrkScript: string; readonly h2cUrlFiles?: readonly string[] };
  /** Redis' command counters, read before and after the measurement. */
  readonly redisStats?: () => Promise<ReadonlyMap<string, number>>;
}

interface Outcome {
  rps?: number;
  latency?: LatencyFigures;
  errors: number;
  requests?: number;
}

const core = (i: number): string => `cpu${i}`;

/** Sample the cores for `seconds`; retry while busy and the run's quiet budget lasts. */
export async function quietCheck(p: Probe): Promise<{ core0: number; core1: number; waitedS: number }> {
  const sampleS = p.opts.quick ? 0.5 : 1;
  let waitedS = 0;
  for (;;) {
    const a = readCores();
    await sleep(sampleS * 1000);
    const b = readCores();
    const c0 = coreUse(a.get(core(p.proxyCore))!, b.get(core(p.proxyCore))!).busyPct;
    const c1 = coreUse(a.get(core(p.loadCore))!, b.get(core(p.loadCore))!).busyPct;
    const quiet = c0 <= QUIET.preCorePct && c1 <= QUIET.preCorePct;
    if (quiet || p.quietBudgetS < sampleS) return { core0: c0, core1: c1, waitedS };
    p.quietBudgetS -= sampleS;
    waitedS += sampleS;
  }
}

type Tick = (pids: readonly number[]) => void;

/** Same shape as the shared-token capacity run (-c10 -m10), split over ten one-client h2load processes. */
const H2C_CLIENTS = 10;

/**
 * Where h2load writes its per-request log: a subdirectory of the run's directory, not the
 * directory itself. sidegate watches that one (its policy file is there), and h2load appends a
 * line per request, so every request would also wake the sidecar with an inotify event.
 */
export function h2loadLogFile(dir: string, name: string): string {
  const logDir = join(dir, 'h2load');
  mkdirSync(logDir, { recursive: true });
  return join(logDir, name);
}

async function drive(p: Probe, scenario: Scenario, load: Load, durationS: number, onTick: Tick): Promise<Outcome> {
  const h1 = scenario.protocol === 'h1';
  const tick1 = (pid: number): void => onTick([pid]);
  if (scenario.kind === 'capacity' && h1) {
    const args = wrkArgs(load.url, {
      threads: 1,
      connections: 50,
      durationS,
      headers: load.fresh ? undefined : load.headers,
      script: load.fresh?.wrkScript,
    });
    const r = await runPinned(p.loadCore, 'wrk', args, tick1);
    if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}${r.stdout}`);
    const s = parseWrkOutput(r.stdout);
    return { rps: s.rps, errors: s.non2xx + s.socketErrors, requests: s.requests };
  }
  if (scenario.kind === 'capacity' && load.fresh?.h2cUrlFiles) {
    const files = load.fresh.h2cUrlFiles;
    const per = Math.ceil(H2C_CLIENTS / files.length);
    const runs = await runPinnedMany(
      p.loadCore,
      'h2load',
      files.map((f) => h2loadCapacityArgs('', { h1: false, clients: per, streams: 10, durationS, inputFile: f })),
      onTick,
    );
    let rps = 0;
    let errors = 0;
    let requests = 0;
    for (const r of runs) {
      if (r.code !== 0) throw new Error(`h2load exited ${r.code}: ${r.stderr}${r.stdout.slice(-500)}`);
      const s = parseH2loadOutput(r.stdout);
      rps += s.rps;
      errors += s.failed + s.errored + s.timeout + s.non2xx;
      requests += s.total;
    }
    return { rps, errors, requests };
  }
  if (scenario.kind === 'capacity') {
    const r = await runPinned(
      p.loadCore,
      'h2load',
      h2loadCapacityArgs(load.url, { h1: false, clients: 10, streams: 10, durationS, headers: load.headers }),
      tick1,
    );
    if (r.code !== 0) throw new Error(`h2load exited ${r.code}: ${r.stderr}${r.stdout.slice(-500)}`);
    const s = parseH2loadOutput(r.stdout);
    return { rps: s.rps, errors: s.failed + s.errored + s.timeout + s.non2xx, requests: s.total };
  }
  const logFile = h2loadLogFile(p.dir, `latency-${process.hrtime.bigint()}.log`);
  const args = h2loadLatencyArgs(load.url, {
    h1,
    clients: p.opts.latencyClients,
    requests: p.opts.latencyRequests,
    rpsPerClient: p.opts.latencyRpsPerClient,
    logFile,
    headers: load.headers,
  });
  const r = await runPinned(p.loadCore, 'h2load', args, tick1);
  if (r.code !== 0) throw new Error(`h2load exited ${r.code}: ${r.stderr}${r.stdout.slice(-500)}`);
  const latency = parseLatencyLog(readFileSync(logFile, 'utf8'));
  rmSync(logFile, { force: true });
  return { latency, errors: latency.errors, requests: latency.count + latency.errors };
}

/**
 * Load that is not recorded, of the scenario's own kind: JIT, pools and caches warm up before the
 * first figure. A latency scenario warms at its fixed rate, not with a saturation burst, so the
 * memory read during it is the steady state at that rate and not a heap grown by a burst.
 */
export async function warmUp(p: Probe, scenario: Scenario, load: Load): Promise<number> {
  if (scenario.kind === 'capacity') return (await drive(p, scenario, load, p.opts.warmupS, () => {})).errors;
  const rate = p.opts.latencyClients * p.opts.latencyRpsPerClient;
  const short = { ...p, opts: { ...p.opts, latencyRequests: Math.max(p.opts.latencyClients, p.opts.warmupS * rate) } };
  return (await drive(short, scenario, load, 0, () => {})).errors;
}

export async function measure(p: Probe, scenario: Scenario, target: string, rep: number, load: Load): Promise<Measurement> {
  const pre = await quietCheck(p);
  const cores0 = readCores();
  const procs0 = snapshotProcesses();
  const proxy0 = load.proxyPid !== undefined ? (readPidStat(load.proxyPid)?.ticks ?? 0) : 0;
  const threads0 = load.proxyPid !== undefined ? readThreads(load.proxyPid) : [];
  const ownTicks = (): number => p.loadCorePids.reduce((a, pid) => a + (readPidStat(pid)?.ticks ?? 0), 0);
  const app0 = ownTicks();
  const redis0 = await load.redisStats?.();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let rssMaxKb = 0;
  let anonMaxKb = 0;
  const loadgen = new Map<number, number>();
  const onTick = (pids: readonly number[]): void => {
    for (const pid of pids) loadgen.set(pid, readPidStat(pid)?.ticks ?? loadgen.get(pid) ?? 0); // a new process starts at 0 ticks
    const mem = load.proxyPid !== undefined ? readPidMemory(load.proxyPid) : undefined;
    if (mem !== undefined) {
      rssMaxKb = Math.max(rssMaxKb, mem.rssKb);
      anonMaxKb = Math.max(anonMaxKb, mem.anonKb);
    }
  };
  const outcome = await drive(p, scenario, load, p.opts.capacityS, onTick);
  const seconds = (performance.now() - t0) / 1000;
  const cores1 = readCores();
  const procs1 = snapshotProcesses();
  const proxyTicks = load.proxyPid !== undefined ? (readPidStat(load.proxyPid)?.ticks ?? proxy0) - proxy0 : 0;
  const sched = load.proxyPid !== undefined ? schedDelta(load.proxyPid, threads0, readThreads(load.proxyPid)) : undefined;
  const appTicks = ownTicks() - app0;
  const redis1 = redis0 !== undefined ? await load.redisStats?.() : undefined;
  const loadgenTicks = [...loadgen.values()].reduce((a, b) => a + b, 0);
  const self = process.cpuUsage(self0);
  const selfTicks = (self.user + self.system) / 10_000;
  const u0 = coreUse(cores0.get(core(p.proxyCore))!, cores1.get(core(p.proxyCore))!);
  const u1 = coreUse(cores0.get(core(p.loadCore))!, cores1.get(core(p.loadCore))!);
  const c0f = foreignPct(u0, proxyTicks);
  const c1f = foreignPct(u1, appTicks + loadgenTicks + selfTicks);
  const steal = Math.max(u0.stealPct, u1.stealPct);
  const reasons: string[] = [];
  if ((pre.core0 > QUIET.preCorePct && load.proxyPid !== undefined) || pre.core1 > QUIET.preCorePct)
    reasons.push(`busy before (core0 ${pre.core0.toFixed(0)}%, core1 ${pre.core1.toFixed(0)}%)`);
  // The direct path has nothing on core 0, so only core 1 can disturb it.
  if (c0f > QUIET.core0ForeignPct && load.proxyPid !== undefined) reasons.push(`core0 ${c0f.toFixed(0)}% foreign`);
  if (c1f > QUIET.core1ForeignPct) reasons.push(`core1 ${c1f.toFixed(0)}% foreign`);
  if (steal > QUIET.stealPct) reasons.push(`steal ${steal.toFixed(0)}%`);
  const ours = new Set([...p.ours, ...loadgen.keys(), process.pid]);
  const noise: Noise = {
    loadavg: loadAverage(),
    preCore0Pct: pre.core0,
    preCore1Pct: pre.core1,
    waitedS: pre.waitedS,
    core0Pct: u0.busyPct,
    core1Pct: u1.busyPct,
    core0ForeignPct: c0f,
    core1ForeignPct: c1f,
    stealPct: steal,
    top: topConsumers(procs0, procs1, seconds, ours).filter((c) => c.cpuPct >= 1),
    noisy: reasons.length > 0,
    reasons,
  };
  return {
    target,
    scenario: scenario.id,
    rep,
    ...outcome,
    proxyCpuPct: load.proxyPid !== undefined ? (proxyTicks / 100 / seconds) * 100 : undefined,
    rssMaxKb: load.proxyPid !== undefined ? rssMaxKb : undefined,
    anonMaxKb: load.proxyPid !== undefined ? anonMaxKb : undefined,
    ...(sched !== undefined ? { sched } : {}),
    ...(redis0 !== undefined && redis1 !== undefined ? { redis: redisDelta(redis0, redis1) } : {}),
    noise,
  };
}
