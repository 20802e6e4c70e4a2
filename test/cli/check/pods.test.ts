/**
 * A pod judged as admission will judge it: the injector's own injectPod and annotation parser
 * with the chart's default config, and what an existing pod says about its injection.
 */
import t from 'tap';
import { describeInjection, judge, restartFix } from '../../../cli/check/pods.js';
import type { WebhookConfiguration } from '../../../cli/check/webhooks.js';
import { DEFAULT_CONFIG } from '../../../injector/src/config.js';
import { injectPod, refusalMessage } from '../../../injector/src/inject.js';
import type { Pod } from '../../../injector/src/k8s.js';
import { render } from '../../charts/render.js';

const hooks = (render().one('MutatingWebhookConfiguration') as unknown as WebhookConfiguration).webhooks ?? [];
const shop = { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop', 'sidegate.dev/injection': 'enabled' } };
const pod = (
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
  spec: Partial<Pod['spec']> = {},
): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'p',
    namespace: 'shop',
    labels: { app: 'p', ...meta.labels },
    ...(meta.annotations === undefined ? {} : { annotations: meta.annotations }),
  },
  spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }], ...spec },
});
const judged = (p: Pod, workload?: string) =>
  judge({ subject: 's', workload, namespace: shop, pod: p, webhooks: hooks, config: DEFAULT_CONFIG });
const codes = (j: ReturnType<typeof judged>): string[] => j.findings.map((f) => f.code);

t.test('inject, refuse, skip, not called', async (t) => {
  t.same(judged(pod()), { outcome: 'inject', webhook: 'inject.sidegate.dev', findings: [] });
  t.same(judged(pod({ labels: { 'sidegate.dev/inject': 'false' } })).outcome, 'not-called');
  const host = judged(pod({}, { hostNetwork: true }));
  t.same([host.outcome, codes(host)], ['skip', ['SIDEGATE_CHECK_INJECTOR_SKIPS']]);
  t.match(host.findings[0]?.message, /^injector skips the pod \(host-network\)/);
  const mesh = judged(
    pod(
      {},
      {
        containers: [
          { name: 'app', image: 'a' },
          { name: 'istio-proxy', image: 'i' },
        ],
      },
    ),
  );
  t.match(mesh.findings[0]?.fix, /remove the other mesh's injection/);
});

t.test("annotation errors are the parser's, and together they are the refusal the webhook sends", async (t) => {
  const p = pod({
    annotations: {
      'sidegate.dev/app-port': 'x y',
      'sidegate.dev/proxy-cpu': '-1',
      'sidegate.dev/native-sidecar': 'perhaps',
      'sidegate.dev/jwks-uri': 'https://k',
    },
  });
  const j = judged(p, 'deployment/p');
  t.equal(j.outcome, 'refuse');
  t.same(codes(j), [
    'SIDEGATE_CHECK_ANNOTATION_ERROR',
    'SIDEGATE_CHECK_ANNOTATION_ERROR',
    'SIDEGATE_CHECK_ANNOTATION_ERROR',
    'SIDEGATE_CHECK_ANNOTATION_WARNING',
  ]);
  const r = injectPod(p, { name: 'shop' }, DEFAULT_CONFIG);
  t.equal(r.kind, 'refuse');
  const errors = j.findings.filter((f) => f.code === 'SIDEGATE_CHECK_ANNOTATION_ERROR').map((f) => f.message);
  t.equal(refusalMessage(errors), r.kind === 'refuse' ? refusalMessage(r.errors) : '', 'the same message, in the same order');
  t.equal(j.findings[0]?.fix, 'correct or remove the annotation on the pod template of deployment/p');
});

t.test("refusals beyond one annotation, and the injector's other warnings", async (t) => {
  const reserved = judged(pod({}, { containers: [{ name: 'app', image: 'a', ports: [{ containerPort: 15090 }] }] }));
  t.same(
    [reserved.outcome, codes(reserved)],
    ['refuse', ['SIDEGATE_CHECK_POD_REFUSED', 'SIDEGATE_CHECK_INJECTION_WARNING']],
    'and the warning the webhook sends with the refusal',
  );
  t.match(reserved.findings[0]?.message, /container app declares port 15090, which the sidecar uses/);
  const portName = judged(pod({ annotations: { 'sidegate.dev/app-port': 'web' } }));
  t.same(codes(portName), ['SIDEGATE_CHECK_POD_REFUSED'], 'a port name no container declares: the plan refuses, not the parser');
  const noPort = judged(pod({}, { containers: [{ name: 'app', image: 'a' }] }));
  t.same([noPort.outcome, codes(noPort)], ['inject', ['SIDEGATE_CHECK_INJECTION_WARNING']]);
});

t.test('an existing pod: injected with what, or not', async (t) => {
  const r = injectPod(pod({ annotations: { 'sidegate.dev/native-sidecar': 'false' } }), { name: 'shop' }, DEFAULT_CONFIG);
  if (r.kind !== 'inject') throw new Error('expected an injection');
  const d = describeInjection(r.pod, 'pod/p');
  t.equal(d.injected, true);
  t.equal(
    d.detail,
    `injected: classic sidecar sidegate-proxy (image ${DEFAULT_CONFIG.image}); init containers sidegate-init; containers sidegate-proxy; volumes sidegate-no-api-token, sidegate-revocations; annotations set prometheus.io/scrape, prometheus.io/port, prometheus.io/path`,
  );
  t.same(d.findings, []);
  t.same(describeInjection(pod(), 'pod/p'), { injected: false, detail: 'not injected: no sidecar, no sidegate.dev/status', findings: [] });
  const stripped = structuredClone(r.pod);
  delete stripped.metadata?.annotations?.['sidegate.dev/status'];
  const bare = describeInjection(stripped, 'pod/p');
  t.same([bare.injected, bare.findings.map((f) => f.code)], [true, ['SIDEGATE_CHECK_POD_STATUS_INVALID']]);
});

t.test('the fix for a pod without its sidecar restarts its workload', async (t) => {
  const owned = (kind: string, name: string, labels: Record<string, string> = {}): Pod => ({
    ...pod({ labels }),
    metadata: { name: 'x', namespace: 'shop', labels, ownerReferences: [{ apiVersion: 'v1', kind, name, controller: true }] },
  });
  t.equal(
    restartFix(owned('ReplicaSet', 'orders-5d8f', { 'pod-template-hash': '5d8f' })),
    'kubectl -n shop rollout restart deployment/orders',
  );
  t.equal(restartFix(owned('StatefulSet', 'ledger')), 'kubectl -n shop rollout restart statefulset/ledger');
  t.equal(restartFix(owned('Job', 'migrate')), 'kubectl -n shop delete pod x');
  t.equal(restartFix(pod()), 'kubectl -n shop delete pod p (a bare pod: recreate it from its manifest)');
});
