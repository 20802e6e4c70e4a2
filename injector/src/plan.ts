/**
 * Annotations + injector config + the pod's own ports → the concrete decisions rendering needs.
 * Every check that needs the pod (port names, port clashes, request vs limit) lives here.
 */
import type { AnnotationSettings, Problems } from './annotations.js';
import type { InjectorConfig } from './config.js';
import { DEFAULT_APP_PORT, PREFIX, RESERVED_PORTS } from './constants.js';
import type { Pod } from './k8s.js';
import { parseQuantity } from './quantity.js';

export interface Plan {
  readonly appPort: number;
  readonly protocol: 'http1' | 'h2c';
  readonly inboundPorts: readonly number[] | '*';
  readonly excludeInboundPorts: readonly number[];
  readonly interception: 'redirect' | 'none';
  readonly native: boolean;
  readonly requests: Readonly<Record<string, string>>;
  readonly limits: Readonly<Record<string, string>>;
  readonly policyConfigMap: string | undefined;
}

function resolveAppPort(pod: Pod, s: AnnotationSettings, p: Problems): number {
  const tcpPorts = pod.spec.containers.flatMap((c) => (c.ports ?? []).filter((x) => (x.protocol ?? 'TCP') === 'TCP'));
  if (typeof s.appPort === 'number') return s.appPort;
  if (typeof s.appPort === 'string') {
    const found = tcpPorts.find((x) => x.name === s.appPort);
    if (found !== undefined) return found.containerPort;
    p.errors.push(`${PREFIX}app-port: no container declares a TCP port named "${s.appPort}"`);
    return DEFAULT_APP_PORT;
  }
  const first = tcpPorts.find((x) => !RESERVED_PORTS.has(x.containerPort));
  if (first !== undefined) return first.containerPort;
  p.warnings.push(`no container declares a TCP port; the sidecar forwards to ${DEFAULT_APP_PORT} (set ${PREFIX}app-port)`);
  return DEFAULT_APP_PORT;
}

function resources(s: AnnotationSettings, c: InjectorConfig, p: Problems): Pick<Plan, 'requests' | 'limits'> {
  const requests: Record<string, string> = {
    cpu: s.proxyCpu ?? c.resources.cpuRequest,
    memory: s.proxyMemory ?? c.resources.memoryRequest,
  };
  const limits: Record<string, string> = {};
  for (const [res, annLimit, cfgLimit] of [
    ['cpu', s.proxyCpuLimit, c.resources.cpuLimit],
    ['memory', s.proxyMemoryLimit, c.resources.memoryLimit],
  ] as const) {
    const req = requests[res] ?? '';
    const limit = annLimit ?? cfgLimit;
    if (limit === undefined) continue;
    const lower = (parseQuantity(limit) ?? 0) < (parseQuantity(req) ?? 0);
    if (lower && annLimit !== undefined) {
      p.errors.push(`${PREFIX}proxy-${res}-limit: ${limit} is below the request ${req}`);
    }
    // A default limit below an annotated request would make the API server refuse the pod: raise it.
    limits[res] = lower ? req : limit;
  }
  return { requests, limits };
}

export function makePlan(pod: Pod, s: AnnotationSettings, config: InjectorConfig, p: Problems): Plan {
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const port of c.ports ?? []) {
      if (RESERVED_PORTS.has(port.containerPort)) {
        p.errors.push(`container ${c.name} declares port ${port.containerPort}, which the sidecar uses`);
      }
    }
  }
  const appPort = resolveAppPort(pod, s, p);
  const excludeInboundPorts = s.excludeInboundPorts ?? [];
  const interception = s.interception ?? config.interception;
  const inboundPorts = s.inboundPorts ?? [appPort];
  if (interception === 'redirect' && inboundPorts !== '*' && inboundPorts.every((x) => excludeInboundPorts.includes(x))) {
    p.warnings.push(`${PREFIX}exclude-inbound-ports excludes every redirected port: inbound traffic bypasses the sidecar`);
  }
  const native = s.nativeSidecar ?? config.nativeSidecar;
  const restart = pod.spec.restartPolicy;
  if (!native && (restart === 'Never' || restart === 'OnFailure')) {
    p.warnings.push(
      `classic sidecar in a pod with restartPolicy ${restart}: the pod never completes while the proxy runs; use ${PREFIX}native-sidecar: "true"`,
    );
  }
  return {
    appPort,
    protocol: s.appProtocol === 'h2c' || s.appProtocol === 'grpc' ? 'h2c' : 'http1',
    inboundPorts,
    excludeInboundPorts,
    interception,
    native,
    ...resources(s, config, p),
    policyConfigMap: s.policyConfigMap,
  };
}
