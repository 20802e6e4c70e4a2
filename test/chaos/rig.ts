import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { JwksServer, mint, testKey, type TestKey } from '../helpers/jwks.js';
import { freePort } from '../helpers/ports.js';
import { writePolicy } from '../helpers/proxy.js';
import { RedisProcess } from '../helpers/redis.js';
import { spawnProxy, type ProxyProcess } from '../helpers/spawn.js';
import type { RequestClass, Target } from './load.js';

const APP_SCRIPT = fileURLToPath(new URL('./app-process.js', import.meta.url));

/** Secrets the rig uses: the suite greps every log line for them. */
export interface RigSecrets {
  readonly redisPassword: string;
  readonly apiKey: string;
  readonly tokens: readonly string[];
}

/** The app as its own process on a fixed port: killed and started again by the app fault. */
export class AppProcess {
  private proc: ChildProcess | undefined;
  private constructor(readonly port: number) {}
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  static async start(): Promise<AppProcess> {
    const a = new AppProcess(await freePort());
    await a.restart();
    return a;
  }

  async restart(): Promise<void> {
    if (this.alive) return;
    const proc = spawn(process.execPath, [APP_SCRIPT], {
      env: { PATH: process.env.PATH, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`chaos app exited ${code}`)));
      createInterface({ input: proc.stdout }).once('line', () => resolve());
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || !this.alive) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await gone;
  }
}

/** One sidecar process as the load balancer sees it. */
export interface Sidecar extends Target {
  readonly p: ProxyProcess;
  ready: boolean;
  /** Taken out on purpose (rolling replacement): its exit is expected. */
  retired: boolean;
}

export interface RigOptions {
  readonly sidecars: number;
  /** Write-once knobs of the policy (the policy fault rewrites it with another limit). */
  readonly hotLimit?: number;
  /** successSampleRate of the access log (the soak samples to keep its own memory flat). */
  readonly sampleRate?: number;
}

/**
 * Several `sidegate proxy` processes sharing one Redis (with a password), one JWKS server and one
 * app process, behind a stand-in for the endpoints controller that routes only to sidecars whose
 * /healthz/ready is 200. Everything the fault suite breaks is here.
 */
export class Rig {
  readonly sidecars: Sidecar[] = [];
  /** Every sidecar ever started, retired ones included: their output is grepped for secrets. */
  readonly all: Sidecar[] = [];
  private polling = true;
  private poller: Promise<void> = Promise.resolve();
  private seq = 0;

  private constructor(
    readonly redis: RedisProcess,
    readonly jwks: JwksServer,
    readonly key: TestKey,
    readonly app: AppProcess,
    readonly policyFile: string,
    readonly secrets: RigSecrets,
    readonly classes: readonly RequestClass[],
    private readonly o: RigOptions,
  ) {}

