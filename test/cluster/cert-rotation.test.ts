/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects are untyped JSON in tests */
/**
 * Certificate rotation with no failed admission, through the real apiserver. The injector's
 * certificate files are laid out as the kubelet lays out a Secret volume (files that are symlinks
 * through `..data`, swapped in one rename), and pods keep being created in a labelled namespace
 * while, in order: the serving certificate is renewed under the same CA (what cert-manager does
 * before expiry); the webhooks' caBundle gains a new CA (cainjector's or the chart's job); the
 * serving certificate moves to the new CA; the old CA leaves the caBundle. Every pod created
 * meanwhile must be admitted and injected.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import t from 'tap';
import { PROXY_CONTAINER } from '../../injector/src/constants.js';
import { loadInjectorConfig } from '../../injector/src/config-file.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { startWebhook } from '../../injector/src/webhook.js';
import { freePort } from '../helpers/ports.js';
import { startControlPlane } from './control-plane.js';
import { Helm } from './helm.js';
import { makeCa, makeLeaf, type CertPair } from './pki.js';

const ADMISSION = '/apis/admissionregistration.k8s.io/v1';

/** Resolves once no client socket toward `port` is left in CLOSE-WAIT (its owner has read the close). */
async function halfClosedGone(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const out = execFileSync('ss', ['-Htan', 'state', 'close-wait', `( dport = :${port} )`], { encoding: 'utf8' });
    if (out.trim() === '') return;
    await new Promise((r) => setTimeout(r, 5));
  }
}
const SAN = 'DNS:localhost,IP:127.0.0.1';

/** A Secret volume: DIR/tls.crt → ..data/tls.crt, ..data → a timestamped folder; `swap` replaces ..data atomically. */
class SecretVolume {
  private n = 0;
  constructor(
    readonly dir: string,
    first: CertPair,
  ) {
    this.write(first);
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
  }

  get certFile(): string {
    return join(this.dir, 'tls.crt');
  }
  get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  swap(pair: CertPair): void {
    this.write(pair);
  }

  private write(pair: CertPair): void {
    const ts = `..${++this.n}`;
    mkdirSync(join(this.dir, ts));
    copyFileSync(pair.certFile, join(this.dir, ts, 'tls.crt'));
    copyFileSync(pair.keyFile, join(this.dir, ts, 'tls.key'));
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
  }
}

/** The issuer CN of the certificate the injector serves now. */
function servedIssuer(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const issuer = s.getPeerCertificate().issuer.CN;
      s.destroy();
      resolve(Array.isArray(issuer) ? issuer.join(',') : (issuer ?? ''));
    });
    s.once('error', reject);
  });
}

