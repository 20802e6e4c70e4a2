import t from 'tap';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { compose, type Handler } from '../../../sidecar/src/pipeline/stage.js';
import { AuthRuntime } from '../../../sidecar/src/stages/authenticate/index.js';
import { Metrics } from '../../../sidecar/src/telemetry/metrics.js';
import { JwksServer, mint, testKey } from '../../helpers/jwks.js';
import { authPolicy, bearer, exchange, jwks, MemoryLogger, provider } from './support.js';

void t.test('AuthRuntime keeps keys across reloads that do not touch them, swaps them when they change', async (t) => {
  const k1 = testKey('RS256', 'one');
  const k2 = testKey('ES256', 'two');
  const idp1 = await JwksServer.start([k1.jwk]);
  const idp2 = await JwksServer.start([k2.jwk]);
  t.teardown(() => Promise.all([idp1.stop(), idp2.stop()]));
  const clock = new ManualClock(Date.now(), 0);
  const rt = new AuthRuntime({ metrics: new Metrics({ processMetrics: false }), logger: new MemoryLogger(), clock });
  t.teardown(() => rt.close());
  const app: Handler = () => Promise.resolve();
  const run = async (stage: Awaited<ReturnType<AuthRuntime['prepare']>>, token: string): Promise<boolean> => {
    try {
      await compose([stage], app)(exchange({ headers: bearer(token) }));
      return true;
    } catch {
      return false;
    }
  };
  const exp = Math.floor(clock.now() / 1000) + 600;

  t.ok(rt.ready(), 'no policy yet: nothing to wait for');
  const v1 = await rt.prepare(authPolicy({ providers: [provider({ issuer: idp1.issuer, jwks: jwks({ uri: idp1.jwksUri }) })] }));
  t.ok(rt.ready());
  t.ok(await run(v1, await mint(k1, { iss: idp1.issuer, aud: 'orders', exp })));
  const km1 = rt.keys;

  const v2 = await rt.prepare(
    authPolicy({ providers: [provider({ issuer: idp1.issuer, audiences: ['orders', 'billing'], jwks: jwks({ uri: idp1.jwksUri }) })] }),
  );
  t.equal(rt.keys, km1, 'same key sources: same manager');
  t.equal(idp1.fetches, 1, 'no refetch on reload');
  t.ok(await run(v2, await mint(k1, { iss: idp1.issuer, aud: 'billing', exp })), 'the new audiences apply');

  const v3 = await rt.prepare(authPolicy({ providers: [provider({ issuer: idp2.issuer, jwks: jwks({ uri: idp2.jwksUri }) })] }));
  t.not(rt.keys, km1, 'new key sources: new manager');
  t.ok(rt.ready(), 'loaded before the swap');
  t.ok(await run(v3, await mint(k2, { iss: idp2.issuer, aud: 'orders', exp })));

  await idp2.stop();
  const v4 = await rt.prepare(
    authPolicy({ providers: [provider({ name: 'other', issuer: idp2.issuer, jwks: jwks({ uri: idp2.jwksUri, timeoutMs: 100 }) })] }),
    300,
  );
  t.notOk(rt.ready(), 'keys that cannot be had: not ready');
  t.notOk(await run(v4, await mint(k2, { iss: idp2.issuer, aud: 'orders', exp })));

  const none = await rt.prepare(undefined);
  t.ok(rt.ready(), 'auth removed from the policy: ready again');
  t.ok(await run(none, 'anything'));
});
