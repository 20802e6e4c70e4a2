import type { Clock } from '../../clock.js';
import type { Metrics } from '../../telemetry/metrics.js';

/** The part of pino's logger the auth code uses; pino instances satisfy it. */
export interface AuthLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the key manager needs from the process. */
export interface KeyDeps {
  readonly metrics: Metrics;
  readonly logger: AuthLogger;
  readonly clock: Clock;
}
