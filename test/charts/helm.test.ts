import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { ConfigError, parseInjectorConfig } from '../../injector/src/config.js';
import { injectPod } from '../../injector/src/inject.js';
import { freePort } from '../helpers/ports.js';
import { CLI } from '../helpers/spawn.js';
import { EXAMPLES_DIR, readExamples } from './chart-files.js';
import { CHART, DASHBOARD_FILE, RULES_FILE } from './promql.js';
import { NAMESPACE, RELEASE, render, selects, validateBuiltIn, valuesFile, type LabelSelector } from './render.js';
import { helmPath, run } from './tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- rendered manifests are arbitrary JSON */
const helm = helmPath();
const exampleFiles = [...readExamples().keys()].map((f) => join(EXAMPLES_DIR, f));
const INJECTOR = `${RELEASE}-sidegate-injector`;
const HOST = `${INJECTOR}.${NAMESPACE}.svc`;

const configOf = (r: ReturnType<typeof render>): unknown => parse(r.one('ConfigMap', INJECTOR).data['config.yaml'] as string);

t.test('helm lint --strict passes for the defaults and every example', async (t) => {
  for (const f of [undefined, ...exampleFiles]) {
    const r = run(helm, ['lint', CHART, '--strict', '--namespace', NAMESPACE, ...(f ? ['-f', f] : [])]);
    t.equal(r.status, 0, `${f ?? 'defaults'}: ${r.stdout}${r.stderr}`);
  }
});

t.test('helm refuses values the schema refuses', async (t) => {
  const r = run(helm, ['template', RELEASE, CHART, '--set', 'webhook.failurePolicy=Sometimes']);
  t.not(r.status, 0);
  t.match(r.stderr, /failurePolicy/);
});

t.test('every rendering parses, and built-in kinds validate against the Kubernetes schemas', async (t) => {
  for (const f of [undefined, ...exampleFiles]) {
    const r = render(f ? [f] : []);
    let builtIn = 0;
    for (const d of r.docs) {
      t.doesNotThrow(() => { if (validateBuiltIn(d)) builtIn++; }, `${f ?? 'defaults'}: ${d.kind} ${d.metadata.name}`);
      if (d.kind !== 'MutatingWebhookConfiguration' && d.kind !== 'ValidatingWebhookConfiguration') {
        t.equal(d.metadata.namespace ?? NAMESPACE, d.kind === 'ConfigMap' && d.metadata.name.endsWith('-dashboard') ? d.metadata.namespace : NAMESPACE, `${d.kind} ${d.metadata.name} namespace`);
      }
    }
    t.ok(builtIn >= 7, `${f ?? 'defaults'}: ${builtIn} built-in objects validated`);
  }
});

t.test('the rendered injector config is accepted by the injector itself', async (t) => {
  const d = parseInjectorConfig(configOf(render()));
  t.equal(d.image, 'ghcr.io/sidegate/sidegate:0.1.0');
  t.equal(d.injectorNamespace, NAMESPACE, 'the release namespace is never injected');
  t.equal(d.redis, undefined, 'no Redis by default');
  for (const f of exampleFiles) {
    const raw = configOf(render([f])) as Record<string, unknown>;
    t.doesNotThrow(() => parseInjectorConfig(raw), f);
  }
  const trial = parseInjectorConfig(configOf(render([join(EXAMPLES_DIR, 'trial.yaml')])));
  t.equal(trial.redis?.url, `redis://${RELEASE}-sidegate-redis.${NAMESPACE}.svc:6379`, 'bundled Redis is what sidecars get');
  const prod = configOf(render([join(EXAMPLES_DIR, 'production-sentinel.yaml')], { 'tracing.enabled': 'false' }));
  const p = parseInjectorConfig(prod);
  t.equal(p.image, 'registry.example.com/platform/sidegate:0.1.0');
  t.same(p.redis?.passwordSecret, { name: 'redis-auth', key: 'password' });
  t.same(p.resources, { cpuRequest: '100m', memoryRequest: '96Mi', cpuLimit: '1', memoryLimit: '256Mi' });
  t.equal((p.defaultPolicy?.metadata as { name: string }).name, 'cluster-defaults');
  const classic = parseInjectorConfig(configOf(render([join(EXAMPLES_DIR, 'classic-no-interception.yaml')])));
  t.equal(classic.nativeSidecar, false);
  t.equal(classic.interception, 'none');
  const noLimit = parseInjectorConfig(configOf(render([], { 'sidecar.resources.memoryLimit': '' })));
  t.equal(noLimit.resources.memoryLimit, undefined, 'an empty memoryLimit means no limit');
});

