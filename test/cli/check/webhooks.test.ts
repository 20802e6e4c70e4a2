/**
 * check's reading of the webhook configuration, on the chart's own rendering (helm template):
 * which webhook a pod reaches for each namespace and pod label, and the one finding that says
 * why none does. test/cluster/check.test.ts shows the API server agreeing on a live cluster.
 */
import t from 'tap';
import { describeRequirement, unmetRequirement } from '../../../cli/check/selector.js';
import {
  configurationFindings,
  coversPodCreate,
  isSidegateConfiguration,
  notSelected,
  select,
  type MutatingWebhook,
  type WebhookConfiguration,
} from '../../../cli/check/webhooks.js';
import { render } from '../../charts/render.js';

const mwc = render().one('MutatingWebhookConfiguration') as unknown as WebhookConfiguration;
const hooks = mwc.webhooks ?? [];
const ns = (name: string, labels: Record<string, string> = {}) => ({ name, labels: { 'kubernetes.io/metadata.name': name, ...labels } });
const enabled = { 'sidegate.dev/injection': 'enabled' };

t.test('label selectors: each operator, and the first requirement that fails', async (t) => {
  t.equal(unmetRequirement(undefined, {}), undefined, 'no selector matches all');
  t.equal(unmetRequirement({}, { a: '1' }), undefined, 'an empty one too');
  t.same(unmetRequirement({ matchLabels: { a: '1' } }, { a: '2' }), { key: 'a', operator: 'In', values: ['1'] });
  const sel = {
    matchExpressions: [
      { key: 'in', operator: 'In', values: ['x', 'y'] },
      { key: 'notin', operator: 'NotIn', values: ['z'] },
      { key: 'has', operator: 'Exists' },
      { key: 'hasnot', operator: 'DoesNotExist' },
    ],
  };
  t.equal(unmetRequirement(sel, { in: 'y', has: '' }), undefined, 'NotIn and DoesNotExist hold for a missing label');
  t.equal(unmetRequirement(sel, { in: 'w', has: '' })?.key, 'in');
  t.equal(unmetRequirement(sel, { in: 'x', notin: 'z', has: '' })?.key, 'notin');
  t.equal(unmetRequirement(sel, { in: 'x' })?.key, 'has');
  t.equal(unmetRequirement(sel, { in: 'x', has: '', hasnot: '' })?.key, 'hasnot');
  t.equal(
    unmetRequirement({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, { a: '2' })?.key,
    'a',
    'an operator webhooks cannot have matches nothing',
  );
  t.same(sel.matchExpressions.map(describeRequirement), ['in in (x, y)', 'notin notin (z)', 'has', '!hasnot']);
  t.equal(describeRequirement({ key: 'a', operator: 'In', values: ['1'] }), 'a=1');
});

t.test("the chart's webhooks: which one a pod reaches", async (t) => {
  t.ok(isSidegateConfiguration(mwc));
  t.ok(hooks.every(coversPodCreate), 'both cover pod creation');
  const reached = (n: ReturnType<typeof ns>, pod: Record<string, string>): string | undefined => select(hooks, n, pod).webhook?.name;
  t.equal(reached(ns('shop', enabled), {}), 'inject.sidegate.dev');
  t.equal(reached(ns('shop', enabled), { 'sidegate.dev/inject': 'true' }), 'inject.sidegate.dev');
  t.equal(reached(ns('plain'), { 'sidegate.dev/inject': 'true' }), 'inject-pod-opt-in.sidegate.dev');
  for (const [n, pod] of [
    [ns('shop', enabled), { 'sidegate.dev/inject': 'false' }],
    [ns('plain'), {}],
    [ns('off', { 'sidegate.dev/injection': 'disabled' }), { 'sidegate.dev/inject': 'true' }],
    [ns('kube-system', enabled), {}],
    [ns('sidegate-system', enabled), { 'sidegate.dev/inject': 'true' }],
  ] as const) {
    t.equal(reached(n, pod), undefined, `${n.name} ${JSON.stringify(pod)}: none`);
  }
});

t.test('why none is reached: one finding, most specific cause first', async (t) => {
  const why = (n: ReturnType<typeof ns>, pod: Record<string, string>, workload?: string) => notSelected('x', hooks, n, pod, workload);
  const excluded = why(ns('kube-system', enabled), {});
  t.equal(excluded.code, 'SIDEGATE_CHECK_NAMESPACE_EXCLUDED');
  const off = why(ns('off', { 'sidegate.dev/injection': 'disabled' }), { 'sidegate.dev/inject': 'true' });
  t.equal(off.code, 'SIDEGATE_CHECK_NAMESPACE_DISABLED');
  t.equal(off.fix, 'kubectl label namespace off sidegate.dev/injection=enabled --overwrite');
  const optOut = why(ns('shop', enabled), { 'sidegate.dev/inject': 'false' }, 'deployment/a');
  t.equal(optOut.code, 'SIDEGATE_CHECK_POD_OPT_OUT');
  t.equal(optOut.fix, 'remove the label sidegate.dev/inject from the pod template of deployment/a, then roll it');
  const plain = why(ns('plain'), {}, 'deployment/a');
  t.equal(plain.code, 'SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED');
  t.equal(
    plain.message,
    'no sidegate webhook is called: webhook inject.sidegate.dev: namespace plain does not match sidegate.dev/injection=enabled; webhook inject-pod-opt-in.sidegate.dev: pod does not match sidegate.dev/inject=true',
  );
  t.equal(
    plain.fix,
    'kubectl label namespace plain sidegate.dev/injection=enabled (or label the pod template of deployment/a sidegate.dev/inject=true)',
  );
  const optOutElsewhere = why(ns('plain'), { 'sidegate.dev/inject': 'false' });
  t.equal(
    optOutElsewhere.code,
    'SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED',
    'an opt-out in a namespace that is not labelled: the namespace is the reason (removing the label would not help)',
  );
});

t.test('the configuration itself: failure policy, matchConditions, rules', async (t) => {
  t.same(configurationFindings(mwc), [], "the chart's defaults raise nothing");
  const hook = hooks[0]!;
  const changed = (w: Partial<MutatingWebhook>): WebhookConfiguration => ({
    metadata: { name: 'c', annotations: { 'meta.helm.sh/release-name': 'sg' } },
    webhooks: [{ ...hook, ...w }],
  });
  const ignore = configurationFindings(changed({ failurePolicy: 'Ignore' }));
  t.same(
    ignore.map((f) => [f.code, f.severity, f.subject]),
    [['SIDEGATE_CHECK_FAILURE_POLICY_IGNORE', 'warning', 'webhook inject.sidegate.dev']],
  );
  t.equal(ignore[0]?.fix, 'helm upgrade sg charts/sidegate --reuse-values --set webhook.failurePolicy=Fail');
  t.same(
    configurationFindings(changed({ matchConditions: [{ name: 'not-jobs' }] })).map((f) => f.code),
    ['SIDEGATE_CHECK_MATCH_CONDITIONS'],
  );
  const rules = changed({ rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] });
  t.same(
    configurationFindings(rules).map((f) => f.code),
    ['SIDEGATE_CHECK_WEBHOOK_RULES'],
  );
  t.same(select(rules.webhooks ?? [], ns('shop', enabled), {}).misses, [{ webhook: 'inject.sidegate.dev', where: 'rules' }]);
  t.ok(
    coversPodCreate({ ...hook, rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], scope: '*' }] }),
    'wildcards cover it',
  );
});
