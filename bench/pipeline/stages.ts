/**
 * CPU per request of the pipeline itself, stage by stage, without sockets:
 *
 *   npx tsc -p . && taskset -c 0 node dist/bench/pipeline/stages.js [requests] [redis-url]
 *
 * Each variant is the real `buildPipeline` (telemetry → respond → route → authenticate →
 * rate-limit → breaker) for a policy, in front of an "app" that sets 200 and returns; Exchanges
 * with a no-op sink are built before timing. Variants: the empty policy (what a bare sidecar
 * runs), then auth only (cached RS256 token), a shared rate limit only (hot key on quota leases;
 * needs Redis: the URL, or a redis-server started here), the breaker only, and all of them — the
 * bench's "full policy". CPU is process.cpuUsage() over the run ÷ requests, median of 5 rounds
 * (interleaved). The socket side (parsing, writing, the app's connection) is what
 * `npm run bench` adds on top; this isolates what each stage costs so it can be cut.
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { compilePolicy, parsePolicyText } from '../../policies/src/index.js';
import { systemClock } from '../../sidecar/src/clock.js';
import { Exchange, type ResponseSink } from '../../sidecar/src/protocol/exchange.js';
import { buildPipeline, type PipelineServices } from '../../sidecar/src/inbound/pipeline.js';
import type { Handler } from '../../sidecar/src/pipeline/stage.js';
import { loadRedisConfig } from '../../sidecar/src/redis/config.js';
import { RedisConnection } from '../../sidecar/src/redis/connection.js';
import { EMPTY_BODY } from '../../sidecar/src/protocol/body.js';
import { AuthRuntime } from '../../sidecar/src/stages/authenticate/index.js';
import { BreakerRegistry } from '../../sidecar/src/stages/breaker/index.js';
import { RateLimiter } from '../../sidecar/src/stages/rate-limit/index.js';
import { Metrics } from '../../sidecar/src/telemetry/metrics.js';
import { RedisProcess } from '../../test/helpers/redis.js';
import { AUDIENCE, generateKeys, ISSUER, mint } from '../lib/tokens.js';

const N = Number(process.argv[2] ?? 50_000);
const ROUNDS = 5;

const sink: ResponseSink = {
  headersSent: false,
  bytesOut: 0,
  closed: false,
  writeHead: () => undefined,
  write: () => true,
  onDrain: () => undefined,
  end: () => undefined,
  abort: () => undefined,
  onClose: () => undefined,
};
const app: Handler = (ex) => {
  ex.status = 200;
  ex.upstreamMs = 0.1;
  return Promise.resolve();
};

const keys = generateKeys();
const dir = mkdtempSync(join(tmpdir(), 'sidegate-bench-pipeline-'));
const jwksFile = join(dir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify(keys.jwks));
const token = mint(keys, { sub: 'bench-user' });

const AUTH = `  auth:
    providers:
      - name: bench
        issuer: ${ISSUER}
        audiences: [${AUDIENCE}]
        algorithms: [RS256]
        jwks: { file: ${jwksFile} }
        forwardClaims: { sub: x-user-id }
    default: { require: any }
`;
const LIMIT = `  rateLimits:
    - name: per-user
      key: [ { claim: sub } ]
      limit: { requests: 1000000, per: 1s }
      onRedisError: local
`;
const LIMIT_IP = `  rateLimits:
    - name: per-ip
      key: [ { clientIp: true } ]
      limit: { requests: 1000000, per: 1s }
      onRedisError: local
`;
const BREAKER = '  breaker: {}\n';
const doc = (name: string, spec: string): string =>
  `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: ${name} }\nspec:\n${spec || '  {}\n'}`;

const VARIANTS: readonly [string, string][] = [
  ['empty policy (bare)', doc('bare', '')],
  ['auth (cached RS256)', doc('auth', AUTH)],
  ['rate limit (lease, per IP)', doc('limit', LIMIT_IP)],
  ['breaker', doc('breaker', BREAKER)],
  ['full (auth + limit by sub + breaker)', doc('full', AUTH + LIMIT + BREAKER)],
];

function exchanges(n: number, withToken: boolean): Exchange[] {
  const out: Exchange[] = [];
  for (let i = 0; i < n; i++) {
    const headers: Record<string, string> = { host: 'app', 'user-agent': 'bench', accept: '*/*' };
    if (withToken) headers.authorization = `Bearer ${token}`;
    out.push(
      Exchange.create('http/1.1', 'GET', '/api/orders?x=1', 'app', 'http', headers, '10.0.0.1', EMPTY_BODY, false, sink, `r${i}`, 0),
    );
  }
  return out;
}

async function main(): Promise<void> {
  const external = process.argv[3];
  const redisProc = external === undefined ? await RedisProcess.start() : undefined;
  const redisUrl = external ?? redisProc!.url;
  const metrics = new Metrics({ processMetrics: false });
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(_c, _e, cb) {
        cb();
      },
    }),
  );
  const redis = RedisConnection.create(loadRedisConfig(redisUrl, {}), {
    metrics,
    logger: log,
    clock: systemClock,
    budgetMs: 50,
    connectionName: 'bench',
  });
  const limiter = new RateLimiter({
    redis,
    identity: { namespace: 'bench', service: 'bench' },
    metrics,
    logger: log,
    clock: systemClock,
    lease: { periodMs: 100 },
    heartbeat: false,
  });
  const auth = new AuthRuntime({ metrics, logger: log, clock: systemClock });
  const services: PipelineServices = {
    metrics,
    log,
    clock: systemClock,
    random: Math.random,
    logHeaders: false,
    tracing: undefined,
    limiter,
    identity: { namespace: 'bench', service: 'bench' },
    breaker: { registry: new BreakerRegistry({ metrics, clock: systemClock, random: Math.random, log }), upstream: 'app' },
    forward: app,
  };
  const handlers: { name: string; h: Handler; token: boolean }[] = [];
  for (const [name, text] of VARIANTS) {
    const parsed = parsePolicyText(text);
    if (!parsed.ok) throw new Error(`${name}: ${JSON.stringify(parsed.problems)}`);
    const c = compilePolicy(parsed.doc);
    if (!c.ok) throw new Error(`${name}: ${JSON.stringify(c.problems)}`);
    handlers.push({
      name,
      h: buildPipeline(c.policy, services, { authenticate: await auth.prepare(c.policy.auth), identify: undefined }),
      token: c.policy.auth !== undefined,
    });
  }
  const results = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (const { name, h, token: tok } of handlers) {
      const exs = exchanges(N, tok);
      const c0 = process.cpuUsage();
      for (const ex of exs) await h(ex);
      const c = process.cpuUsage(c0);
      if (exs.some((ex) => ex.status !== 200))
        throw new Error(`${name}: a request was refused (${exs.find((ex) => ex.status !== 200)!.status})`);
      if (round > 0) (results.get(name) ?? results.set(name, []).get(name)!).push((c.user + c.system) / N); // round 0 warms up
    }
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = med(results.get(VARIANTS[0]![0])!);
  console.log(`| variant | CPU µs / request (median of ${ROUNDS}) | over the empty policy |`);
  console.log('|---|---|---|');
  for (const [name] of VARIANTS) {
    const m = med(results.get(name)!);
    console.log(`| ${name} | ${m.toFixed(2)} | ${name === VARIANTS[0]![0] ? '–' : `+${(m - base).toFixed(2)}`} |`);
  }
  await limiter.close();
  auth.close();
  await redis.close();
  await redisProc?.stop();
}

await main();
