import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import {
  CompositePropagator,
  ExportResultCode,
  type ExportResult,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
  getNumberFromEnv,
} from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { JaegerPropagator } from '@opentelemetry/propagator-jaeger';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { IncomingHttpHeaders } from 'node:http';
import { PooledIdGenerator } from './ids.js';
import type { Metrics } from './metrics.js';
import { ProtoWriter, RequestFrame, encodeSpan } from './otlp-proto.js';
import type { TracingEnv } from './tracing-config.js';

const getter = {
  keys: (h: IncomingHttpHeaders): string[] => Object.keys(h),
  get: (h: IncomingHttpHeaders, k: string): string | string[] | undefined => h[k],
};
const setter = {
  set: (h: Record<string, unknown>, k: string, v: string): void => {
    h[k] = v;
  },
};

/** The OTEL_BSP_* settings (specification defaults), as the SDK's env helper reads them. */
export interface BatchSettings {
  readonly scheduleDelayMs: number;
  readonly exportTimeoutMs: number;
  readonly maxQueue: number;
  readonly maxBatch: number;
}

/** Where ended spans wait for export: a batch is `take`n when it is full or the delay is up. */
export interface SpanQueue<B> {
  /** Spans held. */
  readonly length: number;
  /** False when the span could not be queued (it is dropped, as `encode_failed`). */
  push(span: ReadableSpan): boolean;
  /** The oldest batch (at most the batch size it was built with; the queue holds some), and how many spans. */
  take(): { readonly batch: B; readonly count: number };
}

/** What sends a batch: a SpanExporter, or the SDK's OTLP export delegate. */
export interface BatchExporter<B> {
  export(batch: B, done: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/** The spans themselves, for any SpanExporter. */
export class SpanArrayQueue implements SpanQueue<ReadableSpan[]> {
  private spans: ReadableSpan[] = [];

  constructor(private readonly maxBatch: number) {}

  get length(): number {
    return this.spans.length;
  }

  push(span: ReadableSpan): boolean {
    this.spans.push(span);
    return true;
  }

  take(): { batch: ReadableSpan[]; count: number } {
    const batch = this.spans.length <= this.maxBatch ? this.spans : this.spans.slice(0, this.maxBatch);
    this.spans = batch === this.spans ? [] : this.spans.slice(batch.length);
    return { batch, count: batch.length };
  }
}

/**
 * Spans encoded as OTLP/protobuf as they end (otlp-proto.ts): the queue holds bytes, not span
 * objects. Batches are sealed at `maxBatch` spans; `take` returns a whole ExportTraceServiceRequest.
 */
export class EncodedSpanQueue implements SpanQueue<EncodedBatch> {
  private readonly w = new ProtoWriter(16 * 1024);
  private count = 0;
  private readonly sealed: { spans: Buffer; count: number }[] = [];
  private held = 0;
  private frame: RequestFrame | undefined;

  constructor(private readonly maxBatch: number) {}

  get length(): number {
    return this.held;
  }

  push(span: ReadableSpan): boolean {
    const at = this.w.pos;
    try {
      // One tracer, so one resource and one scope: the frame is built from the first span.
      this.frame ??= new RequestFrame(span.resource, span.instrumentationScope);
      this.w.tag(2, 2); // ScopeSpans.spans
      encodeSpan(this.w, span);
    } catch {
      // Never half a span in a batch (the collector would refuse all of it), never an error in span.end().
      this.w.pos = at;
      return false;
    }
    this.count++;
    this.held++;
    if (this.count >= this.maxBatch) this.seal();
    return true;
  }

  /** A copy of its own size: a batch of a few spans does not hold the writer's whole buffer. */
  private seal(): void {
    this.sealed.push({ spans: Buffer.from(this.w.bytesWritten()), count: this.count });
    this.w.pos = 0;
    this.count = 0;
  }

  take(): { batch: EncodedBatch; count: number } {
    let spans: Uint8Array;
    let count: number;
    const b = this.sealed.shift();
    if (b !== undefined) {
      ({ spans, count } = b);
    } else {
      // Straight from the writer: the request is its own copy.
      spans = this.w.bytesWritten();
      count = this.count;
      this.count = 0;
    }
    const bytes = this.frame!.request(spans);
    if (b === undefined) this.w.pos = 0;
    this.held -= count;
    return { batch: { bytes, count }, count };
  }
}

/** An ExportTraceServiceRequest, encoded. */
export interface EncodedBatch {
  readonly bytes: Uint8Array;
  readonly count: number;
}

/**
 * Bounded, never-blocking export (the SDK's BatchSpanProcessor contract, plus counters): spans
 * queue up to `maxQueue`, one export of at most `maxBatch` runs at a time, and anything that does
 * not fit, fails or outlives the export timeout is dropped and counted. A dead or slow collector
 * costs requests nothing.
 */
export class BoundedSpanProcessor<B> implements SpanProcessor {
  private exporting = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly exporter: BatchExporter<B>,
    private readonly queue: SpanQueue<B>,
    private readonly metrics: Metrics,
    private readonly s: BatchSettings,
  ) {
    this.timer = setInterval(() => this.flush(), Math.max(1, s.scheduleDelayMs));
    this.timer.unref();
  }

  onStart(): void {
    /* nothing at start */
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    if (this.queue.length >= this.s.maxQueue) {
      this.metrics.spansDropped.inc({ reason: 'queue_full' });
      return;
    }
    if (!this.queue.push(span)) {
      this.metrics.spansDropped.inc({ reason: 'encode_failed' });
      return;
    }
    if (this.queue.length >= this.s.maxBatch) this.flush();
  }

  private flush(): void {
    if (this.exporting || this.queue.length === 0) return;
    const { batch, count } = this.queue.take();
    this.exporting = true;
    let done = false;
    const finish = (ok: boolean, reason: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timeout);
      this.exporting = false;
      if (ok) this.metrics.spansExported.inc(count);
      else this.metrics.spansDropped.inc({ reason }, count);
    };
    const timeout = setTimeout(() => finish(false, 'export_timeout'), this.s.exportTimeoutMs);
    timeout.unref();
    this.exporter.export(batch, (r) => finish(r.code === ExportResultCode.SUCCESS, 'export_failed'));
  }

