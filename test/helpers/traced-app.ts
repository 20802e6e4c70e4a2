import { ROOT_CONTEXT, SpanKind, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TracedApp {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const getter = {
  keys: (h: IncomingHttpHeaders): string[] => Object.keys(h),
  get: (h: IncomingHttpHeaders, k: string): string | string[] | undefined => h[k],
};

/**
 * An app instrumented as users instrument theirs, with the OpenTelemetry SDK: every request gets a
 * SERVER span continuing the W3C context it received (from the sidecar's CLIENT span), exported
 * over OTLP/HTTP to `otlpBase` as service `service`. Answers 200 with the traceparent it saw.
 */
export async function startTracedApp(otlpBase: string, service: string): Promise<TracedApp> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${otlpBase}/v1/traces` }))],
  });
  const tracer: Tracer = provider.getTracer('traced-app');
  const w3c = new W3CTraceContextPropagator();
  const server: Server = createServer((req, res) => {
    const parent = w3c.extract(ROOT_CONTEXT, req.headers, getter);
    const span = tracer.startSpan(
      `app ${req.method ?? 'GET'}`,
      { kind: SpanKind.SERVER, attributes: { 'url.path': req.url ?? '/' } },
      parent,
    );
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ traceparent: req.headers.traceparent ?? null, b3: req.headers.b3 ?? null }));
    span.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await provider.shutdown();
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    },
  };
}
