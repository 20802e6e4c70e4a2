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
 * Pods are created by the controllers (Deployment → ReplicaSet → Pod, StatefulSet, DaemonSet, Job,
 * CronJob), bound by the scheduler and reported Running by kwok.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadInjectorConfig } from '../../injector/src/config-file.js';
import { ANNOTATION_STATUS, NO_TOKEN_VOLUME, PROXY_CONTAINER, SERVICE_ACCOUNT_TOKEN_DIR } from '../../injector/src/constants.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { startWebhook, type Webhook } from '../../injector/src/webhook.js';
import { freePort } from '../helpers/ports.js';
import { makeCert } from '../injector/helpers/tls.js';
import { startControlPlane } from './control-plane.js';
import { Helm } from './helm.js';

// A CronJob's first run waits for the next whole minute.
t.setTimeout(240_000);

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';
const RELEASE = 'sg';
const RELEASE_NS = 'sidegate-system';
const IMAGE = 'example.invalid/app:1';

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const { api } = plane;
t.comment(`control plane (Kubernetes ${plane.kubernetesVersion}) ready in ${plane.startup.total} ms`);

const tls = makeCert();
const port = await freePort();
const helm = new Helm(plane);
const installed = await helm.install(RELEASE, RELEASE_NS, `https://127.0.0.1:${port}`, tls.certFile);

const cms = (await api.get(`/api/v1/namespaces/${RELEASE_NS}/configmaps`)).body.items;
const configFile = join(mkdtempSync(join(tmpdir(), 'sidegate-injector-')), 'config.yaml');
writeFileSync(configFile, cms.find((c: any) => c.data?.['config.yaml'] !== undefined).data['config.yaml']);
const config = await loadInjectorConfig(configFile);
const metrics = new InjectorMetrics({ processMetrics: false });
const startInjector = (): Promise<Webhook> =>
  startWebhook({ config, certFile: tls.certFile, keyFile: tls.keyFile, host: '127.0.0.1', port, metrics });
let hook: Webhook | undefined = await startInjector();
t.teardown(() => hook?.close());

/** Admission reviews the injector answered on /inject (any result). */
const injectCalls = async (): Promise<number> =>
  (await metrics.reviews.get()).values.filter((v) => v.labels.endpoint === 'inject').reduce((n, v) => n + v.value, 0);
const allContainers = (pod: any): any[] => [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
const isInjected = (pod: any): boolean => allContainers(pod).some((c) => c.name === PROXY_CONTAINER);

const namespace = (name: string, labels: Record<string, string> = {}): Promise<unknown> =>
  api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

const template = (
  app: string,
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
  restartPolicy?: string,
): object => ({
  metadata: { labels: { app, ...meta.labels }, annotations: meta.annotations ?? {} },
  spec: {
    ...(restartPolicy === undefined ? {} : { restartPolicy }),
    containers: [{ name: 'app', image: IMAGE, ports: [{ containerPort: 8080 }] }],
  },
});

const deployment = (ns: string, app: string, meta?: Parameters<typeof template>[1]): Promise<unknown> =>
  api.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app },
    spec: { replicas: 1, selector: { matchLabels: { app } }, template: template(app, meta) },
  });

/** A bare Pod, as `kubectl run` creates it: the apiserver's whole answer (status, body, warnings). */
const createPod = (ns: string, name: string, meta: Parameters<typeof template>[1] = {}, dryRun = false): ReturnType<typeof api.call> => {
  const { metadata, spec } = template(name, meta) as { metadata: object; spec: object };
  return api.call('POST', `/api/v1/namespaces/${ns}/pods${dryRun ? '?dryRun=All' : ''}`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...metadata, name },
    spec,
  });
};

