/**
 * The pure core: `injectPod(pod, namespace, config)` → skip (with reasons), refusal (every
 * problem), or the injected pod with the JSON Patch that produces it. No clock, no randomness,
 * no I/O: the webhook and `sidegate inject` are thin adapters over this function.
 */
import { quote } from '../../policies/src/index.js';
import { parseAnnotations } from './annotations.js';
import type { InjectorConfig } from './config.js';
import {
  ANNOTATION_STATUS,
  NO_TOKEN_VOLUME,
  POLICY_VOLUME,
  PROMETHEUS_ANNOTATIONS,
  PROXY_CONTAINER,
  REVOCATIONS_VOLUME,
} from './constants.js';
import { skipReasons, type SkipReason } from './decide.js';
import { diff, type PatchOp } from './diff.js';
import { serviceIdentity, workloadOf } from './identity.js';
import { clone, type NamespaceInfo, type Pod, type Probe, type Workload } from './k8s.js';
import { buildOverlay, checkOverlay } from './overlay.js';
import { makePlan } from './plan.js';
import { rewriteProbes, type AppProbes } from './probes.js';
import { initContainer, noTokenVolume, policyVolume, proxyContainer, revocationsVolume } from './render.js';
import { encodeStatus, stripInjection } from './status.js';

export type InjectResult =
  | { readonly kind: 'skip'; readonly reasons: readonly SkipReason[]; readonly warnings: readonly string[] }
  | { readonly kind: 'refuse'; readonly errors: readonly string[]; readonly warnings: readonly string[] }
  | { readonly kind: 'inject'; readonly pod: Pod; readonly patch: readonly PatchOp[]; readonly warnings: readonly string[] };

/** One message listing every problem, as the webhook and `sidegate inject` both print it. */
export function refusalMessage(errors: readonly string[]): string {
  return `sidegate refused the pod: ${errors.join('; ')}`;
}

export function injectPod(pod: Pod, namespace: NamespaceInfo, config: InjectorConfig, workload?: Workload): InjectResult {
  const work = clone(pod);
  // Strip first: decisions and rendering always start from the pod as the user wrote it.
  stripInjection(work);
  const reasons = skipReasons(work, namespace, config);
  if (reasons.length > 0) {
    const warnings = reasons.filter((r) => r.code === 'other-mesh').map((r) => `sidegate not injected: ${r.message}`);
    return { kind: 'skip', reasons, warnings };
  }
  const { settings, problems } = parseAnnotations(work.metadata?.annotations);
  const owner = workload ?? workloadOf(work);
  const service = serviceIdentity(work, owner);
  const plan = makePlan(work, settings, config, problems);
  const overlay = buildOverlay(settings);
  checkOverlay(overlay, config.defaultPolicy, service, plan.policyConfigMap !== undefined, problems);
  if (problems.errors.length > 0) return { kind: 'refuse', errors: problems.errors, warnings: problems.warnings };

  const appProbes: AppProbes = {};
  const originals: Record<string, Probe> = {};
  for (const c of work.spec.containers) rewriteProbes(c, appProbes, originals, problems.warnings);

  const proxy = proxyContainer({ plan, config, service, workload: owner, overlay, appProbes });
  const added = addContainers(work, plan.native, proxy, plan.interception === 'redirect' ? initContainer(plan, config) : undefined);
  work.spec.volumes = [
    ...(work.spec.volumes ?? []),
    noTokenVolume(),
    ...(plan.policyConfigMap === undefined ? [] : [policyVolume(plan.policyConfigMap)]),
    revocationsVolume(),
  ];

  const meta = (work.metadata ??= {});
  const annotations = (meta.annotations ??= {});
  const previous: Record<string, string | null> = {};
  const replaced: string[] = [];
  for (const [k, v] of Object.entries(PROMETHEUS_ANNOTATIONS)) {
    const before = annotations[k];
    previous[k] = before ?? null;
    if (before !== undefined && before !== v) replaced.push(`${k}=${quote(before)}`);
    annotations[k] = v;
  }
  if (replaced.length > 0) problems.warnings.push(`${replaced.join(', ')} replaced: Prometheus now scrapes the sidecar's admin port`);
  annotations[ANNOTATION_STATUS] = encodeStatus({
    version: 1,
    initContainers: added.init,
    containers: added.containers,
    volumes:
      plan.policyConfigMap === undefined ? [NO_TOKEN_VOLUME, REVOCATIONS_VOLUME] : [NO_TOKEN_VOLUME, POLICY_VOLUME, REVOCATIONS_VOLUME],
    annotations: previous,
    probes: originals,
  });
  const patch = diff(pod, work);
  return { kind: 'inject', pod: work, patch, warnings: problems.warnings };
}

function addContainers(
  pod: Pod,
  native: boolean,
  proxy: ReturnType<typeof proxyContainer>,
  init: ReturnType<typeof initContainer> | undefined,
) {
  const spec = pod.spec;
  const before = spec.initContainers ?? [];
  // Ours go first: the network rules before anything runs, the proxy ready before any user
  // init container or app container might receive traffic.
  const ours = init === undefined ? [] : [init];
  if (native) ours.push(proxy);
  else spec.containers = [proxy, ...spec.containers];
  if (ours.length > 0) spec.initContainers = [...ours, ...before];
  return {
    init: ours.map((c) => c.name),
    containers: native ? [] : [PROXY_CONTAINER],
  };
}
