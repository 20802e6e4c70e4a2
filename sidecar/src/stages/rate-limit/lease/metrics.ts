import type { Metrics } from '../../../telemetry/metrics.js';
import type { LeaseRecorder } from './recorder.js';

/** Leasing's reports as Prometheus series (declared with the others in telemetry/metrics.ts). */
export function metricsLeaseRecorder(m: Metrics): LeaseRecorder {
  return {
    granted: (limit, n, periodMs) => {
      m.rateLimitLeaseSize.observe({ limit }, n);
      m.rateLimitLeasePeriod.observe({ limit }, periodMs / 1000);
    },
    renewed: (limit, when) => m.rateLimitLeaseRenewals.inc({ limit, when }),
    returned: (limit, n) => m.rateLimitLeaseReturned.inc({ limit }, n),
    forfeited: (limit, n) => m.rateLimitLeaseForfeited.inc({ limit }, n),
    switched: (limit, to) => m.rateLimitLeaseSwitches.inc({ limit, to }),
    leasedKeys: (n) => m.rateLimitLeasedKeys.set(n),
  };
}