  async forceFlush(): Promise<void> {
    this.flush();
    for (let i = 0; i < 100 && (this.exporting || this.queue.length > 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      this.flush();
    }
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.forceFlush();
    await this.exporter.shutdown();
  }
}

/**
 * Run `fn` with exactly the validated OTEL_* variables in process.env (everything else, e.g. proxy
 * settings, as it is). The SDK's components read their settings from process.env when they are
 * built (that is the point: the SDK parses, not sidegate); a sidecar built in-process by a test
 * hands its own env. Synchronous, so nothing else runs meanwhile.
 */
function withEnv<T>(otel: Readonly<Record<string, string>>, fn: () => T): T {
  const saved = process.env;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(saved)) if (!k.startsWith('OTEL_')) env[k] = v;
  process.env = { ...env, ...otel };
  try {
    return fn();
  } finally {
    process.env = saved;
  }
}

/** Builds the span processor and its exporter; called with the validated OTEL_* variables as process.env. */
type ProcessorFactory = (metrics: Metrics, s: BatchSettings) => SpanProcessor;

function spanExporter(make: () => SpanExporter): ProcessorFactory {
  return (metrics, s) => new BoundedSpanProcessor(make(), new SpanArrayQueue(s.maxBatch), metrics, s);
}

async function processorFactory(cfg: TracingEnv): Promise<ProcessorFactory> {
  if (cfg.exporter === 'console') return spanExporter(() => new ConsoleSpanExporter());
  if (cfg.exporter === 'jaeger') return spanExporter(await jaegerExporter(cfg.env));
  // Each OTLP exporter reads OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,COMPRESSION,TIMEOUT,CERTIFICATE,CLIENT_*} itself.
  switch (cfg.protocol) {
    case 'grpc': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
      return spanExporter(() => new OTLPTraceExporter());
    }
    case 'http/json': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      return spanExporter(() => new OTLPTraceExporter());
    }
    default:
      return otlpProtobuf();
  }
}

/**
 * OTLP/HTTP protobuf, the default: the SDK's own HTTP export (the configuration it reads from
 * OTEL_EXPORTER_OTLP_*, its retries, timeout and concurrency limit: what OTLPTraceExporter of
 * exporter-trace-otlp-proto is built from), sending requests whose spans were encoded as they
 * ended (EncodedSpanQueue) instead of encoding the batch at export.
 */
