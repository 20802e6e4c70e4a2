import { SpanKind, SpanStatusCode, TraceFlags, trace, ROOT_CONTEXT, type Attributes } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import t, { type Test } from 'tap';
import { ProtoWriter } from '../../sidecar/src/telemetry/otlp-proto.js';
import { EncodedSpanQueue } from '../../sidecar/src/telemetry/tracing.js';

/**
 * sidegate encodes each span as it ends (otlp-proto.ts); the SDK's exporter encodes batches. The
 * bytes must be the SDK's, so every case here is compared with `ProtobufTraceSerializer` on the
 * same spans: values of every type and size, events, links, trace state, remote parents, status.
 */

function collect(schemaUrls = true): { spans: ReadableSpan[]; provider: BasicTracerProvider } {
  const spans: ReadableSpan[] = [];
  const capture: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (s) => void spans.push(s),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(
      { 'service.name': 'svc', 'k8s.pod.name': 'pod-ü', 'n.int': 7, 'n.list': ['a', 'b'] },
      schemaUrls ? { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' } : undefined,
    ),
    spanProcessors: [capture],
  });
  return { spans, provider };
}

const ATTRS: Attributes = {
  ascii: 'GET /api',
  empty: '',
  unicode: 'naïve ☃ 𝄞',
  long: 'x'.repeat(300),
  huge: 'y'.repeat(70_000),
  yes: true,
  no: false,
  zero: 0,
  one: 1,
  neg: -1,
  big: 2 ** 40,
  negBig: -(2 ** 40),
  max: Number.MAX_SAFE_INTEGER,
  u32: 0xffffffff,
  over32: 0x100000000,
  half: 1.5,
  tiny: -1e-300,
  inf: Infinity,
  nan: NaN,
  strings: ['a', '', 'ü'],
  numbers: [1, 2.5, -3],
  bools: [true, false],
  holes: ['a', null, undefined],
};

function compare(t: Test, spans: ReadableSpan[], maxBatch: number): void {
  const q = new EncodedSpanQueue(maxBatch);
  for (const s of spans) q.push(s);
  t.equal(q.length, spans.length, 'every span held');
  for (let i = 0; i < spans.length; i += maxBatch) {
    const slice = spans.slice(i, i + maxBatch);
    const { batch, count } = q.take();
    t.equal(count, slice.length, `batch at ${i}: its span count`);
    t.equal(batch.count, slice.length);
    const want = Buffer.from(ProtobufTraceSerializer.serializeRequest(slice)!);
    const got = Buffer.from(batch.bytes);
    t.equal(got.length, want.length, `batch at ${i}: same length`);
    t.ok(got.equals(want), `batch at ${i}: the SDK's bytes`);
  }
  t.equal(q.length, 0, 'nothing left');
}

t.test('spans of every shape encode to the SDK serializer bytes', async (t) => {
  const { spans, provider } = collect();
  const tracer = provider.getTracer('sidegate', '1.2.3', { schemaUrl: 'https://example.com/scope' });
  const remote = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=a,other=b'),
  });
  const server = tracer.startSpan('GET /api/{id}', { kind: SpanKind.SERVER, attributes: ATTRS }, remote);
  server.addEvent('cache', { hit: true, 'n.keys': 3 });
  server.addEvent('bare');
  server.addLink({
    context: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0, isRemote: true },
    attributes: { why: 'retry' },
  });
  server.addLink({ context: { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16), traceFlags: 1, traceState: new TraceState('k=v') } });
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'SIDEGATE_ERR_RATE_LIMITED — too many' });
  const child = tracer.startSpan(
    'GET',
    { kind: SpanKind.CLIENT, attributes: { 'server.port': 8080 } },
    trace.setSpan(ROOT_CONTEXT, server),
  );
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  server.end();
  for (const kind of [SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER]) tracer.startSpan(`k${kind}`, { kind }).end();
  tracer.startSpan('no attributes').end();
  t.equal(spans.length, 6);
  compare(t, spans, 512);
});

t.test('a resource and scope without schema URLs, and batches sealed at the batch size', async (t) => {
  const { spans, provider } = collect(false);
  const tracer = provider.getTracer('sidegate');
  for (let i = 0; i < 23; i++)
    tracer.startSpan(`s${i}`, { kind: SpanKind.SERVER, attributes: { i, 'url.path': `/p/${'z'.repeat(i * 10)}` } }).end();
  compare(t, spans, 5);
});

t.test('a span that fails to encode is left out whole; the batch stays valid', async (t) => {
  const { spans, provider } = collect();
  const tracer = provider.getTracer('sidegate');
  for (const name of ['before', 'bad', 'after']) tracer.startSpan(name, { attributes: { a: 'x'.repeat(200) } }).end();
  const attrs = { ok: 'y'.repeat(300) };
  Object.defineProperty(attrs, 'boom', {
    enumerable: true,
    get: () => {
      throw new Error('unreadable attribute');
    },
  });
  const bad = new Proxy(spans[1]!, { get: (s, p) => (p === 'attributes' ? attrs : Reflect.get(s, p)) as unknown });
  const q = new EncodedSpanQueue(512);
  t.equal(q.push(spans[0]!), true);
  t.equal(q.push(bad), false, 'refused');
  t.equal(q.push(spans[2]!), true);
  t.equal(q.length, 2);
  const { batch } = q.take();
  t.ok(
    Buffer.from(batch.bytes).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest([spans[0]!, spans[2]!])!)),
    'the two good spans, as the SDK encodes them',
  );
});

t.test('times: whole seconds, nanoseconds and dates far ahead', async (t) => {
  const { spans, provider } = collect();
  const tracer = provider.getTracer('sidegate');
  for (const [s, ns] of [
    [0, 0],
    [1, 999_999_999],
    [1_765_000_000, 123_456_789],
    [4_294_967_295, 999_999_999],
    [65_535, 1],
    [65_536, 0],
  ] as const) {
    const sp = tracer.startSpan('t', { startTime: [s, ns] });
    sp.end([s + 1, ns]);
  }
  compare(t, spans, 512);
});

t.test('the writer grows from any size and keeps what it wrote', async (t) => {
  const w = new ProtoWriter(1);
  const s = 'é'.repeat(10_000);
  w.tag(1, 2);
  w.string(s);
  w.varint(-1);
  w.varint(2 ** 52);
  const b = w.bytesWritten();
  t.equal(b[0], 0x0a);
  // length 20,000 as a varint: 0xa0 0x9c 0x01
  t.same([...b.subarray(1, 4)], [0xa0, 0x9c, 0x01]);
  t.equal(b.subarray(4, 20_004).toString('utf8'), s);
  t.same(
    [...b.subarray(20_004, 20_014)],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    '-1: ten bytes of two’s complement',
  );
  t.same([...b.subarray(20_014)], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x08], '2^52');
});
