/**
 * `sidegate explain` arguments: parsed at the edge into a frozen plan, every mistake refused with
 * a sentence that names the flag and what was wrong.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export const EXPLAIN_USAGE = `usage: sidegate explain -f POLICY [options] [METHOD] TARGET

Which route, maintenance switch, auth rule, identity and rate-limit keys decide a request under
a policy, and what the sidecar would answer: its own deciding stages, run offline.

  -f, --policy FILE          the policy (YAML or JSON), or a ConfigMap manifest holding data["policy.yaml"]
      --policy-defaults JSON chart defaults under it, as the pod has them (SIDEGATE_POLICY_DEFAULTS)
      --policy-overlay JSON  the annotation overlay over it (SIDEGATE_POLICY_OVERLAY)
  METHOD TARGET              e.g. POST /api/orders?id=1 (default method GET), or an absolute URL
  -H, --header 'NAME: VALUE' a request header (repeatable)
      --token TOKEN          a token, sent where the first provider reads tokens (Authorization: Bearer)
      --token-file FILE      the same, read from a file
      --client-ip IP         the client's address as the sidecar's socket sees it (default 127.0.0.1)
      --http2                judge it as an HTTP/2 request (no absolute-form target)
      --jwks [PROVIDER=]FILE verification keys from a JWKS file, for one provider or all (repeatable)
      --fetch-keys           fetch keys from the URIs the policy names (network access)
      --offline              skip signature checks: the token is judged with a made-up key (said so)
      --at TIME              judge the token's times as of TIME (RFC 3339, or seconds since the epoch)
      --namespace NS         the pod's namespace (shared limit keys; default "default")
      --service NAME         the service identity (shared limit keys; default "default")
      --json                 print the explanation as JSON

Keys: a provider's inline keys, key file or secret are used as the policy says; keys behind a URI
(jwks.uri, discovery) need --jwks, --fetch-keys or --offline. Shared rate-limit budgets (Redis)
and revocations and bans (the sidegate-revocations ConfigMap and Redis) are not consulted: the
explanation names the limit keys; sidegate revoke --list shows the revocations in force.
Exit status: 0 the request reaches the app, 1 sidegate answers it itself, 2 bad input.`;

export interface ExplainArgs {
  readonly policyFile: string;
  readonly defaults: string | undefined;
  readonly overlay: string | undefined;
  readonly method: string;
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly token: string | undefined;
  readonly clientIp: string;
  readonly http2: boolean;
  /** Provider name (or '*' for all) → JWKS file. */
  readonly jwks: ReadonlyMap<string, string>;
  readonly fetchKeys: boolean;
  readonly offline: boolean;
  /** Wall-clock ms to judge token times at; undefined: now. */
  readonly at: number | undefined;
  readonly namespace: string;
  readonly service: string;
  readonly json: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function header(raw: string): [string, string] {
  const colon = raw.indexOf(':');
  const name = colon < 0 ? '' : raw.slice(0, colon).trim();
  if (colon < 0 || !FIELD_NAME.test(name)) throw new UsageError(`--header "${raw}": expected NAME: VALUE with NAME a header field name`);
  // What HTTP/1.1 parsers hand over: the value without the whitespace around it.
  const value = raw.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header ${name}: CR, LF and NUL cannot be in a header value`);
  return [name, value];
}

function time(raw: string): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d\d-\d\dT/.test(raw) || Number.isNaN(ms))
    throw new UsageError(`--at "${raw}": expected an RFC 3339 time such as 2026-01-31T03:00:00Z, or seconds since the epoch`);
  return ms;
}

/**
 * The target as sent, judged by the sidecar's own validator (an HTTP/1.1 absolute-form URL
 * included). Over HTTP/2 a URL is split as a client would: its authority becomes the Host.
 */
function targetOf(raw: string, headers: [string, string][], http2: boolean): string {
  if (raw === '') throw new UsageError('the target is empty');
  const url = /^https?:\/\/([^/?#]*)(.*)$/i.exec(raw);
  if (!http2 || url === null) return raw;
  if (!headers.some(([n]) => n.toLowerCase() === 'host')) headers.push(['host', url[1]!]);
  return url[2] === '' ? '/' : url[2]!;
}

export function parseExplainArgs(argv: readonly string[]): ExplainArgs {
  const headers: [string, string][] = [];
  const positional: string[] = [];
  const jwks = new Map<string, string>();
  let policyFile: string | undefined;
  let defaults: string | undefined;
  let overlay: string | undefined;
  let token: string | undefined;
  let clientIp = '127.0.0.1';
  let http2 = false;
  let fetchKeys = false;
  let offline = false;
  let at: number | undefined;
  let namespace = 'default';
  let service = 'default';
  let json = false;
  let method: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '-f':
      case '--policy':
        policyFile = value();
        break;
      case '--policy-defaults':
        defaults = value();
        break;
      case '--policy-overlay':
        overlay = value();
        break;
      case '-X':
      case '--method':
        method = value();
        break;
      case '-H':
      case '--header':
        headers.push(header(value()));
        break;
      case '--token':
        token = value().trim();
        break;
      case '--token-file': {
        const f = value();
        try {
          token = readFileSync(f, 'utf8').trim();
        } catch (err) {
          throw new UsageError(`--token-file ${f}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        break;
      }
      case '--client-ip':
        clientIp = value();
        if (isIP(clientIp) === 0) throw new UsageError(`--client-ip "${clientIp}" is not an IPv4 or IPv6 address`);
        break;
      case '--http2':
        http2 = true;
        break;
      case '--jwks': {
        const v = value();
        const eq = v.indexOf('=');
        const [who, file] = eq > 0 && !v.startsWith('/') && !v.startsWith('.') ? [v.slice(0, eq), v.slice(eq + 1)] : ['*', v];
        if (jwks.has(who)) throw new UsageError(`--jwks ${who === '*' ? '' : `${who}=`}is given twice`);
        jwks.set(who, file);
        break;
      }
      case '--fetch-keys':
        fetchKeys = true;
        break;
      case '--offline':
        offline = true;
        break;
      case '--at':
        at = time(value());
        break;
      case '--namespace':
        namespace = value();
        break;
      case '--service':
        service = value();
        break;
      case '--json':
        json = true;
        break;
      case '--':
        positional.push(...argv.slice(i + 1));
        i = argv.length;
        break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
        positional.push(a);
    }
  }
  if (policyFile === undefined) throw new UsageError('a policy is needed: -f FILE');
  if (positional.length === 0) throw new UsageError('a target is needed, e.g. /api/orders');
  if (positional.length > 2) throw new UsageError(`expected [METHOD] TARGET, got ${positional.length} arguments: ${positional.join(' ')}`);
  if (positional.length === 2) {
    if (method !== undefined) throw new UsageError('the method is given twice (-X and before the target)');
    method = positional[0];
  }
  method ??= 'GET';
  // Methods are case-sensitive (RFC 9110 §9.1): `get` is judged as sent (and refused, as the sidecar does).
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) throw new UsageError(`method "${method}" is not an HTTP method token`);
  if (offline && fetchKeys) throw new UsageError('--offline and --fetch-keys contradict each other');
  if (offline && jwks.size > 0) throw new UsageError('--offline and --jwks contradict each other');
  if (token !== undefined && token === '') throw new UsageError('the token is empty');
  if (offline && token === undefined)
    throw new UsageError('--offline judges the token given with --token or --token-file (its signature is the part it replaces)');
  const target = targetOf(positional.at(-1)!, headers, http2);
  return Object.freeze({
    policyFile,
    defaults,
    overlay,
    method,
    target,
    headers,
    token,
    clientIp,
    http2,
    jwks,
    fetchKeys,
    offline,
    at,
    namespace,
    service,
    json,
  });
}
