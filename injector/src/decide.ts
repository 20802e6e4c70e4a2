/**
 * Whether a pod gets a sidecar. Skips carry stable reason codes (metrics label, golden files,
 * `sidegate inject` notes) so "injection silently not happening" always has a visible why.
 */
import type { InjectorConfig } from './config.js';
import {
  LABEL_NAMESPACE_INJECTION,
  LABEL_POD_INJECT,
  OTHER_MESH_ANNOTATIONS,
  OTHER_MESH_CONTAINERS,
  SYSTEM_NAMESPACES,
} from './constants.js';
import type { NamespaceInfo, Pod } from './k8s.js';

export const SKIP_REASONS = [
  'system-namespace',
  'injector-namespace',
  'pod-opt-out',
  'namespace-disabled',
  'not-enabled',
  'host-network',
  'other-mesh',
] as const;
export type SkipCode = (typeof SKIP_REASONS)[number];

export interface SkipReason {
  readonly code: SkipCode;
  readonly message: string;
}

/** Every reason the pod must not be injected (empty: inject). */
export function skipReasons(pod: Pod, ns: NamespaceInfo, config: InjectorConfig): SkipReason[] {
  const reasons: SkipReason[] = [];
  const podLabel = pod.metadata?.labels?.[LABEL_POD_INJECT];
  if (SYSTEM_NAMESPACES.has(ns.name)) {
    reasons.push({ code: 'system-namespace', message: `namespace ${ns.name} is a system namespace` });
  }
  if (ns.name === config.injectorNamespace) {
    reasons.push({ code: 'injector-namespace', message: `namespace ${ns.name} runs the injector` });
  }
  if (podLabel === 'false') {
    reasons.push({ code: 'pod-opt-out', message: `pod label ${LABEL_POD_INJECT}=false` });
  }
  if (ns.labels !== undefined) {
    const nsLabel = ns.labels[LABEL_NAMESPACE_INJECTION];
    if (nsLabel === 'disabled') {
      reasons.push({ code: 'namespace-disabled', message: `namespace label ${LABEL_NAMESPACE_INJECTION}=disabled` });
    } else if (nsLabel !== 'enabled' && podLabel !== 'true') {
      reasons.push({
        code: 'not-enabled',
        message: `neither namespace label ${LABEL_NAMESPACE_INJECTION}=enabled nor pod label ${LABEL_POD_INJECT}=true`,
      });
    }
  }
  if (pod.spec.hostNetwork === true) {
    reasons.push({
      code: 'host-network',
      message: "hostNetwork pods share the node's network; redirecting it would capture the node's traffic",
    });
  }
  const mesh = otherMesh(pod);
  if (mesh !== undefined) {
    reasons.push({ code: 'other-mesh', message: `the pod already runs a proxy of ${mesh}; two proxies on one pod break each other` });
  }
  return reasons;
}

function otherMesh(pod: Pod): string | undefined {
  const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  for (const n of names) {
    const mesh = OTHER_MESH_CONTAINERS[n];
    if (mesh !== undefined) return mesh;
  }
  for (const key of Object.keys(pod.metadata?.annotations ?? {})) {
    const mesh = OTHER_MESH_ANNOTATIONS[key];
    if (mesh !== undefined) return mesh;
  }
  return undefined;
}
