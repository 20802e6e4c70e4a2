import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const SCRIPT = fileURLToPath(new URL('./sidecar.js', import.meta.url));

export interface SidecarProc {
  readonly port: number;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

const FAKETIME_LIB = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/faketime/libfaketimeMT.so.1',
].find((p) => existsSync(p));

/** libfaketime (Debian package `faketime`), preloaded directly so the child's pid is node's own. */
export function hasFaketime(): boolean {
  return FAKETIME_LIB !== undefined;
}

/**
 * Start one harness sidecar process. `skew` (e.g. '+5s', '-7s') runs it under libfaketime so its
 * wall clock (Date.now) and monotonic clock are both off by that much.
 */
export async function startSidecar(config: object, skew?: string): Promise<SidecarProc> {
  const env: NodeJS.ProcessEnv = { ...process.env, RL_HARNESS: JSON.stringify(config) };
  if (skew !== undefined) {
    if (!FAKETIME_LIB) throw new Error('libfaketime not installed (apt-get install -y faketime)');
    env.LD_PRELOAD = FAKETIME_LIB;
    env.FAKETIME = skew;
  }
  const proc = spawn(process.execPath, [SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.resume();
  const lines = createInterface({ input: proc.stdout });
  // Generous: several node processes starting at once on a busy 2-core machine take a while.
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('harness sidecar did not start within 30 s'));
    }, 30_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`harness sidecar exited ${code}`));
    });
    lines.once('line', (l) => {
      clearTimeout(timer);
      resolve((JSON.parse(l) as { port: number }).port);
    });
  });
  return {
    port,
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(t);
    },
  };
}

export const agent = new Agent({ keepAlive: true, maxSockets: 32 });

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  sentAt: number;
  doneAt: number;
}

/** One GET; times are performance.now() at send and at the end of the response. */
export function get(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, sentAt, doneAt: performance.now() }));
    });
    req.on('error', reject);
    req.end();
  });
}
