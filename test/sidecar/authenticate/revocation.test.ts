import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import t from 'tap';
import { ManualClock, systemClock } from '../../../sidecar/src/clock.js';
import { RedisConnection } from '../../../sidecar/src/redis/index.js';
import { ConnectionRevocationStore, RedisRevocationStore, type RevocationStore } from '../../../sidecar/src/stages/authenticate/index.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { CUTOFFS_KEY, cutoffField, putEntry, RevocationList } from '../../../sidecar/src/revocation/index.js';
import type { LocalRevocations } from '../../../sidecar/src/stages/authenticate/revocation.js';
import { JwksServer, mint, testKey, type TestKey } from '../../helpers/jwks.js';
import { RedisProcess } from '../../helpers/redis.js';
import { authPolicy, bearer, harness, jwks, MemoryLogger, metricValue, provider, requireNone, rule, type Harness } from './support.js';

async function setup(
  t: { teardown(fn: () => unknown): void },
  onRedisError: 'allow' | 'deny',
  store?: (redis: Redis, server: RedisProcess) => RevocationStore,
  revocations?: LocalRevocations,
): Promise<{
  h: Harness;
  key: TestKey;
  iss: string;
  redis: Redis;
  server: RedisProcess;
  direct: RedisRevocationStore;
  clock: ManualClock;
}> {
  const server = await RedisProcess.start();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50, lazyConnect: true });
  await redis.connect();
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  const key = testKey('ES256', 'k');
  const idp = await JwksServer.start([key.jwk]);
  t.teardown(() => idp.stop());
  const clock = new ManualClock(Date.now(), 0);
  const direct = new RedisRevocationStore(redis, { budgetMs: 200 });
  const h = await harness(
    authPolicy({
      providers: [provider({ issuer: idp.issuer, jwks: jwks({ uri: idp.jwksUri }) })],
      rules: [rule(['/public/*'], requireNone)],
      revocation: { enabled: true, onRedisError },
    }),
    { clock, revocation: store ? store(redis, server) : direct, revocations },
  );
  t.teardown(() => h.close());
  return { h, key, iss: idp.issuer, redis, server, direct, clock };
}

