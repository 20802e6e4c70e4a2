/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- Kubernetes objects are untyped JSON in tests */
/**
 * `sidegate check`, the shipped bundle as users run it, against a live control plane with the
 * chart installed by helm (as injection.test.ts: the one change is each webhook's clientConfig,
 * a url on 127.0.0.1 to the injector this test runs, with its certificate as caBundle). Each cause
 * of "no sidecar" is made real in the cluster, and where the API server can show the same thing
 * (a server-side dry run, a controller's pod, a FailedCreate event), the test checks that check
 * and the API server agree.
 *
 * Service-mode webhooks (clientConfig.service, what the chart renders) cannot be called here:
 * nothing routes to a ClusterIP. For the checks that only read them (EndpointSlices of the
 * injector Service, the Secret it mounts, a port-forwarded TLS address) the test registers a
 * second configuration, the chart's webhook with its service clientConfig and caBundle, whose
 * namespaceSelector matches no namespace, so the API server never dials it.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { loadInjectorConfig } from '../../injector/src/config-file.js';
import { PROXY_CONTAINER } from '../../injector/src/constants.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { startWebhook, type Webhook } from '../../injector/src/webhook.js';
import { freePort } from '../helpers/ports.js';
import { CLI } from '../helpers/spawn.js';
import { makeCert } from '../injector/helpers/tls.js';
import { startControlPlane } from './control-plane.js';
import { makeLeaf } from './pki.js';
import { Helm } from './helm.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

t.setTimeout(180_000);

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';
const RELEASE = 'sg';
const RELEASE_NS = 'sidegate-system';
const MWC = `${ADMISSION}/mutatingwebhookconfigurations/${RELEASE}-sidegate-inject`;
const INJECTOR = `${RELEASE}-sidegate-injector`;
const IMAGE = 'example.invalid/app:1';

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const { api } = plane;

const tls = makeCert();
const port = await freePort();
const helm = new Helm(plane);
await helm.install(RELEASE, RELEASE_NS, `https://127.0.0.1:${port}`, tls.certFile);
const cm = (await api.get(`/api/v1/namespaces/${RELEASE_NS}/configmaps/${INJECTOR}`)).body;
const configFile = join(mkdtempSync(join(tmpdir(), 'sidegate-injector-')), 'config.yaml');
writeFileSync(configFile, cm.data['config.yaml']);
const config = await loadInjectorConfig(configFile);
const startInjector = (): Promise<Webhook> =>
  startWebhook({
    config,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    host: '127.0.0.1',
    port,
    metrics: new InjectorMetrics({ processMetrics: false }),
  });
let hook: Webhook | undefined = await startInjector();
t.teardown(() => hook?.close());

interface Run {
  code: number | null;
  report: any;
  stdout: string;
  stderr: string;
}

/** `sidegate check ARGS --kubeconfig ADMIN -o json`, spawned from dist/bin as it ships. */
function check(args: readonly string[], opts: { json?: boolean; env?: NodeJS.ProcessEnv; kubeconfigFlag?: boolean } = {}): Promise<Run> {
  const json = opts.json ?? true;
  const argv = [
    CLI,
    'check',
    ...args,
    ...(opts.kubeconfigFlag === false ? [] : ['--kubeconfig', plane.kubeconfig]),
    ...(json ? ['-o', 'json'] : []),
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, {
      env: { PATH: process.env.PATH, HOME: plane.dir, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.once('error', reject);
    p.once('close', (code) => {
      let report: any;
      if (json) {
        try {
          report = JSON.parse(stdout);
        } catch {
          reject(new Error(`sidegate check ${args.join(' ')}: not JSON (exit ${code}): ${stdout}${stderr}`));
          return;
        }
      }
      resolve({ code, report, stdout, stderr });
    });
  });
}

const codes = (r: Run): string[] => r.report.findings.map((f: any) => f.code);
const findingOf = (r: Run, code: string): any => r.report.findings.find((f: any) => f.code === code);
const isInjected = (pod: any): boolean =>
  [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some((c: any) => c.name === PROXY_CONTAINER);

const namespace = (name: string, labels: Record<string, string> = {}): Promise<unknown> =>
  api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

const deployment = (
  ns: string,
  app: string,
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<unknown> =>
  api.create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app, ...meta.labels }, annotations: meta.annotations ?? {} },
        spec: { containers: [{ name: 'app', image: IMAGE, ports: [{ containerPort: 8080 }] }] },
      },
    },
  });

