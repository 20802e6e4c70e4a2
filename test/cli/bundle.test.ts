import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../helpers/apps.js';
import { startJaegerReceiver, startOtlpReceiver } from '../helpers/collectors.js';
import { spawnProxy } from '../helpers/spawn.js';
import { until } from '../helpers/proxy.js';

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