/** The pod a controller made for `app`, once kwok has it Running (or Succeeded, for a Job's). */
const podOf = (ns: string, app: string, phases = ['Running'], timeoutMs = 30_000): Promise<any> =>
  api.waitFor(
    `a ${phases.join('/')} pod of ${ns}/${app}`,
    async () => {
      const r = await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`);
      return (r.body.items ?? []).find((p: any) => phases.includes(p.status?.phase));
    },
    timeoutMs,
  );

t.test('helm install: the chart as rendered, clientConfig aside', async (t) => {
  t.match(installed, /STATUS: deployed/, 'helm install --wait with default values succeeds');
  for (const plural of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    const list = (await api.get(`${ADMISSION}/${plural}`)).body.items;
    t.equal(list.length, 1, `one of ${plural}`);
    for (const w of list[0].webhooks) {
      t.match(
        w.clientConfig.url,
        new RegExp(`^https://127\\.0\\.0\\.1:${port}/(inject|validate)$`),
        `${w.name}: url to this test's injector`,
      );
      t.equal(w.clientConfig.service, undefined);
    }
  }
  const injector = await api.get(`/apis/apps/v1/namespaces/${RELEASE_NS}/deployments`);
  t.equal(
    injector.body.items[0]?.status?.readyReplicas,
    2,
    "the chart's injector Deployment is ready (kwok runs its pods), outside the webhook's reach",
  );
});

// A CronJob runs at the next whole minute: created now, checked at the end.
// As a test, so that a failure here is reported with the apiserver's answer (a top-level throw
// was reported only as "error thrown in teardown").
await t.test('namespaces shop (labelled) and plain, and a CronJob', async () => {
  await namespace('shop', { 'sidegate.dev/injection': 'enabled' });
  await namespace('plain');
  await api.create('/apis/batch/v1/namespaces/shop/cronjobs', {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'nightly' },
    spec: { schedule: '* * * * *', jobTemplate: { spec: { template: template('nightly', {}, 'Never') } } },
  });
});

t.test('the apiserver starts calling the new webhook', async () => {
  // It learns of webhook configurations from a watch; a server-side dry run (allowed: the chart
  // says sideEffects: None) shows when ours is called.
  await api.waitFor('a dry-run pod in a labelled namespace comes back injected', async () => {
    const r = await createPod('shop', 'probe', {}, true);
    return r.status === 201 && isInjected(r.body) ? true : undefined;
  });
});

t.test("labelled namespace: a Deployment's pod is injected, accepted and Running", async (t) => {
  const before = await injectCalls();
  await deployment('shop', 'orders');
  const pod = await podOf('shop', 'orders');
  t.ok(isInjected(pod), `the ReplicaSet controller's pod has ${PROXY_CONTAINER}`);
  t.ok(pod.metadata.annotations?.[ANNOTATION_STATUS], `${ANNOTATION_STATUS} records the injection`);
  t.equal(
    pod.spec.initContainers.find((c: any) => c.name === PROXY_CONTAINER)?.restartPolicy,
    'Always',
    'native sidecar (an init container that keeps running)',
  );
  t.equal(pod.spec.nodeName, 'kwok-node-0', "passed the apiserver's validation and was scheduled");
  t.ok((await injectCalls()) > before, 'the injector answered the apiserver');
});

t.test('classic mode: the proxy as a regular container, accepted by the apiserver', async (t) => {
  await deployment('shop', 'classic', { annotations: { 'sidegate.dev/native-sidecar': 'false' } });
  const pod = await podOf('shop', 'classic');
  t.ok(
    pod.spec.containers.some((c: any) => c.name === PROXY_CONTAINER),
    `${PROXY_CONTAINER} among the containers`,
  );
  t.notOk((pod.spec.initContainers ?? []).some((c: any) => c.name === PROXY_CONTAINER));
});

t.test("every workload kind's controller makes injected pods", async (t) => {
  await api.create('/apis/apps/v1/namespaces/shop/statefulsets', {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'ledger' },
    spec: { serviceName: 'ledger', replicas: 1, selector: { matchLabels: { app: 'ledger' } }, template: template('ledger') },
  });
  await api.create('/apis/apps/v1/namespaces/shop/daemonsets', {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') },
  });
  await api.create('/apis/batch/v1/namespaces/shop/jobs', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'migrate' },
    spec: { template: template('migrate', {}, 'Never') },
  });
  for (const [app, kind, phases] of [
    ['ledger', 'StatefulSet', ['Running']],
    ['agent', 'DaemonSet', ['Running']],
    ['migrate', 'Job', ['Running', 'Succeeded']],
  ] as const) {
    const pod = await podOf('shop', app, [...phases]);
    t.equal(pod.metadata.ownerReferences?.[0]?.kind, kind === 'Job' ? 'Job' : kind, `${kind}'s own pod`);
    t.ok(isInjected(pod), `${kind}: injected`);
  }
});

