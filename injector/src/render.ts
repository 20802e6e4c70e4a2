/**
 * The containers and volume injection adds. Field order is fixed so output is byte-stable.
 */
import type { InjectorConfig } from './config.js';
import {
  ADMIN_PORT,
  ADMIN_PORT_NAME,
  INBOUND_PORT,
  INBOUND_PORT_NAME,
  INIT_CONTAINER,
  NO_TOKEN_VOLUME,
  POLICY_FILE,
  POLICY_MOUNT_DIR,
  POLICY_VOLUME,
  PROXY_CONTAINER,
  PROXY_UID,
  REVOCATIONS_CONFIGMAP,
  REVOCATIONS_FILE,
  REVOCATIONS_MOUNT_DIR,
  REVOCATIONS_VOLUME,
  SERVICE_ACCOUNT_TOKEN_DIR,
} from './constants.js';
import type { Container, EnvVar, Volume, Workload } from './k8s.js';
import { otelResourceAttributes } from './identity.js';
import type { PolicyDoc } from './overlay.js';
import type { Plan } from './plan.js';
import type { AppProbes } from './probes.js';

export interface ProxyInputs {
  readonly plan: Plan;
  readonly config: InjectorConfig;
  readonly service: string;
  readonly workload: Workload | undefined;
  readonly overlay: PolicyDoc | undefined;
  readonly appProbes: AppProbes;
}

const fieldRef = (path: string): EnvVar['valueFrom'] => ({ fieldRef: { fieldPath: path } });

