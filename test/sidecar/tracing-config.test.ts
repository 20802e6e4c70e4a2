import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { startHttpApp, type Seen } from '../helpers/apps.js';
import { startCapturingCollector } from '../helpers/collectors.js';
import { startProxy, until } from '../helpers/proxy.js';
import { CLI, spawnProxy } from '../helpers/spawn.js';
import { TRACE_ENV, TracingConfigError, tracingEnv } from '../../sidecar/src/telemetry/tracing-config.js';

/**
 * OTEL_* by the SDK specification: what a setting puts on the wire (a capturing collector shows
 * the format and headers; tracing.test.ts shows the spans in Jaeger), and every value the
 * specification does not allow refused at start-up, naming the variable.
 */

async function get(url: string, headers: Record<string, string> = {}): Promise<Seen> {
  const r = await request(url, { headers });
  return JSON.parse(await r.body.text()) as Seen;
}

t.test('on and off', async (t) => {
  t.equal(tracingEnv({}, 's'), undefined, 'off without an exporter or endpoint');
  t.equal(
    tracingEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 's'),
    undefined,
    'none wins over an endpoint',
  );
  t.equal(tracingEnv({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }, 's'), undefined, 'OTEL_SDK_DISABLED=true turns it off');
  t.match(
    tracingEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 's'),
    { exporter: 'otlp', protocol: 'http/protobuf' },
    'an endpoint turns OTLP on, http/protobuf by default',
  );
  t.match(tracingEnv({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'console' }, 's'), { exporter: 'console' });
  t.match(
    tracingEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_TRACES_EXPORTER: 'otlp' }, 's'),
    { protocol: 'http/json' },
    'the TRACES_ variable wins',
  );
  t.equal(tracingEnv({ OTEL_TRACES_EXPORTER: '' }, 's'), undefined, 'an empty value is unset');
});

t.test('each variable refuses what the specification does not allow, naming itself', async (t) => {
  const file = join(tmpdir(), `sidegate-ca-${process.pid}.pem`);
  writeFileSync(file, 'not checked here');
  const bad: [string, string, RegExp][] = [
    ['OTEL_SDK_DISABLED', 'yes', /not true or false/],
    ['OTEL_TRACES_EXPORTER', 'zipkin', /zipkin is not shipped/],
    ['OTEL_TRACES_EXPORTER', 'otlp,jaeger', /one exporter at a time/],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http', /not one of http\/protobuf, http\/json, grpc/],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'thrift', /not one of/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', /not an http:\/\/ or https:\/\/ URL/],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://c/v1/traces', /not an http/],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'api-key', /key=value/],
    ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'a=%zz', /percent-encoding/],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'brotli', /not one of gzip, none/],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '10s', /whole number/],
    ['OTEL_EXPORTER_OTLP_CERTIFICATE', '/nonexistent/ca.pem', /not an existing file/],
    ['OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY', '/nonexistent/key.pem', /not an existing file/],
    ['OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE', '/nonexistent/cert.pem', /not an existing file/],
    ['OTEL_EXPORTER_OTLP_INSECURE', 'maybe', /not true or false/],
    ['OTEL_PROPAGATORS', 'tracecontext,xray', /xray needs the AWS X-Ray propagator/],
    ['OTEL_PROPAGATORS', 'w3c', /not a list of tracecontext, baggage, b3, b3multi, jaeger, none/],
    ['OTEL_TRACES_SAMPLER', 'parentbased_jaeger_remote', /remote sampling is not supported/],
    ['OTEL_TRACES_SAMPLER', 'sometimes', /not one of always_on/],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', /from 0 to 1/],
    ['OTEL_TRACES_SAMPLER_ARG', 'half', /from 0 to 1/],
    ['OTEL_BSP_SCHEDULE_DELAY', '-1', /whole number/],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '4096', /larger than OTEL_BSP_MAX_QUEUE_SIZE/],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '0', /at least 1/],
    ['OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'many', /whole number/],
    ['OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', '1e3', /whole number/],
    ['OTEL_RESOURCE_ATTRIBUTES', 'k8s.pod.name', /key=value/],
    ['OTEL_EXPORTER_JAEGER_ENDPOINT', 'jaeger:14268', /not an http/],
    ['OTEL_CONFIG_FILE', '/etc/otel.yaml', /declarative configuration files are not supported/],
    ['OTEL_EXPORTER_ZIPKIN_ENDPOINT', 'http://z:9411', /zipkin exporter is not shipped/],
  ];
  for (const [name, value, why] of bad) {
    const env = { OTEL_TRACES_EXPORTER: 'otlp', [name]: value };
    t.throws(
      () => tracingEnv(env, 's'),
      { constructor: TracingConfigError, message: new RegExp(`^${name}: .*${why.source}`) },
      `${name}=${value}`,
    );
  }
  // Every variable of the table takes a valid value (no rule refuses everything).
  const good: Record<string, string> = {
    bool: 'true',
    int: '10',
    ratio: '0.25',
    url: 'http://c:4318',
    file,
    pairs: 'a=1,b=x%20y',
    string: 'x',
  };
  for (const [name, rule] of Object.entries(TRACE_ENV)) {
    if (name === 'OTEL_SDK_DISABLED' || name === 'OTEL_TRACES_EXPORTER') continue;
    const value = rule.kind === 'enum' || rule.kind === 'list' ? rule.values[0]! : good[rule.kind]!;
    t.doesNotThrow(() => tracingEnv({ OTEL_TRACES_EXPORTER: 'otlp', [name]: value }, 's'), `${name}=${value} is accepted`);
  }
});

