import type { RequestMatcher } from './types.js';
import { FrozenSet } from './frozen.js';

/** A match block as written in a policy (already validated). */
export interface MatchSpec {
  readonly paths?: readonly string[] | undefined;
  readonly methods?: readonly string[] | undefined;
}

/**
 * Prebuilds a matcher: exact paths in a Set, `/x/*` prefixes as `/x/` (with `/x` itself added to
 * the exact paths), `*` or `/*` (or no paths) for any path; methods upper-cased, none for any.
 * Two readings follow what app routers do, so a rule cannot be dodged by them: an exact path
 * matches with or without a trailing slash (Express, Flask and Spring route `/a/` to `/a`'s
 * handler), and `GET` includes `HEAD` (frameworks run the GET handler for HEAD).
 * The request path given to `matches` must be the path without the query string; it is compared
 * as is, so callers must normalize it (dot segments, duplicate slashes) before matching.
 */
export function compileMatcher(spec: MatchSpec = {}): RequestMatcher {
  const exact: string[] = [];
  const prefixes: string[] = [];
  let anyPath = spec.paths === undefined || spec.paths.length === 0;
  for (const p of spec.paths ?? []) {
    if (p === '*' || p === '/*') {
      anyPath = true;
    } else if (p.endsWith('/*')) {
      const prefix = p.slice(0, -1);
      if (!prefixes.includes(prefix)) prefixes.push(prefix);
      exact.push(prefix.slice(0, -1));
    } else {
      exact.push(p);
      if (p.length > 1) exact.push(p.endsWith('/') ? p.slice(0, -1) : `${p}/`);
    }
  }
  // Longer prefixes first is not needed for a yes/no answer; shortest first ends loops sooner.
  prefixes.sort((a, b) => a.length - b.length);
  const exactPaths = new FrozenSet(anyPath ? [] : exact);
  const prefixList = Object.freeze(anyPath ? [] : prefixes);
  const named = (spec.methods ?? []).map((m) => m.toUpperCase());
  const methods = new FrozenSet(named.includes('GET') && !named.includes('HEAD') ? [...named, 'HEAD'] : named);
  const anyMethod = methods.size === 0;

  const matches = anyPath
    ? (method: string): boolean => anyMethod || methods.has(method)
    : (method: string, path: string): boolean => {
        if (!anyMethod && !methods.has(method)) return false;
        if (exactPaths.has(path)) return true;
        for (const prefix of prefixList) {
          if (path.startsWith(prefix)) return true;
        }
        return false;
      };

  return Object.freeze({ exactPaths, prefixes: prefixList, anyPath, methods, matches });
}
