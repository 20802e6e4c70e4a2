import { hash } from 'node:crypto';

/** Tokens whose cache key is remembered as text (the ones a keep-alive client repeats). */
const RECENT_TOKENS = 256;

/**
 * A bounded LRU of verified tokens, keyed by SHA-256 of the token so memory stays bounded by
 * entry count and the cache itself holds no token text. A Map keeps insertion order, so
 * re-inserting on a hit makes it an LRU without a linked list. `keyOf` remembers the key of the
 * last few hundred distinct tokens, so a client repeating its token (most requests) is not hashed
 * again: at most that many token texts are held, ~200 KB for 1 KB tokens.
 */
export class TokenCache<V extends { readonly expiresAt: number }> {
  private readonly map = new Map<string, V>();
  private readonly recent = new Map<string, string>();

  constructor(readonly maxEntries: number) {}

  static key(token: string): string {
    return hash('sha256', token, 'base64');
  }

  /** `key(token)`, remembered for recently seen tokens. */
  keyOf(token: string): string {
    let k = this.recent.get(token);
    if (k === undefined) {
      k = TokenCache.key(token);
      if (this.recent.size >= RECENT_TOKENS) { const oldest = this.recent.keys().next(); if (oldest.done !== true) this.recent.delete(oldest.value); }
      this.recent.set(token, k);
    }
    return k;
  }

  get size(): number { return this.map.size; }

  /** Token texts whose key is remembered (bounded by RECENT_TOKENS). */
  get remembered(): number { return this.recent.size; }

  /** The entry when present and `now` (wall ms) is before its expiry; expired entries are dropped. */
  get(key: string, now: number): V | undefined {
    const map = this.map;
    const v = map.get(key);
    if (v === undefined) return undefined;
    if (now >= v.expiresAt) {
      map.delete(key);
      return undefined;
    }
    map.delete(key);
    map.set(key, v);
    return v;
  }

  set(key: string, v: V): void {
    if (this.maxEntries <= 0) return;
    const map = this.map;
    map.delete(key);
    map.set(key, v);
    if (map.size > this.maxEntries) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
  }

  delete(key: string): void { this.map.delete(key); }
  clear(): void { this.map.clear(); this.recent.clear(); }
}
