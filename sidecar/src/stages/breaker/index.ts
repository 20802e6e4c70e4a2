export { breaker } from './stage.js';
export type { BreakerDeps, RetryOptions } from './stage.js';
export { BreakerRegistry, UpstreamGuard } from './registry.js';
export type { BreakerRegistryDeps, UpstreamView } from './registry.js';
export { CircuitBreaker, REJECTED, STATE_VALUE } from './circuit-breaker.js';
export type { BreakerState, BreakerSnapshot, CircuitBreakerOptions, Outcome, Transition, TransitionReason } from './circuit-breaker.js';
export { RollingWindow } from './window.js';
export { outcomeOfError, outcomeOfStatus, retryable } from './outcome.js';