/** What the API server does with a pod created now in `ns` (server-side dry run): status and body. */
const dryRunPod = (ns: string, labels: Record<string, string> = {}): ReturnType<typeof api.call> =>
  api.call('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'probe-', labels },
    spec: { containers: [{ name: 'app', image: IMAGE, ports: [{ containerPort: 8080 }] }] },
  });

const podsOf = async (ns: string, app: string): Promise<any[]> =>
  (await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`)).body.items ?? [];
const runningPodOf = (ns: string, app: string): Promise<any> =>
  api.waitFor(`a Running pod of ${ns}/${app}`, async () =>
    (await podsOf(ns, app)).find((p: any) => p.status?.phase === 'Running' && p.metadata.deletionTimestamp === undefined),
  );

/** Sets a field of both sidegate webhooks (JSON Patch), as an operator's `kubectl patch` would. */
const patchWebhooks = async (field: string, value: unknown): Promise<void> => {
  const r = await api.call(
    'PATCH',
    MWC,
    [0, 1].map((i) => ({ op: 'replace', path: `/webhooks/${i}/${field}`, value })),
    'application/json-patch+json',
  );
  if (r.status !== 200) throw new Error(`patch ${field}: ${r.status} ${JSON.stringify(r.body)}`);
};

await namespace('shop', { 'sidegate.dev/injection': 'enabled' });
await namespace('plain');
await namespace('off', { 'sidegate.dev/injection': 'disabled' });
// The apiserver learns of webhook configurations from a watch: wait until it calls ours.
await api.waitFor('a dry-run pod in a labelled namespace comes back injected', async () => {
  const r = await dryRunPod('shop');
  return r.status === 201 && isInjected(r.body) ? true : undefined;
});

t.test('labelled namespace: new pods get a sidecar; webhook, injector and certificate all pass', async (t) => {
  const r = await check(['namespace/shop']);
  t.equal(r.code, 0, r.stdout);
  t.same(codes(r), [], 'no finding');
  t.equal(r.report.webhookConfiguration, `${RELEASE}-sidegate-inject`, 'the configuration helm installed');
  t.same(r.report.newPods, { outcome: 'inject', webhook: 'inject.sidegate.dev' });
  t.match(r.report.notes.join('\n'), `url https://127.0.0.1:${port}/inject, reached over TLS`);
  t.match(r.report.notes.join('\n'), `configmap ${RELEASE_NS}/${INJECTOR}`, 'the injector config the chart rendered');

  // The same through $KUBECONFIG and -n, in text, as a user types it.
  const text = await check(['-n', 'shop'], { json: false, kubeconfigFlag: false, env: { KUBECONFIG: plane.kubeconfig } });
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /new pods in namespace shop get a sidecar \(webhook inject\.sidegate\.dev\)/);
  t.match(text.stdout, /0 errors, 0 warnings/);
});

