/**
 * `sidegate explain`: why a request is (or would be) served or refused under a policy, from the
 * sidecar's own deciding stages (sidecar/src/explain). This file is the adapter: arguments,
 * keys, the token, output. Exit 0: the request reaches the app; 1: sidegate answers it; 2: bad input.
 */
import { access } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { AuthProvider, CompiledPolicy, TokenSource } from '../policies/src/types.js';
import { systemClock, type Clock } from '../sidecar/src/clock.js';
import { Explainer, type Explanation } from '../sidecar/src/explain/explainer.js';
import { offlineToken } from '../sidecar/src/explain/offline.js';
import { PolicyLoadError, PolicySource } from '../sidecar/src/policy/source.js';
import { FileJwksSource, sourceFor, type Jwk, type KeySource } from '../sidecar/src/stages/authenticate/index.js';
import { readToken } from '../sidecar/src/stages/authenticate/token-source.js';
import { createLogger } from '../sidecar/src/telemetry/logger.js';
import { Metrics } from '../sidecar/src/telemetry/metrics.js';
import { EXPLAIN_USAGE, parseExplainArgs, UsageError, type ExplainArgs } from './explain-args.js';
import { explanationText } from './explain-text.js';
import type { CliIo } from './io.js';

export interface ExplainResult extends Explanation {
  /** What the explanation could not see, in words (Redis state, the signature under --offline, ...). */
  readonly notes: readonly string[];
}