t.test('rotating the serving certificate and then the CA fails no admission', async (t) => {
  const plane = await startControlPlane();
  t.teardown(() => plane.stop());
  const { api } = plane;

  const pki = mkdtempSync(join(tmpdir(), 'sidegate-rotate-'));
  t.teardown(() => rmSync(pki, { recursive: true, force: true }));
  const caA = makeCa(pki, 'ca-a', 'rotation-ca-a');
  const caB = makeCa(pki, 'ca-b', 'rotation-ca-b');
  const servingA1 = makeLeaf(pki, 'serving-a1', caA, '/CN=localhost', 'serverAuth', SAN);
  const servingA2 = makeLeaf(pki, 'serving-a2', caA, '/CN=localhost', 'serverAuth', SAN);
  const servingB = makeLeaf(pki, 'serving-b', caB, '/CN=localhost', 'serverAuth', SAN);
  const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'sidegate-secret-')), servingA1);

  const port = await freePort();
  const helm = new Helm(plane);
  await helm.install('sg', 'sidegate-system', `https://127.0.0.1:${port}`, caA.certFile);
  const cm = (await api.get('/api/v1/namespaces/sidegate-system/configmaps')).body.items.find(
    (c: any) => c.data?.['config.yaml'] !== undefined,
  );
  const configFile = join(pki, 'config.yaml');
  writeFileSync(configFile, cm.data['config.yaml']);
  const metrics = new InjectorMetrics({ processMetrics: false });
  const hook = await startWebhook({
    config: await loadInjectorConfig(configFile),
    certFile: volume.certFile,
    keyFile: volume.keyFile,
    host: '127.0.0.1',
    port,
    metrics,
    certPollMs: 50,
  });
  t.teardown(() => hook.close());
  await api.create('/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'shop', labels: { 'sidegate.dev/injection': 'enabled' } },
  });

  const admit = async (): Promise<string | undefined> => {
    const r = await api.call('POST', '/api/v1/namespaces/shop/pods?dryRun=All', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: 'rot-', labels: { app: 'rot' } },
      spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
    });
    if (r.status !== 201) return `${r.status} ${r.body?.message ?? ''}`;
    return [...(r.body.spec.initContainers ?? []), ...r.body.spec.containers].some((c: any) => c.name === PROXY_CONTAINER)
      ? undefined
      : 'not injected';
  };
  await api.waitFor('the apiserver calls the webhook', async () => ((await admit()) === undefined ? true : undefined));

  const setCaBundle = async (pem: Buffer): Promise<void> => {
    for (const plural of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
      const list = (await api.get(`${ADMISSION}/${plural}`)).body.items;
      for (const config of list) {
        const patch = config.webhooks.map((_: unknown, i: number) => ({
          op: 'replace',
          path: `/webhooks/${i}/clientConfig/caBundle`,
          value: pem.toString('base64'),
        }));
        const r = await api.call('PATCH', `${ADMISSION}/${plural}/${config.metadata.name}`, patch, 'application/json-patch+json');
        if (r.status !== 200) throw new Error(`caBundle patch: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }
  };

  // Pods keep coming (about 20 a second, one at a time) for the whole rotation.
  const failures: string[] = [];
  let admitted = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      const started = Date.now();
      const f = await admit();
      if (f === undefined) admitted++;
      else failures.push(f);
      // The apiserver keeps webhook connections alive and would verify the injector's certificate
      // only when it dials again: close the idle connection so every pod is a fresh handshake,
      // as it is for a restarted apiserver, another replica, or after an idle timeout.
      // Then wait until the apiserver has seen the close (no socket of its left half-closed toward
      // the injector): reusing one it has not yet seen closed fails the call ("broken pipe").
      hook.server.closeIdleConnections();
      await halfClosedGone(port);
      await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - started))));
    }
  })();
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const reloads = async (): Promise<number> =>
    (await metrics.certReloads.get()).values.filter((v) => v.labels.result === 'ok').reduce((n, v) => n + v.value, 0);

  await pause(1000);
  volume.swap(servingA2);
  await api.waitFor('the injector reloads the renewed certificate', async () => ((await reloads()) >= 1 ? true : undefined), 5000);
  await pause(1000);
  await setCaBundle(Buffer.concat([caA.cert, caB.cert]));
  // The apiserver picks up webhook configuration changes from a watch: give it time before the
  // serving certificate depends on the new CA.
  await pause(3000);
  volume.swap(servingB);
  await api.waitFor(
    "the injector serves the new CA's certificate",
    async () => ((await servedIssuer(port, caB.cert)) === 'rotation-ca-b' ? true : undefined),
    5000,
  );
  await pause(1000);
  await setCaBundle(caB.cert);
  await pause(3000);
  running = false;
  await load;

  t.same(failures, [], 'no admission failed during the rotation');
  t.ok(admitted >= 100, `${admitted} pods admitted and injected meanwhile`);
  t.ok((await reloads()) >= 2, 'reloaded at each swap (the cert and the key file are watched apart, so a swap may count twice)');
  t.same(
    (await metrics.certReloads.get()).values.filter((v) => v.labels.result === 'error'),
    [],
    'no reload error (the ..data swap is atomic)',
  );
  t.equal(await admit(), undefined, 'after the old CA left the caBundle, admission still works');
  t.equal(await servedIssuer(port, caB.cert), 'rotation-ca-b');
});
