import { Redis } from 'ioredis';
import t from 'tap';
import { ManualClock, systemClock } from '../../../sidecar/src/clock.js';
import { RedisConnection } from '../../../sidecar/src/redis/index.js';
import {
  bannedKey,
  CUTOFFS_KEY,
  cutoffField,
  deleteEntry,
  parseCutoff,
  putEntry,
  RevocationList,
  RevocationSeeder,
  revokedKey,
  seededKey,
  type RevocationEntry,
} from '../../../sidecar/src/revocation/index.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { MemoryLogger } from '../authenticate/support.js';
import { RedisProcess } from '../../helpers/redis.js';

/**
 * The re-seed against a real Redis, driven by kick() (what the interval and a reconnect call):
 * a lost copy comes back, a present one costs one GET, a newer list's mark is left alone (so a
 * lift is not undone by a pod whose ConfigMap copy lags), and the copy's age follows the clock.
 */
t.test('re-seeding Redis from the list', async (t) => {
  const server = await RedisProcess.start();
  t.teardown(() => server.stop());
  const client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50, lazyConnect: true });
  await client.connect();
  client.on('error', () => undefined);
  // Redis expires keys by its own (real) clock: the manual clock starts at the real time.
  const clock = new ManualClock(Date.now(), 0);
  const metrics = new Metrics({ processMetrics: false });
  const conn = new RedisConnection(client, { metrics, logger: new MemoryLogger(), clock: systemClock, budgetMs: 500 });
  t.teardown(() => conn.close());
  const admin = new Redis(server.url);
  t.teardown(() => admin.disconnect());

  const exp = clock.now() + 3_600_000;
  const entries: RevocationEntry[] = [
    { kind: 'jti', jti: 'j1', expires: exp },
    { kind: 'ip', ip: '10.2.2.2', expires: exp },
  ];
  let list = new RevocationList(entries, clock.now() - 60_000);
  const log = new MemoryLogger();
  const seeder = new RevocationSeeder({ redis: conn, list: () => list, namespace: 'shop', clock, log, intervalMs: 3_600_000 });
  t.equal(seeder.ageSeconds(), Infinity, 'never seen yet');

  await seeder.kick();
  t.equal(await admin.exists(revokedKey('j1'), bannedKey('10.2.2.2')), 2, 'seeded');
  t.equal(await admin.call('EXPIRETIME', revokedKey('j1')), Math.ceil(exp / 1000), 'expiring with the entry');
  t.equal(await admin.get(seededKey('shop')), `${list.updated}:${list.version}`);
  t.equal(seeder.ageSeconds(), 0);
  clock.advance(7000);
  t.equal(seeder.ageSeconds(), 7, 'the age follows the clock');

  await admin.flushall();
  await seeder.kick();
  t.equal(await admin.exists(revokedKey('j1'), bannedKey('10.2.2.2')), 2, 're-seeded after FLUSHALL');
  t.equal(seeder.ageSeconds(), 0);
  t.ok(log.lines.some((l) => l.msg === 'revocation list re-seeded into Redis'));

  // A newer list (the ban lifted) was seeded by another pod; this pod still holds the older one.
  const newer = new RevocationList(entries.slice(0, 1), clock.now());
  await admin.set(seededKey('shop'), `${newer.updated}:${newer.version}`);
  await deleteEntry(admin, entries[1]!);
  await seeder.kick();
  t.equal(await admin.exists(bannedKey('10.2.2.2')), 0, 'a lagging pod does not bring the lifted ban back');

  list = new RevocationList([...entries.slice(0, 1), { kind: 'jti', jti: 'j2', expires: exp }], clock.now() + 1000);
  await seeder.kick();
  t.equal(await admin.exists(revokedKey('j2')), 1, 'a newer list of this pod is seeded');
  t.equal(await admin.exists(bannedKey('10.2.2.2')), 0);

  await server.kill();
  clock.advance(5000);
  await seeder.kick();
  t.equal(seeder.ageSeconds(), 5, 'Redis down: the copy ages');
  t.equal(
    log.lines.filter((l) => l.msg === 'revocation list: re-seeding Redis failed; the local copy decides, retrying').length <= 1,
    true,
    'one warn at most',
  );
});

t.test('cut-offs: the command writes what it says (a correction to an earlier time too); a re-seed keeps the later', async (t) => {
  const server = await RedisProcess.start();
  t.teardown(() => server.stop());
  const admin = new Redis(server.url);
  t.teardown(() => admin.disconnect());
  const now = Date.now();
  const iss = 'https://id.example.com';
  const at = (issuedBefore: number): RevocationEntry => ({ kind: 'issuer', issuer: iss, issuedBefore, expires: now + 3_600_000 });
  const stored = async (): Promise<number | undefined> => parseCutoff(await admin.hget(CUTOFFS_KEY, cutoffField(iss)))?.issuedBefore;

  await putEntry(admin, at(now + 3_600_000), now, false);
  await putEntry(admin, at(now), now, false);
  t.equal(await stored(), now, 'sidegate revoke: the corrected (earlier) cut-off is in force');
  await putEntry(admin, at(now - 60_000), now, true);
  t.equal(await stored(), now, 'a re-seed from an older copy does not move it back');
  await putEntry(admin, at(now + 1000), now, true);
  t.equal(await stored(), now + 1000, 'a re-seed with a later cut-off raises it');
});
