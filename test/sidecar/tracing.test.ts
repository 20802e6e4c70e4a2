import { randomBytes } from 'node:crypto';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp, type Seen } from '../helpers/apps.js';
import { eventNames, parentOf, startJaeger, tag, type Jaeger, type JaegerSpan } from '../helpers/jaeger.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, until, type RunningProxy } from '../helpers/proxy.js';
import { startTracedApp } from '../helpers/traced-app.js';

/**
 * Traces as operators see them: a real Jaeger v2 (helpers/jaeger.ts) receives the sidecar's spans
 * and every assertion reads them back through its query API, the one Jaeger's UI uses.
 */

const newTrace = (): string => randomBytes(16).toString('hex');
const PARENT = '00f067aa0ba902b7';

let jaeger: Jaeger;
t.before(async () => {
  jaeger = await startJaeger();
});
t.teardown(async () => {
  await jaeger.close();
});

/** OTEL_* for a sidecar exporting to the suite's Jaeger, flushing every 100 ms. */
function otel(service: string, more: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttp,
    OTEL_SERVICE_NAME: service,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...more,
  };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const r = await request(url, { headers });
  return { status: r.statusCode, body: await r.body.text() };
}

/** The spans of one trace once Jaeger holds at least `n` of them. */
async function spansOf(traceId: string, n: number, ms = 10_000): Promise<JaegerSpan[]> {
  let spans: JaegerSpan[] = [];
  await until(async () => (spans = await jaeger.trace(traceId)).length >= n, `${n} spans of trace ${traceId} in Jaeger`, ms);
  return spans;
}

const kindOf = (spans: JaegerSpan[], kind: 'server' | 'client', service: string): JaegerSpan => {
  const s = spans.find((x) => tag(x, 'span.kind') === kind && x.process.serviceName === service);
  if (s === undefined)
    throw new Error(`no ${kind} span of ${service} in ${JSON.stringify(spans.map((x) => [x.operationName, x.process.serviceName]))}`);
  return s;
};

