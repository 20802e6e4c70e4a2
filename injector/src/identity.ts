/**
 * Who the pod is: the service identity shared rate limits are keyed on (every pod of a service must
 * agree on it) and the owning workload for telemetry resource attributes.
 */
import type { Pod, Workload } from './k8s.js';

/**
 * The workload behind the pod, from its controller reference as the API server shows it to the
 * webhook. A ReplicaSet named `<deployment>-<pod-template-hash>` is reported as its Deployment.
 */
export function workloadOf(pod: Pod): Workload | undefined {
  const refs = pod.metadata?.ownerReferences ?? [];
  const ref = refs.find((r) => r.controller === true) ?? refs[0];
  if (ref === undefined || typeof ref.kind !== 'string' || typeof ref.name !== 'string') return undefined;
  if (ref.kind === 'ReplicaSet') {
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    if (hash !== undefined && hash !== '' && ref.name.endsWith(`-${hash}`)) {
      return { kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1) };
    }
  }
  // The CronJob controller names its Jobs `<cronjob>-<scheduled time in minutes>`: report the
  // CronJob, so every run shares one service identity (and one set of rate limits).
  const cron = ref.kind === 'Job' ? /^(.+)-\d{8,}$/.exec(ref.name) : null;
  if (cron?.[1] !== undefined) return { kind: 'CronJob', name: cron[1] };
  return { kind: ref.kind, name: ref.name };
}

/** `app.kubernetes.io/name`, then `app`, then the workload name, then the pod's own name. */
export function serviceIdentity(pod: Pod, workload: Workload | undefined): string {
  const labels = pod.metadata?.labels ?? {};
  const fromLabel = labels['app.kubernetes.io/name'] ?? labels.app;
  if (fromLabel !== undefined && fromLabel !== '') return fromLabel;
  if (workload !== undefined) return workload.name;
  const name = pod.metadata?.name ?? pod.metadata?.generateName?.replace(/-+$/, '');
  return name !== undefined && name !== '' ? name : 'unknown';
}

const OTEL_KINDS: Readonly<Record<string, string>> = {
  Deployment: 'k8s.deployment.name',
  ReplicaSet: 'k8s.replicaset.name',
  StatefulSet: 'k8s.statefulset.name',
  DaemonSet: 'k8s.daemonset.name',
  Job: 'k8s.job.name',
  CronJob: 'k8s.cronjob.name',
};

/** OTEL_RESOURCE_ATTRIBUTES; pod name and namespace come from env set earlier (`$(VAR)` expansion). */
export function otelResourceAttributes(workload: Workload | undefined): string {
  const attrs = ['k8s.pod.name=$(SIDEGATE_POD_NAME)', 'k8s.namespace.name=$(SIDEGATE_NAMESPACE)'];
  const key = workload === undefined ? undefined : OTEL_KINDS[workload.kind];
  if (key !== undefined && workload !== undefined) attrs.push(`${key}=${workload.name}`);
  return attrs.join(',');
}
