import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { startJaegerReceiver, startOtlpReceiver } from '../helpers/collectors.js';
import { until } from '../helpers/proxy.js';
import { CLI, spawnProxy } from '../helpers/spawn.js';
import { freePort } from '../helpers/ports.js';
import { parseShebang } from '../../bench/targets.js';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * What ships is the bundle (scripts/bundle.ts): the code paths a bundler can break — modules loaded
 * only when a feature is on (tracing exporters, Redis), CommonJS packages loaded from ESM — run
 * here through the spawned `dist/bin/sidegate.js`, not in-process.
 */
for (const [exporter, start] of [['otlp', startOtlpReceiver], ['jaeger', startJaegerReceiver]] as const) {
  t.test(`the bundled sidecar exports spans (${exporter})`, async (t) => {
    const app = await startHttpApp();
    const collector = await start();
    const env = exporter === 'otlp'
      ? { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url.replace('/v1/traces', '') }
      : { OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_JAEGER_ENDPOINT: collector.url };
    const p = await spawnProxy(app.url, [], { ...env, OTEL_TRACES_SAMPLER: 'always_on', OTEL_SERVICE_NAME: 'bundle-test' });
    t.teardown(async () => { p.proc.kill('SIGKILL'); await collector.close(); await app.close(); });
    const r = await request(`${p.url}/traced`);
    await r.body.dump();
    t.equal(r.statusCode, 200);
    await until(() => collector.spans.some((s) => s.kind === 'server'), `a server span reached the ${exporter} collector`, 10_000);
    t.equal(collector.spans.find((s) => s.kind === 'server')?.service, 'bundle-test');
  });
}

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
    env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.teardown(async () => { proc.kill('SIGKILL'); await app.close(); });
  await until(async () => {
    try { const r = await request(`http://127.0.0.1:${admin}/healthz/ready`); await r.body.dump(); return r.statusCode === 200; } catch { return false; }
  }, 'the directly executed sidegate is ready', 10_000);
  const argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
  for (const f of launch.nodeFlags) t.ok(argv.includes(f), `node runs with ${f}`);
  const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8').split('\0');
  for (const [k, v] of Object.entries(launch.env)) t.ok(environ.includes(`${k}=${v}`), `the process has ${k}=${v}`);
});
