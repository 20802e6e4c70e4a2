/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- Kubernetes objects are untyped JSON in tests */
/**
 * `sidegate revoke` and `sidegate ban`, the shipped bundle as operators run it, against a real
 * kube-apiserver (and a real Redis for `--redis`): the ConfigMap is created, updated, pruned and
 * never overwritten when unreadable; what is in force is printed; and the ConfigMap's data, given
 * to a real sidecar as the kubelet would mount it, refuses what the command revoked.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { CUTOFFS_KEY, cutoffField, parseRevocations } from '../../sidecar/src/revocation/index.js';
import { startHttpApp } from '../helpers/apps.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { startProxy } from '../helpers/proxy.js';
import { RedisProcess } from '../helpers/redis.js';
import { CLI } from '../helpers/spawn.js';
import { render } from '../charts/render.js';
import { startControlPlane } from './control-plane.js';
import { makeLeaf } from './pki.js';

t.setTimeout(180_000);

const NS = 'shop';
const CM = `/api/v1/namespaces/${NS}/configmaps/sidegate-revocations`;
const ISS = 'https://id.example.com';

const plane = await startControlPlane();
t.teardown(() => plane.stop());
const { api } = plane;
await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
const redisServer = await RedisProcess.start();
t.teardown(() => redisServer.stop());
const redis = new Redis(redisServer.url);
t.teardown(() => redis.disconnect());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

function sidegate(args: readonly string[], opts: { json?: boolean; kubeconfig?: string } = {}): Promise<Run> {
  const argv = [CLI, ...args, '--kubeconfig', opts.kubeconfig ?? plane.kubeconfig, ...(opts.json === true ? ['-o', 'json'] : [])];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { env: { PATH: process.env.PATH, HOME: plane.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.once('error', reject);
    p.once('close', (code) => {
      let json: any;
      if (opts.json === true && code !== 2) {
        try {
          json = JSON.parse(stdout);
        } catch {
          reject(new Error(`sidegate ${args.join(' ')}: not JSON (exit ${code}): ${stdout}${stderr}`));
          return;
        }
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

const stored = async (): Promise<any[]> => {
  const r = await api.get(CM);
  const parsed = parseRevocations(r.body.data['revocations.yaml']);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return [...parsed.entries];
};

t.test('revoke-all of an issuer: written to Redis and to a new ConfigMap, printed as in force', async (t) => {
  const before = Date.now();
  const r = await sidegate(['revoke', '--issuer', ISS, '-n', NS, '--redis', redisServer.url, '--reason', 'breach drill', '--for', '48h'], {
    json: true,
  });
  t.equal(r.code, 0, r.stderr);
  const cm = await api.get(CM);
  t.equal(cm.status, 200, 'created');
  t.equal(cm.body.metadata.labels['app.kubernetes.io/part-of'], 'sidegate');
  const [e] = await stored();
  t.equal(e.kind, 'issuer');
  t.equal(e.issuer, ISS);
  t.ok(e.issuedBefore >= before - 1000 && e.issuedBefore <= Date.now(), 'cut-off: now (second precision in the ConfigMap)');
  t.equal(e.reason, 'breach drill');
  const field = await redis.hget(CUTOFFS_KEY, cutoffField(ISS));
  t.match(field, /^\d+ \d+$/, 'and in Redis');
  t.equal(r.json.inForce.length, 1);
  t.same(r.json.changed.action, 'add');
  t.equal(r.json.configMap, `${NS}/sidegate-revocations`);
});

t.test('ban (ConfigMap only), subject cut-off, list: the entries accumulate and are printed', async (t) => {
  const ban = await sidegate(['ban', '203.0.113.7', '-n', NS, '--for', '2h']);
  t.equal(ban.code, 0, ban.stderr);
  t.match(ban.stdout, /^written to configmap shop\/sidegate-revocations: address 203\.0\.113\.7 banned until /m);
  t.match(ban.stdout, /^in force \(2\):$/m);
  const sub = await sidegate([
    'revoke',
    '--issuer',
    ISS,
    '--subject',
    'alice',
    '--issued-before',
    '2026-01-01T00:00:00Z',
    '-n',
    NS,
    '--expires',
    '2099-01-01T00:00:00Z',
  ]);
  t.equal(sub.code, 0, sub.stderr);
  t.match(
    sub.stdout,
    /^ {2}tokens of subject alice \(issuer https:\/\/id\.example\.com\) issued before 2026-01-01T00:00:00Z revoked until 2099-01-01T00:00:00Z$/m,
  );
  const list = await sidegate(['revoke', '--list', '-n', NS]);
  t.equal(list.code, 0);
  // Stored tokens first, then bans (the document's two sections).
  t.match(
    list.stdout,
    /^in force \(3\):\n {2}tokens of issuer https:\/\/id\.example\.com issued before .* \(breach drill\)\n {2}tokens of subject alice .*\n {2}address 203\.0\.113\.7 banned until /m,
  );
  t.same(
    (await stored()).map((e) => e.kind),
    ['issuer', 'subject', 'ip'],
  );
});

t.test('expired entries are pruned on the next write; bad ones are dropped with a warning; --remove lifts', async (t) => {
  const cm = (await api.get(CM)).body;
  cm.data['revocations.yaml'] = cm.data['revocations.yaml'].replace(
    'tokens:\n',
    'tokens:\n  - { jti: old, expires: "2020-01-01T00:00:00Z" }\n  - { jti: broken }\n',
  );
  t.equal((await api.call('PUT', CM, cm)).status, 200);
  const r = await sidegate(['ban', '--remove', '203.0.113.7', '-n', NS, '--redis', redisServer.url]);
  t.equal(r.code, 0, r.stderr);
  t.match(
    r.stderr,
    /warning: configmap shop\/sidegate-revocations: \/tokens\/\d+\/expires: is required: when the entry stops applying \(RFC 3339\) \(dropped: it was not in force\)/,
  );
  t.match(r.stdout, /^removed from Redis and configmap shop\/sidegate-revocations: address 203\.0\.113\.7 banned until /m);
  t.match(r.stdout, /^pruned 1 expired entry$/m);
  t.same(
    (await stored()).map((e) => e.kind),
    ['issuer', 'subject'],
  );
});

t.test('a ConfigMap that holds no readable list is never overwritten', async (t) => {
  await api.create(`/api/v1/namespaces/default/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'sidegate-revocations' },
    data: { 'revocations.yaml': 'apiVersion: sidegate.dev/v1\nkind: Policy\n' },
  });
  const r = await sidegate(['revoke', '--jti', 'abc', '-n', 'default']);
  t.equal(r.code, 1);
  t.match(r.stderr, /holds no readable revocation list \(\/kind: must be Revocations\): fix it with kubectl edit/);
  t.equal(
    (await api.get('/api/v1/namespaces/default/configmaps/sidegate-revocations')).body.data['revocations.yaml'],
    'apiVersion: sidegate.dev/v1\nkind: Policy\n',
    'untouched',
  );
});

t.test('usage mistakes exit 2 and name the mistake', async (t) => {
  for (const [args, msg] of [
    [['revoke', '--subject', 'alice'], /--subject needs --issuer/],
    [['revoke', '--jti', 'x', '--issuer', ISS], /--jti names one token/],
    [['ban', '10.0.0.0/8'], /is a range: ban single addresses/],
    [['ban', '10.0.0.1', '--for', 'soon'], /--for "soon" is not a duration/],
    [['revoke', '--issuer', ISS, '--issued-before', 'yesterday'], /--issued-before must be an RFC 3339 time/],
  ] as const) {
    const r = await sidegate(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, msg);
  }
});

t.test('the ConfigMap as the kubelet mounts it: a real sidecar refuses what was revoked, without Redis', async (t) => {
  const key = testKey('ES256', 'k1');
  const idp = await JwksServer.start([key.jwk]);
  t.teardown(() => idp.stop());
  const r = await sidegate(['revoke', '--issuer', idp.issuer, '-n', NS]);
  t.equal(r.code, 0, r.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-mounted-'));
  writeFileSync(join(dir, 'revocations.yaml'), (await api.get(CM)).body.data['revocations.yaml']);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const proxy = await startProxy(app.url, ['--revocations', join(dir, 'revocations.yaml')], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: mounted }
spec:
  auth:
    providers: [ { name: corp, issuer: "${idp.issuer}", audiences: [orders], jwks: { uri: "${idp.jwksUri}" } } ]
`,
  });
  t.teardown(() => proxy.close());
  // iat has whole seconds: a token "issued after" the cut-off needs the next second to have begun.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const now = Math.floor(Date.now() / 1000);
  const old = await mint(key, { iss: idp.issuer, aud: 'orders', sub: 'u', iat: now - 60, exp: now + 600 });
  const fresh = await mint(key, { iss: idp.issuer, aud: 'orders', sub: 'u', iat: now, exp: now + 600 });
  const a = await fetch(`${proxy.url}/x`, { headers: { authorization: `Bearer ${old}` } });
  t.equal(a.status, 401);
  t.match(await a.json(), { error: 'SIDEGATE_ERR_UNAUTHENTICATED', reason: 'revoked' });
  t.equal((await fetch(`${proxy.url}/x`, { headers: { authorization: `Bearer ${fresh}` } })).status, 200, 'a token issued after passes');
});

t.test("an operator bound to the chart's revoker ClusterRole may revoke in that namespace only", async (t) => {
  const role = render().one('ClusterRole');
  await api.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', role);
  await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } });
  await api.create('/apis/rbac.authorization.k8s.io/v1/namespaces/fresh/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'oncall-revoke' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'oncall' }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-oncall-'));
  const cert = makeLeaf(dir, 'oncall', plane.pki.ca, '/CN=oncall', 'clientAuth');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: plane.server, 'certificate-authority': plane.pki.ca.certFile } }],
      users: [{ name: 'oncall', user: { 'client-certificate': cert.certFile, 'client-key': cert.keyFile } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'oncall', namespace: 'fresh' } }],
    }),
  );
  const created = await sidegate(['ban', '198.51.100.9'], { kubeconfig });
  t.equal(created.code, 0, `creates in the context's namespace: ${created.stderr}`);
  const updated = await sidegate(['revoke', '--jti', 'j-9'], { kubeconfig });
  t.equal(updated.code, 0, `and updates: ${updated.stderr}`);
  t.match(updated.stdout, /^in force \(2\):$/m);
  const elsewhere = await sidegate(['ban', '198.51.100.9', '-n', NS], { kubeconfig });
  t.equal(elsewhere.code, 1);
  t.match(elsewhere.stderr, /cannot read configmap shop\/sidegate-revocations: 403 .*"oncall" cannot get resource "configmaps"/);
});
