import t from 'tap';
import { Redis } from 'ioredis';
import { RedisCluster, RedisProcess, RedisSentinel } from '../../helpers/redis.js';
import { RateLimitedError } from '../../../sidecar/src/errors.js';
import { exchange, limit, matcher, sleep } from '../rate-limit/fixtures.js';
import { commandCalls, rig } from '../rate-limit/redis-fixtures.js';

async function burst(run: (ex: ReturnType<typeof exchange>) => Promise<unknown>, path: string, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) if ((await run(exchange({ path }))) === 'ok') ok++;
  return ok;
}

void t.test('Redis Cluster (3 masters): exact decisions, limits spread over nodes, one call per slot', async (t) => {
  const cluster = await RedisCluster.start(3);
  const nodes = cluster.nodes.map((n) => new Redis(n.port, '127.0.0.1'));
  // One beat at start and none during the count of script calls below (a beat is a script call too).
  const r = await rig(cluster.url, { limiter: { heartbeat: { intervalMs: 600_000 } } });
  t.teardown(async () => {
    await r.close();
    for (const n of nodes) n.disconnect();
    await cluster.stop();
  });
  t.ok(r.conn.isCluster, 'ioredis Cluster client');
  const beatBy = Date.now() + 3000;
  while (r.limiter.livePods() !== 1 && Date.now() < beatBy) await sleep(20);
  t.equal(r.limiter.livePods(), 1, 'heartbeat works on a Cluster');
  const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
  const limits = names.map((name) => limit({ name, requests: 5, perMs: 60_000, burst: 2, match: matcher([`/${name}/`, '/all/']) }));
  const run = r.stage(limits, { denyCache: false });
  for (const name of names) t.equal(await burst(run, `/${name}/x`, 10), 7, `${name}: exactly requests + burst`);
  const holders = await Promise.all(nodes.map(async (n) => (await n.keys('sidegate:rl:*')).length));
  t.ok(holders.filter((k) => k > 0).length >= 2, `keys live on several masters: ${holders.join(', ')}`);
  const calls = async (): Promise<number> =>
    (await Promise.all(nodes.map(async (n) => (await commandCalls(n, 'evalsha')) + (await commandCalls(n, 'eval'))))).reduce(
      (a, b) => a + b,
      0,
    );
  const before = await calls();
  t.type(await run(exchange({ path: '/all/x' })), RateLimitedError, 'a request matching all six limits (all spent)');
  t.equal((await calls()) - before, names.length, 'one script call per hash slot (one per limit), sent together');
});

void t.test('Sentinel: exact decisions through the master it names, and after a failover', async (t) => {
  const master = await RedisProcess.start();
  const replica = await RedisProcess.start(['--replicaof', '127.0.0.1', String(master.port)]);
  const sentinel = await RedisSentinel.start(master);
  const r = await rig(sentinel.url, { budgetMs: 100 });
  t.teardown(async () => {
    await r.close();
    await sentinel.stop();
    await replica.stop();
    await master.stop();
  });
  const run = r.stage([limit({ name: 'sent', requests: 5, perMs: 60_000, burst: 2 })]);
  t.equal(await burst(run, '/x', 10), 7, 'exactly requests + burst through Sentinel');

  await sentinel.waitForReplicas(1);
  await master.kill();
  const killed = Date.now();
  const deadline = killed + 20_000;
  let source = '';
  while (Date.now() < deadline) {
    const ex = exchange({ path: '/y' });
    await r.stage([limit({ name: 'after', requests: 100, perMs: 1000 })])(ex);
    source = String(ex.notes?.ratelimit_source);
    if (source === 'redis') break;
    await sleep(100);
  }
  t.equal(source, 'redis', 'shared decisions resumed on the promoted replica');
  t.equal(await sentinel.masterPort(), replica.port, 'the sentinel promoted the replica');
  t.comment(`failover: shared decisions back ${Date.now() - killed} ms after the master was killed (sentinel down-after 1 s)`);
});
