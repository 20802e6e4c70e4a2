import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import {
  CUTOFFS_KEY,
  cutoffField,
  formatRevocations,
  putEntry,
  seededKey,
  type RevocationEntry,
} from '../../sidecar/src/revocation/index.js';
import { startHttpApp } from '../helpers/apps.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { until, writePolicy } from '../helpers/proxy.js';
import { RedisProcess } from '../helpers/redis.js';
import { spawnProxy, type ProxyProcess } from '../helpers/spawn.js';

/**
 * Real `sidegate proxy` processes of one service sharing one real Redis, as the pods of a
 * Deployment do, three of them with the durable list mounted (one file, as the kubelet projects
 * one ConfigMap into every pod) and one without (a pod the ConfigMap has not reached yet).
 *  1. revoke-all through Redis (what `sidegate revoke --redis` writes): every pod refuses the old
 *     tokens on its very next request, and takes re-issued ones;
 *  2. the same entries in the durable list, then Redis SIGKILLed and restarted empty: every pod
 *     with the list still refuses, from its local copy, and Redis is re-seeded from it, so the pod
 *     without the list refuses again too; a FLUSHALL is repaired the same way.
 * No wall-clock asserts: each step counts answers, and waits only for events (a file read, a key).
 */
t.setTimeout(120_000);

const sec = (ms: number): number => Math.floor(ms / 1000);
const DAY = 86_400_000;

