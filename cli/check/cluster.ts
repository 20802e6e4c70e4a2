/**
 * Every read `sidegate check` makes, through the official client (@kubernetes/client-node) with
 * the kubeconfig's credentials. This is the edge: objects leave here as the plain JSON shapes the
 * rest of check and the injector read (a pod is handed to injectPod exactly as the webhook
 * would receive it), a 404 is `undefined`, and any other failure is an ApiReadError naming what
 * was being read.
 */
import {
  AdmissionregistrationV1Api,
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import { KubeconfigError, loadKubeconfig } from '../kubeconfig.js';
import type { Pod } from '../../injector/src/k8s.js';
import type { Labels, LabelSelector } from './selector.js';
import type { NamespaceView, WebhookConfiguration } from './webhooks.js';

export class ApiReadError extends Error {
  override readonly name = 'ApiReadError';
  constructor(
    readonly what: string,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`cannot read ${what}: ${status === undefined ? '' : `${status} `}${detail}`);
  }
}

export { KubeconfigError };

export type WorkloadKind = 'deployment' | 'statefulset' | 'daemonset' | 'replicaset' | 'job' | 'cronjob';

export interface PodTemplate {
  readonly metadata?: { readonly labels?: Labels; readonly annotations?: Labels };
  readonly spec?: Pod['spec'];
}

export interface Workload {
  readonly template: PodTemplate;
  /** How to list its pods: a label selector (for a CronJob, one per Job it owns). */
  readonly podSelectors: readonly LabelSelector[];
}

export interface ServiceView {
  readonly ports: readonly { readonly port: number; readonly name?: string }[];
  readonly selector: Labels;
}

export interface EndpointView {
  readonly address: string;
  readonly ready: boolean;
  readonly pod?: string;
}

/** JSON as the API server sent it: the client's model objects, with Dates back to strings. */
const plain = <T>(v: unknown): T => JSON.parse(JSON.stringify(v)) as T;

export class Cluster {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly discovery: DiscoveryV1Api;

  private constructor(
    readonly server: string,
    readonly defaultNamespace: string,
    kc: KubeConfig,
    private readonly timeoutMs: number,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
  }

  /**
   * --kubeconfig FILE, else $KUBECONFIG (a list, merged as kubectl does), else ~/.kube/config,
   * else the pod's service account. Never the client's fallback of http://localhost:8080.
   */
  static open(opts: { kubeconfig?: string; context?: string; timeoutMs: number }): Cluster {
    const { kc, server, namespace } = loadKubeconfig(opts);
    return new Cluster(server, namespace, kc, opts.timeoutMs);
  }

