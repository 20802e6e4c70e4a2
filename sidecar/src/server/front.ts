import type { Clock } from '../clock.js';
import type { Exchange } from '../exchange.js';

/** What the protocol fronts need from the proxy to build and run exchanges. */
export interface FrontContext {
  readonly scheme: 'http' | 'https';
  readonly clock: Clock;
  readonly draining: () => boolean;
  /** Runs the current pipeline; never rejects (the respond stage catches). */
  readonly dispatch: (ex: Exchange) => void;
}