  static async start(o: RigOptions): Promise<Rig> {
    const redisPassword = `chaos-redis-pw-${Math.random().toString(36).slice(2)}`;
    const apiKey = `chaos-api-key-${Math.random().toString(36).slice(2)}`;
    const redis = await RedisProcess.start(['--requirepass', redisPassword]);
    const key = testKey('ES256', 'chaos-k1');
    const jwks = await JwksServer.start([key.jwk]);
    const app = await AppProcess.start();
    const policyFile = writePolicy(policyYaml(jwks, o.hotLimit ?? 20, o.sampleRate ?? 1));
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const users = await Promise.all(
      Array.from({ length: 50 }, (_, i) => mint(key, { iss: jwks.issuer, aud: 'chaos', sub: `user-${i}`, exp })),
    );
    const hot = await mint(key, { iss: jwks.issuer, aud: 'chaos', sub: 'hot', exp });
    let u = 0;
    const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}`, 'x-api-key': apiKey });
    const classes: RequestClass[] = [
      // Spread over 50 subjects, far under their limit: a healthy system answers from the app.
      { name: 'user', weight: 55, path: '/api/items', headers: () => bearer(users[u++ % users.length]!), healthy: ['app'] },
      // One subject over its shared limit: some answers are 429 by design.
      { name: 'hot', weight: 15, path: '/api/items', headers: () => bearer(hot), healthy: ['app', 'SIDEGATE_ERR_RATE_LIMITED'] },
      { name: 'anon', weight: 10, path: '/api/items', headers: () => ({ 'x-api-key': apiKey }), healthy: ['SIDEGATE_ERR_UNAUTHENTICATED'] },
      { name: 'public', weight: 10, path: '/public/ping', headers: () => ({}), healthy: ['app'] },
      // Behind a limit with onRedisError: deny, so Redis faults are visible to clients.
      { name: 'strict', weight: 10, path: '/strict/items', headers: () => bearer(users[u++ % users.length]!), healthy: ['app'] },
    ];
    const secrets = { redisPassword, apiKey, tokens: [...users, hot] };
    const rig = new Rig(redis, jwks, key, app, policyFile, secrets, classes, o);
    for (let i = 0; i < o.sidecars; i++) await rig.addSidecar();
    rig.poller = rig.poll();
    return rig;
  }

  /** The sidecars the load balancer would send to now. */
  targets(): readonly Target[] {
    return this.sidecars.filter((s) => s.ready && !s.retired);
  }

  /** Start one more sidecar; it joins the rotation once ready (spawnProxy waits for that). */
  async addSidecar(): Promise<Sidecar> {
    const p = await spawnProxy(
      this.app.url,
      [
        '--policy',
        this.policyFile,
        '--redis',
        this.redis.url,
        '--redis-timeout',
        '50ms',
        '--service',
        'chaos',
        '--namespace',
        'faults',
        '--pod-name',
        `chaos-${this.seq++}`,
        '--replicas',
        String(this.o.sidecars),
        '--drain-delay',
        '1s',
        '--drain-timeout',
        '5s',
        '--log-headers',
      ],
      { SIDEGATE_REDIS_PASSWORD: this.secrets.redisPassword },
    );
    const s: Sidecar = { id: `sidecar-${this.seq - 1}`, p, pool: new Pool(p.url, { connections: 32 }), ready: true, retired: false };
    this.sidecars.push(s);
    this.all.push(s);
    return s;
  }

  /** Rolling-update step: SIGTERM; the poller takes it out when readiness drops; wait for the exit. */
  async drain(s: Sidecar): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const t0 = Date.now();
    s.p.proc.kill('SIGTERM');
    const exit = await s.p.exited;
    s.retired = true;
    this.sidecars.splice(this.sidecars.indexOf(s), 1);
    await s.pool.close();
    return { ...exit, ms: Date.now() - t0 };
  }

  rewritePolicy(text: string): void {
    writePolicy(text, this.policyFile.slice(0, this.policyFile.lastIndexOf('/')));
  }
  validPolicy(hotLimit: number): string {
    return policyYaml(this.jwks, hotLimit, this.o.sampleRate ?? 1);
  }

  /** Sidecars that exited without being retired: crashes. */
  crashed(): Sidecar[] {
    return this.all.filter((s) => !s.retired && (s.p.proc.exitCode !== null || s.p.proc.signalCode !== null));
  }

  async metrics(s: Sidecar): Promise<string> {
    const r = await request(`${s.p.adminUrl}/metrics`);
    return r.body.text();
  }

  /** Sum of every sample of `name` whose labels contain all of `labels` (e.g. `result="success"`). */
  async counter(s: Sidecar, name: string, ...labels: string[]): Promise<number> {
    let sum = 0;
    for (const line of (await this.metrics(s)).split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (labels.every((l) => line.includes(l))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /** RSS in bytes and open fds of a sidecar process (Linux /proc). */
  static usage(pid: number): { rss: number; fds: number } {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    return { rss, fds: readdirSync(`/proc/${pid}/fd`).length };
  }

  private async poll(): Promise<void> {
    while (this.polling) {
      await Promise.all(
        this.sidecars.map(async (s) => {
          try {
            const r = await request(`${s.p.adminUrl}/healthz/ready`, { headersTimeout: 500, bodyTimeout: 500 });
            await r.body.dump();
            s.ready = r.statusCode === 200;
          } catch {
            s.ready = false;
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Keep every sidecar's output for a post-mortem (SIDEGATE_CHAOS_LOGS=DIR). */
  saveLogs(dir: string | undefined): void {
    if (dir === undefined || dir === '') return;
    mkdirSync(dir, { recursive: true });
    for (const s of this.all) writeFileSync(join(dir, `${s.id}.log`), s.p.output.stdout + s.p.output.stderr);
  }

  async close(): Promise<void> {
    this.saveLogs(process.env.SIDEGATE_CHAOS_LOGS);
    this.polling = false;
    await this.poller;
    for (const s of this.all) {
      s.p.proc.kill('SIGKILL');
      await s.pool.close().catch(() => undefined);
    }
    await this.app.kill();
    await this.jwks.stop();
    await this.redis.stop();
  }
}

function policyYaml(jwks: JwksServer, hotLimit: number, sampleRate: number): string {
  return `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: chaos }
spec:
  upstream: { timeout: 2s }
  logging: { successSampleRate: ${sampleRate} }
  routes:
    - { name: api, match: { paths: [/api/*] } }
    - { name: strict, match: { paths: [/strict/*] } }
    - { name: public, match: { paths: [/public/*] } }
  auth:
    providers:
      - name: idp
        issuer: ${jwks.issuer}
        audiences: [chaos]
        algorithms: [ES256]
        jwks: { uri: ${jwks.jwksUri}, refreshInterval: 1s, staleIfError: 1h, timeout: 500ms }
        forwardClaims: { sub: x-user-id }
    rules:
      - { match: { paths: [/public/*] }, require: none }
  rateLimits:
    - { name: per-user, match: { paths: [/api/*, /strict/*] }, key: [ { claim: sub } ], limit: { requests: ${hotLimit}, per: 1s }, onRedisError: local }
    - { name: strict, match: { paths: [/strict/*] }, key: [ { constant: all } ], limit: { requests: 100000, per: 1s }, onRedisError: deny }
  breaker: { consecutiveFailures: 5, openFor: 1s, maxOpenFor: 2s, halfOpenRequests: 1 }
`;
}