t.test('tracing settings reach the injector and the injected sidecars', async (t) => {
  const raw = configOf(render([], { 'tracing.enabled': 'true', 'tracing.endpoint': 'http://jaeger-collector.observability:4318' }));
  const c = parseInjectorConfig(raw);
  t.same(c.tracing, { exporter: 'otlp', endpoint: 'http://jaeger-collector.observability:4318', sampler: 'parentbased_traceidratio', samplerArg: '0.1' });
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', labels: { app: 'orders' } }, spec: { containers: [{ name: 'app', image: 'x', ports: [{ containerPort: 8080 }] }] } };
  const r = injectPod(pod, { name: 'shop', labels: { 'sidegate.dev/injection': 'enabled' } }, c);
  t.equal(r.kind, 'inject');
  const env = JSON.stringify(r);
  for (const name of ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG']) t.ok(env.includes(name), `${name} set on the sidecar`);
  t.throws(() => parseInjectorConfig({ tracing: { exporter: 'zipkin', endpoint: 'x' } }), /expected one of/);
  t.throws(() => parseInjectorConfig({ tracing: { endpoint: '' } }), ConfigError);
});

t.test('tracing on without an endpoint is refused at render time', async (t) => {
  t.throws(() => render([], { 'tracing.enabled': 'true' }), /tracing.endpoint is required/);
  t.ok(ConfigError);
});

t.test('webhook selectors send exactly the right pods to the injector', async (t) => {
  const r = render([join(EXAMPLES_DIR, 'production-sentinel.yaml')], { 'tracing.enabled': 'false' });
  const mwc = r.one('MutatingWebhookConfiguration');
  const vwc = r.one('ValidatingWebhookConfiguration');
  const ns = (name: string, labels: Record<string, string> = {}): Record<string, string> => ({ 'kubernetes.io/metadata.name': name, ...labels });
  const called = (hooks: any[], nsLabels: Record<string, string>, objLabels: Record<string, string>): string[] =>
    hooks.filter((w) => selects(w.namespaceSelector as LabelSelector, nsLabels) && selects(w.objectSelector as LabelSelector, objLabels)).map((w) => w.name as string);
  const inject = (n: Record<string, string>, p: Record<string, string>): string[] => called(mwc.webhooks as any[], n, p);
  const enabled = { 'sidegate.dev/injection': 'enabled' };
  t.same(inject(ns('shop', enabled), {}), ['inject.sidegate.dev'], 'labelled namespace, unlabelled pod');
  t.same(inject(ns('shop', enabled), { 'sidegate.dev/inject': 'true' }), ['inject.sidegate.dev'], 'opt-in pod in a labelled namespace: called once');
  t.same(inject(ns('shop', enabled), { 'sidegate.dev/inject': 'false' }), [], 'pod opt-out');
  t.same(inject(ns('plain'), {}), [], 'namespace not labelled');
  t.same(inject(ns('plain'), { 'sidegate.dev/inject': 'true' }), ['inject-pod-opt-in.sidegate.dev'], 'pod opt-in elsewhere');
  t.same(inject(ns('plain', { 'sidegate.dev/injection': 'disabled' }), { 'sidegate.dev/inject': 'true' }), [], 'disabled namespace wins');
  for (const sys of ['kube-system', 'kube-public', 'kube-node-lease', NAMESPACE, 'monitoring', 'cert-manager']) {
    t.same(inject(ns(sys, enabled), { 'sidegate.dev/inject': 'true' }), [], `${sys} is never injected`);
  }
  for (const w of mwc.webhooks as any[]) {
    t.equal(w.failurePolicy, 'Fail');
    t.equal(w.sideEffects, 'None');
    t.equal(w.timeoutSeconds, 5);
    t.equal(w.reinvocationPolicy, 'IfNeeded');
    t.same(w.admissionReviewVersions, ['v1']);
    t.same(w.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    t.same(w.clientConfig.service, { name: INJECTOR, namespace: NAMESPACE, path: '/inject', port: 443 });
  }
  const validate = (n: Record<string, string>, o: Record<string, string>): string[] => called(vwc.webhooks as any[], n, o);
  t.same(validate(ns('shop'), { 'sidegate.dev/policy': 'true' }), ['validate-policy.sidegate.dev'], 'policy ConfigMaps are validated');
  t.same(validate(ns('shop'), {}), [], 'other ConfigMaps are not');
  t.equal((vwc.webhooks as any[])[0].clientConfig.service.path, '/validate');
  t.equal(render([], { 'webhook.validatePolicies.enabled': 'false' }).all('ValidatingWebhookConfiguration').length, 0);
});

t.test('defaults: failurePolicy Fail, two spread replicas, a PDB, a restricted injector', async (t) => {
  const r = render();
  for (const w of r.one('MutatingWebhookConfiguration').webhooks as any[]) {
    t.equal(w.failurePolicy, 'Fail', `${w.name as string}: a pod is never started without its sidecar`);
    t.equal(w.timeoutSeconds, 10);
  }
  const dep = r.one('Deployment', INJECTOR);
  t.equal(dep.spec.replicas, 2);
  t.same(dep.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  t.same(dep.spec.template.spec.topologySpreadConstraints.map((c: any) => c.topologyKey), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  t.equal(r.one('PodDisruptionBudget').spec.minAvailable, 1);
  t.same(r.one('PodDisruptionBudget').spec.selector.matchLabels, dep.spec.selector.matchLabels);
  const pod = dep.spec.template.spec;
  t.equal(pod.automountServiceAccountToken, false, 'no API token: the injector calls no API');
  t.equal(pod.securityContext.runAsNonRoot, true);
  t.same(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  const c = pod.containers[0];
  t.same(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
  t.ok(c.resources.requests.cpu && c.resources.limits.memory, 'resources set');
  t.same(c.command, ['sidegate', 'injector']);
  t.equal(dep.spec.template.metadata.labels['sidegate.dev/inject'], 'false');
  const mounts = new Map<string, string>(c.volumeMounts.map((m: any) => [m.name, m.mountPath]));
  const arg = (flag: string): string | undefined => (c.args as string[])[(c.args as string[]).indexOf(flag) + 1];
  t.equal(arg('--cert'), `${mounts.get('tls')}/tls.crt`, 'args point at the mounted files');
  t.equal(arg('--key'), `${mounts.get('tls')}/tls.key`);
  t.equal(arg('--config'), `${mounts.get('config')}/config.yaml`);
  t.equal(arg('--listen'), `0.0.0.0:${c.ports[0].containerPort as number}`);
  t.equal(pod.volumes.find((v: any) => v.name === 'tls').secret.secretName, r.one('Secret').metadata.name);
  t.equal(r.one('Service').spec.ports[0].targetPort, c.ports[0].name);
  t.same(r.one('Service').spec.selector, dep.spec.selector.matchLabels);
  // The one ClusterRole is for operators (sidegate revoke/ban) and bound to nobody: the injector gets no RBAC.
  t.equal(r.all('Role').length + r.all('RoleBinding').length + r.all('ClusterRoleBinding').length, 0, 'no RBAC granted');
  t.same(r.all('ClusterRole').map((c) => c.metadata.name), [`${RELEASE}-sidegate-revoker`], 'only the revoker role, unbound');
  t.same(r.one('ClusterRole').rules, [
    { apiGroups: [''], resources: ['configmaps'], resourceNames: ['sidegate-revocations'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
  ]);
  t.equal(render([], { 'revoker.clusterRole': 'false' }).all('ClusterRole').length, 0, 'and none when switched off');
  t.equal(r.one('PodDisruptionBudget') !== undefined && render([], { 'injector.replicas': '1' }).all('PodDisruptionBudget').length, 0, 'no PDB for one replica');
  const before = dep.spec.template.metadata.annotations['checksum/config'] as string;
  const after = render([], { 'sidecar.interception': 'none' }).one('Deployment', INJECTOR).spec.template.metadata.annotations['checksum/config'] as string;
  t.not(before, after, 'a config change rolls the injector');
});

t.test('the generated certificate works with the real injector and the rendered caBundle', async (t) => {
  const r = render([join(EXAMPLES_DIR, 'trial.yaml')]);
  const secret = r.one('Secret');
  const b64 = (k: string): Buffer => Buffer.from(secret.data[k] as string, 'base64');
  const caBundle = (r.one('MutatingWebhookConfiguration').webhooks as any[])[0].clientConfig.caBundle as string;
  t.equal(caBundle, secret.data['ca.crt'], 'caBundle is the Secret\'s CA');
  for (const w of r.one('ValidatingWebhookConfiguration').webhooks as any[]) t.equal(w.clientConfig.caBundle, caBundle);
  const cert = new X509Certificate(b64('tls.crt'));
  const ca = new X509Certificate(Buffer.from(caBundle, 'base64'));
  t.ok(cert.verify(ca.publicKey), 'the serving certificate is signed by the CA');
  t.ok(cert.checkHost(HOST), `valid for ${HOST}`);
  t.ok(cert.checkHost(`${INJECTOR}.${NAMESPACE}`), 'and the short forms');

  const dir = mkdtempSync(join(tmpdir(), 'sidegate-chart-'));
  for (const k of ['tls.crt', 'tls.key']) writeFileSync(join(dir, k), b64(k));
  writeFileSync(join(dir, 'config.yaml'), r.one('ConfigMap', INJECTOR).data['config.yaml'] as string);
  const port = await freePort();
  // The Deployment's own command and args, with its mount paths and listen address moved here.
  const c = r.one('Deployment', INJECTOR).spec.template.spec.containers[0];
  t.same(c.command, ['sidegate', 'injector']);
  const args = (c.args as string[]).map((a) => a.replace(/^\/etc\/sidegate\/(tls|config)\//, `${dir}/`).replace(/^0\.0\.0\.0:\d+$/, `127.0.0.1:${port}`));
  const proc = spawn(process.execPath, [CLI, 'injector', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => { out += String(d); });
  proc.stderr.on('data', (d: Buffer) => { out += String(d); });
  t.teardown(() => { proc.kill('SIGKILL'); });
  // As the API server calls it: TLS verified against caBundle, for the Service's DNS name.
  const agent = new Agent({ connect: { ca: ca.toString(), servername: HOST } });
  t.teardown(() => agent.close());
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const h = await request(`https://127.0.0.1:${port}/healthz`, { dispatcher: agent });
      await h.body.dump();
      if (h.statusCode === 200) break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`injector did not come up: ${String(e)} ${out}`, { cause: e });
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'orders-1', namespace: 'shop', labels: { app: 'orders' } }, spec: { containers: [{ name: 'app', image: 'orders:1', ports: [{ containerPort: 8080 }] }] } };
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'shop', operation: 'CREATE', object: pod } };
  const res = await request(`https://127.0.0.1:${port}/inject`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(review) });
  t.equal(res.statusCode, 200);
  const body = await res.body.json() as { response: { uid: string; allowed: boolean; patch: string } };
  t.equal(body.response.uid, 'u-1');
  t.equal(body.response.allowed, true);
  const patch = Buffer.from(body.response.patch, 'base64').toString();
  t.match(patch, /"image":"ghcr.io\/sidegate\/sidegate:0.1.0"/, 'the chart\'s sidecar image is injected');
  t.match(patch, new RegExp(`"SIDEGATE_REDIS_URL","value":"redis://${RELEASE}-sidegate-redis.${NAMESPACE}.svc:6379"`), 'with the chart\'s Redis');
  t.match(patch, /"LOG_LEVEL","value":"debug"|"SIDEGATE_LOG_LEVEL","value":"debug"/, 'and its log level');
  // A client that does not trust the CA, or asks for another name, is refused.
  const stranger = new Agent({ connect: { servername: HOST } });
  t.teardown(() => stranger.close());
  await t.rejects(request(`https://127.0.0.1:${port}/healthz`, { dispatcher: stranger }), 'unknown CA refused');
});

t.test('cert-manager mode: no generated Secret, CA injected by cert-manager', async (t) => {
  const r = render([join(EXAMPLES_DIR, 'cert-manager-selfsigned.yaml')]);
  t.equal(r.all('Secret').length, 0);
  const certs = r.all('Certificate');
  const serving = certs.find((c) => c.metadata.name === INJECTOR)!;
  t.ok(serving, 'serving Certificate');
  t.equal(serving.spec.secretName, r.one('Deployment', INJECTOR).spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName);
  t.ok((serving.spec.dnsNames as string[]).includes(HOST));
  t.same(serving.spec.issuerRef, { name: `${INJECTOR}-ca`, kind: 'Issuer' }, 'chart-made CA issuer');
  t.ok(certs.some((c) => c.spec.isCA === true), 'CA Certificate');
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    const w = r.one(kind);
    t.equal(w.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NAMESPACE}/${INJECTOR}`);
    for (const h of w.webhooks as any[]) t.equal(h.clientConfig.caBundle, undefined, `${kind}: caBundle left to cainjector`);
  }
  const given = render([join(EXAMPLES_DIR, 'production-sentinel.yaml')], { 'tracing.enabled': 'false' });
  t.same(given.all('Issuer'), [], 'no chart issuer when issuerRef is given');
  t.same(given.one('Certificate').spec.issuerRef, { name: 'internal-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
});

t.test('the PrometheusRule is the rules file, and the dashboard ConfigMap is the JSON file', async (t) => {
  const rulesDoc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: { alert: string; annotations: Record<string, string>; labels: Record<string, string> }[] }[] };
  const r = render([], { 'metrics.prometheusRule.enabled': 'true', 'metrics.dashboard.enabled': 'true' });
  t.same(r.one('PrometheusRule').spec.groups, rulesDoc.groups, 'no drift between chart and promtool-tested file');
  t.same(JSON.parse(r.one('ConfigMap', `${RELEASE}-sidegate-dashboard`).data['sidegate.json'] as string), JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')));
  t.equal(r.one('ConfigMap', `${RELEASE}-sidegate-dashboard`).metadata.labels?.grafana_dashboard, '1');

  const custom = render([valuesFile({ metrics: { prometheusRule: { enabled: true, ruleLabels: { team: 'platform', severity: 'page' }, disabledAlerts: ['SidegateRedisSlow'], runbookBaseUrl: 'https://docs.example.com/ops.md' } } })]);
  const rules = (custom.one('PrometheusRule').spec.groups as typeof rulesDoc.groups).flatMap((g) => g.rules);
  const all = rulesDoc.groups.flatMap((g) => g.rules);
  t.equal(rules.length, all.length - 1);
  t.notOk(rules.some((x) => x.alert === 'SidegateRedisSlow'), 'disabled alert left out');
  for (const x of rules) {
    const orig = all.find((a) => a.alert === x.alert)!;
    t.equal(x.labels.team, 'platform');
    t.equal(x.labels.severity, orig.labels.severity, `${x.alert}: its own severity wins`);
    t.equal(x.annotations.runbook_url, `https://docs.example.com/ops.md#${orig.annotations.runbook!.split('#')[1]!}`);
    t.match(x.annotations.summary, orig.annotations.summary!, 'Prometheus templates reach Prometheus untouched');
  }
  t.same(rulesDoc.groups.flatMap((g) => g.rules).find((a) => a.alert === 'SidegateSidecarDown')?.labels, { severity: 'critical', component: 'sidecar' }, 'the values did not leak into the file');
});

t.test('PodMonitors label targets the way the alerts expect', async (t) => {
  const r = render([join(EXAMPLES_DIR, 'trial.yaml')]);
  const side = r.one('PodMonitor', `${RELEASE}-sidegate-sidecars`);
  t.same(side.spec.namespaceSelector, { any: true });
  const ep = side.spec.podMetricsEndpoints[0];
  t.equal(ep.port, 'sidegate-admin', 'the port name the injector gives the admin port');
  t.ok(ep.relabelings.some((x: any) => x.targetLabel === 'job' && x.replacement === 'sidegate-proxy'));
  const svc = ep.relabelings.find((x: any) => x.targetLabel === 'service');
  // Prometheus applies the regex anchored to the joined source labels.
  const re = new RegExp(`^(?:${svc.regex as string})$`);
  const apply = (name: string, app: string): string | undefined => {
    const m = re.exec(`${name}${svc.separator as string}${app}`);
    return m ? (svc.replacement as string).replace('${1}', m[1] ?? '').replace('${2}', m[2] ?? '') : undefined;
  };
  t.equal(apply('orders', ''), 'orders');
  t.equal(apply('orders', 'legacy'), 'orders');
  t.equal(apply('', 'legacy'), 'legacy');
  t.equal(apply('', ''), undefined);
  const inj = r.one('PodMonitor', INJECTOR);
  const iep = inj.spec.podMetricsEndpoints[0];
  t.equal(iep.scheme, 'https');
  t.equal(iep.tlsConfig.serverName, HOST);
  t.equal(iep.tlsConfig.ca.secret.name, r.one('Secret').metadata.name);
  t.ok(iep.relabelings.some((x: any) => x.targetLabel === 'job' && x.replacement === 'sidegate-injector'));
  t.same(inj.spec.selector.matchLabels, r.one('Deployment', INJECTOR).spec.selector.matchLabels);
});

t.test('bundled Redis: restricted, no persistence, reachable under the URL sidecars get', async (t) => {
  const r = render([join(EXAMPLES_DIR, 'trial.yaml')]);
  const dep = r.one('Deployment', `${RELEASE}-sidegate-redis`);
  const svc = r.one('Service', `${RELEASE}-sidegate-redis`);
  t.same(svc.spec.selector, dep.spec.selector.matchLabels);
  const c = dep.spec.template.spec.containers[0];
  t.ok((c.args as string[]).join(' ').includes('--save  --appendonly no'), 'no persistence');
  t.equal(c.securityContext.readOnlyRootFilesystem, true);
  t.equal(dep.spec.template.metadata.labels['sidegate.dev/inject'], 'false');
  t.equal(svc.spec.ports[0].port, 6379);
  t.equal(render().all('Deployment').length, 1, 'off by default');
});

t.test('every rendered object belongs to the release', async (t) => {
  const r = render([join(EXAMPLES_DIR, 'trial.yaml')]);
  for (const d of r.docs) {
    t.equal(d.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, `${d.kind} ${d.metadata.name}`);
    t.equal(d.metadata.labels?.['app.kubernetes.io/part-of'], 'sidegate');
  }
});
