/**
 * The installed MutatingWebhookConfiguration, judged as the API server uses it: which of
 * sidegate's webhooks a pod creation in a namespace reaches (rules, namespaceSelector,
 * objectSelector), and what about the configuration itself deserves a finding. Pure: the objects
 * come from the API server through cluster.ts.
 */
import { LABEL_NAMESPACE_INJECTION, LABEL_POD_INJECT } from '../../injector/src/constants.js';
import { finding, type Finding } from './findings.js';
import { describeRequirement, unmetRequirement, type LabelSelector, type LabelSelectorRequirement, type Labels } from './selector.js';

export interface ServiceReference {
  readonly name: string;
  readonly namespace: string;
  readonly path?: string;
  readonly port?: number;
}

export interface WebhookClientConfig {
  readonly url?: string;
  /** Base64 of PEM, as the API serves it. */
  readonly caBundle?: string;
  readonly service?: ServiceReference;
}

export interface RuleWithOperations {
  readonly operations?: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly apiVersions?: readonly string[];
  readonly resources?: readonly string[];
  readonly scope?: string;
}

export interface MutatingWebhook {
  readonly name: string;
  readonly clientConfig: WebhookClientConfig;
  readonly failurePolicy?: string;
  readonly matchConditions?: readonly { readonly name: string }[];
  readonly namespaceSelector?: LabelSelector;
  readonly objectSelector?: LabelSelector;
  readonly rules?: readonly RuleWithOperations[];
}

export interface WebhookConfiguration {
  readonly metadata?: {
    readonly name?: string;
    readonly labels?: Labels;
    readonly annotations?: Labels;
    readonly creationTimestamp?: Date;
  };
  readonly webhooks?: readonly MutatingWebhook[];
}

export interface NamespaceView {
  readonly name: string;
  readonly labels: Labels;
}

/** The chart labels its objects part-of=sidegate; its webhooks are named *.sidegate.dev. */
export function isSidegateConfiguration(c: WebhookConfiguration): boolean {
  return (
    c.metadata?.labels?.['app.kubernetes.io/part-of'] === 'sidegate' || (c.webhooks ?? []).some((w) => w.name.endsWith('.sidegate.dev'))
  );
}

const any = (list: readonly string[] | undefined, value: string): boolean => (list ?? []).some((x) => x === '*' || x === value);

/** Whether a rule sends CREATE of core v1 pods (matchPolicy aside: the chart asks for v1). */
export function coversPodCreate(w: MutatingWebhook): boolean {
  return (w.rules ?? []).some(
    (r) =>
      any(r.operations, 'CREATE') &&
      any(r.apiGroups, '') &&
      any(r.apiVersions, 'v1') &&
      any(r.resources, 'pods') &&
      (r.scope === undefined || r.scope === '*' || r.scope === 'Namespaced'),
  );
}

export type Miss =
  | { readonly webhook: string; readonly where: 'rules' }
  | { readonly webhook: string; readonly where: 'namespaceSelector' | 'objectSelector'; readonly requirement: LabelSelectorRequirement };

export interface Selection {
  /** The first webhook the creation reaches, in the configuration's order. */
  readonly webhook: MutatingWebhook | undefined;
  /** Why each of the others does not. */
  readonly misses: readonly Miss[];
}

/**
 * Which webhook a pod with `podLabels` created in `ns` reaches. The API server adds the label
 * kubernetes.io/metadata.name to every namespace; `ns.labels` is the namespace as read, so it has it.
 */
export function select(webhooks: readonly MutatingWebhook[], ns: NamespaceView, podLabels: Labels): Selection {
  const misses: Miss[] = [];
  for (const w of webhooks) {
    if (!coversPodCreate(w)) {
      misses.push({ webhook: w.name, where: 'rules' });
      continue;
    }
    const nsReq = unmetRequirement(w.namespaceSelector, ns.labels);
    if (nsReq !== undefined) {
      misses.push({ webhook: w.name, where: 'namespaceSelector', requirement: nsReq });
      continue;
    }
    const podReq = unmetRequirement(w.objectSelector, podLabels);
    if (podReq !== undefined) {
      misses.push({ webhook: w.name, where: 'objectSelector', requirement: podReq });
      continue;
    }
    return { webhook: w, misses };
  }
  return { webhook: undefined, misses };
}

