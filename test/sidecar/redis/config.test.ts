import t from 'tap';
import { inspect } from 'node:util';
import { describeRedis, loadRedisConfig, parseRedisUrl, RedisConfigError } from '../../../sidecar/src/redis/config.js';

void t.test('URL forms: standalone, TLS, Sentinel, Cluster', (t) => {
  t.same(parseRedisUrl('redis://10.0.0.1:6380/2').topology, { kind: 'standalone', node: { host: '10.0.0.1', port: 6380 }, db: 2 });
  t.same(parseRedisUrl('redis://redis').topology, { kind: 'standalone', node: { host: 'redis', port: 6379 }, db: 0 });
  t.equal(parseRedisUrl('rediss://redis:6380').tls, true);
  t.same(parseRedisUrl('redis+sentinel://s1:26379,s2,[::1]:26380/mymaster/1').topology, {
    kind: 'sentinel',
    masterName: 'mymaster',
    db: 1,
    sentinels: [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
      { host: '::1', port: 26380 },
    ],
  });
  t.same(parseRedisUrl('redis+cluster://a:7000,b:7001').topology, {
    kind: 'cluster',
    nodes: [
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
    ],
  });
  t.throws(() => parseRedisUrl('http://x'), RedisConfigError);
  t.throws(() => parseRedisUrl('redis+sentinel://s1'), /master name/);
  t.throws(() => parseRedisUrl('redis://a,b'), /one host/);
  t.throws(() => parseRedisUrl('redis://a:99999'), /bad port/);
  t.end();
});

void t.test('credentials from env or a mounted file; never printable', (t) => {
  const files: Record<string, string> = { '/run/secrets/redis': 's3cret-from-file\n', '/ca.pem': 'CA' };
  const read = (p: string): string => {
    const v = files[p];
    if (v === undefined) throw new Error('ENOENT');
    return v;
  };
  const c = loadRedisConfig(
    'redis://r:6379',
    {
      SIDEGATE_REDIS_PASSWORD_FILE: '/run/secrets/redis',
      SIDEGATE_REDIS_USERNAME: 'sidecar',
      SIDEGATE_REDIS_TLS: 'true',
      SIDEGATE_REDIS_TLS_CA_FILE: '/ca.pem',
    },
    read,
  );
  t.equal(c.password?.reveal(), 's3cret-from-file', 'trailing newline of the secret file dropped');
  t.equal(c.username, 'sidecar');
  t.equal(c.tls?.ca, 'CA');
  t.equal(c.tls?.rejectUnauthorized, true);
  const printed = [JSON.stringify(c), inspect(c, { depth: 5 }), String(c.password), describeRedis(c)].join('\n');
  t.notOk(printed.includes('s3cret'), 'JSON, inspect, toString and the description never show the password');
  t.equal(describeRedis(c), 'standalone r:6379 db 0 (auth, tls)');
  const fromUrl = loadRedisConfig('redis://u:p%40ss@r:6379', {}, read);
  t.equal(fromUrl.password?.reveal(), 'p@ss');
  t.notOk(JSON.stringify(fromUrl).includes('p@ss'));
  t.throws(() => loadRedisConfig('redis://r', { SIDEGATE_REDIS_PASSWORD: 'a', SIDEGATE_REDIS_PASSWORD_FILE: '/x' }, read), /not both/);
  t.throws(() => loadRedisConfig('redis://r', { SIDEGATE_REDIS_PASSWORD_FILE: '/missing' }, read), /cannot read/);
  try {
    parseRedisUrl('redis+nope://u:hunter2@x');
  } catch (err) {
    t.notOk((err as Error).message.includes('hunter2'), 'errors redact the URL');
  }
  t.end();
});
