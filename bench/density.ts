import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createCgroup,
  createParent,
  detectCgroups,
  inCgroup,
  readCgroupMemory,
  removeCgroup,
  type CgroupLayout,
  type MemoryCgroup,
} from './lib/cgroup.js';
import type { DensityInstance, DensityResult, DensityStep, DensityTarget, OneRate } from './lib/density.js';
import { quietCheck, type Probe } from './lib/measure.js';
import type { BenchOptions } from './lib/options.js';
import { describeMachine, loadAverage, readSmapsRollup, readThreads } from './lib/procfs.js';
import { setNiceness, stopAll } from './lib/procs.js';
import { RateLoad, type LoadCounts } from './lib/rate-load.js';
import type { BenchRedis } from './lib/redis.js';
import { LOAD_CORE, PROXY_CORE, TARGETS, type BenchEnv, type Running, type TargetSpec } from './targets.js';
import { BODY_BYTES } from './lib/app.js';

/**
 * `npm run bench -- --density N` (issue 26): N sidecars of one kind on one machine, each with its
 * own app (an nginx of its own) and its own memory cgroup, each at a fixed low rate from the
 * harness (open loop, keep-alive, valid RS256 token on every request), started one after the other;
 * then the same with N haproxy-jwt. After each start, `settle` seconds later, the totals of every
 * running instance's PSS and USS (/proc/<pid>/smaps_rollup): the growth from n − 1 to n is what the
 * n-th instance costs. Once all N run, a steady window gives each instance's CPU, and at its end
 * USS, PSS, RSS and its cgroup's charge. Then one sidecar alone in a fresh group at 1,000 req/s
 * (the group's highest charge), and fresh starts to time start → ready.
 * Proxies on PROXY_CORE, the apps, Redis and this harness (the load) on LOAD_CORE, as in bench/run.ts.
 */

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};
const DEFAULT_TARGETS = ['sidegate-full', 'haproxy-jwt'];

export interface DensityDeps {
  /** bench/run.ts's app: an nginx serving the 1 KB body, in `dir`. */
  startApp(dir: string): Promise<{ env: BenchEnv; pid: number }>;
  /** bench/run.ts's shared pieces: keys and token, the Redis. */
  shared(specs: readonly TargetSpec[], env: BenchEnv): Promise<{ env: BenchEnv; redis?: BenchRedis }>;
  readonly commit: string;
}

interface Instance {
  index: number;
  running: Running;
  pid: number;
  cg?: MemoryCgroup;
  inCgroup: boolean;
  load: number;
}

const cpuNs = (pid: number): number => readThreads(pid).reduce((a, t) => a + t.cpuNs, 0);
const minus = (a: LoadCounts, b: LoadCounts): LoadCounts => ({
  sent: a.sent - b.sent,
  ok: a.ok - b.ok,
  non2xx: a.non2xx - b.non2xx,
  errors: a.errors - b.errors,
});

/** A 200 with the body for a request with the target's headers, and 401 without them when it has some. */
async function sanity(r: Running): Promise<void> {
  const res = await fetch(r.urls.h1!, { headers: r.headers ?? {} });
  const body = await res.arrayBuffer();
  if (res.status !== 200 || body.byteLength !== BODY_BYTES) throw new Error(`answered ${res.status} with ${body.byteLength} bytes`);
  if (r.headers?.authorization !== undefined) {
    const anon = await fetch(r.urls.h1!);
    await anon.arrayBuffer();
    if (anon.status !== 401) throw new Error(`without a token answered ${anon.status}, not 401`);
  }
}

class Groups {
  private readonly made: string[] = [];
  constructor(readonly layout: CgroupLayout | undefined) {}
  make(name: string): MemoryCgroup | undefined {
    if (this.layout === undefined) return undefined;
    const cg = createCgroup(this.layout, name);
    this.made.push(cg.dir);
    return cg;
  }
  async remove(cg: MemoryCgroup | undefined): Promise<void> {
    if (cg === undefined) return;
    await removeCgroup(cg.dir);
    this.made.splice(this.made.indexOf(cg.dir), 1);
  }
  /** Best effort, synchronous: for process exit after an interruption. */
  removeAllSync(): void {
    for (const d of this.made.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* still has a process, or gone */
      }
    }
    this.made.length = 0;
  }
}

