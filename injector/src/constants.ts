/** Names and numbers shared by the injector, `init-network` and the sidecar contract. */

export const PREFIX = 'sidegate.dev/';

export const LABEL_NAMESPACE_INJECTION = 'sidegate.dev/injection';
export const LABEL_POD_INJECT = 'sidegate.dev/inject';
export const ANNOTATION_STATUS = 'sidegate.dev/status';

export const PROXY_CONTAINER = 'sidegate-proxy';
export const INIT_CONTAINER = 'sidegate-init';
export const POLICY_VOLUME = 'sidegate-policy';
export const POLICY_MOUNT_DIR = '/etc/sidegate/policy';
export const POLICY_FILE = `${POLICY_MOUNT_DIR}/policy.yaml`;
/**
 * An empty volume mounted where the ServiceAccount admission plugin would mount the pod's API
 * token: sidegate's containers never call the API server, so they hold no credentials for it, and
 * the plugin, seeing the path taken, leaves them alone. Without it the plugin changes the pod
 * after the webhook, and `reinvocationPolicy: IfNeeded` calls the webhook a second time for every pod.
 */
export const NO_TOKEN_VOLUME = 'sidegate-no-api-token';
export const SERVICE_ACCOUNT_TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The namespace's durable revocation list (`sidegate revoke`/`ban`), mounted into every sidecar. */
export const REVOCATIONS_CONFIGMAP = 'sidegate-revocations';
export const REVOCATIONS_VOLUME = 'sidegate-revocations';
export const REVOCATIONS_MOUNT_DIR = '/etc/sidegate/revocations';
export const REVOCATIONS_FILE = `${REVOCATIONS_MOUNT_DIR}/revocations.yaml`;
/** Volumes injection adds (removed by name on re-injection). */
export const OUR_VOLUMES: ReadonlySet<string> = new Set([NO_TOKEN_VOLUME, POLICY_VOLUME, REVOCATIONS_VOLUME]);

export const INBOUND_PORT = 15006;
export const ADMIN_PORT = 15090;
export const OUTBOUND_PORT = 15001;
export const PROXY_UID = 10101;
export const INBOUND_PORT_NAME = 'sidegate';
export const ADMIN_PORT_NAME = 'sidegate-admin';
/** Ports the sidecar owns: never redirected, never usable as the app port. */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([INBOUND_PORT, ADMIN_PORT, OUTBOUND_PORT]);

export const DEFAULT_APP_PORT = 8080;

export const SYSTEM_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

export const PROMETHEUS_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(ADMIN_PORT),
  'prometheus.io/path': '/metrics',
});

/** Other meshes' proxies: two proxies intercepting the same traffic break each other. */
export const OTHER_MESH_CONTAINERS: Readonly<Record<string, string>> = Object.freeze({
  'istio-proxy': 'Istio',
  'linkerd-proxy': 'Linkerd',
  daprd: 'Dapr',
  'consul-dataplane': 'Consul',
  'envoy-sidecar': 'Envoy',
  'kuma-sidecar': 'Kuma',
});
export const OTHER_MESH_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({
  'sidecar.istio.io/status': 'Istio',
  'linkerd.io/proxy-version': 'Linkerd',
  'kuma.io/sidecar-injected': 'Kuma',
});