async function otlpProtobuf(): Promise<ProcessorFactory> {
  const { convertLegacyHttpOptions, createOtlpHttpExportDelegate } = await import('@opentelemetry/otlp-exporter-base/node-http');
  const { ProtobufTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  return (metrics, s) => {
    const delegate = createOtlpHttpExportDelegate<EncodedBatch, unknown>(
      convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
      { serializeRequest: (b) => b.bytes, deserializeResponse: (r) => ProtobufTraceSerializer.deserializeResponse(r) },
      'otlp_http_span_exporter',
      { name: 'span', countItems: (b) => b.count },
      undefined,
    );
    return new BoundedSpanProcessor(delegate, new EncodedSpanQueue(s.maxBatch), metrics, s);
  };
}

/** Jaeger Thrift over HTTP (the deprecated exporter, for old collectors): its endpoint, user and password come from OTEL_EXPORTER_JAEGER_*. */
async function jaegerExporter(env: Readonly<Record<string, string>>): Promise<() => SpanExporter> {
  const { JaegerExporter } = await import('@opentelemetry/exporter-jaeger');
  // Without an endpoint or agent host the package would send UDP to an agent; sidegate's default is the collector's HTTP port.
  const endpoint =
    env.OTEL_EXPORTER_JAEGER_ENDPOINT === undefined && env.OTEL_EXPORTER_JAEGER_AGENT_HOST === undefined
      ? 'http://localhost:14268/api/traces'
      : undefined;
  return () => new JaegerExporter({ endpoint, flushTimeout: getNumberFromEnv('OTEL_EXPORTER_JAEGER_TIMEOUT') ?? 10_000 });
}

/** Propagators by their OTEL_PROPAGATORS names. */
function propagatorNamed(name: string): TextMapPropagator | undefined {
  switch (name) {
    case 'tracecontext':
      return new W3CTraceContextPropagator();
    case 'baggage':
      return new W3CBaggagePropagator();
    case 'b3':
      return new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER });
    case 'b3multi':
      return new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });
    case 'jaeger':
      return new JaegerPropagator();
    default:
      return undefined; // none
  }
}

/**
 * OTEL_PROPAGATORS set: exactly those, both ways. Unset: the specification's default
 * (tracecontext, baggage) toward the app, and every format sidegate knows accepted from callers —
 * a gateway meets clients of every kind, and later entries win, so W3C is preferred.
 */
function propagators(cfg: TracingEnv): { extract: TextMapPropagator; inject: TextMapPropagator; injectNames: readonly string[] } {
  const make = (names: readonly string[]): TextMapPropagator =>
    new CompositePropagator({
      propagators: names.map(propagatorNamed).filter((p): p is TextMapPropagator => p !== undefined),
    });
  if (cfg.propagators !== undefined) {
    const p = make(cfg.propagators);
    return { extract: p, inject: p, injectNames: cfg.propagators };
  }
  const toApp = ['tracecontext', 'baggage'];
  return { extract: make(['jaeger', 'b3', 'baggage', 'tracecontext']), inject: make(toApp), injectNames: toApp };
}

/**
 * W3C Trace Context toward the app without the propagator machinery, when it is all the app gets:
 * what W3CTraceContextPropagator.inject writes for a span sidegate started. Its context is always
 * valid (the SDK starts a new trace under an invalid parent) and its flags are 0 or 1; the context
 * injected never holds baggage (sidegate does not extract it for the app; baggage headers reach the
 * app as they came), so the baggage propagator writes nothing. test/sidecar/tracing-inject.test.ts
 * compares both for every caller format.
 */
export function injectTraceContext(span: Span, headers: Record<string, unknown>): void {
  const c = span.spanContext();
  const f = c.traceFlags;
  headers.traceparent = `00-${c.traceId}-${c.spanId}-${f === 1 ? '01' : f === 0 ? '00' : `0${f.toString(16)}`}`;
  // Even when it serialises empty (a caller's tracestate of invalid entries only), as the propagator does.
  if (c.traceState !== undefined) headers.tracestate = c.traceState.serialize();
}

/** Every header any known propagator reads: stripped before injecting, so the app never sees the caller's stale context. */
const CONTEXT_HEADERS = [...new Set(['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger'].flatMap((n) => propagatorNamed(n)!.fields()))];

/**
 * Whether a request carries a trace context any propagator reads: most carry none, and then the
 * extractors (four by default) are not asked. The list is every format's `fields()`, not the
 * extractor's own: B3's lists only the headers it writes, not the multi-header form. Baggage is not extracted for the app: its headers
 * (`baggage`, Jaeger's `uberctx-<key>`) reach it as they came.
 */
function carriesContext(headers: IncomingHttpHeaders): boolean {
  for (const f of CONTEXT_HEADERS) if (headers[f] !== undefined) return true;
  return false;
}

/** What the telemetry and forward stages need from tracing. Absent entirely when tracing is off. */
export class Tracing {
  private constructor(
    private readonly provider: BasicTracerProvider,
    private readonly tracer: Tracer,
    private readonly extractor: TextMapPropagator,
    private readonly injector: TextMapPropagator,
    private readonly injectBy: 'w3c' | 'none' | 'propagator',
  ) {}