t.test('unlabelled, disabled and excluded namespaces: no webhook is called, and check says which label', async (t) => {
  const plain = await check(['ns/plain']);
  t.equal(plain.code, 1, 'exit 1');
  t.same(codes(plain), ['SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED']);
  t.same(plain.report.newPods, { outcome: 'not-called' });
  const f = findingOf(plain, 'SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED');
  t.match(f.message, /webhook inject\.sidegate\.dev: namespace plain does not match sidegate\.dev\/injection=enabled/);
  t.match(f.message, /webhook inject-pod-opt-in\.sidegate\.dev: pod does not match sidegate\.dev\/inject=true/);
  t.equal(f.fix, 'kubectl label namespace plain sidegate.dev/injection=enabled (or label the pod sidegate.dev/inject=true)');
  const server = await dryRunPod('plain');
  t.equal(server.status, 201);
  t.notOk(isInjected(server.body), 'the API server agrees: a pod created in plain has no sidecar');

  await deployment('plain', 'opted-in', { labels: { 'sidegate.dev/inject': 'true' } });
  const optIn = await check(['deploy/opted-in', '-n', 'plain']);
  t.equal(optIn.code, 0, 'a pod template labelled sidegate.dev/inject=true in plain: injected');
  t.same(optIn.report.newPods, { outcome: 'inject', webhook: 'inject-pod-opt-in.sidegate.dev' });
  t.ok(isInjected((await dryRunPod('plain', { 'sidegate.dev/inject': 'true' })).body), 'the API server agrees');

  const off = await check(['ns/off']);
  t.same(codes(off), ['SIDEGATE_CHECK_NAMESPACE_DISABLED']);
  t.equal(
    findingOf(off, 'SIDEGATE_CHECK_NAMESPACE_DISABLED').fix,
    'kubectl label namespace off sidegate.dev/injection=enabled --overwrite',
  );
  t.notOk(isInjected((await dryRunPod('off', { 'sidegate.dev/inject': 'true' })).body), 'even a pod opting in is not injected there');

  const sys = await check(['ns/kube-system']);
  t.same(codes(sys), ['SIDEGATE_CHECK_NAMESPACE_EXCLUDED']);
  t.match(
    findingOf(sys, 'SIDEGATE_CHECK_NAMESPACE_EXCLUDED').message,
    /kubernetes\.io\/metadata\.name notin \(kube-system, kube-public, kube-node-lease, sidegate-system\)/,
  );

  const none = await check(['ns/nowhere']);
  t.same(codes(none), ['SIDEGATE_CHECK_NAMESPACE_NOT_FOUND']);
});

t.test('an injected running pod: what it was injected with', async (t) => {
  await deployment('shop', 'orders');
  const pod = await runningPodOf('shop', 'orders');
  t.ok(isInjected(pod));
  const r = await check([`pod/${pod.metadata.name}`, '-n', 'shop']);
  t.equal(r.code, 0, r.stdout);
  t.same(codes(r), []);
  t.equal(r.report.pods.length, 1);
  t.equal(r.report.pods[0].injected, true);
  t.match(
    r.report.pods[0].detail,
    /^injected: native sidecar sidegate-proxy \(image ghcr\.io\/sidegate\/sidegate:[^)]+\); init containers sidegate-init, sidegate-proxy; volumes sidegate-no-api-token, sidegate-revocations; annotations set prometheus\.io\/scrape, prometheus\.io\/port, prometheus\.io\/path$/,
  );
  t.same(r.report.newPods, { outcome: 'inject', webhook: 'inject.sidegate.dev' }, 'and a pod like it created now would be injected too');

  const w = await check(['deployment/orders', '-n', 'shop'], { json: false });
  t.equal(w.code, 0, w.stdout);
  t.match(w.stdout, /new pods of deployment\/orders get a sidecar/);
  t.match(w.stdout, /pods \(1 of 1 injected\):/);
});

