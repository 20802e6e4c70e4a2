import { existsSync } from 'node:fs';
import { ConfigError } from '../config.js';

/**
 * The gate in front of the OpenTelemetry SDK: decides whether tracing is on and refuses, at
 * start-up and naming the variable, every OTEL_* value for traces that the SDK specification does
 * not allow. It parses nothing into settings: once tracing is on, the SDK's own components read
 * the variables (tracing.ts). Imports nothing of the SDK, so a sidecar with tracing off never
 * loads it.
 */
export class TracingConfigError extends ConfigError {}

type Rule =
  | { readonly kind: 'enum'; readonly values: readonly string[]; readonly refused?: Readonly<Record<string, string>> }
  | { readonly kind: 'list'; readonly values: readonly string[]; readonly refused?: Readonly<Record<string, string>> }
  | { readonly kind: 'bool' | 'int' | 'ratio' | 'url' | 'file' | 'pairs' | 'string' };

const OTLP: Readonly<Record<string, Rule>> = {
  ENDPOINT: { kind: 'url' },
  PROTOCOL: { kind: 'enum', values: ['http/protobuf', 'http/json', 'grpc'] },
  HEADERS: { kind: 'pairs' },
  COMPRESSION: { kind: 'enum', values: ['gzip', 'none'] },
  TIMEOUT: { kind: 'int' },
  CERTIFICATE: { kind: 'file' },
  CLIENT_KEY: { kind: 'file' },
  CLIENT_CERTIFICATE: { kind: 'file' },
  INSECURE: { kind: 'bool' },
};

const NOT_SHIPPED = 'is not shipped with sidegate (its exporters: otlp, jaeger, console)';

/** The SDK environment-variable specification's variables for traces, each with what it accepts. */
export const TRACE_ENV: Readonly<Record<string, Rule>> = {
  OTEL_SDK_DISABLED: { kind: 'bool' },
  OTEL_SERVICE_NAME: { kind: 'string' },
  OTEL_RESOURCE_ATTRIBUTES: { kind: 'pairs' },
  OTEL_TRACES_EXPORTER: {
    kind: 'list',
    values: ['otlp', 'jaeger', 'console', 'none'],
    refused: { zipkin: NOT_SHIPPED, logging: NOT_SHIPPED },
  },
  OTEL_PROPAGATORS: {
    kind: 'list',
    values: ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger', 'none'],
    refused: {
      xray: 'needs the AWS X-Ray propagator, which sidegate does not ship',
      ottrace: 'needs the OT trace propagator, which sidegate does not ship',
    },
  },
  OTEL_TRACES_SAMPLER: {
    kind: 'enum',
    values: ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'],
    refused: {
      jaeger_remote: 'remote sampling is not supported',
      parentbased_jaeger_remote: 'remote sampling is not supported',
      xray: 'X-Ray sampling is not supported',
    },
  },
  OTEL_TRACES_SAMPLER_ARG: { kind: 'ratio' },
  OTEL_BSP_SCHEDULE_DELAY: { kind: 'int' },
  OTEL_BSP_EXPORT_TIMEOUT: { kind: 'int' },
  OTEL_BSP_MAX_QUEUE_SIZE: { kind: 'int' },
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: { kind: 'int' },
  OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: { kind: 'int' },
  OTEL_ATTRIBUTE_COUNT_LIMIT: { kind: 'int' },
  OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: { kind: 'int' },
  OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: { kind: 'int' },
  OTEL_SPAN_EVENT_COUNT_LIMIT: { kind: 'int' },
  OTEL_SPAN_LINK_COUNT_LIMIT: { kind: 'int' },
  OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: { kind: 'int' },
  OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: { kind: 'int' },
  ...Object.fromEntries(
    Object.entries(OTLP).flatMap(([k, r]) => [
      [`OTEL_EXPORTER_OTLP_${k}`, r],
      [`OTEL_EXPORTER_OTLP_TRACES_${k}`, r],
    ]),
  ),
  OTEL_EXPORTER_JAEGER_ENDPOINT: { kind: 'url' },
  OTEL_EXPORTER_JAEGER_TIMEOUT: { kind: 'int' },
  OTEL_EXPORTER_JAEGER_USER: { kind: 'string' },
  OTEL_EXPORTER_JAEGER_PASSWORD: { kind: 'string' },
  OTEL_EXPORTER_JAEGER_AGENT_HOST: { kind: 'string' },
  OTEL_EXPORTER_JAEGER_AGENT_PORT: { kind: 'int' },
};

/** Variables of the specification that sidegate refuses outright, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  OTEL_CONFIG_FILE: 'declarative configuration files are not supported; use the OTEL_* variables',
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: `the zipkin exporter ${NOT_SHIPPED}`,
  OTEL_EXPORTER_ZIPKIN_TIMEOUT: `the zipkin exporter ${NOT_SHIPPED}`,
};

export interface TracingEnv {
  /** The variables the SDK reads (every OTEL_* one given), validated. */
  readonly env: Readonly<Record<string, string>>;
  readonly exporter: 'otlp' | 'jaeger' | 'console';
  /** The OTLP wire format (OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL; the specification's default is http/protobuf). */
  readonly protocol: 'http/protobuf' | 'http/json' | 'grpc';
  /** OTEL_PROPAGATORS as given, or undefined when unset. */
  readonly propagators: readonly string[] | undefined;
  /** service.name when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one. */
  readonly defaultService: string;
}

