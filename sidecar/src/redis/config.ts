import { readFileSync } from 'node:fs';
import { Secret } from './secret.js';

/**
 * Where Redis is and how to log in, parsed once at start (the edge: this is the only code here that
 * sees raw strings). URL forms:
 *
 *   redis://[user[:pass]@]host:port[/db]                 standalone (rediss:// for TLS)
 *   redis+sentinel://host:port[,host:port...]/master[/db] Sentinel (rediss+sentinel:// for TLS)
 *   redis+cluster://host:port[,host:port...]              Cluster seed nodes (rediss+cluster://)
 *
 * Credentials should come from the environment or a mounted secret file, not the URL (a URL ends
 * up in `ps`, manifests and logs); a password in the URL still works and is still never logged.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type RedisTopology =
  | { readonly kind: 'standalone'; readonly node: HostPort; readonly db: number }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly masterName: string; readonly db: number }
  | { readonly kind: 'cluster'; readonly nodes: readonly HostPort[] };

export interface RedisTls {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: Secret | undefined;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

export interface RedisConfig {
  readonly topology: RedisTopology;
  readonly username: string | undefined;
  readonly password: Secret | undefined;
  readonly sentinelPassword: Secret | undefined;
  readonly tls: RedisTls | undefined;
}

export class RedisConfigError extends Error {
  override readonly name = 'RedisConfigError';
}

export type ReadFile = (path: string) => string;
const readUtf8: ReadFile = (p) => readFileSync(p, 'utf8');

/**
 * Environment variables read (all optional):
 * SIDEGATE_REDIS_USERNAME, SIDEGATE_REDIS_PASSWORD or SIDEGATE_REDIS_PASSWORD_FILE,
 * SIDEGATE_REDIS_SENTINEL_PASSWORD or SIDEGATE_REDIS_SENTINEL_PASSWORD_FILE,
 * SIDEGATE_REDIS_TLS=true, SIDEGATE_REDIS_TLS_CA_FILE, SIDEGATE_REDIS_TLS_CERT_FILE,
 * SIDEGATE_REDIS_TLS_KEY_FILE, SIDEGATE_REDIS_TLS_SERVER_NAME, SIDEGATE_REDIS_TLS_INSECURE=true.
 */
export function loadRedisConfig(
  url: string,
  env: Readonly<Record<string, string | undefined>>,
  readFile: ReadFile = readUtf8,
): RedisConfig {
  const u = parseRedisUrl(url);
  const username = nonEmpty(env.SIDEGATE_REDIS_USERNAME) ?? u.username;
  const password = secretFrom(env, 'SIDEGATE_REDIS_PASSWORD', readFile) ?? u.password;
  const sentinelPassword = secretFrom(env, 'SIDEGATE_REDIS_SENTINEL_PASSWORD', readFile);
  const tlsOn = u.tls || flag(env, 'SIDEGATE_REDIS_TLS');
  const file = (name: string): string | undefined => {
    const p = nonEmpty(env[name]);
    if (p === undefined) return undefined;
    try {
      return readFile(p);
    } catch (err) {
      throw new RedisConfigError(`${name}: cannot read ${p}: ${(err as Error).message}`);
    }
  };
  const keyPem = file('SIDEGATE_REDIS_TLS_KEY_FILE');
  const tls: RedisTls | undefined = tlsOn
    ? Object.freeze({
        ca: file('SIDEGATE_REDIS_TLS_CA_FILE'),
        cert: file('SIDEGATE_REDIS_TLS_CERT_FILE'),
        key: keyPem === undefined ? undefined : new Secret(keyPem),
        servername: nonEmpty(env.SIDEGATE_REDIS_TLS_SERVER_NAME),
        rejectUnauthorized: !flag(env, 'SIDEGATE_REDIS_TLS_INSECURE'),
      })
    : undefined;
  return Object.freeze({ topology: u.topology, username, password, sentinelPassword, tls });
}

interface ParsedUrl {
  readonly topology: RedisTopology;
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: Secret | undefined;
}

