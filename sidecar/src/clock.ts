/** Time behind an interface so stage logic is testable without sleeping. Logic never calls Date.now(). */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (for token expiry and log timestamps). */
  now(): number;
  /** Monotonic milliseconds with sub-millisecond precision (for durations and timers). */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private wall = 1_700_000_000_000, private mono = 0) {}
  now(): number { return this.wall; }
  monotonic(): number { return this.mono; }
  advance(ms: number): void { this.wall += ms; this.mono += ms; }
}