/**
 * Tracing is off unless OTEL_TRACES_EXPORTER names an exporter or an OTLP endpoint is set (the
 * specification's default exporter is otlp; sidegate's is none: a sidecar must not spend CPU on
 * spans nobody collects), and always off with OTEL_SDK_DISABLED=true. Returns undefined when off.
 */
export function tracingEnv(env: NodeJS.ProcessEnv, defaultService: string): TracingEnv | undefined {
  const given: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('OTEL_') || v === undefined) continue;
    // The specification: an empty value is the same as unset.
    if (v.trim() === '') continue;
    const why = REFUSED[k];
    if (why !== undefined) throw new TracingConfigError(`${k}: ${why}`);
    const rule = TRACE_ENV[k];
    if (rule !== undefined) check(k, v.trim(), rule);
    given[k] = v;
  }
  if (given.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporters = list(given.OTEL_TRACES_EXPORTER);
  const hasEndpoint = given.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || given.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
  const named = exporters.filter((e) => e !== 'none');
  if (exporters.includes('none') || (exporters.length === 0 && !hasEndpoint)) {
    if (named.length > 0) throw new TracingConfigError(`OTEL_TRACES_EXPORTER: "none" cannot be combined with ${named.join(', ')}`);
    return undefined;
  }
  if (named.length > 1) throw new TracingConfigError(`OTEL_TRACES_EXPORTER: one exporter at a time (got ${named.join(', ')})`);
  const protocol = (given.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? given.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf')
    .trim()
    .toLowerCase() as TracingEnv['protocol'];
  const queue = int(given.OTEL_BSP_MAX_QUEUE_SIZE, 2048);
  if (queue === 0) throw new TracingConfigError('OTEL_BSP_MAX_QUEUE_SIZE: must be at least 1');
  // The default batch (512) shrinks to a smaller queue, as in the SDK; two explicit values must agree.
  const batch = given.OTEL_BSP_MAX_EXPORT_BATCH_SIZE === undefined ? undefined : int(given.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512);
  if (batch !== undefined && batch > queue)
    throw new TracingConfigError(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE: ${batch} is larger than OTEL_BSP_MAX_QUEUE_SIZE (${queue})`);
  const propagators = given.OTEL_PROPAGATORS === undefined ? undefined : list(given.OTEL_PROPAGATORS);
  return Object.freeze({
    env: Object.freeze(given),
    exporter: (named[0] ?? 'otlp') as TracingEnv['exporter'],
    protocol,
    propagators: propagators === undefined ? undefined : Object.freeze(propagators),
    defaultService,
  });
}

function list(s: string | undefined): string[] {
  return s === undefined
    ? []
    : s
        .split(',')
        .map((x) => x.trim().toLowerCase())
        .filter((x) => x !== '');
}

function int(s: string | undefined, def: number): number {
  return s === undefined ? def : Number(s.trim());
}

function check(name: string, v: string, rule: Rule): void {
  const bad = (what: string): never => {
    throw new TracingConfigError(`${name}: "${v}" ${what}`);
  };
  switch (rule.kind) {
    case 'enum':
    case 'list': {
      const items = rule.kind === 'enum' ? [v.toLowerCase()] : list(v);
      if (items.length === 0) bad('names nothing');
      for (const it of items) {
        const why = rule.refused?.[it];
        if (why !== undefined) bad(`is refused: ${it} ${why}`);
        if (!rule.values.includes(it)) bad(`is not ${rule.kind === 'list' ? 'a list of' : 'one of'} ${rule.values.join(', ')}`);
      }
      return;
    }
    case 'bool':
      if (!/^(true|false)$/i.test(v)) bad('is not true or false');
      return;
    case 'int':
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) bad('is not a whole number ≥ 0');
      return;
    case 'ratio':
      if (!/^\d*\.?\d+(e-?\d+)?$/i.test(v) || !(Number(v) >= 0 && Number(v) <= 1)) bad('is not a number from 0 to 1');
      return;
    case 'url': {
      let u: URL | undefined;
      try {
        u = new URL(v);
      } catch {
        /* below */
      }
      if (u === undefined || !['http:', 'https:'].includes(u.protocol)) bad('is not an http:// or https:// URL');
      return;
    }
    case 'file':
      if (!existsSync(v)) bad('is not an existing file');
      return;
    case 'pairs':
      for (const part of v.split(',')) {
        if (part.trim() === '') continue;
        const eq = part.indexOf('=');
        if (eq <= 0 || part.slice(0, eq).trim() === '') bad(`is not a list of key=value pairs (at "${part.trim()}")`);
        try {
          decodeURIComponent(part.slice(eq + 1));
        } catch {
          bad(`has a value that is not valid percent-encoding (at "${part.trim()}")`);
        }
      }
      return;
    case 'string':
      return;
  }
}
