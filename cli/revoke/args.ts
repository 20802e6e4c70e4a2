/** The flags of `sidegate revoke` and `sidegate ban`, parsed into one entry (or a list request). */
import { parseIp, parseTime, type RevocationEntry } from '../../sidecar/src/revocation/index.js';

const COMMON = `  -n, --namespace NS     the namespace whose sidegate-revocations ConfigMap is written
                         (default: the context's, else default); one list per namespace
  --redis URL            also write the fast copy now (redis://, rediss://, redis+sentinel://,
                         redis+cluster://; SIDEGATE_REDIS_PASSWORD etc. as for the sidecar):
                         every pod sees it on its next request. Without it, pods see the entry
                         when the kubelet syncs the ConfigMap (about a minute)
  --for DURATION         how long the entry holds (e.g. 90m, 24h, 7d; default 24h)
  --expires TIME         or until when (RFC 3339, e.g. 2026-12-07T21:30:00Z)
  --reason TEXT          kept with the entry and shown in the list
  --remove               lift the entry instead (same selector, no expiry needed)
  --list                 print what is in force and change nothing
  --kubeconfig FILE      default: $KUBECONFIG, else ~/.kube/config, else the pod's service account
  --context NAME         a context of the kubeconfig other than its current one
  --timeout MS           for each Redis write (default 5000)
  -o, --output text|json
Exit 0: written; 1: a write failed (the message says which copy holds the entry); 2: usage.`;

export const REVOKE_USAGE = `usage: sidegate revoke (--jti ID | --issuer ISS [--subject SUB] [--issued-before TIME]) [flags]

Revokes tokens: one token by its jti, or every token of an issuer, or of one subject of it, issued
before a time (by the token's iat; a token without iat counts as issued before). The entry goes to
Redis (--redis) and to the durable ConfigMap the sidecars mount; then what is in force is printed.
  --jti ID               one token
  --issuer ISS           the issuer (exactly as the tokens' iss claim)
  --subject SUB          with --issuer: only this subject's tokens
  --issued-before TIME   the cut-off (RFC 3339; default: now): tokens issued before are refused,
                         tokens issued after (the re-authenticated) pass
${COMMON}`;

export const BAN_USAGE = `usage: sidegate ban IP [flags]

Bans a client address (as the sidecar reads it: spec.clientAddress.trustedHops): every request
from it is answered 403 SIDEGATE_ERR_FORBIDDEN (banned), on every route. The entry goes to Redis
(--redis) and to the durable ConfigMap the sidecars mount; then what is in force is printed.
${COMMON}`;

interface Common {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly redis?: string;
  readonly timeoutMs: number;
  readonly output: 'text' | 'json';
}

export type RevokeArgs = Common & ({ readonly action: 'list' } | { readonly action: 'add' | 'remove'; readonly entry: RevocationEntry });

const UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DEFAULT_FOR_MS = 86_400_000;

export function parseDuration(s: string): number | undefined {
  const m = /^(\d+)(s|m|h|d)$/.exec(s);
  return m === null ? undefined : Number(m[1]) * UNIT[m[2]!]!;
}