t.test('the CLI refuses a bad value at start-up, exit 2, naming the variable', async (t) => {
  const proc = spawn(
    process.execPath,
    [CLI, 'proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:9'],
    {
      env: { PATH: process.env.PATH, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuff' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += String(d);
  });
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  t.equal(code, 2);
  t.match(stderr, 'sidegate proxy: OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuff" is not one of http/protobuf, http/json, grpc');
});

t.test('what OTEL_EXPORTER_OTLP_* puts on the wire: protobuf by default, JSON when asked, headers, gzip', async (t) => {
  const app = await startHttpApp();
  const c = await startCapturingCollector();
  t.teardown(async () => {
    await app.close();
    await c.close();
  });
  const cases: [string, Record<string, string>, Record<string, unknown>][] = [
    ['default', {}, { 'content-type': 'application/x-protobuf' }],
    ['http/protobuf', { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, { 'content-type': 'application/x-protobuf' }],
    ['http/json', { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { 'content-type': 'application/json' }],
    [
      'headers + gzip',
      { OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cr%20t', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip' },
      { 'x-api-key': 's3cr t', 'content-encoding': 'gzip' },
    ],
  ];
  for (const [name, env, want] of cases) {
    const before = c.received.length;
    const p = await startProxy(app.url, [], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: c.url, OTEL_BSP_SCHEDULE_DELAY: '20', ...env } });
    await get(`${p.url}/w`);
    await until(() => c.received.length > before, `${name}: an export arrived`);
    await p.close();
    t.equal(c.received[before]!.path, '/v1/traces', `${name}: to <endpoint>/v1/traces`);
    t.match(c.received[before]!.headers, want, name);
  }
});

t.test('OTEL_SDK_DISABLED=true exports nothing; OTEL_PROPAGATORS=b3 is what the app receives', async (t) => {
  const app = await startHttpApp();
  const c = await startCapturingCollector();
  t.teardown(async () => {
    await app.close();
    await c.close();
  });
  const off = await startProxy(app.url, [], {
    env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: c.url, OTEL_BSP_SCHEDULE_DELAY: '20' },
  });
  const seen = await get(`${off.url}/x`, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  await off.close();
  t.equal(c.received.length, 0, 'nothing exported');
  t.equal(seen.headers.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', "the caller's context passes untouched");

  const b3 = await startProxy(app.url, [], { env: { OTEL_PROPAGATORS: 'b3', OTEL_EXPORTER_OTLP_ENDPOINT: c.url } });
  t.teardown(() => b3.close());
  const viaB3 = await get(`${b3.url}/x`, { b3: '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1' });
  t.match(viaB3.headers.b3, /^4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-1$/, 'the app gets a B3 single header in the same trace');
  t.equal(viaB3.headers.traceparent, undefined, 'and no W3C traceparent');
  const w3cOnly = await get(`${b3.url}/x`, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  t.not(
    String(w3cOnly.headers.b3).split('-')[0],
    '4bf92f3577b34da6a3ce929d0e0e4736',
    'a W3C caller is not continued when only b3 is configured',
  );
});

t.test('tracing off loads nothing of the SDK; on, it does', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  // NODE_DEBUG=module logs every CommonJS resolution: the OpenTelemetry packages are CommonJS.
  // Not even @opentelemetry/api: the pipeline names it for types only.
  const loaded = async (env: Record<string, string>): Promise<boolean> => {
    const p = await spawnProxy(app.url, [], { NODE_DEBUG: 'module', ...env });
    await get(`${p.url}/x`);
    p.proc.kill('SIGKILL');
    await p.exited;
    return /@opentelemetry\//.test(p.output.stderr);
  };
  t.equal(await loaded({}), false, 'off: no OpenTelemetry SDK module resolved');
  t.equal(await loaded({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }), false, 'disabled: none either');
  t.equal(await loaded({ OTEL_TRACES_EXPORTER: 'console' }), true, 'on: the SDK is loaded (the check can see it)');
});

t.test("README's Tracing table names every variable the gate knows", async (t) => {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Tracing'), readme.indexOf('### Policy'));
  for (const name of Object.keys(TRACE_ENV)) t.ok(section.includes(`\`${name}\``), name);
});
