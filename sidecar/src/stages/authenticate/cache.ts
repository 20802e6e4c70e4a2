import { hash } from 'node:crypto';

/**
 * A bounded LRU of verified tokens, keyed by SHA-256 of the token so memory stays bounded by
 * entry count and no token text sits in the heap longer than its request. A Map keeps insertion
 * order, so re-inserting on a hit makes it an LRU without a linked list.
 */
export class TokenCache<V extends { readonly expiresAt: number }> {
  private readonly map = new Map<string, V>();

  constructor(readonly maxEntries: number) {}

  static key(token: string): string {
    return hash('sha256', token, 'base64');
  }

  get size(): number { return this.map.size; }

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
  clear(): void { this.map.clear(); }
}
