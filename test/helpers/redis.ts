import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/**
 * A real redis-server on a free loopback port, owned by one test: killed, paused and restarted
 * for fault tests. Never the machine's shared :6379.
 */
export class RedisProcess {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
    private readonly argsFirst = false,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `argsFirst`: put `extraArgs` before the defaults (a config file must be the first argument). */
  static async start(extraArgs: readonly string[] = [], argsFirst = false): Promise<RedisProcess> {
    requireRedisServer();
    const r = new RedisProcess(await freePort(), extraArgs, argsFirst);
    await r.restart();
    return r;
  }

  /** (Re)start on the same port, resolving once it answers PING. */
  async restart(): Promise<void> {
    // A process killed by a signal has exitCode null and signalCode set: only a live one is kept.
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) return;
    const defaults = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
    this.proc = spawn('redis-server', this.argsFirst ? [...this.extraArgs, ...defaults] : [...defaults, ...this.extraArgs], {
      stdio: 'ignore',
    });
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

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}

export function requireRedisServer(): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      'redis-server is not installed: run `apt-get install -y redis-server` (or npm test, whose scripts/test-deps.sh installs it)',
    );
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
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    // -NOAUTH: up, but started with --requirepass.
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
      }
    });
  });
}

/** Run a command, resolving with its stdout; rejects with its stderr on failure. */
function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err || out}`))));
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A real Redis Cluster of `masters` redis-server processes (no replicas), each in its own temp dir
 * with its own nodes.conf and an explicit bus port, joined by `redis-cli --cluster create`.
 */
export class RedisCluster {
  private constructor(
    readonly nodes: readonly RedisProcess[],
    private readonly dirs: readonly string[],
  ) {}

  /** `redis+cluster://` URL naming every node as a seed. */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  static async start(masters = 3): Promise<RedisCluster> {
    requireRedisServer();
    const dirs = Array.from({ length: masters }, () => mkdtempSync(join(tmpdir(), 'sidegate-cluster-')));
    const nodes = await Promise.all(
      dirs.map(async (dir) =>
        RedisProcess.start([
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--dir',
          dir,
          '--cluster-port',
          String(await freePort()),
          '--cluster-node-timeout',
          '2000',
        ]),
      ),
    );
    const c = new RedisCluster(nodes, dirs);
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    await waitFor('cluster_state:ok on every node', 10_000, async () => {
      const infos = await Promise.all(nodes.map((n) => run('redis-cli', ['-p', String(n.port), 'cluster', 'info'])));
      return infos.every((i) => i.includes('cluster_state:ok'));
    });
    return c;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * A Sentinel (redis-server --sentinel) watching one master as `mymaster`, quorum 1, declaring it
 * down after 1 s so failover tests stay short.
 */
export class RedisSentinel {
  private constructor(
    readonly sentinel: RedisProcess,
    readonly masterName: string,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis+sentinel://127.0.0.1:${this.sentinel.port}/${this.masterName}`;
  }

  static async start(master: RedisProcess, masterName = 'mymaster'): Promise<RedisSentinel> {
    requireRedisServer();
    const dir = mkdtempSync(join(tmpdir(), 'sidegate-sentinel-'));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 3000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'),
    );
    // The sentinel rewrites its config file, hence the temp dir.
    const s = await RedisProcess.start([conf, '--sentinel', '--dir', dir], true);
    const r = new RedisSentinel(s, masterName, dir);
    await waitFor('sentinel knows the master', 10_000, async () =>
      (await run('redis-cli', ['-p', String(s.port), 'sentinel', 'get-master-addr-by-name', masterName])).includes(String(master.port)),
    );
    return r;
  }

  /**
   * Resolves once the sentinel knows `n` replicas. It learns them from the master's INFO, polled
   * every 10 s; a failover before that finds no replica to promote.
   */
  async waitForReplicas(n: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(`sentinel knows ${n} replica(s)`, timeoutMs, async () => {
      const out = await run('redis-cli', ['-p', String(this.sentinel.port), 'sentinel', 'replicas', this.masterName]);
      return (out.match(/^name$/gm) ?? []).length >= n;
    });
  }

  /** The master's port as the sentinel currently sees it. */
  async masterPort(): Promise<number> {
    const out = await run('redis-cli', ['-p', String(this.sentinel.port), 'sentinel', 'get-master-addr-by-name', this.masterName]);
    return Number(out.trim().split('\n')[1]);
  }

  async stop(): Promise<void> {
    await this.sentinel.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