t.test('unlabelled namespace: not injected, and the webhook is never called', async (t) => {
  const calls = await injectCalls();
  await deployment('plain', 'ledger');
  const pod = await podOf('plain', 'ledger');
  t.notOk(isInjected(pod));
  t.equal(pod.metadata.annotations?.[ANNOTATION_STATUS], undefined);
  t.equal(await injectCalls(), calls, 'namespaceSelector kept the apiserver from calling');
});

t.test('pod opt-out in a labelled namespace, opt-in in an unlabelled one', async (t) => {
  const calls = await injectCalls();
  await deployment('shop', 'opted-out', { labels: { 'sidegate.dev/inject': 'false' } });
  t.notOk(isInjected(await podOf('shop', 'opted-out')), 'sidegate.dev/inject=false: not injected');
  t.equal(await injectCalls(), calls, 'and not even sent to the webhook (objectSelector)');
  await deployment('plain', 'opted-in', { labels: { 'sidegate.dev/inject': 'true' } });
  t.ok(isInjected(await podOf('plain', 'opted-in')), 'sidegate.dev/inject=true in an unlabelled namespace: injected');
});

t.test('system and injector namespaces never reach the webhook, even labelled', async (t) => {
  for (const ns of ['kube-system', RELEASE_NS]) {
    const r = await api.call(
      'PATCH',
      `/api/v1/namespaces/${ns}`,
      { metadata: { labels: { 'sidegate.dev/injection': 'enabled' } } },
      'application/merge-patch+json',
    );
    t.equal(r.status, 200, `${ns} labelled sidegate.dev/injection=enabled`);
  }
  const calls = await injectCalls();
  for (const ns of ['kube-system', RELEASE_NS]) {
    const r = await createPod(ns, 'sys', { labels: { 'sidegate.dev/inject': 'true' } });
    t.equal(r.status, 201);
    t.notOk(isInjected(r.body), `${ns}: not injected`);
  }
  t.equal(await injectCalls(), calls, 'zero webhook calls');
});

t.test('annotation errors refuse the pod with the whole message; soft problems are warnings', async (t) => {
  const bad = await createPod('shop', 'bad', {
    annotations: { 'sidegate.dev/app-port': 'x y', 'sidegate.dev/proxy-cpu': '-1', 'sidegate.dev/native-sidecar': 'perhaps' },
  });
  t.equal(bad.status, 400, 'refused');
  t.match(
    bad.body.message,
    /admission webhook "inject\.sidegate\.dev" denied the request: .*app-port.*proxy-cpu/s,
    "kubectl prints the webhook's whole message",
  );
  t.match(bad.warnings.join('\n'), /native-sidecar/, 'the soft problem arrives as a warning even on a refusal');
  const soft = await createPod('shop', 'soft', { annotations: { 'sidegate.dev/unknown-thing': '1' } });
  t.equal(soft.status, 201, 'an unknown annotation does not refuse');
  t.match(soft.warnings.join('\n'), /unknown-thing/, 'it is an admission warning (kubectl prints "Warning: ...")');
  t.ok(isInjected(soft.body));

  // Through a controller, the refusal lands in the ReplicaSet's events.
  await deployment('shop', 'refused', { annotations: { 'sidegate.dev/app-port': 'x y' } });
  const event = await api.waitFor('a FailedCreate event', async () => {
    const r = await api.get('/api/v1/namespaces/shop/events?fieldSelector=reason%3DFailedCreate');
    return (r.body.items ?? []).find((e: any) => e.involvedObject.kind === 'ReplicaSet' && e.involvedObject.name.startsWith('refused-'));
  });
  t.match(event.message, /denied the request: .*app-port/, 'kubectl describe rs shows why');
});

