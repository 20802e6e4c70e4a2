import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapPropagator, type Tracer } from '@opentelemetry/api';
import { CompositePropagator, ExportResultCode, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import { JaegerPropagator } from '@opentelemetry/propagator-jaeger';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider, ConsoleSpanExporter, ParentBasedSampler, TraceIdRatioBasedSampler,
  type ReadableSpan, type Sampler, type SpanExporter, type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { IncomingHttpHeaders } from 'node:http';
import type { Metrics } from './metrics.js';
import type { TracingConfig } from './tracing-config.js';

const getter = {
  keys: (h: IncomingHttpHeaders): string[] => Object.keys(h),
  get: (h: IncomingHttpHeaders, k: string): string | string[] | undefined => h[k],
};
const setter = { set: (h: Record<string, unknown>, k: string, v: string): void => { h[k] = v; } };

/**
 * Bounded, never-blocking export: spans queue up to `max`, one export runs at a time, and anything
 * that does not fit or fails is dropped and counted. A dead or slow collector costs requests nothing.
 */
export class BoundedSpanProcessor implements SpanProcessor {
  private queue: ReadableSpan[] = [];
  private exporting = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly exporter: SpanExporter, private readonly metrics: Metrics, private readonly max: number, intervalMs = 1000) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  onStart(): void { /* nothing at start */ }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    if (this.queue.length >= this.max) { this.metrics.spansDropped.inc({ reason: 'queue_full' }); return; }
    this.queue.push(span);
    if (this.queue.length >= 512) this.flush();
  }

  private flush(): void {
    if (this.exporting || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.exporting = true;
    this.exporter.export(batch, (r) => {
      this.exporting = false;
      if (r.code === ExportResultCode.SUCCESS) this.metrics.spansExported.inc(batch.length);
      else this.metrics.spansDropped.inc({ reason: 'export_failed' }, batch.length);
    });
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

function sampler(cfg: TracingConfig): Sampler {
  switch (cfg.sampler) {
    case 'always_on': return new AlwaysOnSampler();
    case 'always_off': return new AlwaysOffSampler();
    case 'traceidratio': return new TraceIdRatioBasedSampler(cfg.ratio);
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.ratio) });
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

async function exporterFor(cfg: TracingConfig): Promise<SpanExporter> {
  if (cfg.exporter === 'console') return new ConsoleSpanExporter();
  if (cfg.exporter === 'jaeger') {
    const { JaegerExporter } = await import('@opentelemetry/exporter-jaeger');
    return new JaegerExporter({ endpoint: cfg.jaegerEndpoint, flushTimeout: cfg.exportTimeoutMs });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  return new OTLPTraceExporter({ url: cfg.otlpEndpoint, timeoutMillis: cfg.exportTimeoutMs });
}

/** What the telemetry and forward stages need from tracing. Absent entirely when tracing is off. */
export class Tracing {
  private constructor(
    private readonly provider: BasicTracerProvider,
    private readonly tracer: Tracer,
    private readonly propagator: TextMapPropagator,
    private readonly w3c: W3CTraceContextPropagator,
  ) {}

  static async create(cfg: TracingConfig, metrics: Metrics, version: string): Promise<Tracing> {
    const processor = new BoundedSpanProcessor(await exporterFor(cfg), metrics, cfg.maxQueue);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': cfg.serviceName, 'service.version': version, ...cfg.resourceAttributes }),
      sampler: sampler(cfg),
      spanProcessors: [processor],
    });
    // Accept W3C tracecontext + baggage, B3 (single and multi header) and Jaeger's uber-trace-id.
    const propagator = new CompositePropagator({
      propagators: [new JaegerPropagator(), new B3Propagator(), new W3CBaggagePropagator(), new W3CTraceContextPropagator()],
    });
    return new Tracing(provider, provider.getTracer('sidegate', version), propagator, new W3CTraceContextPropagator());
  }

  /** The SERVER span of one request, continuing the caller's trace if it sent one. */
  startServer(name: string, headers: IncomingHttpHeaders, attributes: Attributes | undefined): Span {
    const parent = this.propagator.extract(ROOT_CONTEXT, headers, getter);
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  }

  /** The CLIENT span of the call to the app; its W3C `traceparent` is written into `headers`. */
  startClient(server: Span, name: string, headers: Record<string, unknown>, attributes: Attributes): Span {
    const ctx: Context = trace.setSpan(ROOT_CONTEXT, server);
    const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, ctx);
    this.w3c.inject(trace.setSpan(ROOT_CONTEXT, span), headers, setter);
    return span;
  }

  end(span: Span, status: number, errorCode: string | undefined, serverSide: boolean): void {
    if (!span.isRecording()) { span.end(); return; }
    if (status > 0) span.setAttribute('http.response.status_code', status);
    if (errorCode !== undefined) span.setAttribute('sidegate.error', errorCode);
    // Server spans: only 5xx are errors (4xx are the client's); client spans: any failure.
    if (status >= 500 || (!serverSide && (status === 0 || errorCode !== undefined))) span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
    span.end();
  }

  shutdown(): Promise<void> { return this.provider.shutdown(); }
}