t.test('every workload kind: its pod template judged, its pods listed', async (t) => {
  const tpl = (app: string, restartPolicy?: string): object => ({
    metadata: { labels: { app } },
    spec: {
      ...(restartPolicy === undefined ? {} : { restartPolicy }),
      containers: [{ name: 'app', image: IMAGE, ports: [{ containerPort: 8080 }] }],
    },
  });
  await api.create('/apis/apps/v1/namespaces/shop/statefulsets', {
    metadata: { name: 'ledger' },
    spec: { serviceName: 'ledger', replicas: 1, selector: { matchLabels: { app: 'ledger' } }, template: tpl('ledger') },
  });
  await api.create('/apis/apps/v1/namespaces/shop/daemonsets', {
    metadata: { name: 'agent' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: tpl('agent') },
  });
  await api.create('/apis/batch/v1/namespaces/shop/jobs', { metadata: { name: 'migrate' }, spec: { template: tpl('migrate', 'Never') } });
  await api.create('/apis/batch/v1/namespaces/shop/cronjobs', {
    metadata: { name: 'nightly' },
    spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: tpl('nightly', 'Never') } } },
  });
  for (const [target, app, phases] of [
    ['statefulset/ledger', 'ledger', ['Running']],
    ['daemonset/agent', 'agent', ['Running']],
    ['job/migrate', 'migrate', ['Running', 'Succeeded']],
  ] as const) {
    await api.waitFor(`a ${phases.join('/')} pod of ${app}`, async () =>
      (await podsOf('shop', app)).find((p: any) => (phases as readonly string[]).includes(p.status?.phase)),
    );
    const r = await check([target, '-n', 'shop']);
    t.equal(r.code, 0, `${target}: ${codes(r).join(', ')}`);
    t.same(r.report.newPods, { outcome: 'inject', webhook: 'inject.sidegate.dev' }, `${target}: new pods get a sidecar`);
    t.equal(r.report.pods.length, 1, `${target}: its pod listed (a Job's even once it completed)`);
    t.ok(
      phases.includes(r.report.pods[0]?.phase) && r.report.pods[0]?.injected === true,
      `${target}: ${r.report.pods[0]?.phase}, injected`,
    );
  }
  const cron = await check(['cj/nightly', '-n', 'shop']);
  t.equal(cron.code, 0);
  t.same(cron.report.newPods, { outcome: 'inject', webhook: 'inject.sidegate.dev' }, "cronjob: its jobTemplate's pod template");
  t.same(cron.report.pods, [], 'no run yet');
});

t.test("pod opt-out: the template's label keeps the webhook from being called", async (t) => {
  await deployment('shop', 'opted-out', { labels: { 'sidegate.dev/inject': 'false' } });
  const r = await check(['deploy/opted-out', '-n', 'shop']);
  t.equal(r.code, 1);
  t.same(codes(r), ['SIDEGATE_CHECK_POD_OPT_OUT'], 'opt-out, and its running pod is not reported as missed');
  t.match(
    findingOf(r, 'SIDEGATE_CHECK_POD_OPT_OUT').message,
    /webhook inject\.sidegate\.dev: pod does not match sidegate\.dev\/inject notin \(false\)/,
  );
  t.equal(
    findingOf(r, 'SIDEGATE_CHECK_POD_OPT_OUT').fix,
    'remove the label sidegate.dev/inject from the pod template of deployment/opted-out, then roll it',
  );
  const pod = await runningPodOf('shop', 'opted-out');
  t.notOk(isInjected(pod), "the ReplicaSet controller's pod has no sidecar, as check said");
  t.same(
    r.report.pods.map((p: any) => p.injected),
    [false],
  );
});

t.test("annotation errors: the injector's own parser, the same messages the API server refuses with", async (t) => {
  await deployment('shop', 'refused', {
    annotations: { 'sidegate.dev/app-port': 'x y', 'sidegate.dev/proxy-cpu': '-1', 'sidegate.dev/unknown-thing': '1' },
  });
  const r = await check(['deployment/refused', '-n', 'shop']);
  t.equal(r.code, 1);
  t.same(codes(r).sort(), ['SIDEGATE_CHECK_ANNOTATION_ERROR', 'SIDEGATE_CHECK_ANNOTATION_ERROR', 'SIDEGATE_CHECK_ANNOTATION_WARNING']);
  t.same(r.report.newPods, { outcome: 'refuse', webhook: 'inject.sidegate.dev' });
  const errors = r.report.findings.filter((f: any) => f.code === 'SIDEGATE_CHECK_ANNOTATION_ERROR').map((f: any) => f.message);
  t.match(findingOf(r, 'SIDEGATE_CHECK_ANNOTATION_WARNING').message, /sidegate\.dev\/unknown-thing: unknown sidegate annotation/);
  const event = await api.waitFor("the ReplicaSet's FailedCreate event", async () => {
    const e = await api.get('/api/v1/namespaces/shop/events?fieldSelector=reason%3DFailedCreate');
    return (e.body.items ?? []).find((x: any) => x.involvedObject.name.startsWith('refused-'));
  });
  t.match(
    event.message,
    `sidegate refused the pod: ${errors.join('; ')}`,
    "check's messages are the refusal the API server gave the controller, in order",
  );
});

