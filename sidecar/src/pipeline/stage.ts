import type { Exchange } from '../protocol/exchange.js';

/** Handles one exchange; the promise settles when the response is complete or has failed. */
export type Handler = (ex: Exchange) => Promise<void>;

/** A pipeline layer: wraps the next handler. Built once per policy version, never per request. */
export type Stage = (next: Handler) => Handler;

/** Assemble stages outermost first around the innermost handler. */
export function compose(stages: readonly Stage[], inner: Handler): Handler {
  let h = inner;
  for (let i = stages.length - 1; i >= 0; i--) h = stages[i]!(h);
  return h;
}

/** A stage that adds nothing: what a policy section that is absent compiles to. */
export const passThrough: Stage = (next) => next;