t.test('revoke-all reaches every pod at once; revocations and bans survive Redis losing its data', async (t) => {
  const app = await startHttpApp();
  const redisServer = await RedisProcess.start();
  const key = testKey('ES256', 'k1');
  const idp = await JwksServer.start([key.jwk]);
  const iss = idp.issuer;
  const policy = writePolicy(`apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: breach }
spec:
  clientAddress: { trustedHops: 1 }
  auth:
    providers:
      - { name: corp, issuer: "${iss}", audiences: [orders], jwks: { uri: "${idp.jwksUri}" } }
    revocation: { enabled: true, onRedisError: allow }
    rules:
      - { match: { paths: [/public/*] }, require: none }
    default: { require: any }
`);
  const listDir = mkdtempSync(join(tmpdir(), 'sidegate-revocations-'));
  const listFile = join(listDir, 'revocations.yaml');
  // As the kubelet does: write beside, then swap in (the sidecar must never read half a file).
  const publish = (entries: readonly RevocationEntry[]): void => {
    writeFileSync(join(listDir, '.next'), formatRevocations(entries, Date.now()));
    renameSync(join(listDir, '.next'), listFile);
  };
  const flags = [
    '--policy',
    policy,
    '--redis',
    redisServer.url,
    '--redis-timeout',
    '1s',
    '--service',
    'orders',
    '--namespace',
    'shop',
    '--revocations-reseed-interval',
    '200ms',
  ];
  const pods: ProxyProcess[] = [];
  for (let i = 0; i < 3; i++) pods.push(await spawnProxy(app.url, [...flags, '--revocations', listFile, '--pod-name', `orders-${i}`]));
  const bare = await spawnProxy(app.url, [...flags, '--pod-name', 'orders-bare']);
  const all = [...pods, bare];
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  t.teardown(async () => {
    for (const p of all) p.proc.kill('SIGKILL');
    redis.disconnect();
    await Promise.all([app.close(), redisServer.stop(), idp.stop()]);
  });
  for (const p of all) {
    await until(
      async () => /^sidegate_ratelimit_fallback_active 0$/m.test(await (await fetch(`${p.adminUrl}/metrics`)).text()),
      `${p.url}'s first Redis connection`,
      10_000,
    );
  }

  const now = Date.now();
  const token = (sub: string, iatMs: number): Promise<string> =>
    mint(key, { iss, aud: 'orders', sub, iat: sec(iatMs), exp: sec(iatMs) + 3600, jti: randomUUID() });
  const oldAlice = await token('alice', now - 120_000);
  const oldBob = await token('bob', now - 60_000);
  const call = async (
    p: ProxyProcess,
    tok: string | undefined,
    client = '198.51.100.1',
    path = '/api/x',
  ): Promise<{ status: number; reason?: string }> => {
    const r = await fetch(`${p.url}${path}`, {
      headers: { 'x-forwarded-for': client, ...(tok === undefined ? {} : { authorization: `Bearer ${tok}` }) },
    });
    const body = await r.text();
    return { status: r.status, ...(r.status >= 400 ? { reason: (JSON.parse(body) as { reason?: string }).reason } : {}) };
  };
  const statuses = async (tok: string | undefined, client?: string, path?: string): Promise<string[]> =>
    Promise.all(
      all.map(async (p) => {
        const r = await call(p, tok, client, path);
        return r.reason === undefined ? String(r.status) : `${r.status} ${r.reason}`;
      }),
    );

  t.same(await statuses(oldAlice), ['200', '200', '200', '200'], 'before: every pod admits the old tokens');

  // 1. Revoke-all and a ban through the fast copy.
  const cutoff = Date.now();
  const entries: RevocationEntry[] = [
    { kind: 'issuer', issuer: iss, issuedBefore: cutoff, expires: cutoff + DAY, reason: 'breach drill' },
    { kind: 'ip', ip: '203.0.113.7', expires: cutoff + DAY },
  ];
  for (const e of entries) await putEntry(redis, e, Date.now(), false);
  t.same(await statuses(oldAlice), ['401 revoked', '401 revoked', '401 revoked', '401 revoked'], 'every pod refuses on its next request');
  t.same(await statuses(oldBob), ['401 revoked', '401 revoked', '401 revoked', '401 revoked'], 'every subject of the issuer');
  t.same(
    await statuses(undefined, '203.0.113.7', '/public/p'),
    ['403 banned', '403 banned', '403 banned', '403 banned'],
    'the ban, even on public routes',
  );
  const fresh = await token('alice', Date.now() + 1000);
  t.same(await statuses(fresh), ['200', '200', '200', '200'], 're-authenticated tokens pass');

  // 2. The same entries made durable: the mounted list every pod (but `bare`) reads.
  publish(entries);
  for (const p of pods) {
    await until(
      async () => /^sidegate_revocation_entries\{kind="issuer"\} 1$/m.test(await (await fetch(`${p.adminUrl}/metrics`)).text()),
      `${p.url} reads the list`,
      10_000,
    );
  }
  const view = (await (await fetch(`${pods[0]!.adminUrl}/debug/revocations`)).json()) as { inForce: string[]; file: string };
  t.equal(view.file, listFile);
  t.match(view.inForce[0], /^tokens of issuer http:\/\/127\.0\.0\.1:\d+ issued before .* revoked until .* \(breach drill\)$/);

  await redisServer.kill();
  t.same(
    await statuses(oldAlice),
    ['401 revoked', '401 revoked', '401 revoked', '200'],
    'Redis down: pods with the list still refuse; the one without admits unchecked',
  );
  t.same(
    (await statuses(undefined, '203.0.113.7', '/public/p')).slice(0, 3),
    ['403 banned', '403 banned', '403 banned'],
    'and the ban holds',
  );

  await redisServer.restart(); // empty: no persistence
  t.same(
    await statuses(oldAlice).then((s) => s.slice(0, 3)),
    ['401 revoked', '401 revoked', '401 revoked'],
    'Redis back empty: the local copies hold',
  );
  await until(
    async () =>
      (await redis.hget(CUTOFFS_KEY, cutoffField(iss)).catch(() => null)) !== null &&
      (await redis.exists('banned:ip:203.0.113.7').catch(() => 0)) === 1,
    'the sidecars re-seed Redis from the list',
    15_000,
  );
  t.equal(await redis.hget(CUTOFFS_KEY, cutoffField(iss)), `${cutoff} ${cutoff + DAY}`, 'the cut-off as it was');
  t.ok(await redis.get(seededKey('shop')), 'marked as seeded');
  t.same(
    await statuses(oldAlice),
    ['401 revoked', '401 revoked', '401 revoked', '401 revoked'],
    'the pod without the list refuses again, from the re-seeded Redis',
  );
  t.same(await statuses(undefined, '203.0.113.7', '/public/p'), ['403 banned', '403 banned', '403 banned', '403 banned']);

  await redis.flushall();
  await until(async () => (await redis.hget(CUTOFFS_KEY, cutoffField(iss))) !== null, 're-seeded after FLUSHALL', 15_000);
  t.same(await statuses(oldBob), ['401 revoked', '401 revoked', '401 revoked', '401 revoked'], 'after FLUSHALL too');
  t.same(await statuses(await token('bob', Date.now() + 1000)), ['200', '200', '200', '200'], 'and only the old tokens');

  const m = await (await fetch(`${pods[1]!.adminUrl}/metrics`)).text();
  t.match(m, /^sidegate_revocation_copy_age_seconds\{copy="file"\} \d/m, 'file copy age exported');
  t.match(m, /^sidegate_revocation_copy_age_seconds\{copy="redis"\} \d/m, 'redis copy age exported, finite');
  t.match(m, /^sidegate_revocation_list_problems 0$/m);
  t.match(
    await (await fetch(`${bare.adminUrl}/metrics`)).text(),
    /^sidegate_revocation_entries\{kind="issuer"\} 0$/m,
    'the bare pod holds no list',
  );
});