/** Let pending promise callbacks and one setImmediate turn run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const tokenFor = (k: TestKey, iss: string, clock: ManualClock, jti: string | undefined = randomUUID()): Promise<string> =>
  mint(k, { iss, aud: 'orders', sub: 'alice', exp: Math.floor(clock.now() / 1000) + 600, ...(jti === undefined ? {} : { jti }) });

void t.test('a revoked jti is refused even when its verdict is cached; the Redis key expires with the token', async (t) => {
  const { h, key, iss, redis, direct, clock } = await setup(t, 'deny');
  const jti = randomUUID();
  const token = await tokenFor(key, iss, clock, jti);
  t.ok((await h.run({ headers: bearer(token) })).passed);
  t.equal((await h.run({ headers: bearer(token) })).ex.auth?.cached, true, 'cached');

  const exp = Math.floor(clock.now() / 1000) + 600;
  await direct.revoke(jti, exp);
  t.equal(await redis.exists(`sidegate:revoked:jti:${jti}`), 1, 'the runbook key name');
  t.equal(await redis.call('EXPIRETIME', `sidegate:revoked:jti:${jti}`), exp, 'expires at the token exp');

  const r = await h.run({ headers: bearer(token) });
  t.equal(r.error?.status, 401);
  t.equal(r.error?.reason, 'revoked');
  t.same(r.ex.auth, { provider: 'corp', result: 'failure', reason: 'revoked' });
  t.equal(await metricValue(h.metrics, 'sidegate_security_violations_total', { kind: 'revoked' }), 1);
  t.ok((await h.run({ headers: bearer(await tokenFor(key, iss, clock)) })).passed, 'other tokens unaffected');
  t.ok(
    (await h.run({ headers: bearer(await tokenFor(key, iss, clock, undefined)) })).passed,
    'a token without jti cannot be revoked by id',
  );
});

void t.test('a banned address is refused with 403 on every route', async (t) => {
  const { h, key, iss, redis, direct, clock } = await setup(t, 'deny');
  await direct.ban('10.9.9.9', 60);
  t.equal(await redis.exists('banned:ip:10.9.9.9'), 1, 'the runbook key name');
  const token = await tokenFor(key, iss, clock);
  const r = await h.run({ headers: bearer(token), remoteAddress: '10.9.9.9' });
  t.equal(r.error?.status, 403);
  t.equal(r.error?.reason, 'banned');
  const pub = await h.run({ target: '/public/x', remoteAddress: '10.9.9.9' });
  t.equal(pub.error?.reason, 'banned', 'public routes too');
  t.equal(await metricValue(h.metrics, 'sidegate_security_violations_total', { kind: 'banned_ip' }), 2);
  t.ok((await h.run({ headers: bearer(token), remoteAddress: '10.0.0.1' })).passed, 'other addresses pass');
});

void t.test('Redis down with onRedisError: deny → 503, fail closed', async (t) => {
  const { h, key, iss, server, clock } = await setup(t, 'deny');
  const token = await tokenFor(key, iss, clock);
  t.ok((await h.run({ headers: bearer(token) })).passed);
  await server.kill();
  const r = await h.run({ headers: bearer(token) });
  t.equal(r.error?.status, 503);
  t.equal(r.error?.code, 'SIDEGATE_ERR_AUTH_UNAVAILABLE');
  t.equal(r.error?.reason, 'revocation_unavailable');
  t.equal(r.error?.headers['retry-after'], '1');
  t.equal(
    await metricValue(h.metrics, 'sidegate_auth_attempts_total', { provider: 'corp', result: 'failure', reason: 'revocation_unavailable' }),
    1,
  );
  t.ok(h.logger.lines.some((l) => l.level === 'warn' && l.msg === 'auth: revocation store unavailable, refusing requests'));
  t.equal((await h.run({ target: '/public/x' })).error?.status, 503, 'the ban check fails closed too');
});

void t.test('Redis down with onRedisError: allow → admitted unchecked, counted, logged once', async (t) => {
  const { h, key, iss, server, clock } = await setup(t, 'allow');
  const token = await tokenFor(key, iss, clock);
  await server.kill();
  for (let i = 0; i < 5; i++) {
    const r = await h.run({ headers: bearer(token) });
    t.ok(r.passed, 'admitted');
    t.equal(r.ex.notes?.revocation, 'unchecked', 'noted for the log line');
  }
  t.equal(
    await metricValue(h.metrics, 'sidegate_auth_attempts_total', { provider: 'corp', result: 'success', reason: 'revocation_unchecked' }),
    5,
  );
  t.equal(
    h.logger.lines.filter((l) => l.msg === 'auth: revocation store unavailable, admitting requests unchecked').length,
    1,
    'one warn, not one per request',
  );
});

void t.test('a paused Redis costs at most the budget', async (t) => {
  // The budget runs on a clock the test moves: the request is seen to wait 200 ms, not more.
  const budget = new ManualClock();
  const { h, key, iss, server, clock } = await setup(
    t,
    'deny',
    (redis) => new RedisRevocationStore(redis, { budgetMs: 200, clock: budget }),
  );
  const token = await tokenFor(key, iss, clock);
  server.pause();
  t.teardown(() => server.resume());
  let done = false;
  const run = h.run({ headers: bearer(token) }).finally(() => {
    done = true;
  });
  while (budget.timers === 0) await turn(); // the revocation lookup has been sent
  budget.advance(199);
  await turn();
  t.notOk(done, 'still waiting 1 ms before the budget');
  budget.advance(1);
  const r = await run;
  t.equal(r.error?.reason, 'revocation_unavailable', 'refused at the budget (onRedisError: deny)');
});

void t.test('over the shared RedisConnection (its budget and breaker)', async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  let conn: RedisConnection | undefined;
  const { h, key, iss, server, direct, clock } = await setup(t, 'deny', (redis) => {
    conn = new RedisConnection(redis, { metrics, logger: new MemoryLogger(), clock: systemClock, budgetMs: 200 });
    return new ConnectionRevocationStore(conn);
  });
  const jti = randomUUID();
  const token = await tokenFor(key, iss, clock, jti);
  t.ok((await h.run({ headers: bearer(token) })).passed);
  await direct.revoke(jti, Math.floor(clock.now() / 1000) + 600);
  t.equal((await h.run({ headers: bearer(token) })).error?.reason, 'revoked');
  await server.kill();
  t.equal((await h.run({ headers: bearer(await tokenFor(key, iss, clock)) })).error?.reason, 'revocation_unavailable');
  t.equal((await h.run({ target: '/public/x' })).error?.reason, 'revocation_unavailable', 'fails closed while the connection is down');
  t.ok(conn);
});

const sec = (ms: number): number => Math.floor(ms / 1000);
const mintAt = (k: TestKey, iss: string, sub: string, iatMs: number, clock: ManualClock): Promise<string> =>
  mint(k, { iss, aud: 'orders', sub, iat: sec(iatMs), exp: sec(clock.now()) + 600, jti: randomUUID() });

void t.test('an issuer cut-off in Redis: tokens issued before are refused on every path, tokens issued after pass', async (t) => {
  const { h, key, iss, redis, clock } = await setup(t, 'deny');
  const old = await mintAt(key, iss, 'alice', clock.now() - 60_000, clock);
  const oldBob = await mintAt(key, iss, 'bob', clock.now() - 5_000, clock);
  t.ok((await h.run({ headers: bearer(old) })).passed, 'before the revocation');
  const cutoff = clock.now();
  await putEntry(redis, { kind: 'issuer', issuer: iss, issuedBefore: cutoff, expires: cutoff + 86_400_000 }, clock.now(), false);
  t.equal(await redis.hget(CUTOFFS_KEY, cutoffField(iss)), `${cutoff} ${cutoff + 86_400_000}`, 'one hash field per issuer');
  for (const tok of [old, oldBob]) {
    const r = await h.run({ headers: bearer(tok) });
    t.equal(r.error?.status, 401);
    t.equal(r.error?.reason, 'revoked');
    t.equal(r.ex.notes?.revoked_by, 'cutoff');
    t.equal(r.ex.notes?.revocation, 'redis');
  }
  clock.advance(2000);
  t.ok(
    (await h.run({ headers: bearer(await mintAt(key, iss, 'alice', clock.now(), clock)) })).passed,
    'a token issued after the cut-off passes',
  );
  t.equal(await metricValue(h.metrics, 'sidegate_security_violations_total', { kind: 'revoked' }), 2);
  // An earlier cut-off written later never shortens what is in force (the re-seed relies on it).
  await putEntry(redis, { kind: 'issuer', issuer: iss, issuedBefore: cutoff - 30_000, expires: cutoff + 86_400_000 }, clock.now(), true);
  t.equal(await redis.hget(CUTOFFS_KEY, cutoffField(iss)), `${cutoff} ${cutoff + 86_400_000}`, 'the later cut-off is kept');
  clock.advance(86_400_000);
  const lateOld = await mintAt(key, iss, 'alice', cutoff - 1000, clock);
  t.ok((await h.run({ headers: bearer(lateOld) })).passed, 'an expired cut-off is ignored');
});

void t.test('a subject cut-off in Redis refuses only that subject of that issuer', async (t) => {
  const { h, key, iss, redis, clock } = await setup(t, 'deny');
  const cutoff = clock.now();
  await putEntry(
    redis,
    { kind: 'subject', issuer: iss, subject: 'alice', issuedBefore: cutoff, expires: cutoff + 3_600_000 },
    clock.now(),
    false,
  );
  t.equal(
    (await h.run({ headers: bearer(await mintAt(key, iss, 'alice', cutoff - 10_000, clock)) })).error?.reason,
    'revoked',
    'alice before the cut-off',
  );
  t.ok((await h.run({ headers: bearer(await mintAt(key, iss, 'bob', cutoff - 10_000, clock)) })).passed, 'bob untouched');
  clock.advance(1000);
  t.ok((await h.run({ headers: bearer(await mintAt(key, iss, 'alice', clock.now(), clock)) })).passed, 'alice after re-authenticating');
});

void t.test('the local list decides without Redis: revoked tokens and banned addresses are refused while Redis is down', async (t) => {
  const holder = { list: RevocationList.EMPTY };
  const { h, key, iss, server, clock } = await setup(t, 'allow', undefined, holder);
  const cutoff = clock.now();
  const jti = randomUUID();
  holder.list = new RevocationList([
    { kind: 'subject', issuer: iss, subject: 'alice', issuedBefore: cutoff, expires: cutoff + 3_600_000 },
    { kind: 'jti', jti, expires: cutoff + 3_600_000 },
    { kind: 'ip', ip: '10.9.9.9', expires: cutoff + 3_600_000 },
  ]);
  await server.kill();
  const r = await h.run({ headers: bearer(await mintAt(key, iss, 'alice', cutoff - 1000, clock)) });
  t.equal(r.error?.reason, 'revoked', 'subject cut-off from the list');
  t.equal(r.ex.notes?.revocation, 'list');
  const byJti = await mint(key, { iss, aud: 'orders', sub: 'carol', iat: sec(clock.now()), exp: sec(clock.now()) + 600, jti });
  t.equal((await h.run({ headers: bearer(byJti) })).error?.reason, 'revoked', 'jti from the list');
  t.equal(
    (await h.run({ target: '/public/x', remoteAddress: '10.9.9.9' })).error?.reason,
    'banned',
    'ban from the list, on a public route',
  );
  const ok = await h.run({ headers: bearer(await mintAt(key, iss, 'bob', cutoff - 1000, clock)) });
  t.ok(ok.passed, 'others admitted (onRedisError: allow)');
  t.equal(ok.ex.notes?.revocation, 'unchecked');
});