async function startInstance(
  spec: TargetSpec,
  env: BenchEnv,
  dir: string,
  groups: Groups,
  index: number,
  tag: string,
): Promise<Omit<Instance, 'load'>> {
  const cg = groups.make(`${spec.name}-${tag}`);
  mkdirSync(dir, { recursive: true });
  let running: Running | undefined;
  try {
    running = await spec.start({ ...env, dir, cgroupProcs: cg?.procs });
    const pid = running.managed!.pid;
    const moved = cg !== undefined && inCgroup(pid, cg);
    if (cg !== undefined && !moved) throw new Error(`pid ${pid} is not in ${cg.dir} (/proc/${pid}/cgroup says otherwise)`);
    await sanity(running);
    return { index, running, pid, cg, inCgroup: moved };
  } catch (e) {
    await running?.stop();
    await groups.remove(cg);
    throw e;
  }
}

function totals(n: number, instances: readonly Instance[]): DensityStep {
  let pssKb = 0;
  let ussKb = 0;
  let rssKb = 0;
  let cgroupBytes: number | undefined;
  for (const i of instances) {
    const m = readSmapsRollup(i.pid);
    if (m === undefined) throw new Error(`instance ${i.index} (pid ${i.pid}) is gone`);
    pssKb += m.pssKb;
    ussKb += m.ussKb;
    rssKb += m.rssKb;
    const c = i.cg && readCgroupMemory(i.cg);
    if (c) cgroupBytes = (cgroupBytes ?? 0) + c.currentBytes;
  }
  return { n, pssKb, ussKb, rssKb, cgroupBytes };
}

