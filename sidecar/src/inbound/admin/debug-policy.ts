import type { CompiledPolicy } from '../../../../policies/src/types.js';

/**
 * GET /debug/policy: the policy in force as the sidecar compiled it (the chart defaults, the
 * policy file and the annotation overlay merged, every default filled in), its version, and
 * where it came from. Policies hold no key material (the schema refuses private JWK members), but
 * URLs may carry credentials: userinfo and query strings are redacted, and the paths redacted
 * are listed so nothing is hidden silently.
 */
export interface PolicySources {
  readonly file: string | undefined;
  readonly defaults: boolean;
  readonly overlay: boolean;
}

const REDACTED = '[redacted]';
/** JWK members that would be private key material; refused by the schema, redacted here anyway. */
const PRIVATE_JWK = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

export function debugPolicy(policy: CompiledPolicy | undefined, sources: PolicySources): Record<string, unknown> {
  if (policy === undefined) return { name: null, version: null, sources: sourcesOf(sources), policy: null, redacted: [] };
  const redacted: string[] = [];
  return {
    name: policy.name,
    version: policy.version,
    sources: sourcesOf(sources),
    policy: redact(policy.document, '', redacted),
    redacted,
  };
}

function sourcesOf(s: PolicySources): Record<string, unknown> {
  return { file: s.file ?? null, defaults: s.defaults, overlay: s.overlay };
}

function redact(v: unknown, path: string, out: string[]): unknown {
  if (Array.isArray(v)) return v.map((x, i) => redact(x, `${path}/${i}`, out));
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const at = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (PRIVATE_JWK.has(k) && /\/keys\/\d+$/.test(path)) {
        o[k] = REDACTED;
        out.push(at);
      } else o[k] = redact(x, at, out);
    }
    return o;
  }
  if (typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    const clean = redactUrl(v);
    if (clean !== v) out.push(path);
    return clean;
  }
  return v;
}

/** `https://user:pass@host/path?token=x` → `https://[redacted]@host/path?[redacted]`. */
function redactUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return s;
  }
  const userinfo = u.username !== '' || u.password !== '';
  if (!userinfo && u.search === '') return s;
  const scheme = s.slice(0, s.indexOf('://') + 3);
  const rest = s.slice(scheme.length);
  const at = rest.indexOf('@');
  const slash = rest.search(/[/?#]/);
  const hostStart = userinfo && at >= 0 && (slash < 0 || at < slash) ? at + 1 : 0;
  const q = rest.indexOf('?');
  const hostAndPath = q < 0 ? rest.slice(hostStart) : rest.slice(hostStart, q);
  return `${scheme}${userinfo ? `${REDACTED}@` : ''}${hostAndPath}${u.search === '' ? '' : `?${REDACTED}`}`;
}
