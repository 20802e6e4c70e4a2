import { createHash } from 'node:crypto';

/**
 * One revocation or ban, as the durable list (the `sidegate-revocations` ConfigMap) holds it.
 * Times are milliseconds since the epoch; `expires` is when the entry stops mattering (for a
 * token id, the token's own `exp`; for a cut-off, at least the cut-off plus the longest token
 * lifetime of the issuer). Expired entries are ignored and pruned by `sidegate revoke`/`ban`.
 */
export type RevocationEntry =
  | { readonly kind: 'jti'; readonly jti: string; readonly expires: number; readonly reason?: string }
  /** Every token of the issuer issued before `issuedBefore` (by its `iat`). */
  | { readonly kind: 'issuer'; readonly issuer: string; readonly issuedBefore: number; readonly expires: number; readonly reason?: string }
  /** Every token of one subject of the issuer issued before `issuedBefore`. */
  | {
      readonly kind: 'subject';
      readonly issuer: string;
      readonly subject: string;
      readonly issuedBefore: number;
      readonly expires: number;
      readonly reason?: string;
    }
  | { readonly kind: 'ip'; readonly ip: string; readonly expires: number; readonly reason?: string };

export type EntryKind = RevocationEntry['kind'];
export const ENTRY_KINDS: readonly EntryKind[] = ['jti', 'issuer', 'subject', 'ip'];

/** What a verified token says about itself, for the checks. */
export interface TokenFacts {
  readonly jti: string | undefined;
  readonly iss: string;
  readonly sub: string | undefined;
  /** The `iat` claim in seconds; undefined when absent or not a number. */
  readonly iat: number | undefined;
}

type CutOff = Extract<RevocationEntry, { issuedBefore: number }>;

/** The field a cut-off is stored under in Redis' cut-off hash (and looked up by): unambiguous JSON. */
export const cutoffField = (issuer: string, subject?: string): string =>
  JSON.stringify(subject === undefined ? ['iss', issuer] : ['sub', issuer, subject]);

/**
 * Whether a token falls under a cut-off: issued before it. A token without a numeric `iat`
 * cannot show it was issued after the cut-off, so it falls under every cut-off of its issuer or
 * subject (the safe side during a breach: such tokens must be re-issued).
 */
export function issuedBefore(iat: number | undefined, cutoffMs: number): boolean {
  return iat === undefined || iat * 1000 < cutoffMs;
}

/**
 * The revocations and bans in force, compiled for lookups on the request path: one map read per
 * kind. Immutable; a reload builds a new one.
 */
export class RevocationList {
  private readonly jtis = new Map<string, RevocationEntry>();
  private readonly ips = new Map<string, RevocationEntry>();
  private readonly cutoffs = new Map<string, CutOff[]>();
  /** A digest of the entries (order-independent): the Redis copy is marked with it. */
  readonly version: string;

  /** `updated`: when the list was written (ms since the epoch; 0: unknown). A newer list's seed wins in Redis. */
  constructor(
    readonly entries: readonly RevocationEntry[],
    readonly updated = 0,
  ) {
    for (const e of entries) {
      if (e.kind === 'jti') keepLater(this.jtis, e.jti, e);
      else if (e.kind === 'ip') keepLater(this.ips, e.ip, e);
      else {
        const k = e.kind === 'issuer' ? cutoffField(e.issuer) : cutoffField(e.issuer, e.subject);
        const list = this.cutoffs.get(k);
        if (list === undefined) this.cutoffs.set(k, [e]);
        else list.push(e);
      }
    }
    this.version = createHash('sha256')
      .update(
        entries
          .map((e) => JSON.stringify(e))
          .sort()
          .join('\n'),
      )
      .digest('base64url')
      .slice(0, 22);
  }

  static readonly EMPTY = new RevocationList([]);

  get size(): number {
    return this.entries.length;
  }

  /** The entry that revokes this token now, if any (jti first, then the subject's, then the issuer's cut-off). */
  revoked(t: TokenFacts, now: number): RevocationEntry | undefined {
    if (this.entries.length === 0) return undefined;
    if (t.jti !== undefined) {
      const e = this.jtis.get(t.jti);
      if (e !== undefined && e.expires > now) return e;
    }
    if (this.cutoffs.size === 0) return undefined;
    const keys = t.sub === undefined ? [cutoffField(t.iss)] : [cutoffField(t.iss, t.sub), cutoffField(t.iss)];
    for (const k of keys) {
      for (const c of this.cutoffs.get(k) ?? []) if (c.expires > now && issuedBefore(t.iat, c.issuedBefore)) return c;
    }
    return undefined;
  }

  /** The ban on this (normalized) client address now, if any. */
  banned(ip: string, now: number): RevocationEntry | undefined {
    const e = this.ips.get(ip);
    return e !== undefined && e.expires > now ? e : undefined;
  }

  /** Entries not yet expired, in list order. */
  inForce(now: number): RevocationEntry[] {
    return this.entries.filter((e) => e.expires > now);
  }

  /** How many entries of each kind are in force. */
  counts(now: number): Record<EntryKind, number> {
    const c: Record<EntryKind, number> = { jti: 0, issuer: 0, subject: 0, ip: 0 };
    for (const e of this.entries) if (e.expires > now) c[e.kind]++;
    return c;
  }
}

function keepLater(m: Map<string, RevocationEntry>, k: string, e: RevocationEntry): void {
  const had = m.get(k);
  if (had === undefined || had.expires < e.expires) m.set(k, e);
}

/** Two entries are the same revocation (an update replaces it) when they name the same thing. */
export function sameTarget(a: RevocationEntry, b: RevocationEntry): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'jti':
      return a.jti === (b as typeof a).jti;
    case 'ip':
      return a.ip === (b as typeof a).ip;
    case 'issuer':
      return a.issuer === (b as typeof a).issuer;
    case 'subject':
      return a.issuer === (b as typeof a).issuer && a.subject === (b as typeof a).subject;
  }
}

/** One line per entry, for logs and the CLI: what it refuses, until when, why. */
export function describeEntry(e: RevocationEntry): string {
  const until = `until ${iso(e.expires)}`;
  const why = e.reason === undefined ? '' : ` (${e.reason})`;
  switch (e.kind) {
    case 'jti':
      return `token jti ${e.jti} revoked ${until}${why}`;
    case 'issuer':
      return `tokens of issuer ${e.issuer} issued before ${iso(e.issuedBefore)} revoked ${until}${why}`;
    case 'subject':
      return `tokens of subject ${e.subject} (issuer ${e.issuer}) issued before ${iso(e.issuedBefore)} revoked ${until}${why}`;
    case 'ip':
      return `address ${e.ip} banned ${until}${why}`;
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
