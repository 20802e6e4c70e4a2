/**
 * `sidegate check`'s one pass over the cluster: find the webhook configuration, check the injector
 * behind it, then judge the target (new pods of a namespace, workload or pod) and the pods that
 * already run. Every problem is a Finding; read failures become SIDEGATE_CHECK_API_ERROR findings
 * instead of aborting, so one forbidden read does not hide the rest.
 */
import { DEFAULT_CONFIG, type InjectorConfig } from '../../injector/src/config.js';
import type { Pod } from '../../injector/src/k8s.js';
import { ApiReadError, type Cluster, type PodTemplate, type WorkloadKind } from './cluster.js';
import { finding, type Finding } from './findings.js';
import { checkInjector, type InjectorOptions } from './injector.js';
import { describeInjection, judge, restartFix, type Judgement } from './pods.js';
import { configurationFindings, isSidegateConfiguration, type MutatingWebhook, type WebhookConfiguration } from './webhooks.js';

export type TargetKind = 'namespace' | 'pod' | WorkloadKind;

export interface Target {
  readonly kind: TargetKind;
  readonly name: string;
}

export interface CheckOptions extends InjectorOptions {
  readonly target: Target;
  /** The namespace of a workload or pod target (for a namespace target, its name). */
  readonly namespace: string;
  /** Check this MutatingWebhookConfiguration instead of discovering sidegate's. */
  readonly webhookConfig: string | undefined;
}

export interface PodLine {
  readonly name: string;
  readonly phase: string;
  readonly injected: boolean;
  readonly detail: string;
}

export interface Report {
  readonly target: string;
  readonly namespace: string;
  readonly webhookConfiguration: string | undefined;
  /**
   * What admission does with a new pod of the target (undefined when it could not be judged):
   * the judgement, or — when the webhook that is called cannot be reached or trusted — the
   * failure policy's answer: refused (Fail) or admitted without a sidecar (Ignore).
   */
  readonly newPods:
    { readonly outcome: Judgement['outcome'] | 'call-fails-refuse' | 'call-fails-admit'; readonly webhook: string | undefined } | undefined;
  readonly pods: readonly PodLine[];
  readonly notes: readonly string[];
  readonly findings: readonly Finding[];
}

const ACTIVE_PHASES: ReadonlySet<string> = new Set(['Pending', 'Running']);
const LIST_COMPLETED: ReadonlySet<TargetKind> = new Set(['job', 'cronjob']);

type Guard = <T>(what: string, read: () => Promise<T>) => Promise<T | undefined>;

export async function runCheck(cluster: Cluster, opts: CheckOptions): Promise<Report> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const subject = `${opts.target.kind}/${opts.target.name}`;
  // One refused read is a finding; the checks that do not need it still run.
  const guard: Guard = async (what, read) => {
    try {
      return await read();
    } catch (e) {
      if (!(e instanceof ApiReadError)) throw e;
      findings.push(finding('SIDEGATE_CHECK_API_ERROR', what, e.message));
      return undefined;
    }
  };

  const mwc = await guard('mutatingwebhookconfigurations', () => findConfiguration(cluster, opts.webhookConfig, findings));
  const report = (rest: Partial<Pick<Report, 'newPods' | 'pods'>> = {}): Report => ({
    target: subject,
    namespace: opts.namespace,
    webhookConfiguration: mwc?.metadata?.name,
    newPods: rest.newPods,
    pods: rest.pods ?? [],
    notes,
    findings,
  });
  let config: InjectorConfig = DEFAULT_CONFIG;
  let failing: ReadonlySet<string> = new Set();
  if (mwc !== undefined) {
    findings.push(...configurationFindings(mwc));
    const injector = await checkInjector(cluster, mwc, opts);
    findings.push(...injector.findings);
    notes.push(...injector.notes);
    config = injector.config;
    failing = injector.failing;
  }
  const ns = await guard(`namespace/${opts.namespace}`, () => cluster.namespace(opts.namespace));
  if (ns === undefined) {
    if (!findings.some((f) => f.code === 'SIDEGATE_CHECK_API_ERROR'))
      findings.push(
        finding('SIDEGATE_CHECK_NAMESPACE_NOT_FOUND', `namespace/${opts.namespace}`, `namespace ${opts.namespace} does not exist`),
      );
    return report();
  }
  if (mwc === undefined) return report();
  const webhooks = mwc.webhooks ?? [];
  const judgeAs = (as: string, pod: Pod, workload?: string): Judgement =>
    judge({ subject: as, workload, namespace: ns, pod, webhooks, config });

  const target = await judgeTarget(cluster, opts.target, ns.name, guard, judgeAs);
  if (target === undefined) {
    findings.push(
      finding(
        'SIDEGATE_CHECK_TARGET_NOT_FOUND',
        subject,
        `${subject} does not exist in namespace ${ns.name}`,
        `kubectl -n ${ns.name} get ${opts.target.kind}`,
      ),
    );
    return report();
  }
  const { newPods } = target;
  findings.push(...newPods.findings);

  const pods: PodLine[] = [];
  for (const pod of target.running) {
    const phase = String((pod.status as { phase?: string } | undefined)?.phase ?? 'Unknown');
    const active = ACTIVE_PHASES.has(phase) || opts.target.kind === 'pod';
    // A Job's pods are the point even once they completed; a namespace's completed pods are history.
    if (!active && !LIST_COMPLETED.has(opts.target.kind)) continue;
    const podName = pod.metadata?.name ?? '?';
    const d = describeInjection(pod, `pod/${podName}`);
    findings.push(...d.findings);
    pods.push({ name: podName, phase, injected: d.injected, detail: d.detail });
    if (d.injected || !active) continue;
    // The webhook would be called for it now, and the injector would not skip it: admission was bypassed.
    const j = opts.target.kind === 'pod' ? newPods : judgeAs(`pod/${podName}`, pod);
    if (j.outcome === 'inject' || j.outcome === 'refuse')
      findings.push(
        notInjected(
          pod,
          podName,
          webhooks.find((w) => w.name === j.webhook),
          mwc,
        ),
      );
  }
  const called = webhooks.find((w) => w.name === newPods.webhook);
  const outcome =
    called === undefined || !failing.has(called.name)
      ? newPods.outcome
      : called.failurePolicy === 'Ignore'
        ? 'call-fails-admit'
        : 'call-fails-refuse';
  return report({ newPods: { outcome, webhook: newPods.webhook }, pods });
}

