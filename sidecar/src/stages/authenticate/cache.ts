import { hash } from 'node:crypto';

/** Tokens whose cache key is remembered as text (the ones a keep-alive client repeats). */
const RECENT_TOKENS = 256;
/** Characters of the end of a token (of its signature) the remembered keys are found by. */
const TAIL = 24;

/**
 * A bounded LRU of verified tokens, keyed by SHA-256 of the token so memory stays bounded by
 * entry count and the cache itself holds no token text. A Map keeps insertion order, so
 * re-inserting on a hit makes it an LRU without a linked list. `keyOf` remembers the key of the
 * last few hundred distinct tokens, so a client repeating its token (most requests) is not hashed
 * again: at most that many token texts are held, ~200 KB for 1 KB tokens.
 */
export class TokenCache<V extends { readonly expiresAt: number }> {
  private readonly map = new Map<string, V>();
  /** By the token's last characters (its signature): hashing a short key, not a whole token. */
  private readonly recent = new Map<string, { readonly token: string; readonly key: string }>();

  constructor(readonly maxEntries: number) {}

  static key(token: string): string {
    return hash('sha256', token, 'base64');
  }

  /**
   * `key(token)`, remembered for recently seen tokens. Looked up by the token's tail and then
   * compared whole, so a token that shares a tail with a remembered one is just hashed.
   */
  keyOf(token: string): string {
    const tail = token.length > TAIL ? token.slice(-TAIL) : token;
    const r = this.recent.get(tail);
    if (r !== undefined && r.token === token) return r.key;
    const key = TokenCache.key(token);
    if (r === undefined && this.recent.size >= RECENT_TOKENS) {
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
    this.recent.set(tail, { token, key });
    return key;
  }

  get size(): number {
    return this.map.size;
  }

  /** Token texts whose key is remembered (bounded by RECENT_TOKENS). */
  get remembered(): number {
    return this.recent.size;
  }

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

  delete(key: string): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
    this.recent.clear();
  }
}
