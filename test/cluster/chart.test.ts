/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- Kubernetes objects are untyped JSON in tests */
/**
 * The chart installed for real into a live apiserver, in both TLS modes: its own generated CA
 * (the default) and cert-manager's (tls.certManager.enabled). cert-manager itself does not run
 * here: its CRDs are stand-ins (fixtures/cert-manager-crds.yaml) that accept the chart's
 * Certificates and Issuers without cert-manager's field rules, so this shows that the chart
 * installs, upgrades between the modes and uninstalls cleanly, not that cert-manager would issue
 * what it asks for. Webhook clientConfigs are pointed at 127.0.0.1 by helm.ts's post-renderer;
 * no injector listens there (no pod in this file goes through the webhook).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../helpers/ports.js';
import { makeCert } from '../injector/helpers/tls.js';
import { startControlPlane } from './control-plane.js';
import { Helm } from './helm.js';

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';
const NS = 'sidegate-system';
const CM = '/apis/cert-manager.io/v1';

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const { api } = plane;

for (const doc of parseAllDocuments(readFileSync(join(process.cwd(), 'test', 'cluster', 'fixtures', 'cert-manager-crds.yaml'), 'utf8'))) {
  const crd = doc.toJS() as { metadata: { name: string } };
  await api.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await api.waitFor(`${crd.metadata.name} Established`, async () => {
    const r = await api.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
    return r.body.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
}

const helm = new Helm(plane);
const tls = makeCert();
const url = `https://127.0.0.1:${await freePort()}`;
const CERT_MANAGER_ON = ['--set', 'tls.certManager.enabled=true'];

const names = async (path: string): Promise<string[]> => {
  const r = await api.get(path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.items.map((i: any) => i.metadata.name).sort();
};
const released = (release: string): string => `labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${release}`)}`;
const webhookAnnotations = async (): Promise<(string | undefined)[]> =>
  ((await api.get(`${ADMISSION}/mutatingwebhookconfigurations`)).body.items as any[]).map(
    (m) => m.metadata.annotations?.['cert-manager.io/inject-ca-from'],
  );

/** After `helm uninstall`: no object carrying the release's label, no webhook configuration, no release record. */
const nothingLeft = async (t: Test, release: string): Promise<void> => {
  for (const path of [
    '/api/v1/configmaps',
    '/api/v1/secrets',
    '/api/v1/services',
    '/api/v1/serviceaccounts',
    '/apis/apps/v1/deployments',
    '/apis/policy/v1/poddisruptionbudgets',
    `${CM}/certificates`,
    `${CM}/issuers`,
  ]) {
    t.same(await names(`${path}?${released(release)}`), [], `no ${path.split('/').at(-1)} of ${release}`);
  }
  t.same(await names(`${ADMISSION}/mutatingwebhookconfigurations`), [], 'no mutating webhook configuration');
  t.same(await names(`${ADMISSION}/validatingwebhookconfigurations`), [], 'no validating webhook configuration');
  t.same(
    (await names(`/api/v1/namespaces/${NS}/secrets`)).filter((n) => n.startsWith(`sh.helm.release.v1.${release}.`)),
    [],
    'no helm release record',
  );
};

t.test('cert-manager on: install, upgrade, uninstall', async (t) => {
  t.match(await helm.install('cm', NS, url, tls.certFile, CERT_MANAGER_ON), /STATUS: deployed/);
  t.same(
    await names(`${CM}/namespaces/${NS}/certificates?${released('cm')}`),
    ['cm-sidegate-injector', 'cm-sidegate-injector-ca'],
    'the CA and serving Certificates',
  );
  t.same(
    await names(`${CM}/namespaces/${NS}/issuers?${released('cm')}`),
    ['cm-sidegate-injector-ca', 'cm-sidegate-injector-selfsigned'],
    'the self-signed and CA Issuers',
  );
  t.same(await names(`/api/v1/namespaces/${NS}/secrets?${released('cm')}`), [], 'no chart-made TLS Secret: cert-manager would issue it');
  t.same(await webhookAnnotations(), [`${NS}/cm-sidegate-injector`], 'cainjector is asked to fill the caBundle');

  t.match(await helm.upgrade('cm', NS, url, tls.certFile, ['--reuse-values', '--set', 'webhook.timeoutSeconds=5']), /STATUS: deployed/);
  const mwc = (await api.get(`${ADMISSION}/mutatingwebhookconfigurations`)).body.items[0];
  t.same(
    mwc.webhooks.map((w: any) => w.timeoutSeconds),
    [5, 5],
    'helm upgrade changed the live webhook configuration',
  );

  const r = await helm.run(['uninstall', 'cm', '--namespace', NS, '--wait']);
  t.equal(r.status, 0, r.stderr);
  await nothingLeft(t, 'cm');
});

t.test('default values, then cert-manager switched on and off again by helm upgrade', async (t) => {
  await helm.install('sg', NS, url, tls.certFile);
  const secret = `/api/v1/namespaces/${NS}/secrets?${released('sg')}`;
  const [tlsSecret] = await names(secret);
  t.ok(tlsSecret, 'default mode: the chart made the TLS Secret');
  const ca = (await api.get(`/api/v1/namespaces/${NS}/secrets/${tlsSecret}`)).body.data['ca.crt'];
  t.same(await webhookAnnotations(), [undefined], 'no cert-manager annotation');

  await helm.upgrade('sg', NS, url, tls.certFile, ['--reuse-values', ...CERT_MANAGER_ON]);
  t.same(await names(secret), [], "cert-manager on: the chart's Secret is gone (cert-manager owns it now)");
  t.equal((await names(`${CM}/namespaces/${NS}/certificates?${released('sg')}`)).length, 2, 'and the Certificates exist');

  await helm.upgrade('sg', NS, url, tls.certFile, ['--reuse-values', '--set', 'tls.certManager.enabled=false']);
  t.equal((await names(`${CM}/namespaces/${NS}/certificates?${released('sg')}`)).length, 0, 'off again: Certificates gone');
  const [again] = await names(secret);
  t.ok(again, 'and the chart made a Secret again');
  t.not(
    (await api.get(`/api/v1/namespaces/${NS}/secrets/${again}`)).body.data['ca.crt'],
    ca,
    'with a new CA (the old Secret was deleted, nothing to look up)',
  );

  const again2 = await helm.upgrade('sg', NS, url, tls.certFile, ['--reuse-values']);
  t.match(again2, /STATUS: deployed/);
  const [kept] = await names(secret);
  t.equal(
    (await api.get(`/api/v1/namespaces/${NS}/secrets/${kept}`)).body.data['ca.crt'],
    (await api.get(`/api/v1/namespaces/${NS}/secrets/${again}`)).body.data['ca.crt'],
    'a plain upgrade keeps the CA (lookup of the live Secret)',
  );

  const r = await helm.run(['uninstall', 'sg', '--namespace', NS, '--wait']);
  t.equal(r.status, 0, r.stderr);
  await nothingLeft(t, 'sg');
});
