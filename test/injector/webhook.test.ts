/* eslint-disable @typescript-eslint/no-explicit-any -- AdmissionReview JSON is untyped in tests */
/** The webhook server over real HTTPS: malformed input, ConfigMap validation, metrics, TLS. */
import { copyFileSync } from 'node:fs';
import { connect } from 'node:tls';
import t from 'tap';
import { DEFAULT_CONFIG } from '../../injector/src/config.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { startWebhook } from '../../injector/src/webhook.js';
import { admissionReview, postRaw, postReview } from './helpers/review.js';
import { makeCert } from './helpers/tls.js';

const pod = (annotations: Record<string, string> = {}): any => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'shop', labels: { app: 'p' }, annotations },
  spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }] },
});

const policyCm = (text: string | undefined, labelled = true): any => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'orders-policy', namespace: 'shop', labels: labelled ? { 'sidegate.dev/policy': 'true' } : {} },
  data: text === undefined ? {} : { 'policy.yaml': text },
});

const VALID_POLICY = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  rateLimits:
    - name: per-ip
      key: [ { clientIp: true } ]
      limit: { requests: 10, per: 1s }
`;

const INVALID_POLICY = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: orders }
spec:
  upstream: { timeout: soon }
  rateLimits:
    - name: per-ip
      key: [ { clientIp: true } ]
      limit: { requests: -1, per: 1s }
`;

