/**
 * Tracing settings from the standard OTEL_* variables. Parsed without loading the SDK, so a
 * sidecar with tracing off never pays for it.
 */
export type ExporterKind = 'otlp' | 'jaeger' | 'console' | 'none';

export interface TracingConfig {
  readonly exporter: ExporterKind;
  readonly serviceName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** always_on, always_off, traceidratio, parentbased_* (OpenTelemetry's names). */
  readonly sampler: string;
  readonly ratio: number;
  readonly otlpEndpoint: string;
  readonly jaegerEndpoint: string;
  readonly maxQueue: number;
  readonly exportTimeoutMs: number;
}

const SAMPLERS = new Set(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']);

export class TracingConfigError extends Error { override readonly name = 'TracingConfigError'; }

/**
 * Tracing is off unless OTEL_TRACES_EXPORTER names an exporter or an OTLP endpoint is set: a
 * sidecar must not spend CPU on spans nobody collects.
 */
export function tracingConfigFromEnv(env: NodeJS.ProcessEnv, defaultService: string): TracingConfig {
  const otlpBase = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const otlpTraces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const rawExporter = (env.OTEL_TRACES_EXPORTER ?? (otlpBase !== undefined || otlpTraces !== undefined ? 'otlp' : 'none')).trim().toLowerCase();
  if (!['otlp', 'jaeger', 'console', 'none'].includes(rawExporter)) {
    throw new TracingConfigError(`OTEL_TRACES_EXPORTER: "${rawExporter}" is not one of otlp, jaeger, console, none`);
  }
  const sampler = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  if (!SAMPLERS.has(sampler)) throw new TracingConfigError(`OTEL_TRACES_SAMPLER: "${sampler}" is not one of ${[...SAMPLERS].join(', ')}`);
  const argRaw = env.OTEL_TRACES_SAMPLER_ARG;
  const ratio = argRaw === undefined || argRaw === '' ? 1 : Number(argRaw);
  if (!(ratio >= 0 && ratio <= 1)) throw new TracingConfigError(`OTEL_TRACES_SAMPLER_ARG: "${argRaw}" must be a number from 0 to 1`);
  return {
    exporter: rawExporter as ExporterKind,
    serviceName: env.OTEL_SERVICE_NAME ?? defaultService,
    resourceAttributes: parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES ?? ''),
    sampler,
    ratio,
    otlpEndpoint: otlpTraces ?? `${(otlpBase ?? 'http://localhost:4318').replace(/\/$/, '')}/v1/traces`,
    jaegerEndpoint: env.OTEL_EXPORTER_JAEGER_ENDPOINT ?? 'http://localhost:14268/api/traces',
    maxQueue: Number(env.OTEL_BSP_MAX_QUEUE_SIZE ?? 2048) || 2048,
    exportTimeoutMs: Number(env.OTEL_EXPORTER_OTLP_TIMEOUT ?? env.OTEL_BSP_EXPORT_TIMEOUT ?? 5000) || 5000,
  };
}

/** `k=v,k2=v2` with percent-encoded values (the OpenTelemetry resource SDK spec). */
export function parseResourceAttributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try { out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim()); } catch { /* skip a malformed pair */ }
  }
  return out;
}
