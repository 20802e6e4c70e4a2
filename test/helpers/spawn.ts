import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from './ports.js';
import { fastPathFlags } from './proxy.js';

export interface ProxyProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly adminUrl: string;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The built CLI as it ships (the bundle scripts/bundle.ts links after tsc), as users run it. */
export const CLI = join(process.cwd(), 'dist', 'bin', 'sidegate.js');

/**
 * `sidegate proxy` as a real child process on free ports; resolves once /healthz/ready is 200.
 * A port taken between freePort's check and the proxy's bind (another test's server) means a new
 * pair of ports and a second try, not a failed test.
 */
export async function spawnProxy(upstream: string, flags: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ProxyProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(upstream, flags, env);
    } catch (e) {
      if (attempt === 3 || !(e instanceof Error && e.message.includes('EADDRINUSE'))) throw e;
    }
  }
}

async function spawnOnce(upstream: string, flags: string[], env: NodeJS.ProcessEnv): Promise<ProxyProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'proxy',
      '--listen',
      `127.0.0.1:${port}`,
      '--admin',
      `127.0.0.1:${adminPort}`,
      '--upstream',
      upstream,
      ...fastPathFlags(),
      ...flags,
    ],
    {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d: Buffer) => {
    output.stdout += String(d);
  });
  proc.stderr.on('data', (d: Buffer) => {
    output.stderr += String(d);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const p: ProxyProcess = {
    proc,
    port,
    adminPort,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    output,
    exited,
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sidegate proxy exited with ${proc.exitCode}: ${output.stderr}${output.stdout}`);
    try {
      const r = await request(`${p.adminUrl}/healthz/ready`);
      await r.body.dump();
      if (r.statusCode === 200) return p;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`sidegate proxy not ready in 10 s: ${output.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
