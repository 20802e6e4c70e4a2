import type { Metrics } from '../../../telemetry/metrics.js';
import type { LeaseRecorder } from './recorder.js';

/** Leasing's reports as Prometheus series (declared with the others in telemetry/metrics.ts). */
export function metricsLeaseRecorder(m: Metrics): LeaseRecorder {
  return {
    granted: (limit, n) => m.rateLimitLeaseSize.observe({ limit }, n),
    returned: (limit, n) => m.rateLimitLeaseReturned.inc({ limit }, n),
    forfeited: (limit, n) => m.rateLimitLeaseForfeited.inc({ limit }, n),
    switched: (limit, to) => m.rateLimitLeaseSwitches.inc({ limit, to }),
    leasedKeys: (n) => m.rateLimitLeasedKeys.set(n),
  };
}
