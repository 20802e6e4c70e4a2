import type { CompiledPolicy, RequestMatcher } from '../../../../policies/src/types.js';
import { clientIp } from '../../client-address.js';
import { BadRequestError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import type { Handler, Stage } from '../../pipeline/stage.js';
import { namesOtherReading, overrideMethods, rewriteTargets } from '../../protocol/method-override.js';
import { requestTarget } from '../../protocol/target.js';

/**
 * The first stage that reads the request: refuse a request line the front's validator refused
 * (`protocol/target.ts`: the path is already normalised when valid), read the client address once
 * through the policy's trusted hops (bans, limits and the log all use it), then name the route
 * (first match wins) and pick its upstream timeout before anything decides on the request: the
 * name is a bounded metric label and a rate-limit key part.
 */
export function route(policy: CompiledPolicy): Stage {
  const routes = policy.routes;
  const defaultTimeout = policy.upstream.timeoutMs;
  const trustedHops = policy.clientAddress.trustedHops;
  const folded = foldedVerdict(policy);
  return (next: Handler): Handler =>
    (ex: Exchange) => {
      ex.timeoutMs = defaultTimeout;
      if (ex.invalid !== undefined) throw new BadRequestError(ex.invalid);
      const why = otherReading(policy, folded, ex);
      if (why !== undefined) throw new BadRequestError(why);
      ex.clientAddress = clientIp(ex, trustedHops);
      ex.trustForwarded = trustedHops > 0;
      for (let i = 0; i < routes.length; i++) {
        const r = routes[i]!;
        if (r.match.matches(ex.method, ex.path)) {
          ex.routeName = r.name;
          if (r.timeoutMs !== undefined) ex.timeoutMs = r.timeoutMs;
          break;
        }
      }
      return next(ex);
    };
}

/**
 * Every reading of the request an app may act on (its method or one a method override names;
 * its path, with `;parameters`, or one a URL rewrite header names; each matched as written or
 * case-insensitively) must get the verdict the request line got. Why not, or undefined.
 */
function otherReading(policy: CompiledPolicy, folded: Folded | undefined, ex: Exchange): string | undefined {
  const named = namesOtherReading(ex.headers);
  const overrides = overrideMethods(ex.method, named ? ex.headers : undefined, ex.target);
  const rewrites = named ? rewriteTargets(ex.headers) : undefined;
  if (ex.paramPath === undefined && overrides === undefined && rewrites === undefined) {
    return folded !== undefined && (folded.always || HAS_UPPER.test(ex.path)) && !folded.same(ex.method, ex.path) ? CASE : undefined;
  }
  const paths: (readonly [string, string])[] = [[ex.path, '']];
  if (ex.paramPath !== undefined) paths.push([ex.paramPath, 'path parameters (;)']);
  for (const r of rewrites ?? []) {
    // Read as the app would read a request line, with the validator every front uses.
    const t = requestTarget(ex.method, r, false);
    if (!t.ok || t.path === '*') return 'a URL rewrite header (X-Original-URL, X-Rewrite-URL) names an invalid target';
    paths.push([t.path, REWRITE]);
    if (t.paramPath !== undefined) paths.push([t.paramPath, REWRITE]);
  }
  for (const m of [ex.method, ...(overrides ?? [])]) {
    for (const [p, what] of paths) {
      if ((m !== ex.method || p !== ex.path) && !sameVerdict(policy, ex.method, ex.path, m, p)) {
        return `${m !== ex.method ? `a method override (${m})` : what} changes which policy rule applies`;
      }
      if (folded !== undefined && (folded.always || HAS_UPPER.test(p)) && !folded.same(m, p)) return CASE;
    }
  }
  return undefined;
}

const CASE = "the path's letter case changes which policy rule applies";
const REWRITE = 'a URL rewrite header (X-Original-URL, X-Rewrite-URL)';

/**
 * Two readings of one request must get the same route, auth rule, limits (and limit keys) and
 * maintenance exception, else the request is refused: whichever way the app reads it, it is what
 * the sidecar judged.
 * - Path parameters: rules match the path without its `;parameters` (servlet containers route
 *   so), but most other routers keep them in the segment: `/public;x` is `/public` to Tomcat and
 *   a path of its own to Express.
 * - Method override: the app may act on the method named in `X-HTTP-Method-Override` or
 *   `_method` (`protocol/method-override.ts`) rather than the one sent.
 * - URL rewrite headers: the app may route on `X-Original-URL` or `X-Rewrite-URL`.
 */
function sameVerdict(policy: CompiledPolicy, m1: string, p1: string, m2: string, p2: string): boolean {
  const first = (ms: readonly { readonly match: RequestMatcher }[], m: string, p: string): number =>
    ms.findIndex((r) => r.match.matches(m, p));
  const differ = (ms: readonly { readonly match: RequestMatcher }[]): boolean => first(ms, m1, p1) !== first(ms, m2, p2);
  if (differ(policy.routes) || differ(policy.auth?.rules ?? [])) return false;
  const methodKeyed = m1 !== m2;
  for (const l of policy.rateLimits) {
    const a = l.match.matches(m1, p1);
    if (a !== l.match.matches(m2, p2)) return false;
    // A limit keyed on the method would count the request in another bucket.
    if (a && methodKeyed && l.key.some((k) => k.kind === 'method')) return false;
  }
  return (policy.maintenance?.except ?? []).every((e) => e.matches(m1, p1) === e.matches(m2, p2));
}

const HAS_UPPER = /[A-Z]/;
type Matchers = readonly { readonly match: RequestMatcher }[];

/**
 * Express (by default), ASP.NET and others route paths case-insensitively: `/ADMIN/users` runs
 * the `/admin/users` handler. Rules match paths as written. When the case-insensitive reading of
 * a path gets another route, auth rule, limits or maintenance exception, the request is refused,
 * whichever way the app routes it. `always`: the policy itself spells paths with capitals, so a
 * lowercase path may read differently too. Undefined when no rule names a path with a letter.
 */
interface Folded {
  readonly always: boolean;
  same(method: string, path: string): boolean;
}

function foldedVerdict(policy: CompiledPolicy): Folded | undefined {
  const all: RequestMatcher[] = [
    ...policy.routes.map((r) => r.match),
    ...(policy.auth?.rules ?? []).map((r) => r.match),
    ...policy.rateLimits.map((l) => l.match),
    ...(policy.maintenance?.except ?? []),
  ];
  const paths = all.flatMap((m) => [...m.exactPaths, ...m.prefixes]);
  if (!paths.some((p) => /[A-Za-z]/.test(p))) return undefined;
  const fold = (m: RequestMatcher): ((method: string, lower: string) => boolean) => {
    if (m.anyPath) return (method) => m.matches(method, '/');
    const exact = new Set([...m.exactPaths].map((p) => p.toLowerCase()));
    const prefixes = m.prefixes.map((p) => p.toLowerCase());
    return (method, lower) =>
      (m.methods.size === 0 || m.methods.has(method)) && (exact.has(lower) || prefixes.some((p) => lower.startsWith(p)));
  };
  const firsts = [policy.routes, policy.auth?.rules ?? []].map((ms: Matchers) => ({ ms, folded: ms.map((r) => fold(r.match)) }));
  const limits = policy.rateLimits.map((l) => ({ m: l.match, f: fold(l.match) }));
  const except = (policy.maintenance?.except ?? []).map((m) => ({ m, f: fold(m) }));
  return {
    always: paths.some((p) => HAS_UPPER.test(p)),
    same(method: string, path: string): boolean {
      const lower = path.toLowerCase();
      for (const { ms, folded } of firsts) {
        if (ms.findIndex((r) => r.match.matches(method, path)) !== folded.findIndex((f) => f(method, lower))) return false;
      }
      return (
        limits.every(({ m, f }) => m.matches(method, path) === f(method, lower)) &&
        except.every(({ m, f }) => m.matches(method, path) === f(method, lower))
      );
    },
  };
}
