/**
 * Immutability for compiled policies. Object.freeze does not stop Set#add, so sets in a compiled
 * policy are FrozenSets: a stage that tries to change the policy it was handed gets a TypeError
 * instead of silently changing it for every other request.
 */

export class FrozenSet<T> extends Set<T> {
  readonly #sealed: boolean;

  constructor(items: Iterable<T> = []) {
    super();
    for (const item of items) super.add(item);
    this.#sealed = true;
    Object.freeze(this);
  }

  override add(value: T): this {
    if (this.#sealed) throw new TypeError('cannot add to a frozen set');
    return super.add(value);
  }

  override delete(_value: T): boolean {
    throw new TypeError('cannot delete from a frozen set');
  }

  override clear(): void {
    throw new TypeError('cannot clear a frozen set');
  }
}

/**
 * Freezes a value and everything reachable from its own properties (functions excluded). Already
 * frozen objects are still walked: a frozen object may hold unfrozen ones.
 */
export function deepFreeze<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) {
    deepFreeze((value as Record<string | symbol, unknown>)[key], seen);
  }
  return value;
}
