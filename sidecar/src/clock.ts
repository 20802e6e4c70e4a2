/**
 * Time behind an interface so logic is testable without sleeping: it reads the time and sets its
 * timers here, never through Date.now(), performance.now() or setTimeout.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (for token expiry and log timestamps). */
  now(): number;
  /** Monotonic milliseconds with sub-millisecond precision (for durations and timers). */
  monotonic(): number;
  /** Calls `fn` once, `ms` monotonic milliseconds from now; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Resolves after `ms` on `clock`: a manual clock's `advance` is what lets it go. */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.after(ms, resolve);
  });
}

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A clock tests move by hand; its timers fire, in order, as `advance` passes them. */
export class ManualClock implements Clock {
  private pending: Pending[] = [];
  private seq = 0;

  constructor(
    private wall = 1_700_000_000_000,
    private mono = 0,
  ) {}
  now(): number {
    return this.wall;
  }
  monotonic(): number {
    return this.mono;
  }

  after(ms: number, fn: () => void): () => void {
    const p: Pending = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn };
    this.pending.push(p);
    return () => {
      this.pending = this.pending.filter((q) => q !== p);
    };
  }

  /** Timers set and not yet fired or cancelled. */
  get timers(): number {
    return this.pending.length;
  }

  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.pending)
        if (p.at <= end && (next === undefined || p.at < next.at || (p.at === next.at && p.seq < next.seq))) next = p;
      if (next === undefined) break;
      this.pending = this.pending.filter((q) => q !== next);
      this.step(next.at);
      next.fn();
    }
    this.step(end);
  }

  private step(to: number): void {
    this.wall += to - this.mono;
    this.mono = to;
  }
}