/**
 * The one finding that says why no webhook is called for this pod, most specific cause first. The
 * opt-out label is the cause only if the pod would be selected without it (in a namespace that is
 * not labelled, the namespace is the cause, and removing the label would not help).
 */
export function notSelected(
  subject: string,
  webhooks: readonly MutatingWebhook[],
  ns: NamespaceView,
  podLabels: Labels,
  workload: string | undefined,
): Finding {
  const { misses } = select(webhooks, ns, podLabels);
  const why = misses
    .map((m) =>
      m.where === 'rules'
        ? `webhook ${m.webhook}: its rules do not cover pod creation`
        : `webhook ${m.webhook}: ${m.where === 'namespaceSelector' ? `namespace ${ns.name}` : 'pod'} does not match ${describeRequirement(m.requirement)}`,
    )
    .join('; ');
  const template = workload === undefined ? 'the pod' : `the pod template of ${workload}`;
  if (misses.some((m) => m.where === 'namespaceSelector' && m.requirement.key === 'kubernetes.io/metadata.name')) {
    return finding('SIDEGATE_CHECK_NAMESPACE_EXCLUDED', subject, `namespace ${ns.name} is excluded by name: ${why}`);
  }
  if (ns.labels[LABEL_NAMESPACE_INJECTION] === 'disabled') {
    return finding(
      'SIDEGATE_CHECK_NAMESPACE_DISABLED',
      subject,
      `namespace ${ns.name} is labelled ${LABEL_NAMESPACE_INJECTION}=disabled: ${why}`,
      `kubectl label namespace ${ns.name} ${LABEL_NAMESPACE_INJECTION}=enabled --overwrite`,
    );
  }
  if (podLabels[LABEL_POD_INJECT] === 'false') {
    const { [LABEL_POD_INJECT]: _, ...without } = podLabels;
    if (select(webhooks, ns, without).webhook !== undefined) {
      return finding(
        'SIDEGATE_CHECK_POD_OPT_OUT',
        subject,
        `${template} is labelled ${LABEL_POD_INJECT}=false: ${why}`,
        `remove the label ${LABEL_POD_INJECT} from ${template}, then roll it`,
      );
    }
  }
  return finding(
    'SIDEGATE_CHECK_NAMESPACE_NOT_SELECTED',
    subject,
    `no sidegate webhook is called: ${why}`,
    `kubectl label namespace ${ns.name} ${LABEL_NAMESPACE_INJECTION}=enabled (or label ${template} ${LABEL_POD_INJECT}=true)`,
  );
}

/** Findings about the configuration itself, whatever the target. */
export function configurationFindings(c: WebhookConfiguration): Finding[] {
  const out: Finding[] = [];
  const name = c.metadata?.name ?? '?';
  for (const w of c.webhooks ?? []) {
    const subject = `webhook ${w.name}`;
    if (!coversPodCreate(w)) {
      out.push(finding('SIDEGATE_CHECK_WEBHOOK_RULES', subject, `MutatingWebhookConfiguration ${name}: no rule covers CREATE of v1 pods`));
    }
    // v1 defaults failurePolicy to Fail; the API server always fills it in.
    if (w.failurePolicy === 'Ignore') {
      const release = c.metadata?.annotations?.['meta.helm.sh/release-name'];
      out.push(
        finding(
          'SIDEGATE_CHECK_FAILURE_POLICY_IGNORE',
          subject,
          'failurePolicy Ignore: pods created while the injector is unreachable start without a sidecar',
          release === undefined ? undefined : `helm upgrade ${release} charts/sidegate --reuse-values --set webhook.failurePolicy=Fail`,
        ),
      );
    }
    if ((w.matchConditions ?? []).length > 0) {
      out.push(
        finding(
          'SIDEGATE_CHECK_MATCH_CONDITIONS',
          subject,
          `matchConditions ${(w.matchConditions ?? []).map((m) => m.name).join(', ')} are not evaluated by check and may exclude pods`,
        ),
      );
    }
  }
  return out;
}
