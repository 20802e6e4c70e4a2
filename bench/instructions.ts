import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_PATH, startApp } from './lib/app.js';
import { parseH2loadOutput } from './lib/h2load.js';
import { runPinned, sourceCommit, stopAll } from './lib/procs.js';
import { median } from './lib/stats.js';
import { startRedis } from './lib/redis.js';
import { generateKeys, mint } from './lib/tokens.js';
import { LOAD_CORE, TARGETS, type BenchEnv, type Running } from './targets.js';

/**
 * Instructions per request: a sidegate row run under valgrind (callgrind), its counting switched
 * on only for a window of requests after a warm-up, divided by the requests. Counted, not timed:
 * on a shared virtual machine whose throughput drifts by 5-10 % between repetitions, two builds
 * that differ by a few per cent read the same to ±1 % here, run after run. It counts user-space
 * instructions only (the kernel's share of a request is not in it) and nothing of cache misses.
 *
 *   node dist/bench/instructions.js [--targets=sidegate,sidegate-full] [--roots=/a,/b]
 *     [--runs=2] [--warm=30000] [--requests=3000] [--protocol=h1|h2c]
 *
 * `--roots`: other checkouts with a built dist/ (the first is the reference of the ratios). Runs
 * rotate through every (target × root). Per run: the main thread's instructions per request, the
 * part of it in V8's bytecode handlers (code still interpreted: it shrinks as the warm-up grows,
 * and differs between builds when one leaves a function unoptimised), and the other threads' (V8's
 * compiler and GC helpers). Needs valgrind (`apt-get install valgrind`). Results go to
 * bench/results/<time>-instructions.{md,json}.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name: string, def: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const ROOTS = arg('roots', ROOT)
  .split(',')
  .map((r) => resolve(r));
const NAMES = arg('targets', 'sidegate').split(',');
const RUNS = Number(arg('runs', '2'));
const WARM = Number(arg('warm', '30000'));
const REQUESTS = Number(arg('requests', '3000'));
const PROTOCOL = arg('protocol', 'h1');

interface Sample {
  target: string;
  root: string;
  run: number;
  /** Instructions per request: main thread, of it in bytecode handlers, other threads. */
  main: number;
  interpreted: number;
  others: number;
}

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

/** Instructions by thread in a callgrind dump (`<file>-01` is the main thread), and the handlers' share of the main one. */
export function threadTotals(files: readonly { name: string; text: string }[]): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const f of files) {
    const m = /^totals:\s+(\d+)/m.exec(f.text);
    if (m === null) continue;
    if (f.name.endsWith('-01')) main += Number(m[1]);
    else others += Number(m[1]);
  }
  return { main, others };
}

/** Instructions in V8's bytecode handlers and interpreter entry, from `callgrind_annotate` output. */
export function interpretedOf(annotated: string): number {
  let n = 0;
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*:(Builtins_\w*(?:Handler|InterpreterEntryTrampoline)\w*)/.exec(line);
    if (m !== null) n += Number(m[1]!.replace(/,/g, ''));
  }
  return n;
}

