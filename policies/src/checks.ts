/**
 * Checks JSON Schema cannot express: cross-references, unique names, algorithm families, header
 * safety and arithmetic sanity. They run on the defaulted document even when the schema found
 * problems (so one run reports everything), hence every read is guarded.
 */
import { HOP_BY_HOP } from '../../sidecar/src/protocol/headers.js';
import { algorithmKind } from './algorithms.js';
import { parseDuration } from './duration.js';
import { isPlainObject, type JsonObject } from './merge.js';
import { escapePointer, quote } from './problems.js';
import type { PolicyProblem } from './types.js';

/** Headers a claim may not be written into: they frame, route or trace the request. */
const NOT_FORWARDABLE = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'cookie',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'via',
]);

const obj = (v: unknown): JsonObject | undefined => (isPlainObject(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

type Report = (path: string, message: string) => void;

function checkUniqueNames(items: unknown[], base: string, what: string, report: Report): string[] {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const name = str(obj(item)?.name);
    if (name === undefined) return;
    const seen = first.get(name);
    if (seen === undefined) first.set(name, i);
    else report(`${base}/${i}/name`, `duplicate ${what} name ${quote(name)} (first used at ${base}/${seen}/name)`);
  });
  return [...first.keys()];
}

function checkHeaderNotHopByHop(header: unknown, path: string, report: Report): void {
  const name = str(header)?.toLowerCase();
  if (name !== undefined && HOP_BY_HOP.has(name)) {
    report(path, `"${name}" is a hop-by-hop header: it describes one connection and never reaches sidegate's stages`);
  }
}

function checkAlgorithms(p: JsonObject, path: string, report: Report): 'hs' | 'asym' | undefined {
  const algs = arr(p.algorithms).map(str);
  const family = (a: string | undefined): 'hs' | 'asym' | undefined => {
    const kind = a === undefined ? undefined : algorithmKind(a);
    return kind === 'symmetric' ? 'hs' : kind === 'asymmetric' ? 'asym' : undefined;
  };
  const firstIndex = algs.findIndex((a) => family(a) !== undefined);
  if (firstIndex < 0) return undefined;
  const first = algs[firstIndex];
  const kind = family(first);
  const clash = algs.findIndex((a) => family(a) !== undefined && family(a) !== kind);
  if (clash >= 0) {
    report(
      `${path}/algorithms/${clash}`,
      `${algs[clash]} cannot be combined with ${first} in one provider: HS* algorithms verify with a shared secret, ` +
        'the others with public keys (the RS256-to-HS256 confusion attack); use two providers',
    );
    return undefined;
  }
  return kind;
}

function checkKeySources(p: JsonObject, kind: 'hs' | 'asym' | undefined, path: string, report: Report): void {
  const jwks = obj(p.jwks);
  if (kind === 'hs') {
    if (p.secret === undefined) report(`${path}/secret`, 'is required for HS* algorithms');
    if (jwks !== undefined) report(`${path}/jwks`, 'cannot be used with HS* algorithms: their key comes from secret');
  } else if (kind === 'asym') {
    if (jwks === undefined) report(`${path}/jwks`, 'is required for asymmetric algorithms (uri, discovery, file or keys)');
    if (p.secret !== undefined)
      report(
        `${path}/secret`,
        'is only used with HS* algorithms (list HS256, HS384 or HS512 in algorithms; the default allows only asymmetric ones)',
      );
  }
  if (jwks === undefined) return;
  const found = (['uri', 'discovery', 'file', 'keys'] as const).filter((k) =>
    k === 'discovery' ? jwks.discovery === true : jwks[k] !== undefined,
  );
  if (found.length === 0) report(`${path}/jwks`, 'needs one of uri, discovery: true, file or keys');
  if (found.length > 1) report(`${path}/jwks`, `must have only one of uri, discovery: true, file or keys (found ${found.join(', ')})`);
  const issuer = str(p.issuer);
  if (jwks.discovery === true && issuer !== undefined && !/^https?:\/\//.test(issuer)) {
    report(`${path}/issuer`, 'must be an http:// or https:// URL when jwks.discovery is true');
  }
  const algs = new Set(arr(p.algorithms).map(str));
  arr(jwks.keys).forEach((key, i) => {
    const alg = str(obj(key)?.alg);
    if (alg !== undefined && !algs.has(alg)) {
      report(`${path}/jwks/keys/${i}/alg`, `${quote(alg)} is not in this provider's algorithms`);
    }
  });
}