function env(i: ProxyInputs): EnvVar[] {
  const { plan, config } = i;
  const scheme = plan.protocol === 'h2c' ? 'h2c' : 'http';
  // POD_NAME and NAMESPACE come first: OTEL_RESOURCE_ATTRIBUTES refers to them with $(VAR).
  const e: EnvVar[] = [
    { name: 'SIDEGATE_POD_NAME', valueFrom: fieldRef('metadata.name') },
    { name: 'SIDEGATE_NAMESPACE', valueFrom: fieldRef('metadata.namespace') },
    // [::] takes IPv4 and IPv6 (redirected by ip6tables); the sidecar falls back to 0.0.0.0 without IPv6.
    { name: 'SIDEGATE_LISTEN', value: `[::]:${INBOUND_PORT}` },
    { name: 'SIDEGATE_ADMIN_LISTEN', value: `[::]:${ADMIN_PORT}` },
    { name: 'SIDEGATE_UPSTREAM', value: `${scheme}://127.0.0.1:${plan.appPort}` },
    { name: 'SIDEGATE_SERVICE', value: i.service },
  ];
  if (plan.policyConfigMap !== undefined) e.push({ name: 'SIDEGATE_POLICY_FILE', value: POLICY_FILE });
  if (config.defaultPolicy !== undefined) e.push({ name: 'SIDEGATE_POLICY_DEFAULTS', value: JSON.stringify(config.defaultPolicy) });
  if (i.overlay !== undefined) e.push({ name: 'SIDEGATE_POLICY_OVERLAY', value: JSON.stringify(i.overlay) });
  e.push({ name: 'SIDEGATE_REVOCATIONS_FILE', value: REVOCATIONS_FILE });
  if (config.redis !== undefined) {
    e.push({ name: 'SIDEGATE_REDIS_URL', value: config.redis.url });
    const s = config.redis.passwordSecret;
    if (s !== undefined) e.push({ name: 'SIDEGATE_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: s.name, key: s.key } } });
  }
  if (Object.keys(i.appProbes).length > 0) e.push({ name: 'SIDEGATE_APP_PROBES', value: JSON.stringify(i.appProbes) });
  if (config.logLevel !== undefined) e.push({ name: 'SIDEGATE_LOG_LEVEL', value: config.logLevel });
  e.push({ name: 'OTEL_SERVICE_NAME', value: i.service });
  e.push({ name: 'OTEL_RESOURCE_ATTRIBUTES', value: otelResourceAttributes(i.workload) });
  const tr = config.tracing;
  if (tr !== undefined) {
    e.push({ name: 'OTEL_TRACES_EXPORTER', value: tr.exporter });
    e.push({ name: tr.exporter === 'jaeger' ? 'OTEL_EXPORTER_JAEGER_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT', value: tr.endpoint });
    e.push({ name: 'OTEL_TRACES_SAMPLER', value: tr.sampler });
    e.push({ name: 'OTEL_TRACES_SAMPLER_ARG', value: tr.samplerArg });
  }
  return e;
}

const adminProbe = (path: string, period: number, failures: number): Record<string, unknown> => ({
  httpGet: { path, port: ADMIN_PORT, scheme: 'HTTP' },
  periodSeconds: period,
  timeoutSeconds: 1,
  failureThreshold: failures,
});

export function proxyContainer(i: ProxyInputs): Container {
  const { plan, config } = i;
  const c: Container = {
    name: PROXY_CONTAINER,
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    command: ['sidegate', 'proxy'],
    ports: [
      { name: INBOUND_PORT_NAME, containerPort: INBOUND_PORT, protocol: 'TCP' },
      { name: ADMIN_PORT_NAME, containerPort: ADMIN_PORT, protocol: 'TCP' },
    ],
    env: env(i),
    resources:
      Object.keys(plan.limits).length > 0
        ? { requests: { ...plan.requests }, limits: { ...plan.limits } }
        : { requests: { ...plan.requests } },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // The app container starts only once this succeeds (native sidecars), so it never races the proxy.
    startupProbe: adminProbe('/healthz/ready', 1, 120),
    readinessProbe: adminProbe('/healthz/ready', 2, 3),
    livenessProbe: adminProbe('/healthz/live', 10, 3),
    lifecycle: { preStop: { exec: { command: ['sidegate', 'drain'] } } },
  };
  c.volumeMounts = [
    noTokenMount(),
    ...(plan.policyConfigMap === undefined ? [] : [{ name: POLICY_VOLUME, mountPath: POLICY_MOUNT_DIR, readOnly: true }]),
    { name: REVOCATIONS_VOLUME, mountPath: REVOCATIONS_MOUNT_DIR, readOnly: true },
  ];
  if (plan.native) c.restartPolicy = 'Always';
  // Classic mode: kubelet starts containers in order and runs each postStart hook before starting
  // the next container, so the app waits until the proxy is ready (what native sidecars do natively).
  else c.lifecycle = { postStart: { exec: { command: ['sidegate', 'wait'] } }, preStop: { exec: { command: ['sidegate', 'drain'] } } };
  return c;
}

export function initContainer(plan: Plan, config: InjectorConfig): Container {
  const args = [
    'sidegate',
    'init-network',
    '--proxy-port',
    String(INBOUND_PORT),
    '--admin-port',
    String(ADMIN_PORT),
    '--proxy-uid',
    String(PROXY_UID),
    '--inbound-ports',
    plan.inboundPorts === '*' ? '*' : plan.inboundPorts.join(','),
  ];
  if (plan.excludeInboundPorts.length > 0) args.push('--exclude-inbound-ports', plan.excludeInboundPorts.join(','));
  return {
    name: INIT_CONTAINER,
    image: config.image,
    imagePullPolicy: config.imagePullPolicy,
    command: args,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    volumeMounts: [noTokenMount()],
    // iptables needs root in the pod's network namespace, and only these two capabilities.
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

const noTokenMount = (): { name: string; mountPath: string; readOnly: boolean } => ({
  name: NO_TOKEN_VOLUME,
  mountPath: SERVICE_ACCOUNT_TOKEN_DIR,
  readOnly: true,
});

/** See NO_TOKEN_VOLUME: an empty directory in place of the API token in sidegate's containers. */
export function noTokenVolume(): Volume {
  return { name: NO_TOKEN_VOLUME, emptyDir: { sizeLimit: '1Ki' } };
}

export function policyVolume(configMap: string): Volume {
  // Optional: a missing ConfigMap must not keep the pod from starting; the sidecar reports it.
  return {
    name: POLICY_VOLUME,
    configMap: { name: configMap, optional: true, items: [{ key: 'policy.yaml', path: 'policy.yaml' }] },
  };
}

export function revocationsVolume(): Volume {
  // Optional: most namespaces have revoked nothing; the sidecar reads "no file" as an empty list.
  return {
    name: REVOCATIONS_VOLUME,
    configMap: { name: REVOCATIONS_CONFIGMAP, optional: true, items: [{ key: 'revocations.yaml', path: 'revocations.yaml' }] },
  };
}
