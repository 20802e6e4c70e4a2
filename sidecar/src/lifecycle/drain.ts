import { sleepOn, systemClock, type Clock } from '../clock.js';

/** What the drainer needs from the proxy. */
export interface Drainable {
  /** Refuse new connections; GOAWAY HTTP/2 sessions; close idle HTTP/1.1 connections. */
  stopAccepting(): void;
  closeIdle(): void;
  /** Requests in flight plus open client connections: drained when both are zero. */
  busy(): { inflight: number; connections: number };
  destroyAll(): void;
}

/** How often a drain looks at what is still in flight. */
export const POLL_MS = 20;

export type DrainPhase = 'serving' | 'delay' | 'stopping' | 'done';

/**
 * SIGTERM choreography: (1) report not ready but keep serving for `delayMs`, so endpoints
 * controllers and load balancers stop sending here; (2) stop accepting, GOAWAY, let keep-alive
 * clients finish their current request with `Connection: close`; (3) wait for in-flight requests
 * up to `timeoutMs`; then force-close what remains. The proxy leaves `clock` at the system clock
 * (it waits for real sockets whatever clock the stages read); tests drive it by hand.
 */
export class Drainer {
  phase: DrainPhase = 'serving';
  private running: Promise<{ forced: boolean }> | undefined;

  constructor(
    private readonly target: Drainable,
    private readonly delayMs: number,
    private readonly timeoutMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  get draining(): boolean {
    return this.phase !== 'serving';
  }
  /** True once new connections are refused. */
  get stopping(): boolean {
    return this.phase === 'stopping' || this.phase === 'done';
  }

  start(withDelay: boolean): Promise<{ forced: boolean }> {
    this.running ??= this.run(withDelay);
    return this.running;
  }

  private async run(withDelay: boolean): Promise<{ forced: boolean }> {
    this.phase = 'delay';
    if (withDelay && this.delayMs > 0) await sleepOn(this.clock, this.delayMs);
    this.phase = 'stopping';
    this.target.stopAccepting();
    const deadline = this.clock.monotonic() + this.timeoutMs;
    let forced = false;
    for (;;) {
      const b = this.target.busy();
      if (b.inflight === 0 && b.connections === 0) break;
      if (this.clock.monotonic() >= deadline) {
        forced = true;
        this.target.destroyAll();
        break;
      }
      this.target.closeIdle();
      await sleepOn(this.clock, POLL_MS);
    }
    this.phase = 'done';
    return { forced };
  }
}
