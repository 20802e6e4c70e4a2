import t from 'tap';
import { request } from 'undici';
import { startHttpApp, type Seen } from '../helpers/apps.js';
import { startJaegerReceiver, startOtlpReceiver, type CollectedSpan } from '../helpers/collectors.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, until } from '../helpers/proxy.js';
import { parseResourceAttributes, tracingConfigFromEnv } from '../../sidecar/src/telemetry/tracing-config.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; seen: Seen | undefined }> {
  const r = await request(url, { headers });
  const text = await r.body.text();
  return { status: r.statusCode, seen: r.statusCode === 200 ? JSON.parse(text) as Seen : undefined };
}

function pair(spans: CollectedSpan[], traceId: string): { server: CollectedSpan; client: CollectedSpan } {
  const server = spans.find((s) => s.traceId === traceId && s.kind === 'server');
  const client = spans.find((s) => s.traceId === traceId && s.kind === 'client');
  if (!server || !client) throw new Error(`missing spans for ${traceId}: ${JSON.stringify(spans)}`);
  return { server, client };
}

t.test('OTLP: server and client spans, attributes, links; traceparent continues to the app', async (t) => {
  const app = await startHttpApp();
  const otlp = await startOtlpReceiver();
  const p = await startProxy(app.url, [], {
    policy: 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: tr }\nspec:\n  routes: [ { name: api, match: { paths: [/api/*] } } ]\n',
    env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url.replace('/v1/traces', ''), OTEL_SERVICE_NAME: 'orders', OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=orders-1,k8s.namespace.name=shop' },
  });
  t.teardown(async () => { await p.close(); await app.close(); await otlp.close(); });

  const r = await get(`${p.url}/api/items?x=1`, { traceparent: `00-${TRACE}-${PARENT}-01`, 'user-agent': 'tester/1' });
  t.equal(r.status, 200);
  const tp = String(r.seen!.headers.traceparent);
  t.match(tp, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`), 'the app joins the same trace');
  await until(() => otlp.spans.filter((s) => s.traceId === TRACE).length >= 2, 'spans exported');
  const { server, client } = pair(otlp.spans, TRACE);
  t.equal(server.parentSpanId, PARENT, 'server span continues the caller');
  t.equal(client.parentSpanId, server.spanId, 'client span is a child of the server span');
  t.equal(tp.split('-')[2], client.spanId, "the app's parent is the client span");
  t.equal(server.name, 'GET api');
  t.match(server.attributes, { 'http.request.method': 'GET', 'http.route': 'api', 'http.response.status_code': 200, 'url.path': '/api/items', 'client.address': '127.0.0.1', 'user_agent.original': 'tester/1' });
  t.equal(client.attributes['server.port'], app.port);
  t.equal(server.service, 'orders');
  t.notOk(server.error);
  const line = p.logs.find((l) => l.path === '/api/items');
  t.equal(line?.trace_id, TRACE, 'trace id in the access log line');

  await get(`${p.url}/status/503`);
  await until(() => otlp.spans.some((s) => s.kind === 'server' && s.attributes['http.response.status_code'] === 503), '5xx span');
  t.ok(otlp.spans.find((s) => s.kind === 'server' && s.attributes['http.response.status_code'] === 503)?.error, '5xx marks the server span as error');
  await get(`${p.url}/status/404`);
  await until(() => otlp.spans.some((s) => s.kind === 'server' && s.attributes['http.response.status_code'] === 404), '4xx span');
  t.notOk(otlp.spans.find((s) => s.kind === 'server' && s.attributes['http.response.status_code'] === 404)?.error, '4xx is not a server error');
});

t.test('B3 single, B3 multi and uber-trace-id continue into the traceparent the app receives', async (t) => {
  const app = await startHttpApp();
  const otlp = await startOtlpReceiver();
  const p = await startProxy(app.url, [], { env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlp.url } });
  t.teardown(async () => { await p.close(); await app.close(); await otlp.close(); });
  const cases: [string, Record<string, string>][] = [
    ['b3 single', { b3: `${TRACE}-${PARENT}-1` }],
    ['b3 multi', { 'x-b3-traceid': TRACE, 'x-b3-spanid': PARENT, 'x-b3-sampled': '1' }],
    ['jaeger', { 'uber-trace-id': `${TRACE}:${PARENT}:0:1` }],
  ];
  for (const [name, headers] of cases) {
    const r = await get(`${p.url}/x`, headers);
    t.match(String(r.seen!.headers.traceparent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`), name);
  }
  await until(() => otlp.spans.filter((s) => s.kind === 'server' && s.parentSpanId === PARENT).length === 3, 'three continued server spans');
});

t.test('Jaeger exporter: thrift over HTTP to a collector', async (t) => {
  const app = await startHttpApp();
  const jaeger = await startJaegerReceiver();
  const p = await startProxy(app.url, [], { env: { OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_JAEGER_ENDPOINT: jaeger.url, OTEL_SERVICE_NAME: 'jsvc' } });
  t.teardown(async () => { await p.close(); await app.close(); await jaeger.close(); });
  const r = await get(`${p.url}/jaeger`, { traceparent: `00-${TRACE}-${PARENT}-01` });
  t.equal(r.status, 200);
  await p.proxy.shutdown(false); // flush
  await until(() => jaeger.spans.length >= 2, 'spans at the collector');
  const { server, client } = pair(jaeger.spans, TRACE);
  t.equal(server.parentSpanId, PARENT);
  t.equal(client.parentSpanId, server.spanId);
  t.equal(server.service, 'jsvc');
  t.equal(server.attributes['http.route'], 'default');
});

t.test('sampler ratio holds over many requests', async (t) => {
  const app = await startHttpApp();
  const otlp = await startOtlpReceiver();
  const p = await startProxy(app.url, [], { env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlp.url, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' } });
  t.teardown(async () => { await p.close(); await app.close(); await otlp.close(); });
  const n = 2000;
  let sampledFlags = 0;
  for (let i = 0; i < n; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => get(`${p.url}/s`)));
    for (const b of batch) if (String(b.seen!.headers.traceparent).endsWith('-01')) sampledFlags++;
  }
  await p.proxy.shutdown(false);
  const servers = otlp.spans.filter((s) => s.kind === 'server').length;
  // Binomial(2000, 0.1): mean 200, sd ≈ 13.4; ±70 is over 5 sd.
  t.ok(servers > 130 && servers < 270, `${servers} of ${n} sampled`);
  t.equal(sampledFlags, servers, 'the app is told exactly which requests were sampled');
});

t.test('a dead collector changes nothing for clients; spans are dropped and counted', async (t) => {
  const app = await startHttpApp();
  const dead = await freePort();
  const p = await startProxy(app.url, [], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}` } });
  t.teardown(async () => { await p.close(); await app.close(); });
  const start = Date.now();
  let ok = 0;
  for (let i = 0; i < 200; i++) if ((await get(`${p.url}/d`)).status === 200) ok++;
  t.equal(ok, 200, 'every request answered 200');
  t.ok(Date.now() - start < 5000, 'no request waited on the collector');
  await until(async () => /sidegate_trace_spans_dropped_total\{reason="export_failed"\} [1-9]/.test(await (await request(`${p.adminUrl}/metrics`)).body.text()), 'drops counted', 8000);
});

t.test('OTEL_* parsing', async (t) => {
  t.equal(tracingConfigFromEnv({}, 's').exporter, 'none', 'off by default');
  t.equal(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, 's').otlpEndpoint, 'http://c:4318/v1/traces');
  t.equal(tracingConfigFromEnv({}, 'svc').serviceName, 'svc');
  t.throws(() => tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' }, 's'), /not one of/);
  t.throws(() => tracingConfigFromEnv({ OTEL_TRACES_SAMPLER_ARG: '2' }, 's'), /from 0 to 1/);
  t.same(parseResourceAttributes('a=1, b=x%20y,bad,c='), { a: '1', b: 'x y', c: '' });
});

