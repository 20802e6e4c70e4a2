/**
 * Strip-and-reinject: the `sidegate.dev/status` annotation records exactly what injection added
 * or replaced, so a second pass can remove it and render again. Re-injection is then a no-op and
 * changed annotations take effect when an injected manifest is injected again.
 */
import { ANNOTATION_STATUS, INIT_CONTAINER, OUR_VOLUMES, PROXY_CONTAINER } from './constants.js';
import { PROBE_KINDS, probeField, type Pod, type Probe } from './k8s.js';
import { isRewritten } from './probes.js';

export interface InjectionStatus {
  readonly version: 1;
  readonly initContainers: readonly string[];
  readonly containers: readonly string[];
  readonly volumes: readonly string[];
  /** Pod annotations injection set, with the value each had before (null: absent). */
  readonly annotations: Readonly<Record<string, string | null>>;
  /** `<container>/<probe>` → the probe as the user wrote it. */
  readonly probes: Readonly<Record<string, Probe>>;
}

export function encodeStatus(s: InjectionStatus): string {
  return JSON.stringify(s);
}

/** The annotation as written, or undefined when absent or not a JSON object (a hand edit). */
export function decodeStatus(raw: string | undefined): Partial<InjectionStatus> | undefined {
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const OURS: ReadonlySet<string> = new Set([PROXY_CONTAINER, INIT_CONTAINER]);

/**
 * Removes a previous injection in place. Our containers and volumes are removed by name even
 * without a readable status (a hand-edited manifest), because two copies would break the pod.
 */
export function stripInjection(pod: Pod): void {
  const meta = pod.metadata;
  const status = decodeStatus(meta?.annotations?.[ANNOTATION_STATUS]);
  const spec = pod.spec;
  // Hand-written YAML may leave `initContainers:` or `annotations:` empty (null). Drop those, so
  // the first injection and every later one put the fields in the same place.
  if (spec.initContainers === null) delete spec.initContainers;
  if (spec.volumes === null) delete spec.volumes;
  if (meta?.annotations === null) delete meta.annotations;
  spec.containers = spec.containers.filter((c) => !OURS.has(c.name));
  // Only touch a list we remove something from.
  if (Array.isArray(spec.initContainers)) {
    const kept = spec.initContainers.filter((c) => !OURS.has(c.name));
    if (kept.length < spec.initContainers.length) {
      if (kept.length === 0) delete spec.initContainers;
      else spec.initContainers = kept;
    }
  }
  if (Array.isArray(spec.volumes)) {
    const kept = spec.volumes.filter((v) => !OUR_VOLUMES.has(v.name));
    if (kept.length < spec.volumes.length) {
      if (kept.length === 0) delete spec.volumes;
      else spec.volumes = kept;
    }
  }
  if (status === undefined || meta === undefined) return;
  const annotations = meta.annotations ?? {};
  delete annotations[ANNOTATION_STATUS];
  if (typeof status.annotations === 'object' && status.annotations !== null) {
    for (const [k, prev] of Object.entries(status.annotations)) {
      if (typeof prev === 'string') annotations[k] = prev;
      else delete annotations[k];
    }
  }
  if (Object.keys(annotations).length === 0) delete meta.annotations;
  if (typeof status.probes === 'object' && status.probes !== null) {
    for (const c of spec.containers) {
      for (const kind of PROBE_KINDS) {
        const original = status.probes[`${c.name}/${kind}`];
        // Only put the original back if the probe is still ours: a later edit by the user wins.
        if (original !== undefined && isRewritten(c[probeField(kind)], c.name, kind)) c[probeField(kind)] = original;
      }
    }
  }
}
