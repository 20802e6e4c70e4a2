import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { startJaeger, type Jaeger } from '../helpers/jaeger.js';
import { until } from '../helpers/proxy.js';
import { CLI, spawnProxy } from '../helpers/spawn.js';
import { freePort } from '../helpers/ports.js';
import { parseShebang } from '../../bench/targets.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { makeCert } from '../helpers/tls.js';
import { RedisProcess } from '../helpers/redis.js';

/**
 * What ships is the bundle (scripts/bundle.ts): the code paths a bundler can break — modules loaded
 * only when a feature is on (tracing exporters, Redis), CommonJS packages loaded from ESM — run
 * here through the spawned `dist/bin/sidegate.js`, not in-process.
 */
/** Each exporter the sidecar can load, as OTEL_* settings toward a real Jaeger v2. */
const EXPORTERS: [string, (j: Jaeger) => Record<string, string>][] = [
  ['otlp http/protobuf', (j) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: j.otlpHttp })],
  ['otlp http/json', (j) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: j.otlpHttp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })],
  ['otlp grpc', (j) => ({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: j.otlpGrpc, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })],
  ['jaeger thrift', (j) => ({ OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_JAEGER_ENDPOINT: j.thriftHttp })],
];

t.test('the bundled sidecar exports spans to Jaeger with every exporter', async (t) => {
  const jaeger = await startJaeger();
  const app = await startHttpApp();
  t.teardown(async () => {
    await jaeger.close();
    await app.close();
  });
  for (const [name, env] of EXPORTERS) {
    const service = `bundle-${name.replace(/[^a-z]+/g, '-')}`;
    const p = await spawnProxy(app.url, [], { ...env(jaeger), OTEL_SERVICE_NAME: service, OTEL_BSP_SCHEDULE_DELAY: '100' });
    const trace = randomBytes(16).toString('hex');
    const r = await request(`${p.url}/traced`, { headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } });
    await r.body.dump();
    t.equal(r.statusCode, 200);
    await until(async () => (await jaeger.trace(trace)).length === 2, `${name}: the SERVER and CLIENT spans in Jaeger`, 15_000);
    const spans = await jaeger.trace(trace);
    t.same(
      spans.map((s) => s.process.serviceName),
      [service, service],
      `${name}: stored under ${service}`,
    );
    p.proc.kill('SIGKILL');
    await p.exited;
  }
});

t.test('the sidegate command runs with the environment and V8 flags of its #! line', async (t) => {
  // Run as a pod runs it: the file itself (the kernel reads the #! line, truncating past 255 bytes,
  // and env -S splits it), not `node file`.
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0]!;
  const launch = parseShebang(first);
  t.ok(first.length < 256, `the #! line fits the kernel's 256-byte buffer (${first.length} bytes)`);
  const app = await startHttpApp();
  const port = await freePort();
  const admin = await freePort();
  const proc = spawn(CLI, ['proxy', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--upstream', app.url], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.teardown(async () => {
    proc.kill('SIGKILL');
    await app.close();
  });
  await until(
    async () => {
      try {
        const r = await request(`http://127.0.0.1:${admin}/healthz/ready`);
        await r.body.dump();
        return r.statusCode === 200;
      } catch {
        return false;
      }
    },
    'the directly executed sidegate is ready',
    10_000,
  );
  const argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
  for (const f of launch.nodeFlags) t.ok(argv.includes(f), `node runs with ${f}`);
  const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8').split('\0');
  for (const [k, v] of Object.entries(launch.env)) t.ok(environ.includes(`${k}=${v}`), `the process has ${k}=${v}`);
});

/**
 * Which of Node's built-ins and which CommonJS files a bundled proxy loaded, written by a preload
 * when it exits: the bundle takes built-ins through `require` (no ESM facade reads every export)
 * and loads node:tls, node:https and @opentelemetry/api only when something uses them
 * (scripts/bundle.ts).
 */
async function loadedBuiltins(upstream: string, flags: string[], use: (p: Awaited<ReturnType<typeof spawnProxy>>) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-modules-'));
  const preload = join(dir, 'dump.cjs');
  const out = join(dir, 'modules.json');
  writeFileSync(
    preload,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify([...process.moduleLoadList, ...Object.keys(require('node:module')._cache)])));`,
  );
  const p = await spawnProxy(upstream, flags, { NODE_OPTIONS: `--require ${preload}` });
  try {
    await use(p);
  } finally {
    p.proc.kill('SIGTERM');
    await p.exited;
  }
  return new Set((JSON.parse(readFileSync(out, 'utf8')) as string[]).map((m) => m.replace(/^NativeModule /, '')));
}

t.test('the bundled proxy loads node:tls, node:https, @opentelemetry/api and undici only when it uses them', async (t) => {
  const app = await startHttpApp();
  const redis = await RedisProcess.start();
  const cert = makeCert();
  t.teardown(async () => {
    await app.close();
    await redis.stop();
  });
  const policy = join(mkdtempSync(join(tmpdir(), 'sidegate-policy-')), 'policy.yaml');
  writeFileSync(
    policy,
    [
      'apiVersion: sidegate.dev/v1',
      'kind: Policy',
      'metadata: { name: bundle-builtins }',
      'spec:',
      '  rateLimits:',
      '    - { name: per-user, key: [ { header: x-user } ], limit: { requests: 1000, per: 1s } }',
    ].join('\n'),
  );
  // Plain HTTP with a limit shared through Redis: ioredis names node:tls at load, and must not load it.
  // A 2 s Redis budget: a decision waits for Redis rather than fall back on a busy machine.
  const plain = await loadedBuiltins(
    app.url,
    ['--policy', policy, '--redis', redis.url, '--redis-timeout', '2s', '--service', 'bundle'],
    async (p) => {
      // Until one decision came through Redis (the first may precede the connection): at most 20.
      let throughRedis = false;
      for (let i = 0; i < 20 && !throughRedis; i++) {
        const r = await request(`${p.url}/plain`, { headers: { 'x-user': 'a' } });
        await r.body.dump();
        t.equal(r.statusCode, 200, 'served over plain HTTP');
        const m = await request(`${p.adminUrl}/metrics`);
        throughRedis = /sidegate_ratelimit_decisions_total\{[^}]*source="(redis|lease)"[^}]*\} [1-9]/.test(await m.body.text());
      }
      t.ok(throughRedis, 'the limit was decided through Redis');
    },
  );
  t.ok(plain.has('http') && plain.has('net'), 'the module list is the real one');
  for (const m of ['tls', 'https', 'internal/tls/wrap']) t.notOk(plain.has(m), `${m} not loaded`);
  t.same(
    [...plain].filter((m) => m.includes('undici')),
    [],
    'no undici',
  );
  t.same(
    [...plain].filter((m) => m.includes('@opentelemetry')),
    [],
    'nothing of OpenTelemetry with tracing off',
  );

  // Serving TLS reads node:tls through the lazy module: the real createServer, the real TLSSocket.
  const tls = await loadedBuiltins(app.url, ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile], async (p) => {
    const r = await request(`https://127.0.0.1:${p.port}/tls`, { dispatcher: new Agent({ connect: { ca: cert.cert } }) });
    t.equal(r.statusCode, 200, 'served over TLS');
    t.match(JSON.parse(await r.body.text()), { url: '/tls' }, 'the app answered');
  });
  t.ok(tls.has('tls'), 'node:tls loaded when TLS is served');
});