t.test('service clientConfig: endpoints from EndpointSlices, the certificate from the Secret or a port-forward', async (t) => {
  const chart = (await api.get(MWC)).body.webhooks[0];
  const secret = (await api.get(`/api/v1/namespaces/${RELEASE_NS}/secrets/${INJECTOR}-tls`)).body;
  await api.create(`${ADMISSION}/mutatingwebhookconfigurations`, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'check-service-mode' },
    webhooks: [
      {
        ...chart,
        name: 'inject.service-mode.test',
        clientConfig: { service: { name: INJECTOR, namespace: RELEASE_NS, path: '/inject', port: 443 }, caBundle: secret.data['ca.crt'] },
        // No namespace has this label: the API server never dials the ClusterIP.
        namespaceSelector: { matchLabels: { 'sidegate-test': 'never' } },
      },
    ],
  });
  t.teardown(() => api.delete(`${ADMISSION}/mutatingwebhookconfigurations/check-service-mode`));
  const svc = ['--webhook-config', 'check-service-mode', '-n', 'shop'];

  const stored = await check(svc);
  t.same(
    codes(stored),
    ['SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED'],
    "endpoints ready, the Secret's certificate matches the caBundle and names the Service",
  );
  t.match(stored.report.notes.join('\n'), `service ${RELEASE_NS}/${INJECTOR}:443, 2 of 2 endpoints ready`);
  t.match(stored.report.notes.join('\n'), `serving certificate read from secret ${RELEASE_NS}/${INJECTOR}-tls`);

  // --injector-address: this test's injector, whose certificate is its own self-signed one.
  const served = await check([...svc, '--injector-address', `127.0.0.1:${port}`]);
  t.same(codes(served).sort(), ['SIDEGATE_CHECK_CA_MISMATCH', 'SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED', 'SIDEGATE_CHECK_SERVING_CERT_NAME']);
  t.match(
    findingOf(served, 'SIDEGATE_CHECK_SERVING_CERT_NAME').message,
    `the API server dials ${INJECTOR}.${RELEASE_NS}.svc, and the serving certificate names DNS:localhost, IP Address:127.0.0.1`,
  );

  // Injector endpoints not ready: the chart's injector Deployment scaled to 0.
  const scale = (replicas: number) =>
    api.call(
      'PATCH',
      `/apis/apps/v1/namespaces/${RELEASE_NS}/deployments/${INJECTOR}`,
      { spec: { replicas } },
      'application/merge-patch+json',
    );
  t.equal((await scale(0)).status, 200);
  t.teardown(async () => {
    await scale(2);
  });
  const down = await api.waitFor('check reports the injector not ready', async () => {
    const r = await check(svc);
    return codes(r).includes('SIDEGATE_CHECK_INJECTOR_NOT_READY') ? r : undefined;
  });
  t.equal(down.code, 1);
  // While kwok deletes them, the pods are listed not ready; then not at all.
  t.match(
    findingOf(down, 'SIDEGATE_CHECK_INJECTOR_NOT_READY').message,
    new RegExp(`^the EndpointSlices of service ${RELEASE_NS}/${INJECTOR} list (no endpoint|\\d endpoints, none ready \\(${INJECTOR}-)`),
  );
  t.match(findingOf(down, 'SIDEGATE_CHECK_INJECTOR_NOT_READY').fix, `kubectl -n ${RELEASE_NS} get pods -l `);
  const slices = (
    await api.get(
      `/apis/discovery.k8s.io/v1/namespaces/${RELEASE_NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${INJECTOR}`,
    )
  ).body.items;
  t.same(
    slices.flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false)),
    [],
    'the EndpointSlices agree: no ready endpoint',
  );
  t.notOk(codes(down).includes('SIDEGATE_CHECK_SERVING_CERT_UNCHECKED'), "the certificate still comes from the Deployment's Secret");
  await scale(2);
});