async function densityPhase(
  spec: TargetSpec,
  env: BenchEnv,
  apps: readonly BenchEnv[],
  dir: string,
  groups: Groups,
  opts: BenchOptions,
): Promise<DensityTarget> {
  const n = apps.length;
  const rate = opts.densityRate;
  const load = new RateLoad();
  const instances: Instance[] = [];
  const steps: DensityStep[] = [];
  const readyMs: number[] = [];
  const base = { target: spec.name, description: spec.description, rate, settleS: opts.densitySettleS, windowS: opts.densityWindowS };
  let command = '';
  try {
    for (let k = 1; k <= n; k++) {
      const inst = await startInstance(spec, { ...env, app: apps[k - 1]!.app }, join(dir, `${spec.name}-${k}`), groups, k, String(k));
      command ||= inst.running.command;
      readyMs.push(inst.running.readyMs ?? NaN);
      // Staggered: the n instances' requests spread evenly over one period of the rate.
      const idx = load.add({
        url: inst.running.urls.h1!,
        headers: inst.running.headers,
        rate,
        phaseMs: ((k - 1) / n) * (1000 / rate),
        sockets: 2,
      });
      instances.push({ ...inst, load: idx });
      await sleep(opts.densitySettleS * 1000);
      const step = totals(k, instances);
      steps.push(step);
      log(
        `${spec.name} ${k}/${n}: ready in ${(inst.running.readyMs ?? NaN).toFixed(0)} ms${inst.inCgroup ? ' in its cgroup' : ''}; total PSS ${(step.pssKb / 1024).toFixed(1)} MB, USS ${(step.ussKb / 1024).toFixed(1)} MB${step.cgroupBytes !== undefined ? `, cgroups ${(step.cgroupBytes / 1048576).toFixed(1)} MB` : ''}`,
      );
    }
    log(`${spec.name}: steady window ${opts.densityWindowS} s with ${n} at ${rate} req/s each`);
    const t0 = performance.now();
    const cpu0 = instances.map((i) => cpuNs(i.pid));
    const counts0 = instances.map((i) => load.counts(i.load));
    await sleep(opts.densityWindowS * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const loadavgWindow = loadAverage();
    const out: DensityInstance[] = instances.map((i, j) => ({
      index: i.index,
      pid: i.pid,
      readyMs: readyMs[j]!,
      inCgroup: i.inCgroup,
      mem: readSmapsRollup(i.pid),
      cgroup: i.cg && readCgroupMemory(i.cg),
      cpuPct: ((cpuNs(i.pid) - cpu0[j]!) / 1e9 / seconds) * 100,
      window: minus(load.counts(i.load), counts0[j]!),
      total: load.counts(i.load),
    }));
    await load.stop();
    // The answers in flight when the window ended are in the totals now.
    const withTotals = out.map((o, j) => ({ ...o, total: load.counts(instances[j]!.load) }));
    const bad = withTotals.reduce((a, o) => a + o.total.non2xx + o.total.errors, 0);
    log(`${spec.name}: ${withTotals.reduce((a, o) => a + o.total.sent, 0)} requests, ${bad} non-2xx or failed`);
    return { ...base, command, instances: withTotals, steps, startupMs: [], loadavgWindow };
  } catch (e) {
    log(`${spec.name}: FAILED ${(e as Error).message}`);
    return { ...base, command, instances: [], steps, startupMs: [], failed: (e as Error).message };
  } finally {
    await load.stop();
    for (const i of instances) {
      await i.running.stop();
      await groups.remove(i.cg);
    }
  }
}

/** One instance alone in a fresh group at `rate` for `seconds`, its group's charge sampled every second. */
async function oneRatePhase(
  spec: TargetSpec,
  env: BenchEnv,
  dir: string,
  groups: Groups,
  rate: number,
  seconds: number,
): Promise<OneRate | undefined> {
  let inst: Omit<Instance, 'load'> | undefined;
  const load = new RateLoad();
  try {
    inst = await startInstance(spec, env, join(dir, `${spec.name}-${rate}`), groups, 0, `${rate}rps`);
    const cg = inst.cg;
    const idx = load.add({ url: inst.running.urls.h1!, headers: inst.running.headers, rate, phaseMs: 0, sockets: 10 });
    const t0 = performance.now();
    const cpu0 = cpuNs(inst.pid);
    let maxCurrentBytes: number | undefined;
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(1000);
      const c = cg && readCgroupMemory(cg);
      if (c) maxCurrentBytes = Math.max(maxCurrentBytes ?? 0, c.currentBytes);
    }
    const cpuPct = ((cpuNs(inst.pid) - cpu0) / 1e9 / ((performance.now() - t0) / 1000)) * 100;
    const mem = readSmapsRollup(inst.pid);
    const cgroup = cg && readCgroupMemory(cg);
    await load.stop();
    const requests = load.counts(idx);
    log(
      `${spec.name} alone at ${rate} req/s: cgroup highest ${maxCurrentBytes === undefined ? '–' : (maxCurrentBytes / 1048576).toFixed(1)} MB, ${requests.sent} requests, ${requests.non2xx + requests.errors} non-2xx or failed`,
    );
    return { rate, seconds, requests, cgroup, maxCurrentBytes, mem, cpuPct };
  } catch (e) {
    log(`${spec.name} at ${rate} req/s: FAILED ${(e as Error).message}`);
    return undefined;
  } finally {
    await load.stop();
    if (inst) {
      await inst.running.stop();
      await groups.remove(inst.cg);
    }
  }
}