t.test('one trace reads client → sidecar → app: resource, HTTP attributes, stage decisions, parentage', async (t) => {
  const app = await startTracedApp(jaeger.otlpHttp, 'orders-app');
  const p = await startProxy(app.url, [], {
    // A limit that never fires (no Redis: this pod's share) so the span carries a stage decision.
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: tr }
spec:
  routes: [ { name: api, match: { paths: [/api/*] } } ]
  rateLimits:
    - { name: roomy, key: [ { clientIp: true } ], limit: { requests: 1000, per: 1m }, onRedisError: local }
`,
    env: otel('orders', { OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=orders-7d9f-x2,k8s.namespace.name=shop' }),
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });

  const trace = newTrace();
  const r = await get(`${p.url}/api/items?x=1`, { traceparent: `00-${trace}-${PARENT}-01`, 'user-agent': 'tester/1' });
  t.equal(r.status, 200);
  const spans = await spansOf(trace, 3);
  const server = kindOf(spans, 'server', 'orders');
  const client = kindOf(spans, 'client', 'orders');
  const appSpan = kindOf(spans, 'server', 'orders-app');
  t.equal(parentOf(server), PARENT, "the SERVER span continues the caller's span");
  t.equal(parentOf(client), server.spanID, 'the CLIENT span is a child of the SERVER span');
  t.equal(parentOf(appSpan), client.spanID, "the app's own span is a child of the CLIENT span");
  t.equal(server.operationName, 'GET api');
  t.match(Object.fromEntries(server.tags.map((x) => [x.key, x.value])), {
    'http.request.method': 'GET',
    'http.route': 'api',
    'http.response.status_code': 200,
    'url.path': '/api/items',
    'url.scheme': 'http',
    'client.address': '127.0.0.1',
    'user_agent.original': 'tester/1',
    'network.protocol.version': '1.1',
  });
  t.equal(tag(server, 'error'), undefined, 'a 200 is no error');
  t.equal(tag(server, 'sidegate.ratelimit'), 'allowed', 'the rate-limit decision is a tag');
  t.equal(tag(server, 'sidegate.ratelimit_source'), 'fallback', 'so is where it was taken (no Redis: this pod alone)');
  t.same(eventNames(server), [], 'the decisions are tags, not span events (logs)');
  t.equal(tag(client, 'server.port'), app.port);
  const resource = Object.fromEntries(server.process.tags.map((x) => [x.key, x.value]));
  t.match(resource, { 'k8s.pod.name': 'orders-7d9f-x2', 'k8s.namespace.name': 'shop', 'service.version': /\d/ });
  t.equal(server.process.serviceName, 'orders');

  t.ok((await jaeger.services()).includes('orders'), '/api/services lists the sidecar');
  t.ok((await jaeger.services()).includes('orders-app'), '/api/services lists the app');
  t.ok((await jaeger.operations('orders')).includes('GET api'), '/api/services/orders/operations lists the route span');
  t.equal(p.logs.find((l) => l.path === '/api/items')?.trace_id, trace, 'the access log line carries the trace id');
});

t.test("error status: the app's 5xx and sidegate's own 401, 429 and 503; not the app's 4xx", async (t) => {
  const k = testKey('ES256', 'k1');
  const idp = await JwksServer.start([k.jwk]);
  const app = await startHttpApp();
  const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: errs }
spec:
  auth:
    providers:
      - { name: corp, issuer: ${idp.issuer}, audiences: [orders], algorithms: [ES256], jwks: { uri: ${idp.jwksUri} } }
    rules:
      - { match: { paths: [/public/*, /status/*] }, require: none }
  rateLimits:
    - { name: tiny, match: { paths: [/public/limited] }, key: [ { constant: all } ], limit: { requests: 1, per: 1m, burst: 0 }, onRedisError: local }
`;
  const p = await startProxy(app.url, [], { policy, env: otel('errs') });
  const dead = await startProxy(`http://127.0.0.1:${await freePort()}`, [], { env: otel('errs-dead') });
  t.teardown(async () => {
    await p.close();
    await dead.close();
    await app.close();
    await idp.stop();
  });

  const cases: [string, string, number, string | undefined][] = [
    ['app 500', `${p.url}/status/500`, 500, undefined],
    ['app 404', `${p.url}/status/404`, 404, undefined],
    ['no token', `${p.url}/api/x`, 401, 'SIDEGATE_ERR_UNAUTHENTICATED'],
    ['first within the limit', `${p.url}/public/limited`, 200, undefined],
    ['limited', `${p.url}/public/limited`, 429, 'SIDEGATE_ERR_RATE_LIMITED'],
    ['app down', `${dead.url}/x`, 503, 'SIDEGATE_ERR_UPSTREAM_UNAVAILABLE'],
  ];
  for (const [name, url, status, code] of cases) {
    const trace = newTrace();
    t.equal((await get(url, { traceparent: `00-${trace}-${PARENT}-01` })).status, status, name);
    const spans = await spansOf(trace, 1);
    const server = spans.find((s) => tag(s, 'span.kind') === 'server')!;
    t.equal(tag(server, 'http.response.status_code'), status, `${name}: status on the span`);
    const isError = status >= 500 || code !== undefined;
    t.equal(tag(server, 'error'), isError ? true : undefined, `${name}: ${isError ? 'an error' : 'not an error'}`);
    t.equal(tag(server, 'sidegate.error'), code, `${name}: sidegate's code`);
    if (status === 401) {
      t.equal(tag(server, 'sidegate.authenticate.result'), 'failure', '401: the authentication decision is a tag');
      t.equal(tag(server, 'sidegate.authenticate.reason'), 'missing', '401: with its reason');
    }
    if (status === 429) {
      t.equal(tag(server, 'sidegate.ratelimit'), 'limited', '429: the limit decision is a tag');
      t.equal(tag(server, 'sidegate.ratelimit_limit'), 'tiny', '429: naming the limit');
    }
  }
  // Ask the token-holding path once too: with a valid token the same route is no error.
  const token = await mint(k, { iss: idp.issuer, aud: 'orders', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 });
  const trace = newTrace();
  t.equal((await get(`${p.url}/api/x`, { traceparent: `00-${trace}-${PARENT}-01`, authorization: `Bearer ${token}` })).status, 200);
  t.equal(tag(kindOf(await spansOf(trace, 2), 'server', 'errs'), 'error'), undefined, 'an authenticated 200 is no error');
});

t.test('W3C, B3 single, B3 multi and uber-trace-id callers each continue into one trace with the app', async (t) => {
  const app = await startTracedApp(jaeger.otlpHttp, 'prop-app');
  const p = await startProxy(app.url, [], { env: otel('prop') });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const cases: [string, (trace: string) => Record<string, string>][] = [
    ['w3c', (id) => ({ traceparent: `00-${id}-${PARENT}-01` })],
    ['b3 single', (id) => ({ b3: `${id}-${PARENT}-1` })],
    ['b3 multi', (id) => ({ 'x-b3-traceid': id, 'x-b3-spanid': PARENT, 'x-b3-sampled': '1' })],
    ['jaeger', (id) => ({ 'uber-trace-id': `${id}:${PARENT}:0:1` })],
  ];
  for (const [name, headers] of cases) {
    const trace = newTrace();
    const r = await get(`${p.url}/x`, headers(trace));
    t.match(
      JSON.parse(r.body),
      { traceparent: new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`), b3: null },
      `${name}: the app gets a W3C context in the same trace, no stale B3`,
    );
    const spans = await spansOf(trace, 3);
    t.equal(parentOf(kindOf(spans, 'server', 'prop')), PARENT, `${name}: the sidecar continues the caller`);
    t.equal(
      parentOf(kindOf(spans, 'server', 'prop-app')),
      kindOf(spans, 'client', 'prop').spanID,
      `${name}: the app is the CLIENT span's child`,
    );
  }
});

t.test("an unsampled caller's decision reaches the app, and the sidecar records nothing of it", async (t) => {
  const app = await startTracedApp(jaeger.otlpHttp, 'unsampled-app');
  // parentbased_always_on (the default): the caller's flags decide; `always_on` would overrule them.
  const p = await startProxy(app.url, [], { env: otel('unsampled') });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const off = newTrace();
  for (const [name, headers] of [
    ['w3c', { traceparent: `00-${off}-${PARENT}-00` }],
    ['b3', { b3: `${off}-${PARENT}-0` }],
    ['jaeger', { 'uber-trace-id': `${off}:${PARENT}:0:0` }],
  ] as const) {
    const seen = JSON.parse((await get(`${p.url}/x`, headers)).body) as { traceparent: string; b3: string | null };
    t.match(
      seen,
      { traceparent: new RegExp(`^00-${off}-[0-9a-f]{16}-00$`), b3: null },
      `${name}: the app is told the trace and that it is not sampled`,
    );
    t.not(seen.traceparent.split('-')[2], PARENT, `${name}: the caller's span id is not passed on as if it were the sidecar's`);
  }
  // A sampled trace sent after the unsampled ones: once Jaeger holds it, the batch that would have
  // carried spans of the unsampled trace has been exported too.
  const on = newTrace();
  await get(`${p.url}/x`, { traceparent: `00-${on}-${PARENT}-01` });
  await spansOf(on, 3);
  t.same(await jaeger.trace(off), [], 'nothing of the unsampled trace reached Jaeger');
});

t.test("the caller's baggage reaches the app as it came, W3C or Jaeger's uberctx-", async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], { env: otel('baggage') });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const seen = async (h: Record<string, string>): Promise<Seen['headers']> =>
    (JSON.parse((await get(`${p.url}/b`, h)).body) as Seen).headers;
  t.equal((await seen({ baggage: 'tenant=acme' })).baggage, 'tenant=acme', 'W3C baggage');
  t.equal((await seen({ 'uberctx-tenant': 'acme' }))['uberctx-tenant'], 'acme', 'Jaeger baggage with no trace header');
  t.equal((await seen({})).baggage, undefined, 'no baggage invented');
});

t.test('the sampling ratio holds over 3,000 requests, and the app is told which were sampled', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url, [], { env: otel('ratio', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }) });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const n = 3000;
  const sampled = new Set<string>();
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: 25 }, () => get(`${p.url}/s`)));
    for (const b of batch) {
      const tp = String((JSON.parse(b.body) as Seen).headers.traceparent);
      if (tp.endsWith('-01')) sampled.add(tp.split('-')[1]!);
    }
  }
  // Binomial(3000, 0.1): mean 300, sd ≈ 16.4; ±82 is 5 sd (a false failure about once in 1.7 million runs).
  t.ok(sampled.size > 218 && sampled.size < 382, `${sampled.size} of ${n} sampled`);
  let stored = 0;
  await until(
    async () => (stored = (await jaeger.search('ratio', 10_000)).length) >= sampled.size,
    `${sampled.size} traces in Jaeger`,
    15_000,
  );
  t.equal(stored, sampled.size, 'Jaeger holds exactly the sampled traces');
  const one = await jaeger.trace([...sampled][0]!);
  t.equal(one.length, 2, 'each sampled trace has its SERVER and CLIENT span');
});

/** The sidecar's own counters of exported and dropped spans. */
async function spanCounters(p: RunningProxy): Promise<{ exported: number; dropped: number }> {
  const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
  const exported = Number(/^sidegate_trace_spans_exported_total (\d+)/m.exec(text)?.[1] ?? 0);
  let dropped = 0;
  for (const m of text.matchAll(/^sidegate_trace_spans_dropped_total\{reason="[a-z_]+"\} (\d+)/gm)) dropped += Number(m[1]);
  return { exported, dropped };
}

t.test('Jaeger killed and restarted under load: requests never wait, drops are counted, export resumes', async (t) => {
  const own = await startJaeger();
  const app = await startHttpApp();
  const exportTimeoutMs = 2000;
  const p = await startProxy(app.url, [], {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: own.otlpHttp,
      OTEL_SERVICE_NAME: 'crash',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_EXPORTER_OTLP_TIMEOUT: String(exportTimeoutMs),
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64',
    },
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
    await own.close();
  });
  let slowest = 0;
  let answered = 0;
  const load = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const start = performance.now();
          const r = await get(`${p.url}/load`);
          slowest = Math.max(slowest, performance.now() - start);
          if (r.status === 200) answered++;
        }),
      );
    }
  };
  await load(200);
  await until(async () => (await spanCounters(p)).exported >= 400, 'spans exported before the crash');
  await own.kill();
  await load(1000);
  await until(async () => (await spanCounters(p)).dropped > 0, 'drops counted while Jaeger is down', 10_000);
  t.equal(answered, 1200, 'every request answered while Jaeger was up and down');
  // A request that waited on the exporter would take the export timeout at least.
  t.ok(slowest < exportTimeoutMs, `no request waited on the collector (slowest ${slowest.toFixed(1)} ms)`);

  await own.start();
  const after = newTrace();
  let probes = 0;
  await until(
    async () => {
      probes++;
      await get(`${p.url}/after`, { traceparent: `00-${after}-${PARENT}-01` });
      return (await own.trace(after)).length >= 2;
    },
    'export resumes by itself after the restart',
    20_000,
  );
  // Every span (a SERVER and a CLIENT per request) is either delivered or counted as dropped.
  const total = 2 * (1200 + probes);
  await until(
    async () => {
      const c = await spanCounters(p);
      return c.exported + c.dropped === total;
    },
    `${total} spans exported or counted as dropped`,
    10_000,
  );
  const c = await spanCounters(p);
  t.ok(c.dropped > 0 && c.exported > 400, `exported ${c.exported}, dropped ${c.dropped} of ${total}`);
});
