import type { Exchange } from './exchange.js';

/** Monotonic time, all the protocol engines read (the app's `Clock` is one). */
export interface MonotonicClock {
  /** Monotonic milliseconds with sub-millisecond precision. */
  monotonic(): number;
}

/** What the protocol fronts need from the proxy to build and run exchanges. */
export interface FrontContext {
  readonly scheme: 'http' | 'https';
  readonly clock: MonotonicClock;
  readonly draining: () => boolean;
  /** Runs the current pipeline; never rejects (the respond stage catches). */
  readonly dispatch: (ex: Exchange) => void;
}

/**
 * A request refused by an engine before (or while) it became an exchange: malformed, too slow,
 * headers too large. The app's error table decides its status, name and body; the engine writes
 * it (between requests) or fails the request body with it (the pipeline then answers).
 */
export interface Refusal extends Error {
  readonly status: number;
  /** The JSON body sent to the client. */
  body(requestId: string): string;
}

/** How the app words the refusals the engines make (its error table: `errors.ts`). */
export interface Refusals {
  badRequest(message: string): Refusal;
  requestTimeout(): Refusal;
  headersTooLarge(limit: number): Refusal;
}
