import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jazzerEnv } from './compat.js';

/**
 * Coverage-guided fuzzing of the parsers with Jazzer.js (libFuzzer driving instrumented
 * JavaScript). `npm run fuzz` is the short run .ci/run makes (every target, 12 s each, under two
 * minutes in all); `npm run fuzz -- --seconds 600` is a long run; `--target h2-connection,hpack`
 * picks targets. Each target starts from its committed seeds (test/fuzz/corpus/<target>/) plus what
 * earlier runs on this machine found (kept outside the repo, in $SIDEGATE_FUZZ_DIR or
 * ~/.cache/sidegate-fuzz/<target>/corpus). A crash or a broken property stops that target with
 * the input saved; the run fails and prints how to make it a regression test.
 */

interface Target {
  readonly name: string;
  readonly file: string;
  readonly maxLen: number;
  readonly sync: boolean;
}
interface Outcome {
  readonly target: string;
  readonly ok: boolean;
  readonly runs: number;
  readonly perSecond: number;
  readonly cov: string;
  readonly newUnits: number;
  readonly peakRssMb: number;
  readonly artifact: string | undefined;
  readonly seconds: number;
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/fuzz → the repo (sources and seeds), and dist (what is instrumented).
const repo = resolve(here, '..', '..', '..');
const dist = resolve(here, '..', '..');

function args(): { seconds: number; targets: string[] | undefined } {
  const a = process.argv.slice(2);
  let seconds = 12;
  let targets: string[] | undefined;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--seconds') seconds = Number(a[++i]);
    else if (a[i] === '--target') targets = (a[++i] ?? '').split(',').filter((s) => s !== '');
    else {
      process.stderr.write(`fuzz: unknown argument ${a[i]}\nusage: npm run fuzz -- [--seconds N per target] [--target a,b]\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(seconds) || seconds < 1) {
    process.stderr.write('fuzz: --seconds takes a whole number of seconds\n');
    process.exit(2);
  }
  return { seconds, targets };
}

export async function targets(): Promise<Target[]> {
  const dir = join(here, 'targets');
  const out: Target[] = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith('.js'))
    .sort()) {
    const m = (await import(pathToFileURL(join(dir, f)).href)) as { fuzz?: unknown; maxLen?: number; sync?: boolean };
    if (typeof m.fuzz !== 'function') continue;
    out.push({ name: basename(f, '.js'), file: join(dir, f), maxLen: m.maxLen ?? 4096, sync: m.sync === true });
  }
  return out;
}

function fuzzOne(t: Target, seconds: number, env: NodeJS.ProcessEnv, work: string): Promise<Outcome> {
  const corpus = join(work, t.name, 'corpus');
  const artifacts = join(work, t.name, 'artifacts');
  mkdirSync(corpus, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const seeds = join(repo, 'test', 'fuzz', 'corpus', t.name);
  const cli = join(dirname(createRequire(import.meta.url).resolve('@jazzer.js/core/package.json')), 'dist', 'cli.js');
  const argv = [
    cli,
    t.file,
    corpus,
    ...(existsSync(seeds) ? [seeds] : []),
    // Instrument sidegate's own code, nothing of node_modules (Jazzer's default exclude).
    '-i',
    `${join(dist, 'sidecar')}/`,
    '-i',
    `${join(dist, 'policies')}/`,
    '-i',
    `${join(dist, 'injector')}/`,
    '--timeout',
    '2000',
    ...(t.sync ? ['--sync'] : []),
    '--',
    `-max_total_time=${seconds}`,
    `-max_len=${t.maxLen}`,
    '-rss_limit_mb=2048',
    `-artifact_prefix=${artifacts}/`,
    '-print_final_stats=1',
  ];
  const started = Date.now();
  // The fuzzer writes to a file, not a pipe: libFuzzer's C side writes stderr directly, and on a
  // pipe Node made non-blocking a full buffer drops what it writes (the final stats, the name of
  // the crash file) whenever this process reads more slowly than the fuzzer prints.
  const logFile = join(work, t.name, 'fuzz.log');
  const fd = openSync(logFile, 'w');
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.on('close', (code) => {
      const log = readFileSync(logFile, 'latin1');
      const stat = (k: string): number => Number(log.match(new RegExp(`stat::${k}:\\s*(\\d+)`))?.[1] ?? 0);
      const cov = [...log.matchAll(/cov: (\d+) ft: (\d+)/g)].at(-1);
      const artifact = log.match(/Test unit written to (\S+)/)?.[1];
      const ok = code === 0 && artifact === undefined;
      if (!ok) process.stderr.write(`\n--- ${t.name}: fuzzer output (tail; all of it in ${logFile}) ---\n${log.slice(-6000)}\n`);
      resolveRun({
        target: t.name,
        ok,
        runs: stat('number_of_executed_units'),
        perSecond: stat('average_exec_per_sec'),
        cov: cov === undefined ? '?' : `${cov[1]} / ${cov[2]}`,
        newUnits: stat('new_units_added'),
        peakRssMb: stat('peak_rss_mb'),
        artifact,
        seconds: Math.round((Date.now() - started) / 1000),
      });
    });
  });
}

async function main(): Promise<void> {
  const { seconds, targets: want } = args();
  const all = await targets();
  const unknown = (want ?? []).filter((w) => !all.some((t) => t.name === w));
  if (unknown.length > 0) {
    process.stderr.write(`fuzz: no target ${unknown.join(', ')} (targets: ${all.map((t) => t.name).join(', ')})\n`);
    process.exit(2);
  }
  const env = jazzerEnv();
  const work = process.env.SIDEGATE_FUZZ_DIR ?? join(homedir(), '.cache', 'sidegate-fuzz');
  const results: Outcome[] = [];
  for (const t of all.filter((x) => want === undefined || want.includes(x.name))) {
    process.stderr.write(`fuzz: ${t.name} for ${seconds} s\n`);
    results.push(await fuzzOne(t, seconds, env, work));
  }
  process.stdout.write(
    '\n| target | result | inputs run | per second | coverage (edges / features) | corpus units added | peak RSS MB |\n|---|---|---|---|---|---|---|\n',
  );
  for (const r of results)
    process.stdout.write(
      `| ${r.target} | ${r.ok ? 'clean' : '**FAILED**'} | ${r.runs} | ${r.perSecond} | ${r.cov} | ${r.newUnits} | ${r.peakRssMb} |\n`,
    );
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) {
    const dest = join(repo, 'test', 'fuzz', 'regressions', r.target);
    if (r.artifact !== undefined && process.env.SIDEGATE_FUZZ_KEEP === '1') {
      mkdirSync(dest, { recursive: true });
      copyFileSync(r.artifact, join(dest, basename(r.artifact)));
    }
    process.stderr.write(
      `fuzz: ${r.target} failed; input: ${r.artifact ?? '(none written: see the output above)'}\n` +
        `  make it a regression test: mkdir -p ${relative(process.cwd(), dest)} && cp ${r.artifact ?? '<input>'} ${relative(process.cwd(), dest)}/\n` +
        '  (test/fuzz/regressions.test.ts runs every file there through the target in npm test)\n',
    );
  }
  process.exit(failed.length === 0 ? 0 : 1);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
