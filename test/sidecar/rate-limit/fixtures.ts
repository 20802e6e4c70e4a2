import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import type { KeyPart, RateLimitPolicy, RequestMatcher } from '../../../policies/src/types.js';
import { Exchange } from '../../../sidecar/src/protocol/exchange.js';
import type { ResponseSink } from '../../../sidecar/src/protocol/exchange.js';
import type { Logger } from '../../../sidecar/src/telemetry/logger.js';
import { SidecarError } from '../../../sidecar/src/errors.js';

/** A matcher on path prefixes (`/api/*` style written as `/api/`), any method unless given. */
export function matcher(prefixes: readonly string[] = [], methods: readonly string[] = []): RequestMatcher {
  const m = new Set(methods);
  return {
    exactPaths: new Set(),
    prefixes,
    anyPath: prefixes.length === 0,
    methods: m,
    matches: (method, path) => (m.size === 0 || m.has(method)) && (prefixes.length === 0 || prefixes.some((p) => path.startsWith(p))),
  };
}

export function limit(over: Partial<RateLimitPolicy> & { name: string }): RateLimitPolicy {
  return {
    match: matcher(),
    key: [{ kind: 'constant', value: 'all' }] as readonly KeyPart[],
    requests: 10,
    perMs: 1000,
    burst: 0,
    cost: 1,
    onRedisError: 'allow',
    mode: 'enforce',
    ...over,
  };
}

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

export function exchange(
  opts: {
    method?: string;
    path?: string;
    headers?: IncomingHttpHeaders;
    remoteAddress?: string;
    claims?: Record<string, unknown>;
    route?: string;
  } = {},
): Exchange {
  const path = opts.path ?? '/api/x';
  const ex = Exchange.create(
    'http/1.1',
    opts.method ?? 'GET',
    path,
    'svc',
    'http',
    opts.headers ?? {},
    opts.remoteAddress ?? '10.0.0.1',
    Readable.from([]),
    false,
    sink,
    'req-1',
    0,
  );
  if (opts.claims) ex.auth = { result: 'success', claims: opts.claims };
  if (opts.route) ex.routeName = opts.route;
  return ex;
}

export interface LogLine {
  level: string;
  obj: object;
  msg: string;
}

/** A logger that keeps its lines, so tests can assert on them (and on what they never contain). */
export function captureLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj, msg });
    };
  return { lines, warn: at('warn'), info: at('info'), error: at('error') };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Exchanges the stage under test passed on to the next handler (the app), and how often. */
const forwarded = new WeakMap<Exchange, number>();

/** The next handler behind a stage under test: counts what reaches the app. */
export const forwardOnce = (ex: Exchange): Promise<void> => {
  forwarded.set(ex, (forwarded.get(ex) ?? 0) + 1);
  return Promise.resolve();
};

/**
 * Run `h` (a stage in front of forwardOnce) on `ex`: 'ok', or the SidecarError it refused with.
 * Throws unless the verdict and the app agree: admitted exactly when passed on once, refused only
 * when never passed on (whether the stage decided at once or after a Redis call).
 */
export async function judged(h: (ex: Exchange) => Promise<void>, ex: Exchange): Promise<'ok' | SidecarError> {
  let result: 'ok' | SidecarError;
  try {
    await h(ex);
    result = 'ok';
  } catch (err) {
    if (!(err instanceof SidecarError)) throw err;
    result = err;
  }
  const n = forwarded.get(ex) ?? 0;
  if (result === 'ok' ? n !== 1 : n !== 0)
    throw new Error(`verdict ${result === 'ok' ? 'ok' : result.code}, but the app got the request ${n} times`);
  return result;
}
