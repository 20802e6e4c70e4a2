/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- Kubernetes objects are untyped JSON in tests */
/**
 * Injection through a real apiserver's admission chain, with the chart installed for real:
 * `helm install charts/sidegate` with default values. One change, made by a helm post-renderer
 * before anything reaches the apiserver (test/cluster/webhook-url-renderer.ts): each webhook's
 * `clientConfig`. The chart names the injector's Service, which the apiserver would dial through
 * its ClusterIP, and nothing routes there from this machine; so each webhook gets a `url` on
 * 127.0.0.1 to the injector this test started (the real webhook server, reading the config from
 * the ConfigMap the chart installed) and that server's CA as caBundle. The chart's own injector
 * Deployment is "run" by kwok (no container), which is what `helm install --wait` waits for.
 * Pods are created by the controllers (Deployment → ReplicaSet → Pod), bound by the scheduler and
 * reported Running by kwok.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadInjectorConfig } from '../../injector/src/config-file.js';
import { ANNOTATION_STATUS, PROXY_CONTAINER } from '../../injector/src/constants.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { startWebhook } from '../../injector/src/webhook.js';
import { freePort } from '../helpers/ports.js';
import { makeCert } from '../injector/helpers/tls.js';
import { startControlPlane } from './control-plane.js';
import { Helm } from './helm.js';
import type { KubeApi } from './kube-api.js';

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';

const deployment = (name: string, ns: string): object => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: 'example.invalid/app:1', ports: [{ containerPort: 8080 }] }] },
    },
  },
});

/** The Running pod of a Deployment (controllers, scheduler and kwok all did their part). */
const runningPod = (api: KubeApi, ns: string, app: string): Promise<any> => api.waitFor(`a Running pod of ${ns}/${app}`, async () => {
  const r = await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`);
  const p = r.body.items?.[0];
  return p?.status?.phase === 'Running' ? p : undefined;
});

const allContainers = (pod: any): any[] => [...(pod.spec.initContainers ?? []), ...pod.spec.containers];

t.test('a pod created by a Deployment in a labelled namespace is injected through the real admission chain', async (t) => {
  const plane = await startControlPlane();
  t.teardown(() => plane.stop());
  const { api } = plane;

  const tls = makeCert();
  const port = await freePort();
  const helm = new Helm(plane);
  const installed = await helm.install('sg', 'sidegate-system', `https://127.0.0.1:${port}`, tls.certFile);
  t.match(installed, /STATUS: deployed/, 'helm install (default values) succeeds');

  // The webhooks as the apiserver holds them: the chart's, clientConfig aside.
  for (const plural of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    const list = (await api.get(`${ADMISSION}/${plural}`)).body.items;
    t.equal(list.length, 1, `one ${plural} installed`);
    for (const w of list[0].webhooks) t.match(w.clientConfig.url, new RegExp(`^https://127\\.0\\.0\\.1:${port}/(inject|validate)$`), `${w.name} points at this test's injector`);
  }
  const cms = (await api.get('/api/v1/namespaces/sidegate-system/configmaps')).body.items;
  const cm = cms.find((c: any) => c.data?.['config.yaml'] !== undefined);
  t.ok(cm, 'the chart installed the injector ConfigMap');
  const configFile = join(mkdtempSync(join(tmpdir(), 'sidegate-injector-')), 'config.yaml');
  writeFileSync(configFile, cm.data['config.yaml']);
  const metrics = new InjectorMetrics({ processMetrics: false });
  const hook = await startWebhook({ config: await loadInjectorConfig(configFile), certFile: tls.certFile, keyFile: tls.keyFile, host: '127.0.0.1', port, metrics });
  t.teardown(() => hook.close());
  const injectCalls = async (): Promise<number> => (await metrics.reviews.get()).values.filter((v) => v.labels.endpoint === 'inject').reduce((n, v) => n + v.value, 0);

  await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'sidegate.dev/injection': 'enabled' } } });
  await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } });

  // The apiserver learns of new webhook configurations from a watch: a server-side dry run in the
  // labelled namespace shows when it calls ours (dry run is allowed: the chart says sideEffects: None).
  await api.waitFor('the apiserver calls the new webhook', async () => {
    const r = await api.call('POST', '/api/v1/namespaces/shop/pods?dryRun=All', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe', labels: { app: 'probe' } },
      spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
    });
    return r.status === 201 && allContainers(r.body).some((c) => c.name === PROXY_CONTAINER) ? true : undefined;
  });

  const before = await injectCalls();
  await api.create('/apis/apps/v1/namespaces/shop/deployments', deployment('orders', 'shop'));
  const pod = await runningPod(api, 'shop', 'orders');
  t.ok(allContainers(pod).some((c) => c.name === PROXY_CONTAINER), `the ReplicaSet controller's pod has ${PROXY_CONTAINER}`);
  t.ok(pod.metadata.annotations?.[ANNOTATION_STATUS], `${ANNOTATION_STATUS} records the injection`);
  t.equal(pod.spec.nodeName, 'kwok-node-0', 'the injected pod passed the apiserver\'s validation and was scheduled');
  t.ok(await injectCalls() > before, 'the injector answered the apiserver');
  t.comment(`injected pod: init [${(pod.spec.initContainers ?? []).map((c: any) => c.name).join(', ')}], containers [${pod.spec.containers.map((c: any) => c.name).join(', ')}]`);

  const calls = await injectCalls();
  await api.create('/apis/apps/v1/namespaces/plain/deployments', deployment('ledger', 'plain'));
  const plain = await runningPod(api, 'plain', 'ledger');
  t.notOk(allContainers(plain).some((c) => c.name === PROXY_CONTAINER), 'a pod in an unlabelled namespace is not injected');
  t.equal(plain.metadata.annotations?.[ANNOTATION_STATUS], undefined);
  t.equal(await injectCalls(), calls, 'and the apiserver never called the webhook for it (namespaceSelector)');
});