async function h2load(running: Running, n: number): Promise<number> {
  const hdr = Object.entries(running.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const url = running.urls[PROTOCOL === 'h2c' ? 'h2c' : 'h1']!;
  const proto = PROTOCOL === 'h2c' ? ['-m10'] : ['--h1', '-m1'];
  const r = await runPinned(LOAD_CORE, 'h2load', ['-t1', '-c4', ...proto, `-n${n}`, ...hdr, url]);
  const s = parseH2loadOutput(r.stdout);
  if (s.succeeded !== n) throw new Error(`h2load: ${s.succeeded} of ${n} requests succeeded\n${r.stdout}`);
  return s.succeeded;
}

async function main(): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is needed: apt-get install valgrind');
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-instructions-'));
  const samples: Sample[] = [];
  try {
    const { h1Port, h2cPort } = await startApp(ROOT, dir, LOAD_CORE);
    const keys = generateKeys();
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(keys.jwks));
    const specs = NAMES.map((n) => {
      const t = TARGETS.find((x) => x.name === n && n.startsWith('sidegate'));
      if (t === undefined) throw new Error(`--targets: ${n} is not a sidegate row of bench/targets.ts`);
      return t;
    });
    const redis = specs.some((t) => t.needs?.includes('redis')) ? await startRedis(LOAD_CORE, dir) : undefined;
    for (let run = 1; run <= RUNS; run++) {
      for (const spec of specs) {
        for (const [i, root] of ROOTS.entries()) {
          const out = join(dir, `cg-${run}-${spec.name}-${i}`);
          mkdirSync(out);
          const env: BenchEnv = {
            dir,
            root,
            app: { h1Port, h2cPort },
            path: APP_PATH,
            auth: { token: mint(keys, { sub: 'bench-user' }), jwksFile, publicPemFile: '', poolFile: '', poolUrlFiles: () => [] },
            ...(redis !== undefined && { redis: { url: redis.url } }),
            wrap: [
              'valgrind',
              '--tool=callgrind',
              '--instr-atstart=no',
              '--separate-threads=yes',
              '--smc-check=all-non-file',
              `--callgrind-out-file=${join(out, 'cg.out')}`,
            ],
            readyTimeoutMs: 300_000,
          };
          const running = await spec.start(env);
          try {
            const pid = String(running.managed!.pid);
            await h2load(running, WARM);
            execFileSync('callgrind_control', ['-i', 'on', pid], { stdio: 'ignore' });
            const n = await h2load(running, REQUESTS);
            execFileSync('callgrind_control', ['-i', 'off', pid], { stdio: 'ignore' });
            execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
            const files = readdirSync(out)
              .filter((f) => /^cg\.out\.1-\d+$/.test(f))
              .map((f) => ({ name: f, text: readFileSync(join(out, f), 'utf8') }));
            const t = threadTotals(files);
            const annotated = execFileSync('callgrind_annotate', ['--threshold=100', join(out, 'cg.out.1-01')], {
              encoding: 'utf8',
              maxBuffer: 64 << 20,
            });
            const s: Sample = {
              target: spec.name,
              root,
              run,
              main: t.main / n,
              interpreted: interpretedOf(annotated) / n,
              others: t.others / n,
            };
            samples.push(s);
            log(
              `run ${run} ${spec.name} ${root}: ${s.main.toFixed(0)} main (${s.interpreted.toFixed(0)} interpreted), ${s.others.toFixed(0)} other threads`,
            );
          } finally {
            await running.stop();
          }
        }
      }
    }
    await redis?.managed.stop();
  } finally {
    await stopAll();
    if (process.env.SIDEGATE_BENCH_KEEP_LOGS === '1') log(`dumps kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  report(samples);
}

function report(samples: readonly Sample[]): void {
  const stamp = new Date()
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  const k = (n: number): string => `${(n / 1000).toFixed(1)}k`;
  const lines = [
    `# Instructions per request ${new Date().toISOString()}`,
    '',
    `Node ${process.version}; ${PROTOCOL}; ${WARM} requests to warm up, then ${REQUESTS} counted (h2load, 4 connections); valgrind callgrind.`,
    '',
    '| target | build | runs | main thread, median (min–max) | of it interpreted | without interpreted, × first build | other threads |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const name of NAMES) {
    let ref: number | undefined;
    for (const root of ROOTS) {
      const xs = samples.filter((s) => s.target === name && s.root === root);
      if (xs.length === 0) continue;
      const main = xs.map((s) => s.main);
      const compiled = median(xs.map((s) => s.main - s.interpreted));
      ref ??= compiled;
      lines.push(
        `| ${name} | ${sourceCommit(root)} | ${xs.length} | ${k(median(main))} (${k(Math.min(...main))}–${k(Math.max(...main))}) | ${k(median(xs.map((s) => s.interpreted)))} | ${k(compiled)} (${(compiled / ref).toFixed(3)}×) | ${k(median(xs.map((s) => s.others)))} |`,
      );
    }
  }
  const md = `${lines.join('\n')}\n`;
  process.stdout.write(md);
  const base = join(ROOT, 'bench/results', `${stamp}-instructions`);
  writeFileSync(`${base}.md`, md);
  writeFileSync(
    `${base}.json`,
    JSON.stringify({ node: process.version, protocol: PROTOCOL, warm: WARM, requests: REQUESTS, samples }, null, 2),
  );
  log(`results: ${base}.{md,json}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
