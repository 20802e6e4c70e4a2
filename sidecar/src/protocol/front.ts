import type { Clock } from '../clock.js';
import type { Exchange } from './exchange.js';
import { requestTarget, validAuthority } from './target.js';

/** What the protocol fronts need from the proxy to build and run exchanges. */
export interface FrontContext {
  readonly scheme: 'http' | 'https';
  readonly clock: Clock;
  readonly draining: () => boolean;
  /** Runs the current pipeline; never rejects (the respond stage catches). */
  readonly dispatch: (ex: Exchange) => void;
}

/**
 * Validate and normalise an exchange's method and target, once, as it is made (every front calls
 * this): on success the exchange carries the normalised path and target; on failure `invalid`
 * says why and the route stage answers 400 before any other stage reads the request.
 */
export function checkTarget(ex: Exchange, h2: boolean): Exchange {
  const t = requestTarget(ex.method, ex.target, h2);
  if (t.ok) {
    ex.target = t.target;
    ex.path = t.path;
    if (t.authority !== undefined) ex.authority = t.authority;
    if (t.paramPath !== undefined) ex.paramPath = t.paramPath;
    if (!validAuthority(ex.authority)) ex.invalid = 'invalid Host or :authority';
  } else {
    ex.invalid = t.reason;
  }
  return ex;
}
