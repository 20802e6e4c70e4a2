import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runDensity } from './density.js';
import { APP_PATH, BODY_BYTES, startApp } from './lib/app.js';
import { densityReport } from './lib/density.js';
import { report } from './lib/format.js';
import { issue9Report } from './lib/goals.js';
import { h2loadLatencyArgs, parseH2loadOutput } from './lib/h2load.js';
import { h2loadLogFile, measure, quietCheck, warmUp, type Load, type Probe } from './lib/measure.js';
import { startJaeger, type Jaeger } from '../test/helpers/jaeger.js';
import { startRedis, type BenchRedis } from './lib/redis.js';
import { soakSlopes, type SoakResult, type SoakSample } from './lib/soak.js';
import { generateKeys, mint, mintPool } from './lib/tokens.js';
import { SCENARIOS, type Measurement, type RunResult, type TargetRecord } from './lib/model.js';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js';
import { describeMachine, loadAverage, readPidMemory, type PidMemory } from './lib/procfs.js';
import { runPinned, setNiceness, sourceCommit, stopAll } from './lib/procs.js';
import { GROUPS, LOAD_CORE, PROXY_CORE, TARGETS, type BenchEnv, type Running, type TargetSpec } from './targets.js';

/**
 * `npm run bench`: every selected target against the same app and load generators in one run.
 * The proxy under test is pinned to core 0; the app (nginx, 1 KB), the load generators and this
 * harness to core 1. Each scenario warms every target up with its own kind of load, then measures
 * interleaved repetitions (the target order rotates each repetition) after checking that the
 * machine is quiet.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

function toolVersion(cmd: string, args: string[]): string {
  // Some print their version on stderr (nginx -v), some exit non-zero (wrk --version).
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined && 'code' in r.error && r.error.code === 'ENOENT') {
    throw new Error(`${cmd} is not installed (apt-get install -y ${cmd === 'h2load' ? 'nghttp2-client' : cmd})`, { cause: r.error });
  }
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0]!.trim();
}

async function startNginxApp(dir: string): Promise<{ env: BenchEnv; pid: number }> {
  const app = await startApp(ROOT, dir, LOAD_CORE);
  const env: BenchEnv = { dir, root: ROOT, app: { h1Port: app.h1Port, h2cPort: app.h2cPort }, path: APP_PATH };
  return { env, pid: app.managed.pid };
}

/**
 * Every front answers 200 with the 1 KB body before anything is measured; a target with auth also
 * refuses a request without its token (401), so a figure can never be a proxy that skipped the check.
 */
async function sanity(r: Running): Promise<void> {
  if (r.urls.h1) {
    const res = await fetch(r.urls.h1, { headers: r.headers ?? {} });
    const body = await res.arrayBuffer();
    if (res.status !== 200 || body.byteLength !== BODY_BYTES) throw new Error(`h1 answered ${res.status} with ${body.byteLength} bytes`);
    if (r.headers?.authorization !== undefined) {
      const anon = await fetch(r.urls.h1);
      await anon.arrayBuffer();
      if (anon.status !== 401) throw new Error(`h1 without a token answered ${anon.status}, not 401`);
    }
  }
  if (r.urls.h2c) {
    const hdr = Object.entries(r.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const out = await runPinned(LOAD_CORE, 'h2load', ['-n4', '-c1', ...hdr, r.urls.h2c]);
    const s = parseH2loadOutput(out.stdout);
    if (s.succeeded !== 4 || s.non2xx !== 0) throw new Error(`h2c: ${s.succeeded}/4 succeeded, ${s.non2xx} non-2xx`);
  }
  const urlFile = r.fresh?.h2cUrlFiles?.[0];
  if (urlFile !== undefined) {
    const out = await runPinned(LOAD_CORE, 'h2load', ['-n4', '-c1', '-i', urlFile]);
    const s = parseH2loadOutput(out.stdout);
    if (s.succeeded !== 4 || s.non2xx !== 0) throw new Error(`h2c with ?access_token=: ${s.succeeded}/4 succeeded, ${s.non2xx} non-2xx`);
  }
}

function select(opts: BenchOptions): TargetSpec[] {
  if (!opts.only) return TARGETS.filter((t) => t.byDefault);
  const names = new Set(opts.only.flatMap((n) => (n.startsWith('@') ? (GROUPS[n.slice(1)] ?? [n]) : [n])));
  const unknown = [...names].filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length)
    throw new Error(
      `unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}; groups: ${Object.keys(GROUPS)
        .map((g) => `@${g}`)
        .join(', ')}`,
    );
  return TARGETS.filter((t) => names.has(t.name));
}

