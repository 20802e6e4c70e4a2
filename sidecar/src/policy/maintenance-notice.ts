import type { Logger } from 'pino';
import type { CompiledPolicy, MaintenancePolicy } from '../../../policies/src/types.js';
import type { Clock } from '../clock.js';
import type { Metrics } from '../telemetry/metrics.js';

/** How often a sidecar in maintenance says so again in its log. */
export const MAINTENANCE_REMINDER_MS = 5 * 60_000;

/**
 * Keeps maintenance mode visible while it is on: `sidegate_maintenance_active` follows the policy
 * in force, a warn line says when it goes on (or changes), another every `reminderMs` while it
 * stays on (with how long), and an info line when it goes off. A maintenance switch forgotten
 * on is an outage nobody is paged for; the alert SidegateMaintenanceLeftOn reads the gauge.
 */
export class MaintenanceNotice {
  private since: number | undefined;
  private settings = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: { readonly log: Logger; readonly metrics: Metrics; readonly clock: Clock },
    private readonly reminderMs = MAINTENANCE_REMINDER_MS,
  ) {}

  /** The policy now in force (at start and after every reload). */
  update(policy: CompiledPolicy | undefined): void {
    const m = policy?.maintenance;
    const on = m?.enabled === true;
    this.deps.metrics.maintenanceActive.set(on ? 1 : 0);
    if (!on) {
      if (this.since !== undefined) {
        this.deps.log.info(
          { maintenance: false, on_for_s: this.onForSeconds(), policy: policy?.name, version: policy?.version },
          'maintenance mode off: requests reach the app again',
        );
      }
      this.since = undefined;
      this.settings = '';
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const settings = describe(m);
    if (this.since !== undefined && settings.key === this.settings) return;
    const first = this.since === undefined;
    this.since ??= this.deps.clock.monotonic();
    this.settings = settings.key;
    this.deps.log.warn(
      { maintenance: true, ...settings.fields, policy: policy?.name, version: policy?.version },
      first ? 'maintenance mode on: requests are answered 503 SIDEGATE_ERR_MAINTENANCE' : 'maintenance mode settings changed',
    );
    if (this.timer === undefined && this.reminderMs > 0) {
      this.timer = setInterval(() => this.remind(), this.reminderMs);
      this.timer.unref();
    }
  }

  /** The periodic line while maintenance mode stays on (the timer calls it; tests call it directly). */
  remind(): void {
    if (this.since === undefined) return;
    this.deps.log.warn({ maintenance: true, on_for_s: this.onForSeconds() }, 'maintenance mode still on');
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private onForSeconds(): number {
    return this.since === undefined ? 0 : Math.round((this.deps.clock.monotonic() - this.since) / 1000);
  }
}

function describe(m: MaintenancePolicy): { key: string; fields: Record<string, unknown> } {
  const fields = {
    message: m.message,
    retry_after_s: m.retryAfterSeconds,
    except: m.except.length,
    allow_list: m.allow !== undefined,
  };
  return { key: JSON.stringify(fields), fields };
}
