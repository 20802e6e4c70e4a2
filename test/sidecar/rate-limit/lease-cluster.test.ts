import t from 'tap';
import { RedisCluster } from '../../helpers/redis.js';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { exchange, limit, matcher } from './fixtures.js';
import { HOUR, leasePod } from './lease-fixtures.js';

/**
 * Leasing on a real 3-master Redis Cluster: each limit's keys live in their own slot, so a request
 * matching two hot limits renews both leases with one script call per slot, sent together. A limit
 * that refuses gives back what the other limit's lease had handed to the request.
 */
void t.test('Cluster: two pods, two hot limits in different slots, exact counts', async (t) => {
  const cluster = await RedisCluster.start(3);
  const clock = new ManualClock();
  const a = await leasePod(cluster.url, clock);
  const b = await leasePod(cluster.url, clock);
  t.teardown(async () => {
    await a.close();
    await b.close();
    await cluster.stop();
  });
  const limits = [
    limit({ name: 'alpha', requests: 60, perMs: HOUR, match: matcher(['/both/', '/alpha/']) }),
    limit({ name: 'bravo', requests: 30, perMs: HOUR, match: matcher(['/both/']) }),
  ];
  let both = 0;
  for (let i = 0; i < 100; i++) {
    if ((await (i % 2 ? a : b).run(limits, exchange({ path: '/both/x' }))) === 'ok') both++;
    clock.advance(1);
  }
  t.equal(both, 30, "requests matching both: bravo's 30");
  let alphaOnly = 0;
  for (let i = 0; i < 100; i++) {
    if ((await (i % 2 ? a : b).run(limits, exchange({ path: '/alpha/x' }))) === 'ok') alphaOnly++;
    clock.advance(1);
  }
  t.equal(alphaOnly, 30, "alpha lost nothing to bravo's refusals: 60 − 30");
  t.ok(a.recorder.grants + b.recorder.grants >= 4, 'leases were granted on both limits');
});