const POOL_SIZE = 20_000;

/** Keys, tokens, Redis and Jaeger, each only when a selected target needs it. */
async function shared(specs: readonly TargetSpec[], env: BenchEnv): Promise<{ env: BenchEnv; redis?: BenchRedis; jaeger?: Jaeger }> {
  const needs = new Set(specs.flatMap((s) => s.needs ?? []));
  let out: BenchEnv = env;
  if (needs.has('auth')) {
    const t0 = performance.now();
    const keys = generateKeys();
    const jwksFile = join(env.dir, 'jwks.json');
    const publicPemFile = join(env.dir, 'pubkey.pem');
    writeFileSync(jwksFile, JSON.stringify(keys.jwks));
    writeFileSync(publicPemFile, keys.publicPem);
    const fresh = specs.some((s) => s.name === 'sidegate-fresh-token');
    const pool = fresh ? mintPool(keys, POOL_SIZE) : [];
    const poolFile = join(env.dir, 'tokens.txt');
    writeFileSync(poolFile, `${pool.join('\n')}\n`);
    // h2c: ten disjoint slices, one per one-client h2load, walked in order at the same pace, so a
    // token comes back only after the whole pool (twice the token cache) has gone by.
    // Named after the target's URL: two fresh-token targets in one run must not share (and
    // overwrite) each other's lists, or one is measured with the other's load.
    const poolUrlFiles = (base: string): string[] =>
      Array.from({ length: 10 }, (_, k) => {
        const f = join(env.dir, `urls-${base.replace(/[^A-Za-z0-9]+/g, '_')}-${k}.txt`);
        writeFileSync(
          f,
          `${pool
            .filter((_t, i) => i % 10 === k)
            .map((t) => `${base}?access_token=${t}`)
            .join('\n')}\n`,
        );
        return f;
      });
    out = { ...out, auth: { token: mint(keys, { sub: 'bench-user' }), jwksFile, publicPemFile, poolFile, poolUrlFiles } };
    log(`RS256 keys${fresh ? ` and ${POOL_SIZE} distinct tokens` : ''} in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  let redis: BenchRedis | undefined;
  if (needs.has('redis')) {
    redis = await startRedis(LOAD_CORE, env.dir);
    out = { ...out, redis: { url: redis.url } };
    log(`redis-server on 127.0.0.1:${redis.port} (core ${LOAD_CORE})`);
  }
  let jaeger: Jaeger | undefined;
  if (needs.has('otlp')) {
    // The real Jaeger v2 (in-memory storage) the users' spans go to, on the load generators' core.
    jaeger = await startJaeger({ cpu: LOAD_CORE });
    const j = jaeger;
    out = { ...out, otlp: { endpoint: () => j.otlpHttp } };
  }
  return { env: out, redis, jaeger };
}

/** The counters of sidegate's /metrics that say whether a run measured what it meant to. */
async function endMetrics(adminUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m =
      /^(sidegate_(?:redis_errors_total|ratelimit_decisions_total|auth_attempts_total|tracing_[a-z_]+|trace_spans_[a-z_]+)(?:\{[^}]*\})?) ([\d.e+-]+)$/.exec(
        line,
      );
    if (m && Number(m[2]) > 0) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * Start → ready on a quiet machine: each timed target started anew `reps` times, one at a time,
 * interleaved, after the measurements (so nothing else of ours is busy), then stopped.
 */
async function timeStartups(specs: readonly TargetSpec[], env: BenchEnv, probe: Probe, reps: number): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const spec of specs) {
      await quietCheck(probe);
      try {
        const r = await spec.start(env);
        out.set(spec.name, [...(out.get(spec.name) ?? []), r.readyMs ?? NaN]);
        await r.stop();
      } catch (e) {
        log(`startup ${spec.name}: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

/**
 * The soak: `r` at 1,000 req/s (the latency scenario's staggered h2load, HTTP/1.1) for `minutes`,
 * VmRSS and RssAnon read every 5 s; slopes over the samples after the first minute.
 */
async function soak(name: string, r: Running, minutes: number, opts: BenchOptions, dir: string): Promise<SoakResult> {
  const rate = opts.latencyClients * opts.latencyRpsPerClient;
  const requests = rate * 60 * minutes;
  const args = h2loadLatencyArgs(r.urls.h1!, {
    h1: true,
    clients: opts.latencyClients,
    requests,
    rpsPerClient: opts.latencyRpsPerClient,
    logFile: h2loadLogFile(dir, 'soak.log'),
    headers: r.headers,
  });
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  const sample = (): void => {
    const m = readPidMemory(r.managed!.pid);
    if (m) samples.push({ t: (performance.now() - t0) / 1000, rssKb: m.rssKb, anonKb: m.anonKb });
  };
  sample();
  const timer = setInterval(sample, 5000);
  const out = await runPinned(LOAD_CORE, 'h2load', args).finally(() => clearInterval(timer));
  sample();
  const s = parseH2loadOutput(out.stdout);
  const k = soakSlopes(samples);
  return {
    target: name,
    minutes,
    requests: s.total,
    errors: s.failed + s.errored + s.timeout + s.non2xx,
    samples,
    rssSlopeMbPerMin: k.rss,
    anonSlopeMbPerMin: k.anon,
  };
}

function estimateS(opts: BenchOptions, plan: { kind: string; n: number }[], warmups: number): number {
  const quiet = opts.quick ? 0.5 : 1;
  const per = (kind: string): number =>
    quiet + 0.3 + (kind === 'capacity' ? opts.capacityS : opts.latencyRequests / (opts.latencyClients * opts.latencyRpsPerClient));
  return (
    plan.reduce((a, p) => a + p.n * opts.reps * per(p.kind), 0) +
    warmups * opts.warmupS +
    opts.startupReps * 3 * (quiet + 1) +
    opts.soakMin * 60
  );
}

function commands(opts: BenchOptions): Record<string, string> {
  const lat = `-t1 -c${opts.latencyClients} -n${opts.latencyRequests} -r1 --rate-period=1ms --rps=${opts.latencyRpsPerClient} -m1 --log-file=LOG URL`;
  return {
    'capacity-h1': `taskset -c ${LOAD_CORE} wrk -t1 -c50 -d${opts.capacityS}s URL`,
    'capacity-h2c': `taskset -c ${LOAD_CORE} h2load -t1 -c10 -m10 -D ${opts.capacityS} URL`,
    'latency-h1': `taskset -c ${LOAD_CORE} h2load --h1 ${lat}`,
    'latency-h2c': `taskset -c ${LOAD_CORE} h2load ${lat}`,
    app: `taskset -c ${LOAD_CORE} nginx -c nginx-app.conf (bench/conf), 1 worker, 1 KB static file`,
    harness: `taskset -a -cp ${LOAD_CORE} <harness pid>`,
    ...(opts.nice !== 0
      ? { nice: `every command above runs under nice -n ${opts.nice}, and the session's autogroup at nice ${opts.nice}` }
      : {}),
  };
}

/**
 * --nice: with autogroup scheduling (kernel.sched_autogroup_enabled), CPU is shared between
 * sessions first and a process's own niceness only counts inside its session, so the session's
 * autogroup niceness is set too (and restored at the end).
 */
function prioritise(nice: number): () => void {
  setNiceness(nice);
  setPriority(nice);
  try {
    const before = /nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1];
    writeFileSync('/proc/self/autogroup', String(nice));
    return () => {
      if (before !== undefined) writeFileSync('/proc/self/autogroup', before);
    };
  } catch {
    return () => {};
  }
}

async function run(opts: BenchOptions): Promise<RunResult> {
  const started = performance.now();
  const tools = {
    wrk: toolVersion('wrk', ['--version']),
    h2load: toolVersion('h2load', ['--version']),
    nginx: toolVersion('nginx', ['-v']),
    haproxy: toolVersion('haproxy', ['-v']),
    taskset: toolVersion('taskset', ['--version']),
  };
  // The harness samples /proc and spawns load generators: keep it off the proxy's core.
  execFileSync('taskset', ['-a', '-cp', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  const restoreAutogroup = opts.nice !== 0 ? prioritise(opts.nice) : () => {};
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-bench-'));
  const specs = select(opts);
  const app = await startNginxApp(dir);
  const appPid = app.pid;
  const { env, redis, jaeger } = await shared(specs, app.env);
  const records = new Map<string, TargetRecord>();
  const running = new Map<string, Running>();
  for (const spec of specs) {
    const base = { name: spec.name, description: spec.description, protocols: spec.protocols };
    const why = spec.unavailable?.(env);
    if (why !== undefined) {
      records.set(spec.name, { ...base, command: '', skipped: why });
      log(`skip ${spec.name}: ${why}`);
      continue;
    }
    try {
      const r = await spec.start(env);
      await sanity(r);
      running.set(spec.name, r);
      records.set(spec.name, { ...base, command: r.command, readyMs: r.readyMs });
      log(`started ${spec.name}${r.readyMs !== undefined ? ` (ready in ${r.readyMs.toFixed(0)} ms)` : ''}`);
    } catch (e) {
      records.set(spec.name, { ...base, command: '', skipped: `failed to start or answer: ${(e as Error).message}` });
      log(`skip ${spec.name}: ${(e as Error).message}`);
    }
  }
  // Memory without traffic: 2 s after start (start-up garbage still in the heap), then idle after
  // --idle seconds, once V8's memory reducer has compacted the heap of a process left alone.
  const memories = (): [string, PidMemory][] =>
    [...running].flatMap(([name, r]) => {
      const mem = r.managed ? readPidMemory(r.managed.pid) : undefined;
      return mem ? [[name, mem] as [string, PidMemory]] : [];
    });
  await sleep(2000);
  for (const [name, mem] of memories()) records.set(name, { ...records.get(name)!, rssStartedKb: mem.rssKb, anonStartedKb: mem.anonKb });
  if (opts.idleS > 2) log(`idle ${opts.idleS} s before reading idle memory`);
  await sleep((opts.idleS - 2) * 1000);
  for (const [name, mem] of memories()) records.set(name, { ...records.get(name)!, rssIdleKb: mem.rssKb, anonIdleKb: mem.anonKb });

  const loadCorePids = [appPid, ...(redis ? [redis.managed.pid] : [])];
  const ours = new Set([...loadCorePids, ...[...running.values()].flatMap((r) => (r.managed ? [r.managed.pid] : []))]);
  const probe: Probe = { loadCore: LOAD_CORE, proxyCore: PROXY_CORE, loadCorePids, ours, dir, opts, quietBudgetS: opts.quietBudgetS };
  const loadFor = (r: Running, protocol: 'h1' | 'h2c'): Load => ({
    url: r.urls[protocol]!,
    headers: r.headers,
    proxyPid: r.managed?.pid,
    fresh: r.fresh,
    redisStats: r.countsRedis && redis ? () => redis.commandStats() : undefined,
  });
  const scenarios = SCENARIOS.filter((s) => opts.scenarios.includes(s.id));
  const plan = scenarios
    .map((s) => ({
      scenario: s,
      kind: s.kind,
      targets: specs.filter((t) => running.has(t.name) && t.protocols.includes(s.protocol) && (t.scenarios?.includes(s.id) ?? true)),
    }))
    .map((p) => ({ ...p, n: p.targets.length }));
  const warmups = plan.reduce((a, p) => a + p.n, 0);
  log(`load average ${loadAverage().join(' ')}; about ${Math.round(estimateS(opts, plan, warmups) / 60)} min planned`);

  const measurements: Measurement[] = [];
  for (const p of plan) {
    for (const t of p.targets) {
      const r = running.get(t.name)!;
      const errors = await warmUp(probe, p.scenario, loadFor(r, p.scenario.protocol));
      if (errors > 0) log(`warning: ${errors} errors while warming up ${t.name} for ${p.scenario.id}`);
    }
    for (let rep = 1; rep <= opts.reps; rep++) {
      const k = (rep - 1) % p.targets.length;
      for (const t of [...p.targets.slice(k), ...p.targets.slice(0, k)]) {
        const r = running.get(t.name)!;
        const load = loadFor(r, p.scenario.protocol);
        try {
          const m = await measure(probe, p.scenario, t.name, rep, load);
          measurements.push(m);
          const fig =
            m.rps !== undefined
              ? `${Math.round(m.rps)} req/s`
              : `p50 ${m.latency!.p50Ms.toFixed(2)} ms p99 ${m.latency!.p99Ms.toFixed(2)} ms`;
          log(
            `[${p.scenario.id} ${rep}/${opts.reps}] ${t.name}: ${fig}${m.errors ? `, ${m.errors} errors` : ''}; core0 foreign ${m.noise.core0ForeignPct.toFixed(0)}%, load ${m.noise.loadavg[0]}${m.noise.noisy ? ` NOISY: ${m.noise.reasons.join('; ')}` : ''}`,
          );
        } catch (e) {
          const msg = (e as Error).message.split('\n')[0]!;
          log(`[${p.scenario.id} ${rep}/${opts.reps}] ${t.name}: FAILED ${msg}`);
          measurements.push({
            target: t.name,
            scenario: p.scenario.id,
            rep,
            errors: 1,
            failed: msg,
            noise: {
              loadavg: loadAverage(),
              preCore0Pct: 0,
              preCore1Pct: 0,
              waitedS: 0,
              core0Pct: 0,
              core1Pct: 0,
              core0ForeignPct: 0,
              core1ForeignPct: 0,
              stealPct: 0,
              top: [],
              noisy: false,
              reasons: [],
            },
          });
        }
      }
    }
  }
  let soakResult: SoakResult | undefined;
  const full = running.get('sidegate-full');
  if (opts.soakMin > 0) {
    if (full?.managed === undefined) log('soak skipped: sidegate-full is not running');
    else {
      log(`soak: sidegate-full at 1,000 req/s for ${opts.soakMin} min`);
      soakResult = await soak('sidegate-full', full, opts.soakMin, opts, dir);
      log(
        `soak: RSS slope ${soakResult.rssSlopeMbPerMin?.toFixed(3) ?? '–'} MB/min, private ${soakResult.anonSlopeMbPerMin?.toFixed(3) ?? '–'} MB/min, ${soakResult.errors} errors`,
      );
    }
  }
  for (const [name, r] of running) {
    if (r.managed) records.set(name, { ...records.get(name)!, hwmKb: readPidMemory(r.managed.pid)?.hwmKb });
    if (r.adminUrl !== undefined) {
      try {
        records.set(name, { ...records.get(name)!, endMetrics: await endMetrics(r.adminUrl) });
      } catch (e) {
        log(`metrics of ${name}: ${(e as Error).message}`);
      }
    }
  }
  for (const r of running.values()) await r.stop();
  const timed = specs.filter((s) => s.startupTimed && running.has(s.name));
  if (timed.length > 0 && opts.startupReps > 0) {
    log(`timing start → ready: ${timed.map((s) => s.name).join(', ')} × ${opts.startupReps}`);
    for (const [name, ms] of await timeStartups(timed, env, probe, opts.startupReps)) {
      records.set(name, { ...records.get(name)!, startupMs: ms });
      log(`  ${name}: ${ms.map((x) => x.toFixed(0)).join(', ')} ms`);
    }
  }
  await jaeger?.close();
  await stopAll();
  restoreAutogroup();
  if (process.env.SIDEGATE_BENCH_KEEP_LOGS === '1') log(`run directory kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return {
    date: new Date().toISOString(),
    machine: describeMachine(),
    node: process.version,
    tools,
    commit: sourceCommit(ROOT),
    options: { ...opts },
    commands: commands(opts),
    targets: specs.map((s) => records.get(s.name)!),
    measurements,
    soak: soakResult,
    durationS: (performance.now() - started) / 1000,
  };
}

/** `--density N`: bench/density.ts, its results beside the others' as `<date>-density[-quick].{json,md}`. */
async function density(opts: BenchOptions): Promise<number> {
  const result = await runDensity(opts, { startApp: startNginxApp, shared, commit: sourceCommit(ROOT) });
  const out = resolve(ROOT, opts.outDir);
  mkdirSync(out, { recursive: true });
  const base = join(out, `${result.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-density${opts.quick ? '-quick' : ''}`);
  const text = densityReport(result);
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${base}.md`, text);
  process.stdout.write(text);
  log(`results: ${base}.{json,md}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    log((e as Error).message);
    return 2;
  }
  if (opts.help) {
    log(USAGE);
    return 0;
  }
  const interrupt = (): void => {
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    if (opts.density !== undefined) return await density(opts);
    const result = await run(opts);
    const out = resolve(ROOT, opts.outDir);
    mkdirSync(out, { recursive: true });
    const stamp = result.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
    const text = `${report(result)}\n${issue9Report(result)}`;
    writeFileSync(join(out, `${stamp}${opts.quick ? '-quick' : ''}.json`), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(out, `${stamp}${opts.quick ? '-quick' : ''}.md`), text);
    process.stdout.write(text);
    log(`results: ${join(out, stamp)}${opts.quick ? '-quick' : ''}.{json,md}`);
    return 0;
  } catch (e) {
    log(`bench failed: ${(e as Error).stack ?? String(e)}`);
    await stopAll();
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