t.test("caBundle mismatch: check and the API server both refuse the injector's certificate", async (t) => {
  const other = makeCert();
  await patchWebhooks('clientConfig/caBundle', other.cert.toString('base64'));
  const r = await check(['ns/shop']);
  t.equal(r.code, 1);
  t.same(codes(r), ['SIDEGATE_CHECK_CA_MISMATCH'], 'one finding for the two webhooks (one clientConfig)');
  t.equal(findingOf(r, 'SIDEGATE_CHECK_CA_MISMATCH').subject, 'webhook inject.sidegate.dev, inject-pod-opt-in.sidegate.dev');
  t.same(r.report.newPods, { outcome: 'call-fails-refuse', webhook: 'inject.sidegate.dev' }, 'new pods: refused (failurePolicy Fail)');
  const refused = await api.waitFor('the API server fails the call on the certificate', async () => {
    const s = await dryRunPod('shop');
    return s.status === 500 ? s : undefined;
  });
  t.match(
    refused.body.message,
    /failed calling webhook "inject\.sidegate\.dev".*x509: certificate signed by unknown authority/s,
    'the API server agrees',
  );

  await patchWebhooks('clientConfig/caBundle', tls.cert.toString('base64'));
  t.same(codes(await check(['ns/shop'])), [], 'the right CA again: no finding');
  await api.waitFor('the API server injects again', async () => {
    const s = await dryRunPod('shop');
    return s.status === 201 && isInjected(s.body) ? true : undefined;
  });
});

t.test('failurePolicy Ignore: a pod let through uninjected is reported, and the fix works', async (t) => {
  await patchWebhooks('failurePolicy', 'Ignore');
  t.teardown(() => patchWebhooks('failurePolicy', 'Fail'));
  await hook?.close();
  hook = undefined;
  await api.waitFor('the API server admits uninjected pods (Ignore)', async () => {
    const s = await dryRunPod('shop');
    return s.status === 201 && !isInjected(s.body) ? true : undefined;
  });
  await deployment('shop', 'while-down');
  const pod = await runningPodOf('shop', 'while-down');
  t.notOk(isInjected(pod), 'Running without a sidecar');

  const r = await check(['deployment/while-down', '-n', 'shop']);
  t.equal(r.code, 1);
  t.same(codes(r).sort(), [
    'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE',
    'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE',
    'SIDEGATE_CHECK_INJECTOR_UNREACHABLE',
    'SIDEGATE_CHECK_POD_NOT_INJECTED',
  ]);
  t.equal(findingOf(r, 'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE').severity, 'warning');
  t.equal(
    findingOf(r, 'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE').fix,
    `helm upgrade ${RELEASE} charts/sidegate --reuse-values --set webhook.failurePolicy=Fail`,
  );
  t.match(findingOf(r, 'SIDEGATE_CHECK_INJECTOR_UNREACHABLE').message, `TLS to 127.0.0.1:${port}`);
  t.same(
    r.report.newPods,
    { outcome: 'call-fails-admit', webhook: 'inject.sidegate.dev' },
    'new pods: admitted without a sidecar, as this one was',
  );
  const missed = findingOf(r, 'SIDEGATE_CHECK_POD_NOT_INJECTED');
  t.equal(missed.subject, `pod/${pod.metadata.name}`);
  t.match(
    missed.message,
    /webhook inject\.sidegate\.dev has failurePolicy Ignore: it was likely admitted while the injector was unreachable/,
  );
  t.equal(missed.fix, 'kubectl -n shop rollout restart deployment/while-down');
  const ns = await check(['ns/shop']);
  t.ok(
    ns.report.findings.some((f: any) => f.code === 'SIDEGATE_CHECK_POD_NOT_INJECTED' && f.subject === `pod/${pod.metadata.name}`),
    'a check of the namespace finds it too',
  );

  // The injector back: still reported (the pod has no sidecar) until the fix is applied.
  hook = await startInjector();
  const back = await check(['deployment/while-down', '-n', 'shop']);
  t.same(codes(back).sort(), [
    'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE',
    'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE',
    'SIDEGATE_CHECK_POD_NOT_INJECTED',
  ]);
  // `kubectl rollout restart` is this patch of the template.
  await api.call(
    'PATCH',
    '/apis/apps/v1/namespaces/shop/deployments/while-down',
    { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } },
    'application/merge-patch+json',
  );
  await api.waitFor(
    'only injected pods left',
    async () => {
      const pods = await podsOf('shop', 'while-down');
      return pods.length === 1 && pods[0].status?.phase === 'Running' && isInjected(pods[0]) ? true : undefined;
    },
    60_000,
  );
  const fixed = await check(['deployment/while-down', '-n', 'shop']);
  t.same(
    codes(fixed),
    ['SIDEGATE_CHECK_FAILURE_POLICY_IGNORE', 'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE'],
    'after the restart only the policy warning is left',
  );
  t.equal(fixed.code, 0, 'warnings alone exit 0');
});

