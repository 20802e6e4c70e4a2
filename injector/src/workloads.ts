/**
 * Offline injection of whole manifests (what `sidegate inject` does): find the pod template of each
 * workload kind, run the same `injectPod` the webhook runs, and put the result back.
 */
import type { InjectorConfig } from './config.js';
import { LABEL_NAMESPACE_INJECTION } from './constants.js';
import { injectPod, refusalMessage } from './inject.js';
import type { ObjectMeta, Pod, PodSpec } from './k8s.js';

export interface Outcome {
  /** `Kind/name` the message is about. */
  readonly object: string;
  readonly kind: 'injected' | 'skipped' | 'refused' | 'unchanged';
  /** Skip reason codes, refusal message, or empty. */
  readonly detail: string;
  readonly warnings: readonly string[];
}

export interface OfflineOptions {
  /** Namespace for objects that name none. */
  readonly namespace: string;
}

const TEMPLATE_KINDS: ReadonlySet<string> = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'ReplicationController',
  'Job',
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Template {
  metadata?: ObjectMeta;
  spec?: PodSpec;
}

/** Where the pod template of a workload object lives, or undefined for kinds without pods. */
function templateOf(obj: Record<string, unknown>): Template | undefined {
  const spec = obj.spec;
  if (!isRecord(spec)) return undefined;
  if (TEMPLATE_KINDS.has(String(obj.kind))) return isRecord(spec.template) ? spec.template : undefined;
  if (obj.kind === 'CronJob' && isRecord(spec.jobTemplate) && isRecord(spec.jobTemplate.spec)) {
    const t = spec.jobTemplate.spec.template;
    return isRecord(t) ? t : undefined;
  }
  return undefined;
}

function nameOf(obj: Record<string, unknown>): { kind: string; name: string; namespace: string | undefined } {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? meta.generateName : '';
  return {
    kind: typeof obj.kind === 'string' ? obj.kind : 'Unknown',
    name,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined,
  };
}

function isPodLike(spec: unknown): spec is PodSpec {
  return isRecord(spec) && Array.isArray(spec.containers);
}

/**
 * Injects one decoded object in place (a List's items too) and reports what happened to each
 * workload. `sidegate inject` treats every namespace as enabled, like `istioctl kube-inject`:
 * pod opt-outs and system namespaces still apply.
 */
export function injectObject(obj: unknown, config: InjectorConfig, opts: OfflineOptions, out: Outcome[]): void {
  if (!isRecord(obj)) return;
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    for (const item of obj.items) injectObject(item, config, opts, out);
    return;
  }
  const id = nameOf(obj);
  const label = `${id.kind}/${id.name}`;
  const ns = { name: id.namespace ?? opts.namespace, labels: { [LABEL_NAMESPACE_INJECTION]: 'enabled' } };
  let pod: Pod;
  let template: Template | undefined;
  if (obj.kind === 'Pod') {
    if (!isPodLike(obj.spec)) return;
    pod = obj as unknown as Pod;
  } else {
    template = templateOf(obj);
    if (template === undefined || !isPodLike(template.spec)) {
      out.push({ object: label, kind: 'unchanged', detail: '', warnings: [] });
      return;
    }
    pod = { metadata: { ...(template.metadata ?? {}), namespace: ns.name }, spec: template.spec };
  }
  const workload = obj.kind === 'Pod' ? undefined : { kind: id.kind, name: id.name };
  const r = injectPod(pod, ns, config, workload);
  if (r.kind === 'skip') {
    out.push({ object: label, kind: 'skipped', detail: r.reasons.map((x) => x.code).join(','), warnings: r.warnings });
    return;
  }
  if (r.kind === 'refuse') {
    out.push({ object: label, kind: 'refused', detail: refusalMessage(r.errors), warnings: r.warnings });
    return;
  }
  if (template === undefined) {
    // A bare Pod: replace its fields in place so unknown top-level fields keep their order.
    obj.metadata = r.pod.metadata;
    obj.spec = r.pod.spec;
  } else {
    const meta: ObjectMeta = { ...(r.pod.metadata ?? {}) };
    if (template.metadata?.namespace === undefined) delete meta.namespace;
    template.metadata = meta;
    template.spec = r.pod.spec;
  }
  out.push({ object: label, kind: 'injected', detail: '', warnings: r.warnings });
}
