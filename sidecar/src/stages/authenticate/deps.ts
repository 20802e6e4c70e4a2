import type { Clock } from '../../clock.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';

/** What the key manager needs from the process. */
export interface KeyDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
}