/** The target's new pods judged, and its pods that exist; undefined when the target does not. */
async function judgeTarget(
  cluster: Cluster,
  target: Target,
  namespace: string,
  guard: Guard,
  judgeAs: (as: string, pod: Pod, workload?: string) => Judgement,
): Promise<{ newPods: Judgement; running: Pod[] } | undefined> {
  const subject = `${target.kind}/${target.name}`;
  if (target.kind === 'namespace') {
    // A pod with no labels or annotations of its own: what the namespace alone decides.
    const newPods = judgeAs(subject, {
      metadata: { namespace },
      spec: { containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
    });
    return { newPods, running: (await guard(`pods in ${namespace}`, () => cluster.pods(namespace))) ?? [] };
  }
  if (target.kind === 'pod') {
    const pod = await guard(subject, () => cluster.pod(namespace, target.name));
    return pod === undefined ? undefined : { newPods: judgeAs(subject, pod), running: [pod] };
  }
  const w = await guard(subject, () => cluster.workload(target.kind as WorkloadKind, namespace, target.name));
  if (w === undefined) return undefined;
  const running: Pod[] = [];
  for (const selector of w.podSelectors) {
    for (const p of (await guard(`pods of ${subject}`, () => cluster.pods(namespace, selector))) ?? []) {
      if (!running.some((r) => r.metadata?.name === p.metadata?.name)) running.push(p);
    }
  }
  return { newPods: judgeAs(subject, podFrom(w.template, namespace, target.name), subject), running };
}

async function findConfiguration(
  cluster: Cluster,
  name: string | undefined,
  findings: Finding[],
): Promise<WebhookConfiguration | undefined> {
  if (name !== undefined) {
    const c = await cluster.mutatingWebhookConfiguration(name);
    if (c === undefined)
      findings.push(
        finding(
          'SIDEGATE_CHECK_WEBHOOK_MISSING',
          `mutatingwebhookconfiguration/${name}`,
          `MutatingWebhookConfiguration ${name} does not exist`,
        ),
      );
    return c;
  }
  const ours = (await cluster.mutatingWebhookConfigurations())
    .filter(isSidegateConfiguration)
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  if (ours.length === 0)
    findings.push(
      finding(
        'SIDEGATE_CHECK_WEBHOOK_MISSING',
        'mutatingwebhookconfigurations',
        "no MutatingWebhookConfiguration carries sidegate's webhooks (*.sidegate.dev)",
      ),
    );
  if (ours.length > 1) {
    const names = ours.map((c) => c.metadata?.name ?? '?');
    findings.push(
      finding(
        'SIDEGATE_CHECK_WEBHOOK_DUPLICATE',
        'mutatingwebhookconfigurations',
        `${names.join(', ')} all carry sidegate's webhooks; checked ${names[0] ?? '?'}`,
        `uninstall the extra release, or sidegate check --webhook-config ${names[1] ?? 'NAME'}`,
      ),
    );
  }
  return ours[0];
}

/** A pod as a controller would create it from `template`. */
function podFrom(template: PodTemplate, namespace: string, owner: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...(template.metadata ?? {}), namespace, generateName: `${owner}-` },
    spec: template.spec ?? { containers: [] },
  };
}

/** A running pod that admission would inject (or refuse) now, but runs without a sidecar: why, as far as the objects tell. */
function notInjected(pod: Pod, name: string, webhook: MutatingWebhook | undefined, mwc: WebhookConfiguration): Finding {
  const created = typeof pod.metadata?.creationTimestamp === 'string' ? new Date(pod.metadata.creationTimestamp) : undefined;
  const installed = mwc.metadata?.creationTimestamp === undefined ? undefined : new Date(mwc.metadata.creationTimestamp);
  const causes: string[] = [];
  if (created !== undefined && installed !== undefined && created < installed) {
    causes.push(`it was created (${created.toISOString()}) before the webhook configuration (${installed.toISOString()})`);
  }
  if (webhook?.failurePolicy === 'Ignore')
    causes.push(`webhook ${webhook.name} has failurePolicy Ignore: it was likely admitted while the injector was unreachable`);
  if (causes.length === 0)
    causes.push(
      'it was created before its namespace or labels were selected, or under failurePolicy Ignore while the injector was unreachable',
    );
  return finding(
    'SIDEGATE_CHECK_POD_NOT_INJECTED',
    `pod/${name}`,
    `runs without a sidecar although ${webhook === undefined ? 'the webhook' : `webhook ${webhook.name}`} selects it: ${causes.join('; ')}`,
    restartFix(pod),
  );
}