t.test('the validating webhook refuses an invalid policy ConfigMap with every problem and its path', async (t) => {
  const cm = (text: string): object => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'orders-policy', labels: { 'sidegate.dev/policy': 'true' } },
    data: { 'policy.yaml': text },
  });
  const bad = await api.call(
    'POST',
    '/api/v1/namespaces/shop/configmaps',
    cm(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  upstream: { timeout: soon }
  rateLimits:
    - name: per-ip
      key: [ { clientIp: true } ]
      limit: { requests: -1, per: 1s }
`),
  );
  t.equal(bad.status, 400);
  t.match(bad.body.message, /validate-policy\.sidegate\.dev/);
  t.match(bad.body.message, /\/spec\/upstream\/timeout/);
  t.match(bad.body.message, /\/spec\/rateLimits\/0\/limit\/requests/);
  const good = await api.call(
    'POST',
    '/api/v1/namespaces/shop/configmaps',
    cm(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  rateLimits:
    - name: per-ip
      key: [ { clientIp: true } ]
      limit: { requests: 10, per: 1s }
`),
  );
  t.equal(good.status, 201, 'a valid one is stored');
});

t.test("a CronJob's pods are injected", async (t) => {
  // Created before the other tests; its first run is at the next whole minute.
  const pod = await podOf('shop', 'nightly', ['Running', 'Succeeded'], 70_000);
  t.ok(isInjected(pod), 'CronJob → Job → Pod, injected');
  // Suspended from here on: its runs every minute would call the webhook while the tests below
  // count the calls.
  const suspended = await api.call(
    'PATCH',
    '/apis/batch/v1/namespaces/shop/cronjobs/nightly',
    { spec: { suspend: true } },
    'application/merge-patch+json',
  );
  t.equal(suspended.status, 200, 'CronJob suspended');
});

t.test("one webhook call per pod, and no API token in sidegate's containers", async (t) => {
  // The ServiceAccount admission plugin mounts the pod's API token into every container that has
  // nothing at its path, and runs again after a webhook changed the pod. Had it added the token to
  // the injected containers, the pod would have changed after sidegate's webhook, and
  // reinvocationPolicy IfNeeded would call it a second time for every pod.
  const calls = await injectCalls();
  const r = await createPod('shop', 'one-call');
  t.equal(r.status, 201);
  t.equal((await injectCalls()) - calls, 1, 'sidegate was called once');
  const tokenMounts = (c: any): any[] => (c.volumeMounts ?? []).filter((m: any) => m.mountPath === SERVICE_ACCOUNT_TOKEN_DIR);
  const app = r.body.spec.containers.find((c: any) => c.name === 'app');
  t.match(tokenMounts(app), [{ name: /^kube-api-access-/ }], 'the app keeps its token (the plugin is on)');
  for (const name of [PROXY_CONTAINER, 'sidegate-init']) {
    const c = allContainers(r.body).find((x: any) => x.name === name);
    t.same(
      tokenMounts(c),
      [{ name: NO_TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_TOKEN_DIR, readOnly: true }],
      `${name}: an empty directory where the token would be`,
    );
  }
  t.same(
    r.body.spec.volumes.find((v: any) => v.name === NO_TOKEN_VOLUME),
    { name: NO_TOKEN_VOLUME, emptyDir: { sizeLimit: '1Ki' } },
  );
});

