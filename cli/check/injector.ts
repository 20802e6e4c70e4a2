/**
 * Can the API server reach the injector, and will it trust it? Per distinct clientConfig of the
 * webhook configuration: the caBundle parses; a `service` exists, has the port, and its
 * EndpointSlices list a ready endpoint; the serving certificate — fetched over TLS from the url,
 * or from --injector-address (a port-forward) for a service, else read from the TLS Secret the
 * injector's Deployment mounts — is signed by the caBundle, valid, and names the host the API
 * server dials. Also reads the injector's config (the chart's ConfigMap), which injectPod needs.
 */
import { parse as parseYaml } from 'yaml';
import { ConfigError, DEFAULT_CONFIG, parseInjectorConfig, type InjectorConfig } from '../../injector/src/config.js';
import { ApiReadError, type Cluster } from './cluster.js';
import { finding, type Finding } from './findings.js';
import { fetchServingChain, parseCaBundle, parsePem, verifyServing } from './tls.js';
import type { X509Certificate } from 'node:crypto';
import type { MutatingWebhook, WebhookClientConfig, WebhookConfiguration } from './webhooks.js';

export interface InjectorOptions {
  /** host:port to dial for a `service` clientConfig (kubectl port-forward), with SNI SERVICE.NAMESPACE.svc. */
  readonly injectorAddress: { readonly host: string; readonly port: number } | undefined;
  readonly now: Date;
  readonly tlsTimeoutMs: number;
}

export interface InjectorReport {
  readonly findings: readonly Finding[];
  /** What was looked at, one line each, for the text output. */
  readonly notes: readonly string[];
  readonly config: InjectorConfig;
  /** Webhooks whose calls the API server cannot complete (unreachable, no endpoint, TLS refused). */
  readonly failing: ReadonlySet<string>;
}

/** Findings that mean the API server's call to the webhook fails. */
const CALL_FAILS: ReadonlySet<string> = new Set([
  'SIDEGATE_CHECK_INJECTOR_SERVICE_MISSING',
  'SIDEGATE_CHECK_INJECTOR_NOT_READY',
  'SIDEGATE_CHECK_CA_BUNDLE_MISSING',
  'SIDEGATE_CHECK_CA_BUNDLE_INVALID',
  'SIDEGATE_CHECK_CA_MISMATCH',
  'SIDEGATE_CHECK_SERVING_CERT_EXPIRED',
  'SIDEGATE_CHECK_SERVING_CERT_NAME',
]);

export async function checkInjector(cluster: Cluster, mwc: WebhookConfiguration, opts: InjectorOptions): Promise<InjectorReport> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const groups = new Map<string, MutatingWebhook[]>();
  for (const w of mwc.webhooks ?? []) {
    const key = JSON.stringify([w.clientConfig.url, w.clientConfig.service, w.clientConfig.caBundle]);
    groups.set(key, [...(groups.get(key) ?? []), w]);
  }
  const failing = new Set<string>();
  for (const hooks of groups.values()) {
    const subject = `webhook ${hooks.map((w) => w.name).join(', ')}`;
    const mine: Finding[] = [];
    try {
      await checkClientConfig(cluster, hooks[0]!.clientConfig, subject, opts, mine, notes);
    } catch (e) {
      if (!(e instanceof ApiReadError)) throw e;
      mine.push(finding('SIDEGATE_CHECK_API_ERROR', subject, e.message));
    }
    // A url the API server dials itself; --injector-address failing says nothing about the API server's path.
    const fails = mine.some(
      (f) => CALL_FAILS.has(f.code) || (f.code === 'SIDEGATE_CHECK_INJECTOR_UNREACHABLE' && hooks[0]!.clientConfig.url !== undefined),
    );
    if (fails) for (const w of hooks) failing.add(w.name);
    findings.push(...mine);
  }
  const config = await injectorConfig(cluster, mwc, findings, notes);
  return { findings, notes, config, failing };
}

async function checkClientConfig(
  cluster: Cluster,
  cc: WebhookClientConfig,
  subject: string,
  opts: InjectorOptions,
  findings: Finding[],
  notes: string[],
): Promise<void> {
  const bundle = parseCaBundle(cc.caBundle, opts.now);
  if (!bundle.ok) findings.push(finding(bundle.code, subject, bundle.message));
  let chain: X509Certificate[] | undefined;
  let dialName: string;
  if (cc.url !== undefined) {
    const url = new URL(cc.url);
    dialName = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port === '' ? 443 : url.port);
    try {
      chain = await fetchServingChain(dialName, port, dialName, opts.tlsTimeoutMs);
      notes.push(`${subject}: url ${cc.url}, reached over TLS`);
    } catch (e) {
      findings.push(
        finding(
          'SIDEGATE_CHECK_INJECTOR_UNREACHABLE',
          subject,
          `TLS to ${dialName}:${port} (clientConfig.url ${cc.url}) failed: ${(e as Error).message}`,
          `start the injector at ${cc.url}, or correct clientConfig.url`,
        ),
      );
    }
  } else if (cc.service !== undefined) {
    const { name, namespace } = cc.service;
    const port = cc.service.port ?? 443;
    dialName = `${name}.${namespace}.svc`;
    const svc = await cluster.service(namespace, name);
    const svcPort = svc?.ports.find((p) => p.port === port);
    if (svc === undefined || svcPort === undefined) {
      findings.push(
        finding(
          'SIDEGATE_CHECK_INJECTOR_SERVICE_MISSING',
          subject,
          svc === undefined ? `service ${namespace}/${name} does not exist` : `service ${namespace}/${name} has no port ${port}`,
        ),
      );
      return;
    }
    const endpoints = await cluster.endpoints(namespace, name, svcPort.name);
    const ready = endpoints.filter((e) => e.ready);
    notes.push(`${subject}: service ${namespace}/${name}:${port}, ${ready.length} of ${endpoints.length} endpoints ready`);
    if (ready.length === 0) {
      const selector = Object.entries(svc.selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      findings.push(
        finding(
          'SIDEGATE_CHECK_INJECTOR_NOT_READY',
          subject,
          `the EndpointSlices of service ${namespace}/${name} list ${endpoints.length === 0 ? 'no endpoint' : `${endpoints.length} endpoints, none ready (${endpoints.map((e) => e.pod ?? e.address).join(', ')})`}`,
          `kubectl -n ${namespace} get pods -l ${selector} and read their events and logs`,
        ),
      );
    }
    chain = await servedOrStored(cluster, cc.service.namespace, svc.selector, dialName, opts, subject, findings, notes);
  } else {
    return;
  }
  if (chain !== undefined && bundle.ok) {
    for (const p of verifyServing(chain, bundle.certs, dialName, opts.now)) findings.push(finding(p.code, subject, p.message));
  }
}

