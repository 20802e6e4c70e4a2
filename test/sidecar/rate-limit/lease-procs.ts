import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunResult, WorkerConfig } from './lease-worker.js';

const SCRIPT = fileURLToPath(new URL('./lease-worker.js', import.meta.url));

/** One forked lease worker (see lease-worker.ts). */
export class LeaseWorker {
  private constructor(readonly proc: ChildProcess) {}

  static async start(config: WorkerConfig): Promise<LeaseWorker> {
    // execArgv: [] so a worker forked from a tap test does not load tap's instrumentation hooks.
    const proc = fork(SCRIPT, [], {
      env: { ...process.env, LEASE_WORKER: JSON.stringify(config) },
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    proc.stderr?.resume();
    const w = new LeaseWorker(proc);
    // Generous: several node processes starting at once on a busy 2-core machine take a while.
    await w.next('ready', 30_000);
    return w;
  }

  run(startAt: number, durationMs: number, perSecond: number, path: string, warmMs = 0): Promise<RunResult> {
    const r = this.next<RunResult>('result', durationMs + 60_000);
    this.proc.send({ cmd: 'run', startAt, durationMs, perSecond, path, warmMs });
    return r;
  }

  async state(): Promise<{ key: string; mode: string; granted: number; spent: number; next: number }[]> {
    const r = this.next<{ leases: { key: string; mode: string; granted: number; spent: number; next: number }[] }>('state', 10_000);
    this.proc.send({ cmd: 'state' });
    return (await r).leases;
  }

  /** SIGKILL: the process dies holding whatever it holds. */
  async kill(): Promise<void> {
    if (this.gone) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGKILL');
    await exited;
  }

  /** Graceful: leases given back, connection closed. */
  async stop(): Promise<void> {
    if (this.gone) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.send({ cmd: 'stop' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  private get gone(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  private next<T>(type: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`lease worker: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMsg = (m: { type?: string }): void => {
        if (m.type === type) {
          cleanup();
          resolve(m as T);
        }
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`lease worker exited (${code}) before ${type}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.proc.off('message', onMsg);
        this.proc.off('exit', onExit);
      };
      this.proc.on('message', onMsg);
      this.proc.once('exit', onExit);
    });
  }
}

export async function startWorkers(n: number, config: (i: number) => WorkerConfig): Promise<LeaseWorker[]> {
  const started = await Promise.allSettled(Array.from({ length: n }, (_, i) => LeaseWorker.start(config(i))));
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((w) => w.kill()));
    throw failed.reason;
  }
  return ok;
}

/** EVALSHA + EVAL calls (requests to Redis from the stage) and every command Redis executed, from INFO commandstats. */
export function commandTotals(info: string): { sent: number; executed: number } {
  let sent = 0;
  let executed = 0;
  for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) {
    if (
      ['info', 'ping', 'client|setinfo', 'client|setname', 'select', 'script|flush', 'config|resetstat', 'flushall', 'quit'].includes(m[1]!)
    )
      continue;
    executed += Number(m[2]);
    if (m[1] === 'evalsha' || m[1] === 'eval') sent += Number(m[2]);
  }
  return { sent, executed };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}
