import { hash } from 'node:crypto';

/** Tokens whose cache key is remembered as text (the ones a keep-alive client repeats). */
const RECENT_TOKENS = 256;
/** Characters of the end of a token (of its signature) the remembered keys are found by. */
const TAIL = 24;

/**
 * A bounded LRU of verified tokens, keyed by SHA-256 of the token so memory stays bounded by
 * entry count and the cache itself holds no token text. A Map keeps insertion order, so
 * re-inserting on a hit makes it an LRU without a linked list. A hit re-inserts only an entry that
 * has drifted into the older half (`maxEntries / 2` or more entries cached after it): one in the
 * newer half is not next to go, and a delete and an insert on every request was a Map rehash
 * every few hundred requests. So an entry is evicted only once at least `maxEntries / 2` tokens
 * were cached since its last use (`maxEntries` in an exact LRU). `keyOf` remembers the key of the
 * last few hundred distinct tokens, so a client repeating its token (most requests) is not hashed
 * again: at most that many token texts are held, ~200 KB for 1 KB tokens.
 */
export class TokenCache<V extends { readonly expiresAt: number }> {
  /** Each entry with the insertion count when it was last put at the recent end. */
  private readonly map = new Map<string, { readonly v: V; seq: number }>();
  private seq = 0;
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
    const e = map.get(key);
    if (e === undefined) return undefined;
    if (now >= e.v.expiresAt) {
      map.delete(key);
      return undefined;
    }
    if (this.seq - e.seq >= this.maxEntries / 2) {
      map.delete(key);
      e.seq = ++this.seq;
      map.set(key, e);
    }
    return e.v;
  }

  set(key: string, v: V): void {
    if (this.maxEntries <= 0) return;
    const map = this.map;
    map.delete(key);
    map.set(key, { v, seq: ++this.seq });
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
