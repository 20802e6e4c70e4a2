import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJaeger } from '../test/helpers/jaeger.js';
import { APP_PATH, startApp } from './lib/app.js';
import { parseH2loadOutput } from './lib/h2load.js';
import { readPidStat, readThreads } from './lib/procfs.js';
import { runPinned, setNiceness, stopAll } from './lib/procs.js';
import { startRedis } from './lib/redis.js';
import { generateKeys, mint } from './lib/tokens.js';
import { LOAD_CORE, TARGETS, traceRow, type BenchEnv, type Running, type TargetSpec } from './targets.js';

/**
 * What tracing costs per request: the CPU of sidegate-full with tracing off, at ratio 0.1 and at
 * 1.0 (spans to a real Jaeger v2), as the proxy's own CPU (utime+stime from /proc/<pid>/stat, and
 * the threads' schedstat nanoseconds) divided by the requests served. CPU per request is far less
 * sensitive to a shared machine than throughput is.
 *
 *   node dist/bench/trace-cost.js [--reps=3] [--rate=1000] [--seconds=15] [--capacity=5]
 *     [--roots=/a,/b] [--targets=sidegate-full,sidegate-full-trace-0.1,trace-0] [--nice=-10]
 *
 * Each repetition measures every (root × target) once, in rotating order (A B C, B C A, ...), at a
 * fixed rate (open loop, h2load HTTP/1.1, 10 clients) and then, with --capacity=S, closed loop for
 * S seconds (h2load HTTP/1.1, 50 connections). `--roots`: other checkouts with a built
 * dist/bin/sidegate.js (an A/B of two builds); the proxies of every root run side by side, idle
 * unless measured; `--more=`: the targets of the roots after the first (default: --targets). Prints per-run figures, then medians with [min–max].
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name: string, def: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const REPS = Number(arg('reps', '3'));
const RATE = Number(arg('rate', '1000'));
const SECONDS = Number(arg('seconds', '15'));
const CAPACITY_S = Number(arg('capacity', '0'));
const ROOTS = arg('roots', ROOT)
  .split(',')
  .map((r) => resolve(r));
const NAMES = arg('targets', 'sidegate-full,sidegate-full-trace-0.1,sidegate-full-trace-1').split(',');
const MORE = arg('more', '')
  .split(',')
  .filter((n) => n !== '');
const NICE = Number(arg('nice', '0'));
const PERF_S = Number(arg('perf', '0'));
const TICK_US = 1e6 / 100; // CLK_TCK

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

interface Row {
  label: string;
  running: Running;
  pid: number;
}
interface Sample {
  usPerReq: number;
  nsPerReq: number;
  rps: number;
  errors: number;
}

function cpu(pid: number): { ticks: number; ns: number } {
  const ticks = readPidStat(pid)?.ticks ?? NaN;
  const ns = readThreads(pid).reduce((s, t) => s + t.cpuNs, 0);
  return { ticks, ns };
}

async function h2load(args: string[]): Promise<{ rps: number; done: number; errors: number }> {
  const r = await runPinned(LOAD_CORE, 'h2load', args);
  const s = parseH2loadOutput(r.stdout);
  return { rps: s.rps, done: s.succeeded, errors: s.failed + s.errored + s.timeout + s.non2xx };
}

function hdr(r: Running): string[] {
  return Object.entries(r.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
}

async function measure(row: Row, closed: boolean): Promise<Sample> {
  const url = row.running.urls.h1!;
  const args = closed
    ? ['--h1', '-t1', '-c50', '-m1', '-D', String(CAPACITY_S), ...hdr(row.running), url]
    : ['--h1', '-t1', '-c10', '-m1', '-r1', '--rate-period=1ms', `--rps=${RATE / 10}`, `-n${RATE * SECONDS}`, ...hdr(row.running), url];
  const a = cpu(row.pid);
  const out = await h2load(args);
  const b = cpu(row.pid);
  return {
    usPerReq: ((b.ticks - a.ticks) * TICK_US) / out.done,
    nsPerReq: (b.ns - a.ns) / out.done / 1000,
    rps: out.rps,
    errors: out.errors,
  };
}

function med(xs: number[]): string {
  if (xs.length === 0) return '-';
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return `${m.toFixed(1)} [${s[0]!.toFixed(1)}–${s[s.length - 1]!.toFixed(1)}]`;
}

async function main(): Promise<void> {
  setNiceness(NICE);
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-trace-cost-'));
  try {
    const { h1Port, h2cPort } = await startApp(ROOT, dir, LOAD_CORE);
    const keys = generateKeys();
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(keys.jwks));
    const redis = await startRedis(LOAD_CORE, dir);
    const jaeger = await startJaeger({ cpu: LOAD_CORE });
    const base: Omit<BenchEnv, 'root'> = {
      dir,
      app: { h1Port, h2cPort },
      path: APP_PATH,
      redis: { url: redis.url },
      otlp: { endpoint: () => jaeger.otlpHttp },
      auth: { token: mint(keys, { sub: 'bench-user' }), jwksFile, publicPemFile: '', poolFile: '', poolUrlFiles: () => [] },
    };
    const rows: Row[] = [];
    for (const [i, root] of ROOTS.entries()) {
      for (const name of i > 0 && MORE.length > 0 ? MORE : NAMES) {
        // `trace-R`: sidegate-full with tracing at ratio R (e.g. trace-0: the SDK loaded, nothing sampled).
        // `+tp`: the client sends an unsampled traceparent of its own.
        // Flag suffixes, any order, after `+tp`: `+nf`: V8 keeps bytecode of functions that ran long
        // ago (--no-flush-bytecode); `+mg`: Maglev on (the #! line has --no-maglev).
        const flags: Record<string, string> = { '+nf': '--no-flush-bytecode', '+mg': '--maglev' };
        let rest = name;
        const nodeArgs: string[] = [];
        for (let m = /\+(nf|mg)$/.exec(rest); m !== null; m = /\+(nf|mg)$/.exec(rest)) {
          nodeArgs.unshift(flags[m[0]]!);
          rest = rest.slice(0, -3);
        }
        const tp = rest.endsWith('+tp');
        const plain = rest.replace(/\+tp$/, '');
        const spec: TargetSpec | undefined = traceRow(plain, nodeArgs, name) ?? TARGETS.find((t) => t.name === plain);
        if (spec === undefined) throw new Error(`unknown target ${name}`);
        const label = ROOTS.length > 1 ? `${String.fromCharCode(65 + i)}:${name}` : name;
        const started = await spec.start({
          ...base,
          root,
          dir: (mkdirSync(join(dir, label.replace(/[^\w.-]/g, '_')), { recursive: true }), join(dir, label.replace(/[^\w.-]/g, '_'))),
        });
        const running: Running = tp
          ? { ...started, headers: { ...started.headers, traceparent: `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-00` } }
          : started;
        rows.push({ label, running, pid: running.managed!.pid });
        log(`${label}: pid ${running.managed!.pid} (${root})`);
      }
    }
    // Warm up every proxy (JIT, pools, token cache) before anything counts.
    for (const row of rows) await h2load(['--h1', '-t1', '-c10', '-m1', '-D', '3', ...hdr(row.running), row.running.urls.h1!]);
    if (PERF_S > 0) {
      // A steady-state profile of each row under closed-loop load (start it with --perf-basic-prof
      // in SIDEGATE_BENCH_NODE_ARGS so JavaScript frames have names): perf.data beside the logs.
      const { spawn } = await import('node:child_process');
      for (const row of rows) {
        const out = join(dir, `${row.label.replace(/[^\w.-]/g, '_')}.perf.data`);
        const perf = spawn('perf', ['record', '-g', '-e', 'cpu-clock', '-F', '2000', '-p', String(row.pid), '-o', out], {
          stdio: 'ignore',
        });
        const load = h2load(['--h1', '-t1', '-c50', '-m1', '-D', String(PERF_S), ...hdr(row.running), row.running.urls.h1!]);
        const r = await load;
        perf.kill('SIGINT');
        await new Promise((res) => perf.once('exit', res));
        log(`${row.label}: ${r.rps.toFixed(0)} req/s, ${r.done} requests; profile ${out}`);
      }
    }
    const fixed = new Map<string, Sample[]>(rows.map((r) => [r.label, []]));
    const cap = new Map<string, Sample[]>(rows.map((r) => [r.label, []]));
    for (let rep = 0; rep < REPS; rep++) {
      const order = rows.map((_r, i) => rows[(i + rep) % rows.length]!);
      for (const row of order) {
        const s = SECONDS > 0 ? await measure(row, false) : undefined;
        if (s !== undefined) fixed.get(row.label)!.push(s);
        if (s !== undefined)
          log(
            `rep ${rep + 1} ${row.label} @${RATE}/s: ${s.usPerReq.toFixed(1)} µs/req (ticks), ${s.nsPerReq.toFixed(1)} µs/req (schedstat), ${s.errors} errors`,
          );
        if (CAPACITY_S > 0) {
          const c = await measure(row, true);
          cap.get(row.label)!.push(c);
          log(
            `rep ${rep + 1} ${row.label} closed: ${c.rps.toFixed(0)} req/s, ${c.usPerReq.toFixed(1)} µs/req (ticks), ${c.nsPerReq.toFixed(1)} (schedstat), ${c.errors} errors`,
          );
        }
      }
    }
    const lines = [
      `| row | @${RATE}/s µs/req (ticks) | @${RATE}/s µs/req (schedstat) |${CAPACITY_S > 0 ? ' closed req/s | closed µs/req (schedstat) |' : ''}`,
      `|---|---|---|${CAPACITY_S > 0 ? '---|---|' : ''}`,
    ];
    for (const row of rows) {
      const f = fixed.get(row.label)!;
      const c = cap.get(row.label)!;
      lines.push(
        `| ${row.label} | ${med(f.map((s) => s.usPerReq))} | ${med(f.map((s) => s.nsPerReq))} |${CAPACITY_S > 0 ? ` ${med(c.map((s) => s.rps))} | ${med(c.map((s) => s.nsPerReq))} |` : ''}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    for (const row of rows) await row.running.stop();
    await jaeger.close();
  } finally {
    await stopAll();
    if (process.env.SIDEGATE_BENCH_KEEP_LOGS === '1') log(`logs in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
