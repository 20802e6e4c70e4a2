import { hash } from 'node:crypto';
import type { KeyPart } from '../../../../policies/src/types.js';
import { clientIp } from '../../client-address.js';
import type { Exchange } from '../../protocol/exchange.js';

export { clientIp };

/** `{<namespace>/<service>/<limit>}`: the Cluster hash tag, shared by every key of one limit. */
export function limitTag(namespace: string, service: string, limit: string): string {
  return `${namespace}/${service}/${limit}`;
}

export function keyPrefix(tag: string): string {
  return `sidegate:rl:{${tag}}:`;
}

/**
 * The key parts' values joined unambiguously (each JSON-encoded, one per line). A part the request
 * does not have (no such header, unauthenticated) is `null`: such requests share one bucket rather
 * than escaping the limit, so dropping a header never buys more quota.
 */
export function keyMaterial(parts: readonly KeyPart[], ex: Exchange, trustedHops: number): string {
  let s = '';
  for (const p of parts) {
    s += JSON.stringify(partValue(p, ex, trustedHops) ?? null);
    s += '\n';
  }
  return s;
}

/** 128 bits of SHA-256, base64url: fixed length, and no client-chosen text lands in Redis. */
export function hashMaterial(material: string): string {
  return hash('sha256', material, 'base64url').slice(0, 22);
}

/**
 * The Redis key of one limit for a key material (`prefix` + hashMaterial), remembered for the
 * materials seen lately: a busy key (the one a limit exists for) is hashed and built once, not on
 * every request. Bounded: past `max` entries the oldest is forgotten.
 */
export class KeyHasher {
  private readonly seen = new Map<string, string>();
  constructor(
    private readonly prefix = '',
    private readonly max = 10_000,
  ) {}

  hash(material: string): string {
    let h = this.seen.get(material);
    if (h === undefined) {
      h = this.prefix + hashMaterial(material);
      if (this.seen.size >= this.max) {
        const oldest = this.seen.keys().next();
        if (oldest.done !== true) this.seen.delete(oldest.value);
      }
      this.seen.set(material, h);
    }
    return h;
  }
}

function partValue(p: KeyPart, ex: Exchange, trustedHops: number): unknown {
  switch (p.kind) {
    case 'claim':
      return claimValue(ex.auth?.claims, p.name);
    case 'header': {
      const v = ex.headers[p.name.toLowerCase()];
      return Array.isArray(v) ? v.join(',') : v;
    }
    case 'clientIp':
      return ex.clientAddress !== '' ? ex.clientAddress : clientIp(ex, trustedHops);
    case 'method':
      return ex.method;
    case 'route':
      return ex.routeName;
    case 'constant':
      return p.value;
  }
}

/** A claim by name, or by dot-separated path into nested objects (`realm.tenant`). */
function claimValue(claims: Readonly<Record<string, unknown>> | undefined, name: string): unknown {
  if (!claims) return undefined;
  if (name in claims) return claims[name];
  let v: unknown = claims;
  for (const seg of name.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}