void t.test('webhook', async (t) => {
  const tls = makeCert();
  const metrics = new InjectorMetrics({ processMetrics: false });
  const hook = await startWebhook({
    config: DEFAULT_CONFIG,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    host: '127.0.0.1',
    port: 0,
    metrics,
    maxBodyBytes: 64 * 1024,
    certPollMs: 50,
  });
  t.teardown(() => hook.close());
  const review = (obj: any, opts: Parameters<typeof admissionReview>[1] = {}): Promise<any> =>
    postReview(
      hook.port,
      opts.kind === 'ConfigMap' ? '/validate' : '/inject',
      admissionReview(obj, { namespace: 'shop', ...opts }),
      tls.cert,
    );

  await t.test('a pod is injected, uid echoed, base64 JSON Patch', async (t) => {
    const r = await review(pod(), { uid: 'abc-123' });
    t.equal(r.apiVersion, 'admission.k8s.io/v1');
    t.equal(r.kind, 'AdmissionReview');
    t.equal(r.response.uid, 'abc-123');
    t.equal(r.response.allowed, true);
    t.equal(r.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(r.response.patch, 'base64').toString());
    t.ok(
      ops.some((o: any) => o.path === '/metadata/annotations/sidegate.dev~1status'),
      'status annotation key escaped per RFC 6901',
    );
  });

  await t.test('bad annotations are refused with every problem; soft ones warn', async (t) => {
    const r = await review(
      pod({ 'sidegate.dev/app-port': 'x y', 'sidegate.dev/proxy-cpu': '-1', 'sidegate.dev/native-sidecar': 'perhaps' }),
    );
    t.equal(r.response.allowed, false);
    t.equal(r.response.status.code, 400);
    t.match(r.response.status.message, /app-port.*proxy-cpu/);
    t.match(r.response.warnings, [/native-sidecar/]);
    const w = await review(pod({ 'sidegate.dev/unknown-thing': '1' }));
    t.equal(w.response.allowed, true);
    t.match(w.response.warnings, [/unknown-thing/]);
    for (const line of w.response.warnings) t.ok(line.length <= 120, 'warnings are short');
  });

  await t.test('non-Pod kinds and non-CREATE operations pass unchanged', async (t) => {
    const svc = await review({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }, { kind: 'Service' });
    t.same(svc.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
    const upd = await review(pod(), { operation: 'UPDATE' });
    t.equal(upd.response.allowed, true);
    t.equal(upd.response.patch, undefined);
  });

  await t.test('skips are allowed without a patch', async (t) => {
    const p = pod();
    p.metadata.labels['sidegate.dev/inject'] = 'false';
    const r = await review(p);
    t.equal(r.response.allowed, true);
    t.equal(r.response.patch, undefined);
    const sys = await review(pod(), { namespace: 'kube-system' });
    t.equal(sys.response.patch, undefined);
  });

  await t.test('malformed input never crashes the server', async (t) => {
    const ca = tls.cert;
    t.equal((await postRaw(hook.port, '/inject', '', ca)).status, 400, 'empty body');
    t.equal((await postRaw(hook.port, '/inject', '{}', ca, { 'content-type': 'text/plain' })).status, 415, 'wrong content type');
    t.equal((await postRaw(hook.port, '/inject', '{"apiVersion":', ca)).status, 400, 'bad JSON');
    t.equal((await postRaw(hook.port, '/inject', '[1,2]', ca)).status, 400, 'not an object');
    t.equal(
      (
        await postRaw(
          hook.port,
          '/inject',
          JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }),
          ca,
        )
      ).status,
      400,
      'v1beta1 refused',
    );
    t.equal(
      (await postRaw(hook.port, '/inject', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), ca)).status,
      400,
      'no request',
    );
    t.equal((await postRaw(hook.port, '/inject', Buffer.alloc(100 * 1024, 0x20), ca)).status, 413, 'body size capped');
    t.equal((await postRaw(hook.port, '/inject', '', ca, {}, 'GET')).status, 405, 'GET');
    t.equal((await postRaw(hook.port, '/nope', '{}', ca)).status, 404);
    const broken = await review({ kind: 'Pod', spec: { containers: 'no' } });
    t.equal(broken.response.allowed, false, 'a pod without a container list is refused, not crashed on');
    const r = await review(pod());
    t.equal(r.response.allowed, true, 'still serving');
  });

  await t.test('/validate refuses invalid policy ConfigMaps with every error', async (t) => {
    const ok = await review(policyCm(VALID_POLICY), { kind: 'ConfigMap' });
    t.equal(ok.response.allowed, true);
    const bad = await review(policyCm(INVALID_POLICY), { kind: 'ConfigMap' });
    t.equal(bad.response.allowed, false);
    t.match(bad.response.status.message, /\/spec\/upstream\/timeout/);
    t.match(bad.response.status.message, /\/spec\/rateLimits\/0\/limit\/requests/);
    const notYaml = await review(policyCm('a: [b'), { kind: 'ConfigMap' });
    t.equal(notYaml.response.allowed, false);
    const noKey = await review(policyCm(undefined), { kind: 'ConfigMap' });
    t.match(noKey.response.status.message, /no "policy.yaml" key/);
    const unlabelled = await review(policyCm(INVALID_POLICY, false), { kind: 'ConfigMap' });
    t.equal(unlabelled.response.allowed, true, 'ConfigMaps without the label are not ours');
    const del = await review(policyCm(INVALID_POLICY), { kind: 'ConfigMap', operation: 'DELETE' });
    t.equal(del.response.allowed, true, 'deleting is always allowed');
  });

  await t.test('/healthz and /metrics', async (t) => {
    const h = await postRaw(hook.port, '/healthz', '', tls.cert, {}, 'GET');
    t.equal(h.status, 200);
    const m = await postRaw(hook.port, '/metrics', '', tls.cert, {}, 'GET');
    t.match(m.body, /sidegate_injector_reviews_total\{endpoint="inject",result="injected"\} \d+/);
    t.match(m.body, /sidegate_injector_reviews_total\{endpoint="inject",result="refused"\} \d+/);
    t.match(m.body, /sidegate_injector_reviews_total\{endpoint="inject",result="bad_request"\} \d+/);
    t.match(m.body, /sidegate_injector_reviews_total\{endpoint="validate",result="invalid"\} \d+/);
    t.match(m.body, /sidegate_injector_skips_total\{reason="pod-opt-out"\} 1/);
    t.match(m.body, /sidegate_injector_skips_total\{reason="system-namespace"\} 1/);
    t.match(m.body, /sidegate_injector_review_duration_seconds_count\{endpoint="inject"\} \d+/);
  });

  await t.test('TLS 1.0/1.1 are refused', async (t) => {
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = connect({
        host: '127.0.0.1',
        port: hook.port,
        servername: 'localhost',
        ca: tls.cert,
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      });
      s.on('secureConnect', () => {
        s.end();
        resolve(undefined);
      });
      s.on('error', resolve);
    });
    t.ok(err, 'handshake fails below TLS 1.2');
  });

  await t.test('certificate files are reloaded when they change', async (t) => {
    const subject = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: hook.port, servername: 'localhost', rejectUnauthorized: false });
        s.on('secureConnect', () => {
          const cn = s.getPeerCertificate().subject.CN;
          s.end();
          resolve(String(cn));
        });
        s.on('error', reject);
      });
    t.equal(await subject(), 'localhost');
    const next = makeCert(undefined, 'rotated.sidegate.test');
    // The file mtime resolution can be coarse: wait a little so the change is visible to stat.
    await new Promise((r) => setTimeout(r, 20));
    copyFileSync(next.keyFile, tls.keyFile);
    copyFileSync(next.certFile, tls.certFile);
    let cn = '';
    for (let i = 0; i < 60 && cn !== 'rotated.sidegate.test'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      cn = await subject();
    }
    t.equal(cn, 'rotated.sidegate.test', 'new certificate served without a restart');
    t.match(
      (await postRaw(hook.port, '/metrics', '', next.cert, {}, 'GET')).body,
      /sidegate_injector_cert_reloads_total\{result="ok"\} [1-9]/,
    );
  });
});