function checkTokenSources(p: JsonObject, path: string, report: Report): void {
  arr(p.from).forEach((source, i) => {
    const s = obj(source);
    if (s === undefined) return;
    const kinds = (['header', 'cookie', 'query'] as const).filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) {
      report(
        `${path}/from/${i}`,
        `must have exactly one of header, cookie or query${kinds.length > 1 ? ` (found ${kinds.join(', ')})` : ''}`,
      );
    }
    if (s.prefix !== undefined && s.header === undefined) report(`${path}/from/${i}/prefix`, 'only applies to a header source');
    checkHeaderNotHopByHop(s.header, `${path}/from/${i}/header`, report);
  });
}

function checkForwardClaims(p: JsonObject, path: string, report: Report): void {
  const used = new Map<string, string>();
  for (const [claim, header] of Object.entries(obj(p.forwardClaims) ?? {})) {
    const name = str(header)?.toLowerCase();
    if (name === undefined) continue;
    const at = `${path}/forwardClaims/${escapePointer(claim)}`;
    if (HOP_BY_HOP.has(name)) report(at, `cannot forward into "${name}": it is a hop-by-hop header`);
    else if (NOT_FORWARDABLE.has(name)) report(at, `cannot forward into "${name}": sidegate or the HTTP framing owns that header`);
    const other = used.get(name);
    if (other !== undefined) report(at, `header ${quote(name)} already carries claim ${quote(other)}`);
    else used.set(name, claim);
  }
}

function checkRequirement(req: unknown, path: string, providers: readonly string[], configured: boolean, report: Report): void {
  if (req === 'none' || (req !== 'any' && !isPlainObject(req))) return;
  if (!configured) {
    report(path, 'requires a token, but spec.auth.providers is empty');
    return;
  }
  const r = obj(req);
  arr(r?.providers).forEach((name, i) => {
    if (typeof name === 'string' && !providers.includes(name)) {
      report(`${path}/providers/${i}`, `unknown provider ${quote(name)} (known: ${providers.map(quote).join(', ')})`);
    }
  });
  checkHeaderNotHopByHop(obj(r?.tenant)?.header, `${path}/tenant/header`, report);
}

/** Returns whether any provider is configured. */
function checkAuth(auth: JsonObject, report: Report): boolean {
  const providers = arr(auth.providers);
  const configured = providers.length > 0;
  const names = checkUniqueNames(providers, '/spec/auth/providers', 'provider', report);
  providers.forEach((item, i) => {
    const p = obj(item);
    if (p === undefined) return;
    const path = `/spec/auth/providers/${i}`;
    checkKeySources(p, checkAlgorithms(p, path, report), path, report);
    checkTokenSources(p, path, report);
    checkForwardClaims(p, path, report);
  });
  arr(auth.rules).forEach((rule, i) => checkRequirement(obj(rule)?.require, `/spec/auth/rules/${i}/require`, names, configured, report));
  checkRequirement(obj(auth.default)?.require, '/spec/auth/default/require', names, configured, report);
  return configured;
}

function checkRateLimits(limits: unknown[], hasProviders: boolean, report: Report): void {
  limits.forEach((item, i) => {
    const l = obj(item);
    if (l === undefined) return;
    const path = `/spec/rateLimits/${i}`;
    arr(l.key).forEach((part, j) => {
      const k = obj(part);
      checkHeaderNotHopByHop(k?.header, `${path}/key/${j}/header`, report);
      if (k?.claim !== undefined && !hasProviders) {
        report(`${path}/key/${j}/claim`, 'needs spec.auth.providers: claims come from a verified token');
      }
    });
    const limit = obj(l.limit);
    const requests = limit?.requests;
    const burst = limit?.burst;
    const perMs = parseDuration(str(limit?.per) ?? '');
    if (typeof requests !== 'number' || typeof burst !== 'number') return;
    if (typeof l.cost === 'number' && l.cost > requests + burst) {
      report(`${path}/cost`, `${l.cost} is more than requests + burst (${requests + burst}): no request could ever be admitted`);
    }
    if (perMs !== undefined && perMs > 0 && requests / perMs > 1000) {
      report(`${path}/limit/requests`, `${requests} per ${str(limit?.per)} is more than 1,000,000 per second; raise per instead`);
    }
  });
}

