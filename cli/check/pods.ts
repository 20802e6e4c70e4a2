/**
 * A pod (or a workload's pod template) judged the way admission will judge it: the webhook
 * selectors first (webhooks.ts), then the injector's own decision, `injectPod` with the
 * cluster's injector config — the same function the webhook runs, so a refusal here is the
 * refusal the API server will return. Annotation problems come from the injector's own parser.
 * For a running pod: whether it was injected, and with what (its sidegate.dev/status).
 */
import { parseAnnotations } from '../../injector/src/annotations.js';
import type { InjectorConfig } from '../../injector/src/config.js';
import { ANNOTATION_STATUS, PROXY_CONTAINER } from '../../injector/src/constants.js';
import type { SkipReason } from '../../injector/src/decide.js';
import { workloadOf } from '../../injector/src/identity.js';
import { injectPod } from '../../injector/src/inject.js';
import type { Pod } from '../../injector/src/k8s.js';
import { decodeStatus } from '../../injector/src/status.js';
import { finding, type Finding } from './findings.js';
import { notSelected, select, type MutatingWebhook, type NamespaceView } from './webhooks.js';

export interface Judgement {
  /**
   * What admission does with a pod like this one, created now: the webhook is not called, or the
   * injector skips, refuses (the controller cannot create it) or injects it.
   */
  readonly outcome: 'not-called' | 'skip' | 'refuse' | 'inject';
  /** The webhook the API server calls for it, if any. */
  readonly webhook: string | undefined;
  readonly findings: readonly Finding[];
}

export interface JudgeInput {
  readonly subject: string;
  /** `deployment/orders`, for messages and fixes; undefined for a bare pod. */
  readonly workload: string | undefined;
  readonly namespace: NamespaceView;
  readonly pod: Pod;
  readonly webhooks: readonly MutatingWebhook[];
  readonly config: InjectorConfig;
}

const SKIP_FIX: Readonly<Record<string, string>> = {
  'host-network': "set hostNetwork: false on the pod template (a sidecar cannot redirect the node's network)",
  'other-mesh': "remove the other mesh's injection for this namespace or pod (its label or annotation)",
  'system-namespace': 'run the workload in an application namespace',
  'injector-namespace': "run the workload outside the injector's namespace",
};

export function judge(input: JudgeInput): Judgement {
  const { subject, pod, namespace } = input;
  const selection = select(input.webhooks, namespace, pod.metadata?.labels ?? {});
  if (selection.webhook === undefined) {
    return {
      outcome: 'not-called',
      webhook: undefined,
      findings: [notSelected(subject, input.webhooks, namespace, pod.metadata?.labels ?? {}, input.workload)],
    };
  }
  const webhook = selection.webhook.name;
  // As the webhook calls it: the namespace's labels were the API server's business (selectors).
  const r = injectPod(pod, { name: namespace.name }, input.config);
  if (r.kind === 'skip') {
    return {
      outcome: 'skip',
      webhook,
      findings: r.reasons.map((s: SkipReason) =>
        finding('SIDEGATE_CHECK_INJECTOR_SKIPS', subject, `injector skips the pod (${s.code}): ${s.message}`, SKIP_FIX[s.code]),
      ),
    };
  }
  const parsed = parseAnnotations(pod.metadata?.annotations).problems;
  const template = input.workload === undefined ? 'the pod' : `the pod template of ${input.workload}`;
  const findings: Finding[] = [];
  for (const e of parsed.errors)
    findings.push(finding('SIDEGATE_CHECK_ANNOTATION_ERROR', subject, e, `correct or remove the annotation on ${template}`));
  for (const w of parsed.warnings)
    findings.push(finding('SIDEGATE_CHECK_ANNOTATION_WARNING', subject, w, `correct or remove the annotation on ${template}`));
  if (r.kind === 'refuse') {
    for (const e of r.errors.filter((x) => !parsed.errors.includes(x)))
      findings.push(finding('SIDEGATE_CHECK_POD_REFUSED', subject, e, `change ${template} as the message says`));
  }
  for (const w of r.warnings.filter((x) => !parsed.warnings.includes(x))) {
    findings.push(
      finding('SIDEGATE_CHECK_INJECTION_WARNING', subject, w, `change ${template} as the message says, or accept the default it names`),
    );
  }
  return { outcome: r.kind, webhook, findings };
}

export interface Injection {
  readonly injected: boolean;
  /** One line: what injection added, from the pod and its sidegate.dev/status. */
  readonly detail: string;
  readonly findings: readonly Finding[];
}

/** Whether a pod that exists was injected, and with what. */
export function describeInjection(pod: Pod, subject: string): Injection {
  const raw = pod.metadata?.annotations?.[ANNOTATION_STATUS];
  const status = decodeStatus(raw);
  const init = pod.spec.initContainers ?? [];
  const nativeProxy = init.find((c) => c.name === PROXY_CONTAINER);
  const proxy = nativeProxy ?? pod.spec.containers.find((c) => c.name === PROXY_CONTAINER);
  if (proxy === undefined && raw === undefined)
    return { injected: false, detail: 'not injected: no sidecar, no sidegate.dev/status', findings: [] };
  const findings: Finding[] = [];
  if (status === undefined) {
    findings.push(
      finding(
        'SIDEGATE_CHECK_POD_STATUS_INVALID',
        subject,
        raw === undefined
          ? `${PROXY_CONTAINER} is present without a ${ANNOTATION_STATUS} annotation`
          : `${ANNOTATION_STATUS} is not a JSON object: ${raw.slice(0, 80)}`,
        restartFix(pod),
      ),
    );
  }
  const parts = [
    proxy === undefined
      ? `no ${PROXY_CONTAINER} container although ${ANNOTATION_STATUS} is set`
      : `${nativeProxy !== undefined ? 'native sidecar' : 'classic sidecar'} ${PROXY_CONTAINER} (image ${proxy.image ?? '?'})`,
  ];
  const list = (label: string, v: unknown): void => {
    if (Array.isArray(v) && v.length > 0) parts.push(`${label} ${v.join(', ')}`);
  };
  list('init containers', status?.initContainers);
  list('containers', status?.containers);
  list('volumes', status?.volumes);
  if (status?.annotations !== undefined) list('annotations set', Object.keys(status.annotations));
  if (status?.probes !== undefined) list('probes rewritten', Object.keys(status.probes));
  return { injected: true, detail: `injected: ${parts.join('; ')}`, findings };
}

/** kubectl rollout restart for the pod's workload, else delete the pod (its controller recreates it). */
export function restartFix(pod: Pod): string {
  const ns = pod.metadata?.namespace ?? 'default';
  const w = workloadOf(pod);
  if (w !== undefined && ['Deployment', 'StatefulSet', 'DaemonSet'].includes(w.kind))
    return `kubectl -n ${ns} rollout restart ${w.kind.toLowerCase()}/${w.name}`;
  return `kubectl -n ${ns} delete pod ${pod.metadata?.name ?? '?'}${w === undefined ? ' (a bare pod: recreate it from its manifest)' : ''}`;
}
