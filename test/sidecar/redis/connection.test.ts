import t from 'tap';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { RedisProcess } from '../../helpers/redis.js';
import { freePort } from '../../helpers/ports.js';
import { selfSigned } from '../../helpers/tls.js';
import { ManualClock, systemClock, type Clock } from '../../../sidecar/src/clock.js';
import { RedisConnection } from '../../../sidecar/src/redis/connection.js';
import { RedisUnavailableError } from '../../../sidecar/src/redis/budget.js';
import { loadRedisConfig } from '../../../sidecar/src/redis/config.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { captureLogger, sleep } from '../rate-limit/fixtures.js';
import { counter, waitAvailable } from '../rate-limit/redis-fixtures.js';

function connect(url: string, env: Record<string, string> = {}, budgetMs = 5, clock: Clock = systemClock) {
  const metrics = new Metrics({ processMetrics: false });
  const logger = captureLogger();
  const conn = RedisConnection.create(loadRedisConfig(url, env), { metrics, logger, clock, budgetMs });
  return { conn, metrics, logger };
}

/** Let pending promise callbacks and one setImmediate turn run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** `p`, and whether it has settled yet. */
function settled<T>(p: Promise<T>): { readonly p: Promise<T>; readonly done: boolean } {
  const s = { p, done: false };
  p.then(
    () => {
      s.done = true;
    },
    () => {
      s.done = true;
    },
  );
  return s;
}

async function failure(p: Promise<unknown>): Promise<RedisUnavailableError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RedisUnavailableError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

void t.test('a paused Redis costs each call its budget, then the breaker stops calling it', async (t) => {
  const redis = await RedisProcess.start();
  // Budgets run on a clock the test moves: each call is seen to wait exactly its 5 ms budget.
  const clock = new ManualClock();
  const { conn, metrics, logger } = connect(redis.url, {}, 5, clock);
  t.teardown(async () => {
    await conn.close();
    await redis.stop();
  });
  await waitAvailable(conn);
  t.equal(await conn.run('test', (c) => c.ping()), 'PONG');
  redis.pause();
  const kinds: string[] = [];
  let sent = 0;
  for (let i = 0; i < 3; i++) {
    const call = settled(
      failure(
        conn.run('test', (c) => {
          sent++;
          return c.ping();
        }),
      ),
    );
    clock.advance(4);
    await turn();
    t.notOk(call.done, `call ${i + 1} is still waiting 1 ms before its budget`);
    clock.advance(1);
    kinds.push((await call.p).kind);
  }
  t.same(kinds, ['timeout', 'timeout', 'timeout'], 'each call fails on its budget');
  for (let i = 0; i < 7; i++) {
    // The clock does not move: a call that waited for anything would never settle.
    kinds.push(
      (
        await failure(
          conn.run('test', (c) => {
            sent++;
            return c.ping();
          }),
        )
      ).kind,
    );
  }
  t.same(kinds.slice(3), Array(7).fill('breaker_open'), 'three timeouts open the breaker; then it answers without waiting');
  t.equal(sent, 3, 'open breaker answers without sending the command to Redis');
  t.equal(
    await counter(metrics, 'sidegate_redis_errors_total', { op: 'test', kind: 'timeout' }),
    3,
    'only real calls are counted as errors',
  );
  t.equal(logger.lines.filter((l) => l.level === 'warn').length, 1, 'the outage is logged once');
  redis.resume();
  await waitAvailable(conn, 1000); // the probe's PING, sent while paused, is answered
  t.equal(await conn.run('test', (c) => c.ping()), 'PONG');
});