function checkBreaker(b: JsonObject, report: Report): void {
  if (b.consecutiveFailures === 0 && b.failureRatio === undefined) {
    report(
      '/spec/breaker/consecutiveFailures',
      '0 turns the consecutive trigger off and failureRatio is not set: the breaker could never open',
    );
  }
  const openFor = parseDuration(str(b.openFor) ?? '');
  const maxOpenFor = parseDuration(str(b.maxOpenFor) ?? '');
  if (openFor !== undefined && maxOpenFor !== undefined && maxOpenFor < openFor) {
    report('/spec/breaker/maxOpenFor', `must be at least openFor (${str(b.openFor)})`);
  }
}

/**
 * Where the schema puts durations (`*`: each item of a list); test/policies/schema.test.ts keeps
 * the list equal to the schema's. The schema checks their syntax only, so a duration too long to
 * count in milliseconds (`99999999999999999999h`) passes it: refused here, not left for the
 * build to choke on.
 */
export const DURATION_FIELDS: readonly string[] = [
  '/spec/upstream/timeout',
  '/spec/upstream/retry/backoff',
  '/spec/routes/*/timeout',
  '/spec/auth/providers/*/clockSkew',
  '/spec/auth/providers/*/maxTokenAge',
  '/spec/auth/providers/*/jwks/refreshInterval',
  '/spec/auth/providers/*/jwks/staleIfError',
  '/spec/auth/providers/*/jwks/cooldown',
  '/spec/auth/providers/*/jwks/timeout',
  '/spec/rateLimits/*/limit/per',
  '/spec/breaker/window',
  '/spec/breaker/openFor',
  '/spec/breaker/maxOpenFor',
  '/spec/maintenance/retryAfter',
];
const DURATION_SYNTAX = /^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$/;
/** The longest whole number of hours within Number.MAX_SAFE_INTEGER milliseconds. */
const MAX_DURATION = `${Math.floor(Number.MAX_SAFE_INTEGER / 3_600_000)}h`;
/**
 * Durations that become a timer (setTimeout) as they are: Node fires a delay of 2^31 ms or more
 * after 1 ms, so `timeout: 600h` would time every request out at once. Refused above 596h.
 */
const TIMER_FIELDS: ReadonlySet<string> = new Set(['/spec/upstream/timeout', '/spec/upstream/retry/backoff', '/spec/routes/*/timeout']);
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_TIMER = `${Math.floor(MAX_TIMER_MS / 3_600_000)}h`;

function checkDurations(doc: unknown, report: Report): void {
  let timer = false;
  const visit = (value: unknown, segments: readonly string[], path: string): void => {
    const [first, ...rest] = segments;
    if (first === undefined) {
      if (typeof value !== 'string' || !DURATION_SYNTAX.test(value)) return;
      const ms = parseDuration(value);
      if (ms === undefined) report(path, `is too long: durations are at most ${MAX_DURATION}`);
      else if (timer && ms > MAX_TIMER_MS) report(path, `is too long for a timeout: at most ${MAX_TIMER}`);
    } else if (first === '*') {
      arr(value).forEach((item, i) => visit(item, rest, `${path}/${i}`));
    } else {
      const o = obj(value);
      if (o !== undefined && Object.hasOwn(o, first)) visit(o[first], rest, `${path}/${first}`);
    }
  };
  for (const field of DURATION_FIELDS) {
    timer = TIMER_FIELDS.has(field);
    visit(doc, field.slice(1).split('/'), '');
  }
}

/** Every semantic problem of a (possibly invalid) defaulted document. */
export function semanticProblems(doc: unknown): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const report: Report = (path, message) => problems.push({ path, message });
  const spec = obj(obj(doc)?.spec);
  if (spec === undefined) return problems;
  checkUniqueNames(arr(spec.routes), '/spec/routes', 'route', report);
  checkUniqueNames(arr(spec.rateLimits), '/spec/rateLimits', 'rate limit', report);
  const auth = obj(spec.auth);
  const hasProviders = auth === undefined ? false : checkAuth(auth, report);
  checkRateLimits(arr(spec.rateLimits), hasProviders, report);
  // The allow-list is a token requirement like a rule's: same providers, same checks.
  const allow = obj(obj(spec.maintenance)?.allow);
  if (allow !== undefined) {
    const names = arr(auth?.providers)
      .map((p) => str(obj(p)?.name))
      .filter((n): n is string => n !== undefined);
    checkRequirement(allow, '/spec/maintenance/allow', names, hasProviders, report);
  }
  const breaker = obj(spec.breaker);
  if (breaker !== undefined) checkBreaker(breaker, report);
  checkDurations(doc, report);
  return problems;
}