  /** The app's trace context headers for `span`. */
  private inject(span: Span, headers: Record<string, unknown>): void {
    if (this.injectBy === 'w3c') injectTraceContext(span, headers);
    else if (this.injectBy === 'propagator') this.injector.inject(trace.setSpan(ROOT_CONTEXT, span), headers, setter);
  }

  static async create(cfg: TracingEnv, metrics: Metrics, version: string): Promise<Tracing> {
    const processor = await processorFactory(cfg);
    // Built with cfg.env as process.env: the exporter, the sampler (OTEL_TRACES_SAMPLER[_ARG]),
    // the limits (OTEL_ATTRIBUTE_*, OTEL_SPAN_*) and the resource (OTEL_SERVICE_NAME,
    // OTEL_RESOURCE_ATTRIBUTES) are the SDK's own reading of the variables.
    const provider = withEnv(cfg.env, () => {
      const batch: BatchSettings = {
        scheduleDelayMs: getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? 5000,
        exportTimeoutMs: getNumberFromEnv('OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000,
        maxQueue: getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048,
        maxBatch: getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? Math.min(512, getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048),
      };
      const resource = resourceFromAttributes({ 'service.name': cfg.defaultService, 'service.version': version }).merge(
        detectResources({ detectors: [envDetector] }),
      );
      // The SDK reads these two under older names; the specification's names are honoured here.
      const perEvent = getNumberFromEnv('OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT');
      const perLink = getNumberFromEnv('OTEL_LINK_ATTRIBUTE_COUNT_LIMIT');
      return new BasicTracerProvider({
        resource,
        idGenerator: new PooledIdGenerator(),
        spanProcessors: [processor(metrics, batch)],
        ...(perEvent !== undefined || perLink !== undefined
          ? {
              spanLimits: {
                ...(perEvent !== undefined && { attributePerEventCountLimit: perEvent }),
                ...(perLink !== undefined && { attributePerLinkCountLimit: perLink }),
              },
            }
          : {}),
      });
    });
    const p = propagators(cfg);
    // Only tracecontext (and baggage, which writes nothing here): written directly.
    const direct = p.injectNames.every((n) => n === 'tracecontext' || n === 'baggage' || n === 'none');
    const w3c = p.injectNames.includes('tracecontext');
    return new Tracing(
      provider,
      provider.getTracer('sidegate', version),
      p.extract,
      p.inject,
      direct ? (w3c ? 'w3c' : 'none') : 'propagator',
    );
  }

  /** The SERVER span of one request, continuing the caller's trace if it sent one. */
  startServer(name: string, headers: IncomingHttpHeaders, attributes: Attributes | undefined): Span {
    const parent = carriesContext(headers) ? this.extractor.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  }

  /**
   * The CLIENT span of the call to the app; its context replaces the caller's in `headers`.
   * Undefined when the SERVER span records nothing: every sampler sidegate accepts then decides
   * the same for its child (parent-based ones follow the unsampled parent, `traceidratio` judges
   * the same trace id, `always_off` refuses all), so the child would be an empty span. The app
   * gets the SERVER span's unsampled context instead, and the SDK does no work for the nine
   * requests in ten that 0.1 sampling leaves out.
   */
  startClient(server: Span, name: string, headers: Record<string, unknown>, attributes: Attributes): Span | undefined {
    // Deleting only what is there: a delete reshapes the header object, most requests carry none.
    for (const h of CONTEXT_HEADERS) if (h !== 'baggage' && headers[h] !== undefined) delete headers[h];
    if (!server.isRecording()) {
      this.inject(server, headers);
      return undefined;
    }
    const ctx: Context = trace.setSpan(ROOT_CONTEXT, server);
    const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, ctx);
    this.inject(span, headers);
    return span;
  }

  /**
   * Server spans are errors on 5xx and on sidegate's own refusals (an error code: 401, 429, 503…),
   * not on the app's 4xx; client spans on any failure to get an answer and on 5xx. `attributes`
   * (the caller's, added to) are set with the status in one call.
   */
  end(span: Span, status: number, errorCode: string | undefined, serverSide: boolean, attributes: Attributes = {}): void {
    if (!span.isRecording()) {
      span.end();
      return;
    }
    if (status > 0) attributes['http.response.status_code'] = status;
    if (errorCode !== undefined) attributes['sidegate.error'] = errorCode;
    span.setAttributes(attributes);
    const failed = status >= 500 || errorCode !== undefined || (!serverSide && status === 0);
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode ?? `HTTP ${status}` });
    span.end();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