void t.test('a killed Redis fails calls at once (no offline queue); reconnects within 1 s of its return', async (t) => {
  const redis = await RedisProcess.start();
  const { conn } = connect(redis.url);
  t.teardown(async () => {
    await conn.close();
    await redis.stop();
  });
  await waitAvailable(conn);
  await redis.kill();
  await sleep(50);
  const start = performance.now();
  const err = await failure(conn.run('test', (c) => c.ping()));
  // Not waiting is shown by the kind below (refused before any call); the wall clock only rules out
  // a reconnect wait (50–250 ms), with room for a loaded machine.
  const failedIn = performance.now() - start;
  t.ok(failedIn < 40, `no waiting for a reconnect: ${failedIn.toFixed(2)} ms`);
  t.equal(err.kind, 'breaker_open', 'the dropped connection opened the breaker before any call paid for it');
  t.equal(conn.available, false);
  await sleep(500);
  await redis.restart();
  const back = performance.now();
  await waitAvailable(conn, 3000);
  const took = performance.now() - back;
  t.ok(took < 1000, `available ${took.toFixed(0)} ms after redis-server answered`);
});

void t.test('password from a mounted secret file; never in logs', async (t) => {
  const password = 'pw-' + Math.random().toString(36).slice(2);
  const redis = await RedisProcess.start(['--requirepass', password]);
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-redis-'));
  writeFileSync(join(dir, 'password'), password + '\n');
  const good = connect(redis.url, { SIDEGATE_REDIS_PASSWORD_FILE: join(dir, 'password') });
  const bad = connect(redis.url, { SIDEGATE_REDIS_PASSWORD: 'wrong-' + password });
  t.teardown(async () => {
    await good.conn.close();
    await bad.conn.close();
    await redis.stop();
  });
  await waitAvailable(good.conn);
  t.equal(await good.conn.run('test', (c) => c.ping()), 'PONG');
  await sleep(300);
  t.equal(bad.conn.available, false, 'a wrong password never makes the connection usable');
  const logged = inspect([good.logger.lines, bad.logger.lines], { depth: 10 });
  t.notOk(logged.includes(password), 'no log line carries the password');
  t.ok(
    bad.logger.lines.some((l) => l.level === 'warn'),
    'the auth failure itself is logged',
  );
});

void t.test('TLS (rediss://) with the CA from a mounted file; an unknown CA never connects', async (t) => {
  const { certFile, keyFile } = selfSigned();
  const tlsPort = await freePort();
  const redis = await RedisProcess.start([
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    certFile,
    '--tls-key-file',
    keyFile,
    '--tls-ca-cert-file',
    certFile,
    '--tls-auth-clients',
    'no',
  ]);
  const url = `rediss://127.0.0.1:${tlsPort}`;
  const good = connect(url, { SIDEGATE_REDIS_TLS_CA_FILE: certFile, SIDEGATE_REDIS_TLS_SERVER_NAME: 'localhost' });
  const other = selfSigned();
  const bad = connect(url, { SIDEGATE_REDIS_TLS_CA_FILE: other.certFile, SIDEGATE_REDIS_TLS_SERVER_NAME: 'localhost' });
  t.teardown(async () => {
    await good.conn.close();
    await bad.conn.close();
    await redis.stop();
  });
  await waitAvailable(good.conn);
  t.equal(await good.conn.run('test', (c) => c.ping()), 'PONG', 'talks to Redis over TLS');
  await sleep(300);
  t.equal(bad.conn.available, false, 'a server certificate from another CA is refused');
});

void t.test('a client that stops reconnecting on its own is started again', async (t) => {
  // ioredis ends a client in a few races without being asked (a Sentinel +switch-master notice
  // while it resolves the master after a drop); disconnect() ends it the same way, status 'end'.
  const redis = await RedisProcess.start();
  const { conn, logger } = connect(redis.url);
  t.teardown(async () => {
    await conn.close();
    await redis.stop();
  });
  await waitAvailable(conn);
  conn.client.disconnect();
  await sleep(20);
  t.equal(conn.client.status, 'end', 'the client ended');
  t.equal(conn.available, false, 'calls decide without Redis meanwhile');
  const ended = performance.now();
  await waitAvailable(conn, 3000);
  t.ok(performance.now() - ended < 1000, `available again ${(performance.now() - ended).toFixed(0)} ms later`);
  t.equal(await conn.run('test', (c) => c.ping()), 'PONG');
  t.ok(
    logger.lines.some((l) => /stopped reconnecting/.test(l.msg)),
    'logged',
  );
});