  /**
   * Runs one read; 404 → undefined, anything else → ApiReadError. A read that does not answer
   * within the timeout fails like any other (the CLI exits when done, so the request left
   * pending does not hold the process).
   */
  private async read<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return undefined;
      if (e instanceof ApiException) throw new ApiReadError(what, e.code, apiMessage(e.body));
      throw new ApiReadError(
        what,
        undefined,
        e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private async list<T>(what: string, call: () => Promise<{ items: T[] }>): Promise<T[]> {
    return (await this.read(what, call))?.items ?? [];
  }

  async mutatingWebhookConfigurations(): Promise<WebhookConfiguration[]> {
    return this.list('mutatingwebhookconfigurations', () => this.admission.listMutatingWebhookConfiguration());
  }

  async mutatingWebhookConfiguration(name: string): Promise<WebhookConfiguration | undefined> {
    return this.read(`mutatingwebhookconfiguration ${name}`, () => this.admission.readMutatingWebhookConfiguration({ name }));
  }

  async namespace(name: string): Promise<NamespaceView | undefined> {
    const ns = await this.read(`namespace ${name}`, () => this.core.readNamespace({ name }));
    return ns === undefined ? undefined : { name, labels: ns.metadata?.labels ?? {} };
  }

  async pod(namespace: string, name: string): Promise<Pod | undefined> {
    const p = await this.read(`pod ${namespace}/${name}`, () => this.core.readNamespacedPod({ namespace, name }));
    return p === undefined ? undefined : plain<Pod>(p);
  }

  async pods(namespace: string, selector?: LabelSelector): Promise<Pod[]> {
    const labelSelector = selector === undefined ? undefined : selectorString(selector);
    return plain<Pod[]>(
      await this.list(`pods in ${namespace}`, () =>
        this.core.listNamespacedPod({ namespace, ...(labelSelector === undefined ? {} : { labelSelector }) }),
      ),
    );
  }

  async workload(kind: WorkloadKind, namespace: string, name: string): Promise<Workload | undefined> {
    const what = `${kind} ${namespace}/${name}`;
    const args = { namespace, name };
    const withSelector = (o: { spec?: { selector?: LabelSelector; template?: unknown } } | undefined): Workload | undefined =>
      o?.spec === undefined
        ? undefined
        : { template: plain<PodTemplate>(o.spec.template ?? {}), podSelectors: o.spec.selector === undefined ? [] : [o.spec.selector] };
    switch (kind) {
      case 'deployment':
        return withSelector(await this.read(what, () => this.apps.readNamespacedDeployment(args)));
      case 'statefulset':
        return withSelector(await this.read(what, () => this.apps.readNamespacedStatefulSet(args)));
      case 'daemonset':
        return withSelector(await this.read(what, () => this.apps.readNamespacedDaemonSet(args)));
      case 'replicaset':
        return withSelector(await this.read(what, () => this.apps.readNamespacedReplicaSet(args)));
      case 'job':
        return withSelector(await this.read(what, () => this.batch.readNamespacedJob(args)));
      case 'cronjob': {
        const cj = await this.read(what, () => this.batch.readNamespacedCronJob(args));
        if (cj?.spec === undefined) return undefined;
        const jobs = await this.list(`jobs in ${namespace}`, () => this.batch.listNamespacedJob({ namespace }));
        const owned = jobs.filter((j) => (j.metadata?.ownerReferences ?? []).some((o) => o.kind === 'CronJob' && o.name === name));
        return {
          template: plain<PodTemplate>(cj.spec.jobTemplate.spec?.template ?? {}),
          podSelectors: owned.flatMap((j) => (j.spec?.selector === undefined ? [] : [j.spec.selector])),
        };
      }
    }
  }

  async service(namespace: string, name: string): Promise<ServiceView | undefined> {
    const s = await this.read(`service ${namespace}/${name}`, () => this.core.readNamespacedService({ namespace, name }));
    return s === undefined
      ? undefined
      : {
          ports: (s.spec?.ports ?? []).map((p) => ({ port: p.port, ...(p.name === undefined ? {} : { name: p.name }) })),
          selector: s.spec?.selector ?? {},
        };
  }

  /** Endpoints of a Service from its EndpointSlices (kubernetes.io/service-name), for the port named `portName` (or any). */
  async endpoints(namespace: string, service: string, portName: string | undefined): Promise<EndpointView[]> {
    const slices = await this.list(`endpointslices of service ${namespace}/${service}`, () =>
      this.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` }),
    );
    return slices
      .filter((s) => portName === undefined || (s.ports ?? []).some((p) => (p.name ?? '') === portName))
      .flatMap((s) =>
        (s.endpoints ?? []).map((e) => ({
          address: e.addresses[0] ?? '?',
          // An absent condition means ready (discovery/v1).
          ready: e.conditions?.ready !== false,
          ...(e.targetRef?.kind === 'Pod' ? { pod: e.targetRef.name } : {}),
        })),
      );
  }

  /** `data[key]` of the first ConfigMap matching `selector` that has the key. */
  async configMapValue(namespace: string, selector: LabelSelector, key: string): Promise<{ name: string; value: string } | undefined> {
    const cms = await this.list(`configmaps in ${namespace}`, () =>
      this.core.listNamespacedConfigMap({ namespace, labelSelector: selectorString(selector) }),
    );
    const cm = cms.find((c) => c.data?.[key] !== undefined);
    return cm === undefined ? undefined : { name: cm.metadata?.name ?? '?', value: cm.data?.[key] ?? '' };
  }

  /** The pod templates of the Deployments in `namespace` whose pods a Service with `selector` selects. */
  async deploymentTemplatesFor(namespace: string, selector: Labels): Promise<PodTemplate[]> {
    const ds = await this.list(`deployments in ${namespace}`, () => this.apps.listNamespacedDeployment({ namespace }));
    const picks = ds.filter(
      (d) => Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => d.spec?.template.metadata?.labels?.[k] === v),
    );
    return picks.map((d) => plain<PodTemplate>(d.spec?.template ?? {}));
  }

  async secretValue(namespace: string, name: string, key: string): Promise<string | undefined> {
    const s = await this.read(`secret ${namespace}/${name}`, () => this.core.readNamespacedSecret({ namespace, name }));
    const b64 = s?.data?.[key];
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  }
}

/** A LabelSelector as the `labelSelector` query parameter. */
export function selectorString(s: LabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of s.matchExpressions ?? []) {
    const values = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${values})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${values})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
  }
  return parts.join(',');
}

/** The Status message the API server sends with an error, else the raw body. */
export function apiMessage(body: unknown): string {
  if (typeof body === 'string') {
    try {
      return apiMessage(JSON.parse(body));
    } catch {
      return body.slice(0, 300);
    }
  }
  if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string')
    return (body as { message: string }).message;
  return JSON.stringify(body)?.slice(0, 300) ?? '';
}
