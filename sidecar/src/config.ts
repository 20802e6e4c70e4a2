/**
 * `sidegate proxy` configuration: flags, each with a SIDEGATE_* env twin. This and policy
 * compilation are the only places that see untyped input; everything downstream gets `ProxyConfig`.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ProxyConfig {
  readonly listen: HostPort;
  readonly admin: HostPort;
  readonly upstream: URL;
  readonly policyFile: string | undefined;
  /** JSON Policy documents handed over by the injector (chart defaults, annotation overlay). */
  readonly policyDefaults: string | undefined;
  readonly policyOverlay: string | undefined;
  readonly redisUrl: string | undefined;
  readonly redisTimeoutMs: number;
  /** The mounted durable revocation list (`sidegate-revocations` ConfigMap), if any. */
  readonly revocationsFile: string | undefined;
  /** How often the Redis copy of the revocation list is checked and re-seeded. */
  readonly revocationsReseedMs: number;
  readonly replicas: number;
  readonly rateLimitLeasePeriodMs: number;
  /** Longest effective lease period (a hot key with little demand on this pod); ≥ the lease period. */
  readonly rateLimitLeaseMaxPeriodMs: number;
  readonly service: string;
  readonly namespace: string;
  readonly podName: string;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly maxHeaderSize: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConcurrentStreams: number;
  readonly http1FastPath: 'auto' | 'off';
  readonly http1Parser: 'auto' | 'public';
  readonly drainDelayMs: number;
  readonly drainTimeoutMs: number;
  readonly logLevel: string;
  readonly logHeaders: boolean;
  readonly appProbes: string | undefined;
  /** Sampling interval of the nodejs_eventloop_lag_* metrics (each sample is a timer wake-up). */
  readonly eventLoopLagResolutionMs: number;
}

interface FlagSpec {
  readonly flag: string;
  readonly env: string;
  readonly help: string;
  readonly def?: string;
  readonly boolean?: boolean;
}