t.test('a kubeconfig whose user may read nothing: every refused read is a finding', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-nobody-'));
  const nobody = makeLeaf(dir, 'nobody', plane.pki.ca, '/CN=nobody', 'clientAuth');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: plane.server, 'certificate-authority': plane.pki.ca.certFile } }],
      users: [
        { name: 'nobody', user: { 'client-certificate': nobody.certFile, 'client-key': nobody.keyFile } },
        { name: 'admin', user: { 'client-certificate': plane.pki.admin.certFile, 'client-key': plane.pki.admin.keyFile } },
      ],
      contexts: [
        { name: 'c', context: { cluster: 'c', user: 'nobody', namespace: 'shop' } },
        { name: 'admin', context: { cluster: 'c', user: 'admin', namespace: 'shop' } },
      ],
    }),
  );
  const r = await check([], { kubeconfigFlag: false, env: { KUBECONFIG: kubeconfig } });
  t.equal(r.code, 1);
  t.same(
    codes(r),
    ['SIDEGATE_CHECK_API_ERROR', 'SIDEGATE_CHECK_API_ERROR'],
    "the webhook configurations and the namespace (the context's)",
  );
  t.match(
    r.report.findings[0].message,
    /cannot read mutatingwebhookconfigurations: 403 .*"nobody" cannot list resource "mutatingwebhookconfigurations"/,
  );
  t.match(r.report.findings[1].message, /cannot read namespace shop: 403/);
  const admin = await check(['--context', 'admin'], { kubeconfigFlag: false, env: { KUBECONFIG: kubeconfig } });
  t.notOk(codes(admin).includes('SIDEGATE_CHECK_API_ERROR'), '--context picks the admin user of the same kubeconfig');
  t.equal(admin.report.webhookConfiguration, `${RELEASE}-sidegate-inject`);
  t.equal(admin.report.target, 'namespace/shop', 'and the namespace of that context');
  const missing = await check(['--context', 'nope'], { json: false, kubeconfigFlag: false, env: { KUBECONFIG: kubeconfig } });
  t.equal(missing.code, 2);
  t.match(missing.stderr, /no context "nope" in the kubeconfig/);
});

t.test('what is not there: the named webhook configuration, the workload', async (t) => {
  const noHook = await check(['-n', 'shop', '--webhook-config', 'nope']);
  t.same(codes(noHook), ['SIDEGATE_CHECK_WEBHOOK_MISSING']);
  t.equal(noHook.code, 1);
  const noDeploy = await check(['deploy/nope', '-n', 'shop']);
  t.same(codes(noDeploy), ['SIDEGATE_CHECK_TARGET_NOT_FOUND']);
  t.equal(findingOf(noDeploy, 'SIDEGATE_CHECK_TARGET_NOT_FOUND').fix, 'kubectl -n shop get deployment');
});

t.test('usage and kubeconfig errors exit 2', async (t) => {
  const bogus = await check(['bogus/x'], { json: false });
  t.equal(bogus.code, 2);
  t.match(bogus.stderr, /cannot read the target "bogus\/x": use KIND\/NAME/);
  const none = await check([], { json: false, kubeconfigFlag: false, env: { KUBECONFIG: '' } });
  t.equal(none.code, 2);
  t.match(none.stderr, /no kubeconfig: pass --kubeconfig FILE or set KUBECONFIG/);
});
