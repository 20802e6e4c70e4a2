import t from 'tap';
import { request } from 'undici';
import { startHttpApp } from '../../../helpers/apps.js';
import { startGrpcServer } from '../../../helpers/grpc.js';
import { freePort } from '../../../helpers/ports.js';
import { startProxy } from '../../../helpers/proxy.js';

t.test('admin port: health, metrics, app probes', async (t) => {
  const app = await startHttpApp();
  const grpcApp = await startGrpcServer();
  const closed = await freePort();
  const probes = JSON.stringify({
    'app/readiness': {
      httpGet: { path: '/status/204', port: app.port, httpHeaders: [{ name: 'X-Probe', value: '1' }] },
      timeoutSeconds: 1,
    },
    'app/liveness': { httpGet: { path: '/status/500', port: app.port } },
    'app/startup': { tcpSocket: { port: app.port } },
    'dead/startup': { tcpSocket: { port: closed } },
    'grpc/readiness': { grpc: { port: grpcApp.port } },
    'grpc/liveness': { grpc: { port: grpcApp.port, service: 'other' } },
    'slow/readiness': { httpGet: { path: '/slow?ms=3000', port: app.port }, timeoutSeconds: 1 },
  });
  const p = await startProxy(app.url, ['--app-probes', probes]);
  t.teardown(async () => {
    await p.close();
    await app.close();
    await grpcApp.close();
  });
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await request(`${p.adminUrl}${path}`);
    return { status: r.statusCode, body: await r.body.text() };
  };

  t.equal((await get('/healthz/live')).status, 200);
  const ready = await get('/healthz/ready');
  t.equal(ready.status, 200);
  t.equal(JSON.parse(ready.body).status, 'ready');

  const m = await get('/metrics');
  t.match(m.body, /# TYPE sidegate_http_requests_total counter/);
  t.match(m.body, /sidegate_policy_info\{name="default",version="[0-9a-f]+"\} 1/);

  t.equal((await get('/app-health/app/readiness')).status, 200, 'httpGet 204 passes');
  t.equal((await get('/app-health/app/liveness')).status, 503, 'httpGet 500 fails');
  t.equal((await get('/app-health/app/startup')).status, 200, 'tcpSocket to a listening port passes');
  t.equal((await get('/app-health/dead/startup')).status, 503, 'tcpSocket to a closed port fails');
  t.equal((await get('/app-health/grpc/readiness')).status, 200, 'grpc health SERVING passes');
  t.equal((await get('/app-health/grpc/liveness')).status, 503, 'grpc health NOT_SERVING fails');
  const slow = await get('/app-health/slow/readiness');
  t.equal(slow.status, 503, 'probe timeout fails');
  t.match(JSON.parse(slow.body).detail, /timeout/);
  t.equal((await get('/app-health/nope/readiness')).status, 404);
  t.equal((await get('/nope')).status, 404);
  t.equal(p.logs.filter((l) => l.msg === 'request').length, 0, 'admin traffic is never access-logged');
});

t.test('bad SIDEGATE_APP_PROBES is refused at start with the key named', async (t) => {
  const { parseAppProbes } = await import('../../../../sidecar/src/inbound/admin/probes.js');
  t.throws(() => parseAppProbes('{"app/ready": {"tcpSocket": {"port": 1}}}'), /key "app\/ready"/);
  t.throws(() => parseAppProbes('{"app/startup": {"httpGet": {"port": "http"}}}'), /numeric port/);
  t.throws(() => parseAppProbes('{"app/startup": {}}'), /exactly one of/);
  t.throws(() => parseAppProbes('nope'), /not valid JSON/);
  t.equal(parseAppProbes(undefined).size, 0);
});
