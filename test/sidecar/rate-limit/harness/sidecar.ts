/**
 * A stand-in sidecar for multi-process tests: an HTTP server running only the rateLimit stage in
 * front of a 200 answer, in its own process, with its own clock (run it under faketime to skew it).
 * Used until `sidegate proxy` wires the stage; the tests only speak HTTP to it, so switching them
 * to real proxy processes changes how they are started, not what they check.
 *
 * Config: env RL_HARNESS = JSON { redisUrl, budgetMs, podId, limits: [{ name, requests, perMs,
 * burst, cost, onRedisError, mode, prefixes }] }. Prints {"port":N} on stdout when listening.
 * GET /__time answers this process' Date.now() (to prove a skew is in effect).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import type { RateLimitPolicy } from '../../../../policies/src/types.js';
import { systemClock } from '../../../../sidecar/src/clock.js';
import { SidecarError } from '../../../../sidecar/src/errors.js';
import { Exchange } from '../../../../sidecar/src/protocol/exchange.js';
import type { ResponseSink } from '../../../../sidecar/src/protocol/exchange.js';
import { loadRedisConfig } from '../../../../sidecar/src/redis/config.js';
import { RedisConnection } from '../../../../sidecar/src/redis/connection.js';
import { RateLimiter } from '../../../../sidecar/src/stages/rate-limit/limiter.js';
import { rateLimit } from '../../../../sidecar/src/stages/rate-limit/stage.js';
import { Metrics } from '../../../../sidecar/src/telemetry/metrics.js';
import { limit, matcher } from '../fixtures.js';

interface HarnessLimit extends Omit<Partial<RateLimitPolicy>, 'match'> {
  name: string;
  prefixes?: string[];
}
interface HarnessConfig {
  redisUrl: string;
  budgetMs?: number;
  podId?: string;
  limits: HarnessLimit[];
}

const cfg = JSON.parse(process.env.RL_HARNESS ?? '{}') as HarnessConfig;
const metrics = new Metrics({ processMetrics: false });
const logger = {
  warn: (o: object, m: string) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...o, msg: m })}\n`),
  info: (o: object, m: string) => process.stderr.write(`${JSON.stringify({ level: 'info', ...o, msg: m })}\n`),
  error: (o: object, m: string) => process.stderr.write(`${JSON.stringify({ level: 'error', ...o, msg: m })}\n`),
};
const identity = { namespace: 'test', service: 'harness' };
const conn = RedisConnection.create(loadRedisConfig(cfg.redisUrl, process.env), {
  metrics,
  logger,
  clock: systemClock,
  budgetMs: cfg.budgetMs ?? 50,
});
const limiter = new RateLimiter({
  redis: conn,
  identity,
  metrics,
  logger,
  clock: systemClock,
  podId: cfg.podId,
  heartbeat: { intervalMs: 200 },
});
const limits = cfg.limits.map(({ prefixes, ...l }) => limit({ ...l, match: matcher(prefixes ?? []) }));
// Report Redis' time of each decision (x-redis-time) so tests measure windows on the clock that decided.
const decided = new AsyncLocalStorage<{ at?: number }>();
const decide = limiter.decide.bind(limiter);
limiter.decide = async (items) => {
  const v = await decide(items);
  const store = decided.getStore();
  if (store) store.at = v[0]?.redisTimeMs;
  return v;
};
const handler = rateLimit(limits, { limiter, metrics, logger, clock: systemClock, identity, trustedHops: 0 })(() => Promise.resolve());

const noSink: ResponseSink = {
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

let seq = 0;
const server = createServer((req, res) => {
  req.resume();
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/__time') {
    res.end(String(Date.now()));
    return;
  }
  const ex = Exchange.create(
    'http/1.1',
    req.method ?? 'GET',
    req.url ?? '/',
    req.headers.host ?? '',
    'http',
    req.headers,
    req.socket.remoteAddress ?? '',
    Readable.from([]),
    false,
    noSink,
    String(++seq),
    systemClock.monotonic(),
  );
  const store: { at?: number } = {};
  const meta = (): Record<string, string> => ({
    'x-source': String(ex.notes?.ratelimit_source ?? ''),
    'x-redis-time': String(store.at ?? ''),
  });
  decided
    .run(store, () => handler(ex))
    .then(
      () => {
        res.writeHead(200, { ...ex.responseHeaders, ...meta() });
        res.end('ok');
      },
      (err: unknown) => {
        const e = err instanceof SidecarError ? err : undefined;
        res.writeHead(e?.status ?? 500, { 'content-type': 'application/json', ...e?.headers, ...meta() });
        res.end(e ? e.body(ex.requestId) : String(err));
      },
    );
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void limiter
    .close()
    .then(() => conn.close())
    .then(() => process.exit(0));
});
