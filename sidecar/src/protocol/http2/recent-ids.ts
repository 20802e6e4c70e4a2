/**
 * The last `capacity` stream ids, each with a small tag, the oldest forgotten first: a ring of two
 * typed arrays, allocated when the first id comes. It replaces a Map that every closed stream was
 * added to and had its oldest entry taken from, which V8 rehashed every few hundred streams
 * (≈ 55 bytes allocated per request on h2c, and a 256-entry table per connection). `get` scans
 * newest first, so a later tag for the same id wins; it is asked only about frames on streams
 * that are no longer open, at most `capacity` comparisons each.
 */
export class RecentIds {
  private ids: Uint32Array | undefined;
  private tags: Uint8Array | undefined;
  /** Where the next id goes. */
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {}

  add(id: number, tag: number): void {
    if (this.ids === undefined) {
      this.ids = new Uint32Array(this.capacity);
      this.tags = new Uint8Array(this.capacity);
    }
    this.ids[this.next] = id;
    this.tags![this.next] = tag;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.count < this.capacity) this.count++;
  }

  /** The tag of the newest entry for `id`, or undefined when it is not (or no longer) remembered. */
  get(id: number): number | undefined {
    const ids = this.ids;
    if (ids === undefined) return undefined;
    let at = this.next;
    for (let n = 0; n < this.count; n++) {
      at = at === 0 ? this.capacity - 1 : at - 1;
      if (ids[at] === id) return this.tags![at];
    }
    return undefined;
  }

  get size(): number {
    return this.count;
  }
}