t.test('a later mutating webhook with reinvocation: sidegate runs again and the result stays correct', async (t) => {
  // Another injector (a logging agent, say) that adds its own container to every pod it sees, and
  // comes after sidegate's (webhooks run in the order of their configurations' names).
  const seen: string[] = [];
  const other = createHttpsServer({ cert: tls.cert, key: readFileSync(tls.keyFile) }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const review = JSON.parse(body);
      const pod = review.request.object;
      seen.push(pod.spec.containers.map((c: any) => c.name).join(','));
      const has = pod.spec.containers.some((c: any) => c.name === 'log-agent');
      const patch = has ? [] : [{ op: 'add', path: '/spec/containers/-', value: { name: 'log-agent', image: 'example.invalid/agent:1' } }];
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            ...(patch.length === 0 ? {} : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }),
          },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const otherPort = (other.address() as AddressInfo).port;
  await namespace('reinvoke', { 'sidegate.dev/injection': 'enabled', 'log-agent': 'on' });
  await api.create(`${ADMISSION}/mutatingwebhookconfigurations`, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'zz-log-agent' },
    webhooks: [
      {
        name: 'log-agent.example.invalid',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        clientConfig: { url: `https://127.0.0.1:${otherPort}/mutate`, caBundle: tls.cert.toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
        namespaceSelector: { matchLabels: { 'log-agent': 'on' } },
      },
    ],
  });
  t.teardown(() => api.delete(`${ADMISSION}/mutatingwebhookconfigurations/zz-log-agent`));
  await api.waitFor('the apiserver calls the second webhook', async () => {
    const r = await createPod('reinvoke', 'probe', {}, true);
    return r.status === 201 && r.body.spec.containers.some((c: any) => c.name === 'log-agent') ? true : undefined;
  });

  const calls = await injectCalls();
  const r = await createPod('reinvoke', 'both');
  t.equal(r.status, 201);
  const names = allContainers(r.body).map((c: any) => c.name);
  t.equal(names.filter((n: string) => n === PROXY_CONTAINER).length, 1, 'one proxy, not two');
  t.equal(names.filter((n: string) => n === 'sidegate-init').length, 1, 'one init container');
  t.ok(names.includes('log-agent'), "the other webhook's container kept");
  t.equal(
    (await injectCalls()) - calls,
    2,
    'sidegate was called twice: once, then reinvoked (IfNeeded) after the other webhook changed the pod',
  );
  t.comment(`containers: ${names.join(', ')}`);
});

t.test('injector down: Fail refuses pods in labelled namespaces only; Ignore lets them through uninjected', async (t) => {
  await hook?.close();
  hook = undefined;
  const refused = await createPod('shop', 'while-down');
  t.equal(refused.status, 500, 'failurePolicy Fail: refused');
  t.match(refused.body.message, /failed calling webhook "inject\.sidegate\.dev"/);
  t.equal((await createPod('plain', 'while-down')).status, 201, 'an unlabelled namespace is unaffected');

  const upgraded = await helm.upgrade(RELEASE, RELEASE_NS, `https://127.0.0.1:${port}`, tls.certFile, [
    '--reuse-values',
    '--set',
    'webhook.failurePolicy=Ignore',
  ]);
  t.match(upgraded, /STATUS: deployed/, 'helm upgrade --set webhook.failurePolicy=Ignore');
  const mwc = (await api.get(`${ADMISSION}/mutatingwebhookconfigurations`)).body.items[0];
  t.same(
    mwc.webhooks.map((w: any) => w.failurePolicy),
    ['Ignore', 'Ignore'],
  );
  const through = await api.waitFor('the apiserver applies Ignore', async () => {
    const r = await createPod('shop', `ignored-${Date.now()}`);
    return r.status === 201 ? r : undefined;
  });
  t.notOk(isInjected(through.body), 'admitted without a sidecar');

  hook = await startInjector();
});

t.test('helm uninstall leaves nothing behind', async (t) => {
  const r = await helm.run(['uninstall', RELEASE, '--namespace', RELEASE_NS, '--wait']);
  t.equal(r.status, 0, r.stderr);
  for (const plural of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    t.same((await api.get(`${ADMISSION}/${plural}`)).body.items, [], `no ${plural}`);
  }
  const selector = `labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${RELEASE}`)}`;
  for (const path of [
    '/api/v1/configmaps',
    '/api/v1/secrets',
    '/api/v1/services',
    '/api/v1/serviceaccounts',
    '/apis/apps/v1/deployments',
    '/apis/apps/v1/replicasets',
    '/api/v1/pods',
    '/apis/policy/v1/poddisruptionbudgets',
  ]) {
    const left = await api.waitFor(`${path} of the release gone`, async () => {
      const items = (await api.get(`${path}?${selector}`)).body.items;
      return items.length === 0 ? items : undefined;
    });
    t.same(left, [], `nothing left: ${path}`);
  }
  const secrets = (await api.get(`/api/v1/namespaces/${RELEASE_NS}/secrets`)).body.items.map((s: any) => s.metadata.name);
  t.same(
    secrets.filter((n: string) => n.startsWith('sh.helm.release')),
    [],
    "helm's release records gone",
  );
});
