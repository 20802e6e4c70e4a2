import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Child processes pinned to a core with taskset, and the bookkeeping to never leave one behind. */

export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

const running = new Set<Managed>();
let niceness = 0;

/**
 * Scheduling priority of everything the harness starts (`nice -n`). 0 by default; a negative value
 * lets the measured processes keep their cores on a machine other people are using, at their cost.
 */
export function setNiceness(n: number): void {
  niceness = n;
}

function pinned(core: number, cmd: string, args: readonly string[]): string[] {
  return ['-c', String(core), ...(niceness !== 0 ? ['nice', '-n', String(niceness)] : []), cmd, ...args];
}

/**
 * `taskset -c <core> [nice -n N] cmd args...`, output to logFile. Both exec, so the pid is the command's.
 * With `cgroupProcs` (a cgroup's `cgroup.procs` file), a shell writes its own pid there and execs
 * taskset: the command starts inside that cgroup, its start-up's page faults charged to it, as a
 * container's process would be. The pid is still the command's.
 */
export function spawnPinned(
  name: string,
  core: number,
  cmd: string,
  args: readonly string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
  cgroupProcs?: string,
): Managed {
  const fd = openSync(logFile, 'a');
  const [exe, argv] =
    cgroupProcs === undefined
      ? ['taskset', pinned(core, cmd, args)]
      : ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', cgroupProcs, 'taskset', ...pinned(core, cmd, args)]];
  const proc = spawn(exe, argv, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const m: Managed = {
    name,
    pid: proc.pid,
    proc,
    logFile,
    exited,
    async stop() {
      running.delete(m);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!done) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
  running.add(m);
  return m;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((m) => m.stop()));
}

/** Poll `url` (with `headers`) until it answers 200; returns the milliseconds it took. */
export async function waitHttp(
  url: string,
  m: Managed,
  timeoutMs = 15_000,
  startedAt = performance.now(),
  headers?: Readonly<Record<string, string>>,
): Promise<number> {
  const deadline = startedAt + timeoutMs;
  for (;;) {
    if (m.proc.exitCode !== null) throw new Error(`${m.name} exited with ${m.proc.exitCode}; see ${m.logFile}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000), headers: headers ?? {} });
      await r.arrayBuffer();
      if (r.status === 200) return performance.now() - startedAt;
    } catch {
      /* not listening yet */
    }
    if (performance.now() > deadline) throw new Error(`${m.name} not ready at ${url} within ${timeoutMs} ms; see ${m.logFile}`);
    await sleep(5);
  }
}

export interface ToolRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly pid: number;
}

/**
 * Run a load generator pinned to `core` and collect its output. `tick` is called every `tickMs`
 * while it runs (memory and CPU sampling).
 */
export async function runPinned(
  core: number,
  cmd: string,
  args: readonly string[],
  tick?: (pid: number) => void,
  tickMs = 200,
): Promise<ToolRun> {
  return runPinnedMany(core, cmd, [args], tick ? (pids) => tick(pids[0]!) : undefined, tickMs).then((r) => r[0]!);
}

/**
 * The same command several times at once with different arguments (one h2load per URL list), all
 * pinned to `core`; `tick` gets every pid.
 */
export async function runPinnedMany(
  core: number,
  cmd: string,
  argSets: readonly (readonly string[])[],
  tick?: (pids: readonly number[]) => void,
  tickMs = 200,
): Promise<ToolRun[]> {
  const procs = argSets.map((args) => spawn('taskset', pinned(core, cmd, args), { stdio: ['ignore', 'pipe', 'pipe'] }));
  const pids = procs.map((p) => p.pid ?? 0);
  const timer = tick ? setInterval(() => tick(pids), tickMs) : undefined;
  try {
    return await Promise.all(procs.map((proc, i) => collect(proc, pids[i]!)));
  } finally {
    if (timer) clearInterval(timer);
  }
}

async function collect(proc: ChildProcess, pid: number): Promise<ToolRun> {
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += String(d);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += String(d);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (c) => resolve(c));
  });
  return { stdout, stderr, code, pid };
}

/** A TCP port that was free a moment ago (nginx and haproxy cannot bind port 0 and report it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The commit of checkout `root`, with "+dirty" when its dist/ may hold uncommitted work (a shared checkout). */
export function sourceCommit(root: string): string {
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}