export async function runDensity(opts: BenchOptions, deps: DensityDeps): Promise<DensityResult> {
  const started = performance.now();
  const loadStart = loadAverage();
  execFileSync('taskset', ['-a', '-cp', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  setNiceness(opts.nice);
  const names = opts.only ?? DEFAULT_TARGETS;
  const specs = names.map((n) => {
    const s = TARGETS.find((t) => t.name === n);
    if (s === undefined) throw new Error(`unknown target ${n}; the density bench knows ${TARGETS.map((t) => t.name).join(', ')}`);
    return s;
  });
  const detected = detectCgroups();
  let layout: CgroupLayout | undefined;
  let unavailable: string | undefined;
  if ('unavailable' in detected) unavailable = detected.unavailable;
  else {
    try {
      layout = createParent(detected, `sidegate-density-${process.pid}`);
    } catch (e) {
      unavailable = `cannot create a group under ${detected.base}: ${(e as Error).message}`;
    }
  }
  log(layout ? `cgroup ${layout.mode}: groups under ${layout.base}` : `cgroups not used: ${unavailable}`);
  const groups = new Groups(layout);
  const onExit = (): void => {
    groups.removeAllSync();
    if (layout) {
      try {
        rmdirSync(layout.base);
      } catch {
        /* best effort */
      }
    }
  };
  process.once('exit', onExit);
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-density-'));
  const results: DensityTarget[] = [];
  try {
    const apps: BenchEnv[] = [];
    for (let k = 1; k <= opts.density!; k++) {
      const d = join(dir, `app-${k}`);
      mkdirSync(d);
      apps.push((await deps.startApp(d)).env);
    }
    log(`${apps.length} apps (nginx, core ${LOAD_CORE}) started`);
    const { env } = await deps.shared(specs, apps[0]!);
    for (const spec of specs) results.push(await densityPhase(spec, env, apps, dir, groups, opts));
    for (const [i, spec] of specs.entries()) {
      if (opts.densityOneRateS === 0) break;
      results[i] = { ...results[i]!, oneRate: await oneRatePhase(spec, env, dir, groups, 1000, opts.densityOneRateS) };
    }
    // As bench/run.ts times start-up: each start waits (within --quiet-budget) for both cores to be idle.
    const probe: Probe = {
      loadCore: LOAD_CORE,
      proxyCore: PROXY_CORE,
      loadCorePids: [],
      ours: new Set(),
      dir,
      opts,
      quietBudgetS: opts.quietBudgetS,
    };
    for (let rep = 0; rep < opts.startupReps; rep++) {
      for (const [i, spec] of specs.entries()) {
        const d = join(dir, `${spec.name}-start-${rep}`);
        mkdirSync(d);
        try {
          const q = await quietCheck(probe);
          if (q.waitedS > 0)
            log(`waited ${q.waitedS} s for a quiet machine (cores ${q.core0.toFixed(0)} % / ${q.core1.toFixed(0)} % busy)`);
          const r = await spec.start({ ...env, dir: d });
          results[i] = { ...results[i]!, startupMs: [...results[i]!.startupMs, r.readyMs ?? NaN] };
          await r.stop();
        } catch (e) {
          log(`start-up of ${spec.name}: ${(e as Error).message}`);
        }
      }
    }
    for (const t of results)
      if (t.startupMs.length) log(`${t.target} start → ready: ${t.startupMs.map((x) => x.toFixed(0)).join(', ')} ms`);
  } finally {
    await stopAll();
    groups.removeAllSync();
    if (layout) await removeCgroup(layout.base).catch((e: unknown) => log(`could not remove ${layout.base}: ${(e as Error).message}`));
    process.removeListener('exit', onExit);
    if (process.env.SIDEGATE_BENCH_KEEP_LOGS === '1') log(`run directory kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  return {
    kind: 'density',
    date: new Date().toISOString(),
    machine: describeMachine(),
    node: process.version,
    commit: deps.commit,
    options: {
      density: opts.density,
      rate: opts.densityRate,
      settleS: opts.densitySettleS,
      windowS: opts.densityWindowS,
      oneRateS: opts.densityOneRateS,
      startupReps: opts.startupReps,
      targets: names,
      nice: opts.nice,
    },
    cgroup: layout ? { mode: layout.mode, base: layout.base } : { unavailable },
    loadavg: { start: loadStart, end: loadAverage() },
    targets: results,
    commands: {
      proxies: `taskset -c ${PROXY_CORE}, each started inside its own cgroup (sh -c 'echo $$ > <group>/cgroup.procs; exec taskset ...'); the command of each target is in its JSON record`,
      apps: `taskset -c ${LOAD_CORE} nginx -c nginx-app.conf (bench/conf), one per instance, 1 KB static file`,
      load: `in the harness (taskset -c ${LOAD_CORE}): HTTP/1.1 keep-alive, open loop at ${opts.densityRate} req/s per instance, staggered over one period; 1,000 req/s for the one-sidecar figure`,
      memory:
        "/proc/<pid>/smaps_rollup (USS = Private_Clean + Private_Dirty), the cgroup's memory.current (v2) or memory.usage_in_bytes and memory.stat (v1)",
    },
    durationS: (performance.now() - started) / 1000,
  };
}