const SCHEME_RE = /^(rediss?)(\+sentinel|\+cluster)?:\/\//;
const REST_RE = /^([^/?#]+)(?:\/([^?#]*))?$/;

/**
 * Parse a Redis URL. Credentials are split off at the last `@` (host names have none; a password
 * may hold `/`, `@`, `?` or `#` unencoded) and never appear in an error message.
 */
export function parseRedisUrl(url: string): ParsedUrl {
  const trimmed = url.trim();
  const s = SCHEME_RE.exec(trimmed);
  const at = trimmed.lastIndexOf('@');
  const userinfo = s !== null && at >= s[0].length ? trimmed.slice(s[0].length, at) : undefined;
  const m = s === null ? null : REST_RE.exec(trimmed.slice(userinfo === undefined ? s[0].length : at + 1));
  // Never echoed: a URL that does not parse may hold a password anywhere in it.
  if (s === null || m === null)
    throw new RedisConfigError(
      `not a Redis URL${s === null ? '' : ` after ${s[0]}`} (expected redis://, rediss://, redis+sentinel:// or redis+cluster://, then host:port[,host:port][/db]; credentials in SIDEGATE_REDIS_PASSWORD)`,
    );
  const [, scheme, variant] = s;
  const [, hostList, path] = m;
  let username: string | undefined;
  let password: Secret | undefined;
  if (userinfo !== undefined) {
    const i = userinfo.indexOf(':');
    username = nonEmpty(decodeCredential(i < 0 ? userinfo : userinfo.slice(0, i), 'user name'));
    if (i >= 0) password = new Secret(decodeCredential(userinfo.slice(i + 1), 'password'));
  }
  const defaultPort = variant === '+sentinel' ? 26379 : 6379;
  const hosts = hostList!.split(',').map((h) => parseHostPort(h, defaultPort));
  const segments = (path ?? '').split('/').filter((s) => s !== '');
  let topology: RedisTopology;
  if (variant === '+sentinel') {
    const [masterName, db] = segments;
    if (masterName === undefined)
      throw new RedisConfigError('a redis+sentinel:// URL needs the master name as its path: redis+sentinel://host:26379/mymaster');
    topology = { kind: 'sentinel', sentinels: hosts, masterName: decodeURIComponent(masterName), db: parseDb(db) };
  } else if (variant === '+cluster') {
    if (segments.length > 0) throw new RedisConfigError('a redis+cluster:// URL takes no path (Cluster has no databases)');
    topology = { kind: 'cluster', nodes: hosts };
  } else {
    if (hosts.length !== 1)
      throw new RedisConfigError('a redis:// URL names one host; use redis+sentinel:// or redis+cluster:// for several');
    topology = { kind: 'standalone', node: hosts[0]!, db: parseDb(segments[0]) };
  }
  return { topology, tls: scheme === 'rediss', username, password };
}

function parseHostPort(s: string, defaultPort: number): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(s);
  // Shown only when it looks like a host: a forgotten host can leave `user:password` here.
  if (!m) throw new RedisConfigError(`bad host:port ${/^[A-Za-z0-9.-]*(?::\d*)?$/.test(s) ? `"${s}" ` : ''}in the Redis URL`);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RedisConfigError(`bad port in "${s}"`);
  return { host: m[1] ?? m[2]!, port };
}

function parseDb(s: string | undefined): number {
  if (s === undefined || s === '') return 0;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new RedisConfigError(`bad database number "${s}" in the Redis URL`);
  return n;
}

function secretFrom(env: Readonly<Record<string, string | undefined>>, name: string, readFile: ReadFile): Secret | undefined {
  const direct = env[name];
  const path = nonEmpty(env[`${name}_FILE`]);
  if (direct !== undefined && direct !== '' && path !== undefined) throw new RedisConfigError(`set ${name} or ${name}_FILE, not both`);
  if (path !== undefined) {
    let text: string;
    try {
      text = readFile(path);
    } catch (err) {
      throw new RedisConfigError(`${name}_FILE: cannot read ${path}: ${(err as Error).message}`);
    }
    // Secret files written by `kubectl create secret --from-file` or editors often end in a newline.
    return new Secret(text.replace(/\r?\n$/, ''));
  }
  return direct === undefined || direct === '' ? undefined : new Secret(direct);
}

function flag(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const v = env[name]?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'false' || v === '0' || v === 'no') return false;
  if (v === 'true' || v === '1' || v === 'yes') return true;
  throw new RedisConfigError(`${name} must be true or false, not "${env[name]}"`);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

/** The URL with any password replaced, for error messages. */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  const start = url.indexOf('//');
  return start >= 0 && at > start ? `${url.slice(0, start + 2)}***@${url.slice(at + 1)}` : url;
}

/** Percent-decode a user name or password; a malformed escape is named without showing the text. */
function decodeCredential(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RedisConfigError(`malformed percent-encoding in the Redis URL's ${what}`);
  }
}

/** One line for the startup log: topology and endpoints, whether auth and TLS are on; never secrets. */
export function describeRedis(c: RedisConfig): string {
  const hp = (h: HostPort): string => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`);
  const t = c.topology;
  const where =
    t.kind === 'standalone'
      ? `standalone ${hp(t.node)} db ${t.db}`
      : t.kind === 'sentinel'
        ? `sentinel ${t.sentinels.map(hp).join(',')} master ${t.masterName} db ${t.db}`
        : `cluster ${t.nodes.map(hp).join(',')}`;
  const flags = [c.password ? 'auth' : 'no auth', c.tls ? 'tls' : 'no tls'];
  return `${where} (${flags.join(', ')})`;
}
