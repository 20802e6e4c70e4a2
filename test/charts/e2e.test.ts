/**
 * What can be checked here of the kind end to end (scripts/e2e-kind.sh), which needs Docker and
 * kind: its manifests are valid Kubernetes objects, the demo workload is injected (not refused)
 * by the real injector with the config the chart renders for the e2e, the token it mints verifies
 * against the JWKS it serves, and its Prometheus config is valid and labels targets as the alerts expect.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace } from 'kubernetes-models/v1';
import t from 'tap';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { CLI } from '../helpers/spawn.js';
import { render, validateBuiltIn, type K8sObject } from './render.js';
import { requirePrometheusTools, run } from './tools.js';

requirePrometheusTools();

const E2E = join(process.cwd(), 'test', 'charts', 'e2e');
const SCRIPT = join(process.cwd(), 'scripts', 'e2e-kind.sh');
const docsOf = (file: string): K8sObject[] => parseAllDocuments(readFileSync(join(E2E, file), 'utf8'), { uniqueKeys: true }).map((d) => d.toJS() as K8sObject);

t.test('e2e manifests are valid Kubernetes objects', async (t) => {
  for (const f of ['observability.yaml', 'idp.yaml', 'demo.yaml']) {
    for (const d of docsOf(f)) {
      t.doesNotThrow(() => {
        if (d.kind === 'Namespace') new Namespace(d).validate();
        else if (d.kind === 'ClusterRole') new ClusterRole(d).validate();
        else if (d.kind === 'ClusterRoleBinding') new ClusterRoleBinding(d as never).validate();
        else if (!validateBuiltIn(d)) throw new Error(`no schema for ${d.kind}`);
      }, `${f}: ${d.kind} ${d.metadata.name}`);
    }
  }
});

t.test('the script and the workflow refer to files that exist', async (t) => {
  const script = readFileSync(SCRIPT, 'utf8');
  for (const f of ['Dockerfile', 'observability.yaml', 'idp.yaml', 'demo.yaml']) {
    t.match(script, `$E2E/${f}`, `script uses ${f}`);
    t.ok(existsSync(join(E2E, f)), `${f} exists`);
  }
  t.ok(existsSync(join(process.cwd(), 'dist', 'test', 'charts', 'e2e', 'mint.js')), 'mint.js is built by tsc');
  t.equal(spawnSync('bash', ['-n', SCRIPT]).status, 0, 'bash -n');
  const wf = parse(readFileSync(join(process.cwd(), '.github', 'workflows', 'e2e-kind.yaml'), 'utf8')) as { jobs: Record<string, { steps: { run?: string }[] }> };
  t.ok(wf.jobs['e2e-kind']?.steps.some((s) => s.run === 'bash scripts/e2e-kind.sh'), 'the workflow runs the script');
  t.ok(wf.jobs['chart-tests']?.steps.some((s) => s.run?.includes('apt-get install -y prometheus')), 'and installs promtool for the chart tests');
});

t.test('the demo workload is injected by the real injector with the chart\'s e2e config', async (t) => {
  const r = render([], { 'image.repository': 'sidegate', 'image.tag': 'e2e', 'image.pullPolicy': 'Never', 'redis.bundled.enabled': 'true' });
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-e2e-'));
  writeFileSync(join(dir, 'config.yaml'), r.one('ConfigMap', 'sg-sidegate-injector').data['config.yaml'] as string);
  const demo = readFileSync(join(E2E, 'demo.yaml'), 'utf8');
  const res = spawnSync(process.execPath, [CLI, 'inject', '-f', '-', '--config', join(dir, 'config.yaml'), '--namespace', 'demo'], { input: demo, encoding: 'utf8' });
  t.equal(res.status, 0, res.stderr);
  const out = parseAllDocuments(res.stdout).map((d) => d.toJS() as K8sObject);
  const dep = out.find((d) => d.kind === 'Deployment')!;
  const pod = dep.spec.template.spec;
  const proxy = (pod.initContainers as { name: string; image: string; restartPolicy?: string; env: { name: string; value?: string }[] }[]).find((c) => c.name === 'sidegate-proxy')!;
  t.ok(proxy, 'sidegate-proxy added');
  t.equal(proxy.image, 'sidegate:e2e');
  t.equal(proxy.restartPolicy, 'Always', 'as a native sidecar');
  const env = new Map(proxy.env.map((e) => [e.name, e.value]));
  t.equal(env.get('SIDEGATE_REDIS_URL'), 'redis://sg-sidegate-redis.sidegate-system.svc:6379');
  t.match(env.get('SIDEGATE_POLICY_OVERLAY') ?? '', /issuer\.sidegate-e2e\.local/, 'the JWT annotations became the policy overlay');
  t.match(env.get('SIDEGATE_POLICY_OVERLAY') ?? '', /"rateLimits"/, 'and the rate-limit annotation');
  t.ok((pod.initContainers as { name: string }[]).some((c) => c.name === 'sidegate-init'), 'redirect init container');
  t.equal(pod.containers[0].readinessProbe.httpGet.port, 15090, 'the app probe goes to the admin port');
  t.ok(validateBuiltIn(dep), 'the injected Deployment validates');
});

t.test('the minted token verifies against the JWKS the IdP serves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-mint-'));
  // As the script runs it: outside tap (the script does nothing when TAP=1).
  const { TAP: _tap, ...env } = process.env;
  const r = run(process.execPath, [join(process.cwd(), 'dist', 'test', 'charts', 'e2e', 'mint.js'), dir, 'https://issuer.sidegate-e2e.local', 'demo'], { env });
  t.equal(r.status, 0, r.stderr);
  const jwks = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as Parameters<typeof createLocalJWKSet>[0];
  const { payload } = await jwtVerify(readFileSync(join(dir, 'token'), 'utf8'), createLocalJWKSet(jwks), { issuer: 'https://issuer.sidegate-e2e.local', audience: 'demo' });
  t.equal(payload.sub, 'e2e-user');
  const demo = docsOf('demo.yaml').find((d) => d.kind === 'Deployment')!;
  const ann = demo.spec.template.metadata.annotations as Record<string, string>;
  t.equal(ann['sidegate.dev/jwt-issuer'], 'https://issuer.sidegate-e2e.local', 'the demo trusts the issuer the script mints for');
  t.equal(ann['sidegate.dev/jwt-audiences'], 'demo');
});

t.test('the e2e Prometheus config is valid and labels targets like the chart\'s PodMonitor', async (t) => {
  const cm = docsOf('observability.yaml').find((d) => d.kind === 'ConfigMap')!;
  const text = cm.data['prometheus.yml'] as string;
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-prom-'));
  // Debian's prometheus is built without Kubernetes discovery: check everything else (relabel
  // regexes and actions, TLS, globals) with the discovery swapped for a static target.
  const checkable = parse(text) as { scrape_configs: Record<string, unknown>[] };
  for (const sc of checkable.scrape_configs) {
    t.ok(Array.isArray(sc.kubernetes_sd_configs), `${String(sc.job_name)} discovers pods`);
    delete sc.kubernetes_sd_configs;
    sc.static_configs = [{ targets: ['127.0.0.1:1'] }];
  }
  writeFileSync(join(dir, 'prometheus.yml'), stringify(checkable));
  const r = run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  const cfg = parse(text) as { scrape_configs: { job_name: string; relabel_configs: { target_label?: string; regex?: string }[] }[] };
  t.same(cfg.scrape_configs.map((s) => s.job_name), ['sidegate-proxy', 'sidegate-injector'], 'the job names the alerts select');
  const pm = render([], { 'metrics.podMonitor.sidecars.enabled': 'true' }).one('PodMonitor');
  const chartRegex = (pm.spec.podMetricsEndpoints[0].relabelings as { targetLabel: string; regex?: string }[]).find((x) => x.targetLabel === 'service')!.regex;
  t.equal(cfg.scrape_configs[0]!.relabel_configs.find((x) => x.target_label === 'service')?.regex, chartRegex, 'same service label as the PodMonitor');
  const ops = readFileSync(join(process.cwd(), 'docs', 'operations.md'), 'utf8');
  t.ok(ops.includes(`regex: "${chartRegex}"`), 'and as docs/operations.md "Scraping"');
});