export async function runExplain(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.out(EXPLAIN_USAGE);
    return 0;
  }
  let args: ExplainArgs;
  try {
    args = parseExplainArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`sidegate explain: ${err.message}\n(sidegate explain --help for the options)`);
    return 2;
  }
  try {
    const r = await explain(args);
    io.out(args.json ? JSON.stringify(r, null, 2) : explanationText(r));
    return r.answer.forwarded ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`sidegate explain: ${err.message}`);
      return 2;
    }
    if (err instanceof PolicyLoadError) {
      io.err(`sidegate explain: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

/** The explanation for parsed arguments (what runExplain prints). */
export async function explain(args: ExplainArgs): Promise<ExplainResult> {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(
    'warn',
    new Writable({
      write(c: Buffer, _e, cb) {
        for (const l of c.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const policy = await loadPolicy(args, log);
  const request = placeToken(args, policy);
  const offline = args.offline && args.token !== undefined ? offlineToken(args.token) : undefined;
  if (offline !== undefined) request.headers = request.headers.map(([n, v]) => [n, v.replace(args.token!, offline.token)] as const);
  request.target = offline === undefined ? request.target : request.target.replace(encodeURIComponent(args.token!), offline.token);
  // Keys matter only when there is a token to verify; then every provider's are loaded first, so
  // that one that cannot be had is reported at once instead of waited for.
  const hasToken = carriesToken(policy, request.headers, request.target);
  const keySource = args.offline ? (offline?.keySource ?? (() => NO_KEYS)) : keysFrom(args);
  const explainer = await Explainer.create(policy, {
    namespace: args.namespace,
    service: args.service,
    log,
    clock: args.at === undefined ? undefined : fixedClock(args.at),
    keySource: hasToken ? await preload(policy.auth?.providers ?? [], keySource) : keySource,
    keysWaitMs: hasToken ? 2000 : 0,
  });
  try {
    if (hasToken && !args.offline && !explainer.keysReady) {
      const why = lines
        .filter((l) => typeof l.why === 'string' || l.msg === 'auth: key set fetch failed')
        .map((l) => `  ${String(l.provider)}: ${String(l.err ?? l.why)}`);
      throw new UsageError(`the request carries a token but the keys to verify it are not usable:\n${[...new Set(why)].join('\n')}`);
    }
    const e = await explainer.explain({
      method: args.method,
      target: request.target,
      headers: request.headers,
      clientIp: args.clientIp,
      protocol: args.http2 ? 'h2' : 'http/1.1',
    });
    return { ...e, notes: notes(args, policy, e, offline !== undefined) };
  } finally {
    explainer.close();
  }
}

async function loadPolicy(args: ExplainArgs, log: ReturnType<typeof createLogger>): Promise<CompiledPolicy> {
  try {
    await access(args.policyFile);
  } catch {
    throw new UsageError(`cannot read the policy file ${args.policyFile}`);
  }
  const source = new PolicySource({
    file: args.policyFile,
    defaults: args.defaults,
    overlay: args.overlay,
    log,
    metrics: new Metrics({ processMetrics: false }),
  });
  try {
    const p = await source.load();
    if (p === undefined) throw new UsageError(`cannot read the policy file ${args.policyFile}`);
    return p;
  } finally {
    source.close();
  }
}

/** --token goes where the first provider reads tokens first (its first `from` source). */
function placeToken(args: ExplainArgs, policy: CompiledPolicy): { headers: (readonly [string, string])[]; target: string } {
  const headers = [...args.headers];
  let target = args.target;
  if (args.token === undefined) return { headers, target };
  const src: TokenSource | undefined = policy.auth?.providers[0]?.from[0];
  if (src === undefined) throw new UsageError('the policy has no auth providers: --token has nowhere to go');
  if (src.kind === 'header') {
    if (headers.some(([n]) => n.toLowerCase() === src.name))
      throw new UsageError(`--token goes in the ${src.name} header, which -H also sets: give one of them`);
    headers.unshift([src.name, `${src.prefix}${args.token}`]);
  } else if (src.kind === 'cookie') {
    headers.push(['cookie', `${src.name}=${args.token}`]);
  } else {
    target += `${target.includes('?') ? '&' : '?'}${src.name}=${encodeURIComponent(args.token)}`;
  }
  return { headers, target };
}

/** Does the request carry something in a place any provider reads tokens from? */
function carriesToken(policy: CompiledPolicy, fields: readonly (readonly [string, string])[], target: string): boolean {
  const headers: Record<string, string> = {};
  for (const [n, v] of fields) headers[n.toLowerCase()] ??= v;
  return (policy.auth?.providers ?? []).some((p) => p.from.some((src) => readToken(src, headers, target) !== undefined));
}

/** Load every provider's keys once; any that cannot be had is a usage error naming the provider and why. */
async function preload(providers: readonly AuthProvider[], from: (p: AuthProvider) => KeySource): Promise<(p: AuthProvider) => KeySource> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('no answer in 10 s')), 10_000);
  try {
    const loaded = await Promise.all(
      providers.map(async (p) => {
        const src = from(p);
        try {
          return { p, src, keys: await src.load(ac.signal) };
        } catch (err) {
          return { p, src, err: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    const failed = loaded.filter((l) => 'err' in l).map((l) => `  ${l.p.name}: ${(l as { err: string }).err}`);
    if (failed.length > 0)
      throw new UsageError(`the request carries a token but the keys to verify it are not available:\n${failed.join('\n')}`);
    const byName = new Map(
      loaded.map((l) => [
        l.p.name,
        {
          description: l.src.description,
          remote: false,
          secret: l.src.secret,
          load: () => Promise.resolve((l as { keys: readonly Jwk[] }).keys),
        } satisfies KeySource,
      ]),
    );
    return (p) => byName.get(p.name) ?? NO_KEYS;
  } finally {
    clearTimeout(timer);
  }
}

const NO_KEYS: KeySource = { description: 'no keys', remote: false, secret: false, load: () => Promise.resolve([]) };

/** --jwks files first, then what the policy names when it is local (inline, file, secret), URIs only with --fetch-keys. */
function keysFrom(args: ExplainArgs): (p: AuthProvider) => KeySource {
  return (p) => {
    const file = args.jwks.get(p.name) ?? (p.secret === undefined ? args.jwks.get('*') : undefined);
    if (file !== undefined) return new FileJwksSource(file);
    const remote = p.jwks !== undefined && (p.jwks.uri !== undefined || p.jwks.discovery);
    if (!remote || args.fetchKeys) return sourceFor(p);
    const where = p.jwks?.uri ?? `${p.issuer} (OpenID discovery)`;
    return {
      description: where,
      remote: false,
      secret: false,
      load: () => Promise.reject(new Error(`keys are at ${where}: pass --jwks ${p.name}=FILE, --fetch-keys, or --offline`)),
    };
  };
}

function fixedClock(at: number): Clock {
  return { ...systemClock, now: () => at };
}

function notes(args: ExplainArgs, policy: CompiledPolicy, e: Explanation, resigned: boolean): string[] {
  const out: string[] = [];
  if (args.offline) {
    out.push(
      resigned
        ? 'signature NOT checked (--offline): the token was judged with a made-up key of its algorithm; everything else is the real check'
        : 'signature NOT checked (--offline), and the token could not be re-signed (malformed, or an algorithm without keys): judged as it is',
    );
  }
  if (args.at !== undefined) out.push(`token times judged as of ${new Date(args.at).toISOString()}`);
  if (e.limits.length > 0)
    out.push(
      'shared rate-limit budgets are not consulted (they live in Redis): each limit is shown with room left; a key whose budget is spent is answered 429',
    );
  // The durable list applies to every pod whatever the policy says; Redis only with auth.revocation.
  out.push(
    `revocations and bans are not consulted (the namespace's sidegate-revocations ConfigMap${policy.auth?.revocation?.enabled === true ? ' and Redis' : ''}): sidegate revoke --list -n NS shows what is in force`,
  );
  if (e.answer.forwarded && policy.breaker !== undefined)
    out.push('the circuit breaker and the app itself decide what follows (503 when the breaker is open)');
  return out;
}
