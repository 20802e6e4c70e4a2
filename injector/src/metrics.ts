/**
 * Every metric of the injector process, declared in one place (the sidecar's live in
 * sidecar/src/telemetry/metrics.ts; the injector is a separate process with its own registry).
 */
import { registerProcessMetrics } from '../../sidecar/src/telemetry/process-metrics.js';
import { Counter, Histogram, Registry } from '../../sidecar/src/telemetry/prometheus.js';

export class InjectorMetrics {
  readonly registry = new Registry();
  readonly reviews = new Counter({
    name: 'sidegate_injector_reviews_total',
    help: 'Admission reviews answered, by endpoint (inject, validate) and result (injected, skipped, refused, ignored, valid, invalid, bad_request).',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry],
  });
  readonly skips = new Counter({
    name: 'sidegate_injector_skips_total',
    help: 'Pods not injected, by reason code (see docs/annotations.md).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'sidegate_injector_review_duration_seconds',
    help: 'Time to answer one admission review, body read to response written.',
    labelNames: ['endpoint'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly certReloads = new Counter({
    name: 'sidegate_injector_cert_reloads_total',
    help: 'Serving certificate reloads, by result (ok, error; on error the previous certificate stays).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private stopProcessMetrics: (() => void) | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) this.stopProcessMetrics = registerProcessMetrics(this.registry, { eventLoopResolutionMs: 100 });
  }

  /** Stops the event-loop sampling timer and the GC observer (at shutdown). */
  close(): void {
    this.stopProcessMetrics?.();
    this.stopProcessMetrics = undefined;
  }
}
