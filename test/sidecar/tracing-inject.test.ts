import { ROOT_CONTEXT, SpanKind, trace, type Context, type TextMapGetter } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import { JaegerPropagator } from '@opentelemetry/propagator-jaeger';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import t from 'tap';
import { injectTraceContext } from '../../sidecar/src/telemetry/tracing.js';

/**
 * sidegate writes the app's `traceparent` itself when W3C Trace Context (and baggage) is all it
 * injects. For spans started the way sidegate starts them — under every caller format sidegate
 * extracts, under invalid parents, with every sampler — the headers must be exactly what the
 * SDK's propagators (tracecontext, then baggage, as configured by default) write.
 */

const getter: TextMapGetter<Record<string, string>> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => h[k],
};
const extractor = new CompositePropagator({
  propagators: [new JaegerPropagator(), new B3Propagator(), new W3CBaggagePropagator(), new W3CTraceContextPropagator()],
});
const sdkInjector = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

const CALLERS: Record<string, Record<string, string>> = {
  none: {},
  'w3c sampled': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  'w3c unsampled': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' },
  'w3c with tracestate': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=abc,other=x-y' },
  'w3c with only invalid tracestate entries': {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    tracestate: ',,=x,',
  },
  'w3c with an empty tracestate': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: '' },
  'w3c other flags': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03' },
  'w3c invalid (zero trace id)': { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' },
  'w3c malformed': { traceparent: '00-xyz-b7ad6b7169203331-01' },
  'b3 single': { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' },
  'b3 single, deny': { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0' },
  'b3 multi': { 'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' },
  'b3 64-bit trace id': { 'x-b3-traceid': '48485a3953bb6124', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' },
  jaeger: { 'uber-trace-id': '3ce929d0e0e4736:71ff7b0ee6ad6d8f:0:1' },
  'jaeger unsampled': { 'uber-trace-id': '3ce929d0e0e4736:71ff7b0ee6ad6d8f:0:0' },
  'baggage only': { baggage: 'user=alice,tier=gold' },
  'w3c and baggage': { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', baggage: 'user=alice' },
};

const SAMPLERS = {
  always_on: new AlwaysOnSampler(),
  always_off: new AlwaysOffSampler(),
  'traceidratio 0.5': new TraceIdRatioBasedSampler(0.5),
  'parentbased_traceidratio 0.5': new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.5) }),
  parentbased_always_on: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
};

for (const [sName, sampler] of Object.entries(SAMPLERS)) {
  t.test(`sampler ${sName}`, async (t) => {
    const tracer = new BasicTracerProvider({ sampler }).getTracer('sidegate');
    for (const [caller, headers] of Object.entries(CALLERS)) {
      for (let i = 0; i < 8; i++) {
        const parent: Context = extractor.extract(ROOT_CONTEXT, headers, getter);
        const server = tracer.startSpan('GET', { kind: SpanKind.SERVER }, parent);
        // What sidegate injects: the SERVER span when it records nothing, else its CLIENT child.
        const span = server.isRecording()
          ? tracer.startSpan('GET', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, server))
          : server;
        const want: Record<string, unknown> = {};
        sdkInjector.inject(trace.setSpan(ROOT_CONTEXT, span), want, { set: (h, k, v) => void (h[k] = v) });
        const got: Record<string, unknown> = {};
        injectTraceContext(span, got);
        t.same(got, want, `${caller} #${i}`);
      }
    }
  });
}