/** Every flag with its env twin and default. Scripts rely on these names: change only with a deprecation path. */
export const PROXY_FLAGS = {
  listen: { flag: '--listen', env: 'SIDEGATE_LISTEN', def: '0.0.0.0:15006', help: 'inbound listener HOST:PORT' },
  admin: {
    flag: '--admin',
    env: 'SIDEGATE_ADMIN_LISTEN',
    def: '0.0.0.0:15090',
    help: 'admin listener HOST:PORT (health, metrics, probes)',
  },
  upstream: {
    flag: '--upstream',
    env: 'SIDEGATE_UPSTREAM',
    def: 'http://127.0.0.1:8080',
    help: 'the app: http://HOST:PORT or h2c://HOST:PORT',
  },
  policy: { flag: '--policy', env: 'SIDEGATE_POLICY_FILE', help: 'policy file (YAML/JSON; reloaded when it changes)' },
  policyDefaults: {
    flag: '--policy-defaults',
    env: 'SIDEGATE_POLICY_DEFAULTS',
    help: 'JSON policy merged under the file (chart-wide defaults)',
  },
  policyOverlay: { flag: '--policy-overlay', env: 'SIDEGATE_POLICY_OVERLAY', help: 'JSON policy merged over the file (from annotations)' },
  redis: {
    flag: '--redis',
    env: 'SIDEGATE_REDIS_URL',
    help: 'Redis URL for shared limits and revocation (redis://, rediss://, redis+sentinel://, redis+cluster://)',
  },
  revocations: {
    flag: '--revocations',
    env: 'SIDEGATE_REVOCATIONS_FILE',
    help: 'durable revocation and ban list (revocations.yaml of the sidegate-revocations ConfigMap; reloaded when it changes, re-seeded into Redis)',
  },
  revocationsReseed: {
    flag: '--revocations-reseed-interval',
    env: 'SIDEGATE_REVOCATIONS_RESEED_INTERVAL',
    def: '10s',
    help: 'how often Redis is checked for the revocation list and re-seeded when it lost it (after a restart or FLUSHALL)',
  },
  redisTimeout: {
    flag: '--redis-timeout',
    env: 'SIDEGATE_REDIS_TIMEOUT',
    def: '5ms',
    help: 'budget for one Redis call on the request path',
  },
  replicas: {
    flag: '--replicas',
    env: 'SIDEGATE_REPLICAS',
    def: '1',
    help: 'pods of the service assumed by onRedisError: local until live pods are counted',
  },
  rateLimitLeasePeriod: {
    flag: '--rate-limit-lease-period',
    env: 'SIDEGATE_RATE_LIMIT_LEASE_PERIOD',
    def: '100ms',
    help: 'quota leasing for hot rate-limit keys: shortest time between Redis calls per key and pod (0 = off: every decision exact)',
  },
  rateLimitLeaseMaxPeriod: {
    flag: '--rate-limit-lease-max-period',
    env: 'SIDEGATE_RATE_LIMIT_LEASE_MAX_PERIOD',
    help: 'longest time between Redis calls per hot key and pod, when its demand on this pod is low (default 10 × --rate-limit-lease-period); at a limit, pods may hold up to rate × this',
  },
  service: { flag: '--service', env: 'SIDEGATE_SERVICE', def: 'default', help: 'service identity shared limits are keyed on' },
  namespace: { flag: '--namespace', env: 'SIDEGATE_NAMESPACE', def: 'default', help: 'namespace of the pod' },
  podName: { flag: '--pod-name', env: 'SIDEGATE_POD_NAME', def: '', help: 'name of the pod (for logs and heartbeats)' },
  tlsCert: { flag: '--tls-cert', env: 'SIDEGATE_TLS_CERT', help: 'PEM certificate: serve TLS with ALPN h2/http1.1 on the inbound port' },
  tlsKey: { flag: '--tls-key', env: 'SIDEGATE_TLS_KEY', help: 'PEM private key for --tls-cert' },
  maxHeaderSize: {
    flag: '--max-header-size',
    env: 'SIDEGATE_MAX_HEADER_SIZE',
    def: '16384',
    help: 'largest request header block in bytes (431 above)',
  },
  headersTimeout: {
    flag: '--headers-timeout',
    env: 'SIDEGATE_HEADERS_TIMEOUT',
    def: '10s',
    help: 'time a client has to send complete request headers (slowloris cut-off)',
  },
  requestTimeout: {
    flag: '--request-timeout',
    env: 'SIDEGATE_REQUEST_TIMEOUT',
    def: '5m',
    help: 'time a client has to send a complete request, body included',
  },
  idleTimeout: {
    flag: '--idle-timeout',
    env: 'SIDEGATE_IDLE_TIMEOUT',
    def: '60s',
    help: 'idle client connections, and clients that read nothing of what they are owed, are closed after this',
  },
  maxConcurrentStreams: {
    flag: '--max-concurrent-streams',
    env: 'SIDEGATE_MAX_CONCURRENT_STREAMS',
    def: '128',
    help: 'HTTP/2 streams per client session',
  },
  http1FastPath: {
    flag: '--http1-fast-path',
    env: 'SIDEGATE_HTTP1_FAST_PATH',
    def: 'auto',
    help: 'auto: llhttp reads HTTP/1.1 sockets in C++ when the start-up self-check passes; off: through public stream events',
  },
  http1Parser: {
    flag: '--http1-parser',
    env: 'SIDEGATE_HTTP1_PARSER',
    def: 'auto',
    help: "auto: Node's built-in llhttp when the start-up self-check passes; public: http-parser-js from npm, held to llhttp's strictness (slower; sockets read through stream events)",
  },
  drainDelay: {
    flag: '--drain-delay',
    env: 'SIDEGATE_DRAIN_DELAY',
    def: '5s',
    help: 'after SIGTERM, keep serving (not ready) this long before refusing new connections',
  },
  drainTimeout: {
    flag: '--drain-timeout',
    env: 'SIDEGATE_DRAIN_TIMEOUT',
    def: '25s',
    help: 'after the delay, wait this long for in-flight requests, then exit',
  },
  logLevel: { flag: '--log-level', env: 'SIDEGATE_LOG_LEVEL', def: 'info', help: 'trace|debug|info|warn|error|silent' },
  logHeaders: {
    flag: '--log-headers',
    env: 'SIDEGATE_LOG_HEADERS',
    boolean: true,
    help: 'include request headers (secrets redacted) in access log lines',
  },
  appProbes: {
    flag: '--app-probes',
    env: 'SIDEGATE_APP_PROBES',
    help: "JSON: the app's original kubelet probes, run by /app-health/<container>/<probe>",
  },
  eventLoopLagResolution: {
    flag: '--eventloop-lag-resolution',
    env: 'SIDEGATE_EVENTLOOP_LAG_RESOLUTION',
    def: '100ms',
    help: 'how often the nodejs_eventloop_lag_* metrics sample the event loop (1ms to 10s; each sample wakes an idle sidecar)',
  },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof PROXY_FLAGS;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parse argv then env (flags win). Throws ConfigError naming the flag and its env twin. */
export function parseProxyConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ProxyConfig {
  const raw = new Map<FlagName, string>();
  const byFlag = new Map<string, FlagName>();
  for (const [name, spec] of Object.entries(PROXY_FLAGS) as [FlagName, FlagSpec][]) {
    byFlag.set(spec.flag, name);
    const v = env[spec.env];
    if (v !== undefined && v !== '') raw.set(name, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const name = byFlag.get(flag);
    if (name === undefined) throw new ConfigError(`unknown flag ${flag} (see sidegate proxy --help)`);
    const spec: FlagSpec = PROXY_FLAGS[name];
    if (spec.boolean === true && eq < 0) {
      raw.set(name, 'true');
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    raw.set(name, value);
  }
  const get = (n: FlagName): string | undefined => raw.get(n) ?? (PROXY_FLAGS[n] as FlagSpec).def;
  const where = (n: FlagName): string => `${PROXY_FLAGS[n].flag} (${PROXY_FLAGS[n].env})`;

  const leasePeriodMs = parseDurationFlag(get('rateLimitLeasePeriod')!, where('rateLimitLeasePeriod'), true);
  const maxPeriod = get('rateLimitLeaseMaxPeriod');
  const leaseMaxPeriodMs = maxPeriod === undefined ? 10 * leasePeriodMs : parseDurationFlag(maxPeriod, where('rateLimitLeaseMaxPeriod'));
  if (leasePeriodMs > 0 && leaseMaxPeriodMs < leasePeriodMs) {
    throw new ConfigError(`${where('rateLimitLeaseMaxPeriod')}: must be at least ${where('rateLimitLeasePeriod')} (${leasePeriodMs} ms)`);
  }
  const tlsCert = get('tlsCert');
  const tlsKey = get('tlsKey');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new ConfigError(`${where('tlsCert')} and ${where('tlsKey')} go together`);
  return {
    listen: parseHostPort(get('listen')!, where('listen')),
    admin: parseHostPort(get('admin')!, where('admin')),
    upstream: parseUpstream(get('upstream')!, where('upstream')),
    policyFile: get('policy'),
    policyDefaults: get('policyDefaults'),
    policyOverlay: get('policyOverlay'),
    redisUrl: get('redis'),
    redisTimeoutMs: parseDurationFlag(get('redisTimeout')!, where('redisTimeout')),
    revocationsFile: get('revocations'),
    revocationsReseedMs: parseDurationFlag(get('revocationsReseed')!, where('revocationsReseed')),
    replicas: parseIntFlag(get('replicas')!, where('replicas'), 1, 100_000),
    rateLimitLeasePeriodMs: leasePeriodMs,
    rateLimitLeaseMaxPeriodMs: leaseMaxPeriodMs,
    service: get('service')!,
    namespace: get('namespace')!,
    podName: get('podName')!,
    tlsCert,
    tlsKey,
    maxHeaderSize: parseIntFlag(get('maxHeaderSize')!, where('maxHeaderSize'), 1024, 1 << 20),
    headersTimeoutMs: parseDurationFlag(get('headersTimeout')!, where('headersTimeout')),
    requestTimeoutMs: parseDurationFlag(get('requestTimeout')!, where('requestTimeout')),
    idleTimeoutMs: parseDurationFlag(get('idleTimeout')!, where('idleTimeout')),
    maxConcurrentStreams: parseIntFlag(get('maxConcurrentStreams')!, where('maxConcurrentStreams'), 1, 10_000),
    http1FastPath: parseFastPath(get('http1FastPath')!, where('http1FastPath')),
    http1Parser: parseParserChoice(get('http1Parser')!, where('http1Parser')),
    drainDelayMs: parseDurationFlag(get('drainDelay')!, where('drainDelay'), true),
    drainTimeoutMs: parseDurationFlag(get('drainTimeout')!, where('drainTimeout'), true),
    logLevel: parseLogLevel(get('logLevel')!, where('logLevel')),
    logHeaders: get('logHeaders') === 'true' || get('logHeaders') === '1',
    appProbes: get('appProbes'),
    eventLoopLagResolutionMs: parseEventLoopResolution(get('eventLoopLagResolution')!, where('eventLoopLagResolution')),
  };
}

function parseFastPath(s: string, where: string): 'auto' | 'off' {
  if (s !== 'auto' && s !== 'off') throw new ConfigError(`${where}: "${s}" is not auto or off`);
  return s;
}

function parseParserChoice(s: string, where: string): 'auto' | 'public' {
  if (s !== 'auto' && s !== 'public') throw new ConfigError(`${where}: "${s}" is not auto or public`);
  return s;
}

export function parseHostPort(s: string, where: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${where}: "${s}" is not HOST:PORT`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port };
}

function parseUpstream(s: string, where: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ConfigError(`${where}: "${s}" is not a URL (http://HOST:PORT or h2c://HOST:PORT)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'h2c:')
    throw new ConfigError(`${where}: scheme must be http or h2c, not ${u.protocol.slice(0, -1)}`);
  if (u.port === '' || u.hostname === '') throw new ConfigError(`${where}: "${s}" needs a host and a port`);
  return u;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationFlag(s: string, where: string, allowZero = false): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new ConfigError(`${where}: "${s}" is not a duration (e.g. 250ms, 5s, 1m)`);
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
  if (ms === 0 && !allowZero) throw new ConfigError(`${where}: must be more than 0`);
  return ms;
}

/** monitorEventLoopDelay() takes whole milliseconds; finer than 1 ms or coarser than 10 s says nothing useful. */
function parseEventLoopResolution(s: string, where: string): number {
  const ms = parseDurationFlag(s, where);
  if (!Number.isInteger(ms) || ms < 1 || ms > 10_000) throw new ConfigError(`${where}: "${s}" must be whole milliseconds from 1ms to 10s`);
  return ms;
}

function parseIntFlag(s: string, where: string, min: number, max: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${where}: "${s}" must be an integer from ${min} to ${max}`);
  return n;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
function parseLogLevel(s: string, where: string): string {
  if (!LEVELS.has(s)) throw new ConfigError(`${where}: "${s}" is not one of ${[...LEVELS].join(', ')}`);
  return s;
}

export function proxyUsage(): string {
  const lines = ['usage: sidegate proxy [flags]', ''];
  for (const spec of Object.values(PROXY_FLAGS) as FlagSpec[]) {
    lines.push(
      `  ${spec.flag.padEnd(26)} ${spec.help}${spec.def !== undefined && spec.def !== '' ? ` (default ${spec.def})` : ''}  [${spec.env}]`,
    );
  }
  return lines.join('\n');
}
