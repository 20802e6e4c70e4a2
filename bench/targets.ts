import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { renderFile } from './lib/conf.js';
import type { Protocol } from './lib/model.js';
import { freePort, spawnPinned, waitHttp, type Managed } from './lib/procs.js';

/**
 * The targets a run can measure. Each is a configuration: how to start it (pinned to PROXY_CORE),
 * which fronts it serves and which scenarios it takes part in. Issue 9's rows (haproxy+jwt,
 * sidegate with the full policy, fresh tokens) are added here as more entries, with `headers` for
 * their Authorization and a `start` that renders their config.
 */

export const PROXY_CORE = 0;
export const LOAD_CORE = 1;

export interface BenchEnv {
  /** Scratch directory for rendered configs, logs and h2load logs. */
  readonly dir: string;
  /** Repository root (templates in bench/conf, the built CLI in dist/). */
  readonly root: string;
  readonly app: { readonly h1Port: number; readonly h2cPort: number };
  /** The path every request asks for (the 1 KB body). */
  readonly path: string;
}

export interface Running {
  /** The process under test (CPU and memory are read from it); absent for the direct path. */
  readonly managed?: Managed;
  readonly urls: Partial<Record<Protocol, string>>;
  readonly readyMs?: number;
  readonly command: string;
  stop(): Promise<void>;
}

export interface TargetSpec {
  readonly name: string;
  readonly description: string;
  readonly protocols: readonly Protocol[];
  /** Scenario ids it takes part in (bench/lib/model.ts SCENARIOS); all of its protocols' when absent. */
  readonly scenarios?: readonly string[];
  /** Part of a run without --only. */
  readonly byDefault: boolean;
  /** Request headers the load generators send (e.g. a bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Why it cannot run here, if it cannot. */
  unavailable?(env: BenchEnv): string | undefined;
  start(env: BenchEnv): Promise<Running>;
}

function url(port: number, env: BenchEnv): string { return `http://127.0.0.1:${port}${env.path}`; }

/** A sidegate proxy from the built CLI; ready when the admin server says so. */
function sidegate(name: string, description: string, opts: { flags?: string[]; h2cUpstream?: boolean; nodeArgs?: string[] } = {}): TargetSpec {
  return {
    name, description, protocols: ['h1', 'h2c'], byDefault: !opts.h2cUpstream,
    async start(env) {
      const port = await freePort();
      const admin = await freePort();
      const upstream = opts.h2cUpstream ? `h2c://127.0.0.1:${env.app.h2cPort}` : `http://127.0.0.1:${env.app.h1Port}`;
      const args = [...(opts.nodeArgs ?? []), join(env.root, 'dist/cli/main.js'), 'proxy', '--listen', `127.0.0.1:${port}`,
        '--admin', `127.0.0.1:${admin}`, '--upstream', upstream, ...(opts.flags ?? []), '--log-level', 'warn'];
      const t0 = performance.now();
      const m = spawnPinned(name, PROXY_CORE, process.execPath, args, join(env.dir, `${name}.log`));
      const readyMs = await waitHttp(`http://127.0.0.1:${admin}/healthz/ready`, m, 15_000, t0);
      const u = url(port, env);
      return { managed: m, urls: { h1: u, h2c: u }, readyMs, command: `taskset -c ${PROXY_CORE} node ${args.join(' ')}`, stop: () => m.stop() };
    },
  };
}

/** One of the alternative HTTP/1.1 engines in bench/engines, as its own pinned Node process. */
function engine(name: string, file: string, description: string, pkg?: string): TargetSpec {
  return {
    name, description, protocols: ['h1'], scenarios: ['capacity-h1'], byDefault: true,
    unavailable() {
      if (pkg === undefined) return undefined;
      try { createRequire(import.meta.url).resolve(pkg); return undefined; } catch { return `npm package ${pkg} is not installed`; }
    },
    async start(env) {
      const port = await freePort();
      const args = [join(env.root, 'dist/bench/engines', file), '--listen', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${env.app.h1Port}`];
      const m = spawnPinned(name, PROXY_CORE, process.execPath, args, join(env.dir, `${name}.log`));
      const u = url(port, env);
      const t0 = performance.now();
      const readyMs = await waitHttp(u, m, 15_000, t0);
      return { managed: m, urls: { h1: u }, readyMs, command: `taskset -c ${PROXY_CORE} node ${args.join(' ')}`, stop: () => m.stop() };
    },
  };
}

/** A proxy configured from a template in bench/conf, serving h1 and h2c on two ports. */
function templated(name: string, description: string, template: string, cmd: string, argsFor: (conf: string) => string[]): TargetSpec {
  return {
    name, description, protocols: ['h1', 'h2c'], byDefault: true,
    async start(env) {
      const h1 = await freePort();
      const h2c = await freePort();
      const conf = join(env.dir, template);
      writeFileSync(conf, renderFile(join(env.root, 'bench/conf', template), { DIR: env.dir, H1_PORT: h1, H2C_PORT: h2c, APP_PORT: env.app.h1Port }));
      const args = argsFor(conf);
      const m = spawnPinned(name, PROXY_CORE, cmd, args, join(env.dir, `${name}.log`));
      const t0 = performance.now();
      const readyMs = await waitHttp(url(h1, env), m, 15_000, t0);
      return { managed: m, urls: { h1: url(h1, env), h2c: url(h2c, env) }, readyMs, command: `taskset -c ${PROXY_CORE} ${cmd} ${args.join(' ')}`, stop: () => m.stop() };
    },
  };
}

export const DIRECT_TARGET: TargetSpec = {
  name: 'direct', description: 'the app itself (nginx, 1 KB static body, core 1)', protocols: ['h1', 'h2c'], byDefault: true,
  async start(env) {
    return { urls: { h1: url(env.app.h1Port, env), h2c: url(env.app.h2cPort, env) }, command: '(no proxy)', stop: async () => {} };
  },
};

/** In the order they are reported. */
export const TARGETS: readonly TargetSpec[] = [
  DIRECT_TARGET,
  sidegate('sidegate', 'sidegate proxy, empty policy (no --policy), HTTP/1.1 upstream via undici Pool.dispatch()'),
  templated('haproxy', 'haproxy 2.6, plain reverse proxy, nbthread 1', 'haproxy.cfg', 'haproxy', (c) => ['-db', '-f', c]),
  templated('nginx', 'nginx 1.22 proxy_pass, upstream keepalive 64, 1 worker', 'nginx-proxy.conf', 'nginx', (c) => ['-c', c, '-e', '/dev/stderr']),
  engine('engine-undici-dispatch', 'undici-dispatch.js', 'undici Pool.dispatch() handler, no pipeline (sidegate\'s engine, bare)'),
  engine('engine-undici-stream', 'undici-stream.js', 'undici Pool.stream() into the ServerResponse'),
  engine('engine-undici-request', 'undici-request.js', 'undici Pool.request(), body piped'),
  engine('engine-http-request', 'http-request.js', 'node:http request() + keep-alive Agent(64), piped'),
  engine('engine-http2-proxy', 'http2-proxy.js', 'http2-proxy proxy.web()', 'http2-proxy'),
  // Not in the default run: h2c to the app (for h2c/gRPC apps).
  sidegate('sidegate-h2c-upstream', 'sidegate proxy, empty policy, h2c upstream (node:http2 session)', { h2cUpstream: true }),
];