/** The chain from --injector-address when given, else from the injector Deployment's TLS Secret. */
async function servedOrStored(
  cluster: Cluster,
  namespace: string,
  selector: Readonly<Record<string, string>>,
  dialName: string,
  opts: InjectorOptions,
  subject: string,
  findings: Finding[],
  notes: string[],
): Promise<X509Certificate[] | undefined> {
  const addr = opts.injectorAddress;
  if (addr !== undefined) {
    try {
      const chain = await fetchServingChain(addr.host, addr.port, dialName, opts.tlsTimeoutMs);
      notes.push(`${subject}: serving certificate fetched over TLS from ${addr.host}:${addr.port} (SNI ${dialName})`);
      return chain;
    } catch (e) {
      findings.push(
        finding(
          'SIDEGATE_CHECK_INJECTOR_UNREACHABLE',
          subject,
          `TLS to --injector-address ${addr.host}:${addr.port} failed: ${(e as Error).message}`,
          `kubectl -n ${namespace} port-forward svc/${dialName.split('.')[0] ?? '?'} ${addr.port}:443, then run check again`,
        ),
      );
      return undefined;
    }
  }
  for (const template of await cluster.deploymentTemplatesFor(namespace, selector)) {
    for (const v of template.spec?.volumes ?? []) {
      const secretName = (v as { secret?: { secretName?: string } }).secret?.secretName;
      if (secretName === undefined) continue;
      const pem = await cluster.secretValue(namespace, secretName, 'tls.crt');
      if (pem === undefined) continue;
      notes.push(
        `${subject}: serving certificate read from secret ${namespace}/${secretName} (what the injector mounts; --injector-address compares what it serves)`,
      );
      return parsePem(pem).certs;
    }
  }
  findings.push(
    finding(
      'SIDEGATE_CHECK_SERVING_CERT_UNCHECKED',
      subject,
      `no TLS Secret found for the Deployment behind the service, and no --injector-address`,
      `kubectl -n ${namespace} port-forward svc/${dialName.split('.')[0] ?? '?'} 9443:443, then sidegate check --injector-address 127.0.0.1:9443`,
    ),
  );
  return undefined;
}

/**
 * The injector's config from its ConfigMap: in the Service's namespace, or for a url webhook the
 * Helm release's (meta.helm.sh annotations). Defaults, with a warning, when it cannot be had.
 */
async function injectorConfig(cluster: Cluster, mwc: WebhookConfiguration, findings: Finding[], notes: string[]): Promise<InjectorConfig> {
  const service = mwc.webhooks?.find((w) => w.clientConfig.service !== undefined)?.clientConfig.service;
  const namespace = service?.namespace ?? mwc.metadata?.annotations?.['meta.helm.sh/release-namespace'];
  const release = mwc.metadata?.annotations?.['meta.helm.sh/release-name'] ?? mwc.metadata?.labels?.['app.kubernetes.io/instance'];
  const subject = `injector config`;
  const fallback = (why: string): InjectorConfig => {
    findings.push(
      finding(
        'SIDEGATE_CHECK_INJECTOR_CONFIG',
        subject,
        `${why}; judging pods with the default injector config`,
        namespace === undefined ? undefined : `kubectl -n ${namespace} get configmap -l app.kubernetes.io/component=injector -o yaml`,
      ),
    );
    return namespace === undefined ? DEFAULT_CONFIG : Object.freeze({ ...DEFAULT_CONFIG, injectorNamespace: namespace });
  };
  if (namespace === undefined) return fallback('the webhook names no Service and no Helm release namespace');
  try {
    const cm = await cluster.configMapValue(
      namespace,
      {
        matchLabels: {
          'app.kubernetes.io/component': 'injector',
          ...(release === undefined ? {} : { 'app.kubernetes.io/instance': release }),
        },
      },
      'config.yaml',
    );
    if (cm === undefined) return fallback(`no injector ConfigMap with config.yaml in namespace ${namespace}`);
    const config = parseInjectorConfig(parseYaml(cm.value));
    notes.push(`${subject}: configmap ${namespace}/${cm.name}`);
    return config;
  } catch (e) {
    if (e instanceof ApiReadError || e instanceof ConfigError || (e instanceof Error && e.name === 'YAMLParseError'))
      return fallback(e.message);
    throw e;
  }
}
