import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './ports.js';

/**
 * A real redis-server on a free loopback port, owned by one test: killed, paused and restarted
 * for fault tests. Never the machine's shared :6379.
 */
export class RedisProcess {
  private proc: ChildProcess | undefined;
  private constructor(readonly port: number, private readonly extraArgs: readonly string[]) {}

  get url(): string { return `redis://127.0.0.1:${this.port}`; }

  static async start(extraArgs: readonly string[] = []): Promise<RedisProcess> {
    requireRedisServer();
    const r = new RedisProcess(await freePort(), extraArgs);
    await r.restart();
    return r;
  }

  /** (Re)start on the same port, resolving once it answers PING. */
  async restart(): Promise<void> {
    // A process killed by a signal has exitCode null and signalCode set: only a live one is kept.
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) return;
    this.proc = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', ...this.extraArgs,
    ], { stdio: 'ignore' });
    await waitForPing(this.port, 5000);
  }

  /** SIGKILL, as in an OOM kill or node loss; resolves once the process is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await gone;
  }

  pause(): void { this.proc?.kill('SIGSTOP'); }
  resume(): void { this.proc?.kill('SIGCONT'); }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}

export function requireRedisServer(): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('redis-server is not installed: run `apt-get install -y redis-server` (or .ci/run, which installs it)');
  }
}

/** Resolves when a PING on the port gets +PONG, rejects after `timeoutMs`. */
export async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pingOnce(port)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    // -NOAUTH: up, but started with --requirepass.
    s.on('data', (d) => { buf += d.toString(); if (buf.includes('\r\n')) { s.destroy(); resolve(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH')); } });
  });
}
