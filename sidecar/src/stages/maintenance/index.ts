import type { MaintenancePolicy } from '../../../../policies/src/types.js';
import { MaintenanceError } from '../../errors.js';
import type { Exchange } from '../../protocol/exchange.js';
import { passThrough, type Handler, type Stage } from '../../pipeline/stage.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { Identify } from '../authenticate/index.js';

export interface MaintenanceDeps {
  readonly metrics: Metrics;
  /** The allow-list's check (AuthRuntime.identify); undefined when the policy has no allow-list. */
  readonly identify: Identify | undefined;
}

/**
 * Maintenance mode (spec.maintenance): while it is on, a request is answered 503
 * SIDEGATE_ERR_MAINTENANCE with Retry-After and the policy's message, unless it matches an
 * `except` entry (health checks, a status page) or carries an allow-listed identity (operators
 * testing through it); those go on through authentication, limits and the breaker as usual.
 * Off (or absent) it is not in the pipeline at all. Built once per policy version: switching is
 * a policy reload.
 */
export function maintenance(policy: MaintenancePolicy | undefined, deps: MaintenanceDeps): Stage {
  if (policy === undefined || !policy.enabled) return passThrough;
  const { except, message, retryAfterSeconds } = policy;
  const identify = policy.allow === undefined ? undefined : deps.identify;
  if (policy.allow !== undefined && identify === undefined) throw new Error('maintenance.allow needs an identify function');
  const counted = deps.metrics.maintenanceRequests;
  const refused = counted.labels('refused');
  const excepted = counted.labels('excepted');
  const allowed = counted.labels('allowed');
  const refuse = (ex: Exchange): never => {
    refused.inc();
    ex.note('maintenance', 'refused');
    throw new MaintenanceError(message, retryAfterSeconds);
  };
  const admit = (ex: Exchange, next: Handler): Promise<void> => {
    allowed.inc();
    ex.note('maintenance', 'allowed');
    return next(ex);
  };

  return (next: Handler): Handler =>
    (ex: Exchange) => {
      for (let i = 0; i < except.length; i++) {
        if (except[i]!.matches(ex.method, ex.path)) {
          excepted.inc();
          ex.note('maintenance', 'excepted');
          return next(ex);
        }
      }
      if (identify === undefined) return refuse(ex);
      const ok = identify(ex);
      if (typeof ok === 'boolean') return ok ? admit(ex, next) : refuse(ex);
      return ok.then((yes) => (yes ? admit(ex, next) : refuse(ex)));
    };
}