export function parseRevokeArgs(cmd: 'revoke' | 'ban', argv: readonly string[], now: number): RevokeArgs | string {
  const v: Record<string, string> = {};
  const words: string[] = [];
  let action: 'add' | 'remove' | 'list' = 'add';
  const valued = new Set([
    '--jti',
    '--issuer',
    '--subject',
    '--issued-before',
    '--for',
    '--expires',
    '--reason',
    '--kubeconfig',
    '--context',
    '--namespace',
    '--redis',
    '--timeout',
    '--output',
  ]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    let flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag === '-n') flag = '--namespace';
    if (flag === '-o') flag = '--output';
    if (flag === '--remove') {
      action = 'remove';
      continue;
    }
    if (flag === '--list') {
      action = 'list';
      continue;
    }
    if (valued.has(flag)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') return `${flag} needs a value`;
      if (v[flag] !== undefined) return `${flag} given twice`;
      v[flag] = value;
    } else if (arg.startsWith('-') && arg !== '-') return `unknown flag ${arg}`;
    else words.push(arg);
  }
  const output = v['--output'] ?? 'text';
  if (output !== 'text' && output !== 'json') return '--output is text or json';
  const timeoutMs = v['--timeout'] === undefined ? 5000 : Number(v['--timeout']);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) return '--timeout takes milliseconds';
  const common: Common = {
    ...(v['--kubeconfig'] === undefined ? {} : { kubeconfig: v['--kubeconfig'] }),
    ...(v['--context'] === undefined ? {} : { context: v['--context'] }),
    ...(v['--namespace'] === undefined ? {} : { namespace: v['--namespace'] }),
    ...(v['--redis'] === undefined ? {} : { redis: v['--redis'] }),
    timeoutMs,
    output,
  };
  const tokenFlags = ['--jti', '--issuer', '--subject', '--issued-before'].filter((f) => v[f] !== undefined);
  if (action === 'list') {
    const extra = [...tokenFlags, ...['--for', '--expires', '--reason'].filter((f) => v[f] !== undefined), ...words];
    return extra.length > 0 ? `--list takes no ${extra.join(', ')}` : { ...common, action };
  }
  if (v['--for'] !== undefined && v['--expires'] !== undefined) return '--for and --expires: give one';
  let expires = now + DEFAULT_FOR_MS;
  if (v['--for'] !== undefined) {
    const d = parseDuration(v['--for']);
    if (d === undefined || d === 0) return `--for "${v['--for']}" is not a duration (like 90m, 24h, 7d)`;
    expires = now + d;
  }
  if (v['--expires'] !== undefined) {
    const t = parseTime(v['--expires']);
    if (typeof t !== 'number') return `--expires ${t.message}`;
    if (t <= now && action === 'add') return `--expires ${v['--expires']} is in the past: the entry would never apply`;
    expires = t;
  }
  const reason = v['--reason'] === undefined ? {} : { reason: v['--reason'] };

  if (cmd === 'ban') {
    if (tokenFlags.length > 0) return `${tokenFlags.join(', ')}: sidegate ban takes an address; tokens are revoked with sidegate revoke`;
    if (words.length !== 1) return words.length === 0 ? 'which address? sidegate ban IP' : `one address at a time (got ${words.join(' ')})`;
    const ip = parseIp(words[0]);
    if (typeof ip !== 'string') return `${words[0]}: ${ip.message}`;
    return { ...common, action, entry: { kind: 'ip', ip, expires, ...reason } };
  }
  if (words.length > 0) return `unexpected ${words.join(' ')} (a token is named with --jti or --issuer)`;
  if (v['--jti'] !== undefined) {
    if (tokenFlags.length > 1) return '--jti names one token: not with --issuer, --subject or --issued-before';
    return { ...common, action, entry: { kind: 'jti', jti: v['--jti'], expires, ...reason } };
  }
  const issuer = v['--issuer'];
  if (issuer === undefined)
    return v['--subject'] !== undefined
      ? '--subject needs --issuer (subjects are per issuer)'
      : 'what to revoke? --jti ID, or --issuer ISS [--subject SUB]';
  let before = now;
  if (v['--issued-before'] !== undefined) {
    const t = parseTime(v['--issued-before']);
    if (typeof t !== 'number') return `--issued-before ${t.message}`;
    before = t;
  }
  if (expires <= before && action === 'add')
    return `the entry would expire (${new Date(expires).toISOString()}) before its cut-off: give --for at least the issuer's longest token lifetime`;
  const subject = v['--subject'];
  return subject === undefined
    ? { ...common, action, entry: { kind: 'issuer', issuer, issuedBefore: before, expires, ...reason } }
    : { ...common, action, entry: { kind: 'subject', issuer, subject, issuedBefore: before, expires, ...reason } };
}
