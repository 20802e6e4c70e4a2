import t from 'tap';
import { selfSigned } from '../../helpers/tls.js';
import { startH2cApp, startRawApp } from './apps.js';
import { checkRun, emptyFindings } from './check.js';
import { h2Target, runShapes, startSidecar, type Target } from './harness.js';
import { checkAll, dump, report, suiteEnv } from './suite.js';

/**
 * Differential test over HTTP/2: the same property as h1.test.ts (see check.ts), for requests
 * arriving as h2c (prior knowledge) and as h2 over TLS (ALPN). Requests are raw frames, so
 * fields carry bytes a conforming client would refuse to send; shapes that only make sense on
 * HTTP/1.1 (Upgrade, Connection, absolute-form) are sent too, as the HTTP/2 requests they become
 * (the sidecar must refuse the malformed ones). A third of the shapes also go through a sidecar
 * in front of an h2c app.
 */
t.test('differential over HTTP/2 (h2c and TLS)', async (t) => {
  const env = await suiteEnv(t, 300);
  const app = await startRawApp();
  t.teardown(() => app.close());
  const cert = selfSigned();
  const targets: Target[] = [];
  const clear = await startSidecar({ app, tokens: env.tokens, trustedHops: 0 });
  const tls = await startSidecar({ app, tokens: env.tokens, trustedHops: 0, tls: cert });
  t.teardown(async () => {
    await clear.proxy.close();
    await tls.proxy.close();
  });
  targets.push(h2Target('h2c', clear), h2Target('h2-tls', tls));

  // A third of the shapes also through a sidecar whose app speaks h2c (its node:http2 upstream).
  const h2app = await startH2cApp();
  const toH2c = await startSidecar({ app: h2app, tokens: env.tokens, trustedHops: 0 });
  t.teardown(async () => {
    await toH2c.proxy.close();
    await h2app.close();
  });
  const viaH2c = h2Target('h2c→h2c-app', toH2c);
  const runs = await runShapes(
    'h2',
    env.shapes.flatMap((shape) => [...targets, ...(shape.id % 3 === 0 ? [viaH2c] : [])].map((target) => ({ shape, target }))),
    env.tokens,
  );
  dump(t, runs);
  const findings = await checkAll(runs, env);

  for (const target of targets) {
    const mine = runs.filter((r) => r.target === target).flatMap((r) => r.requests);
    const forwarded = mine.filter((q) => q.app.length > 0).length;
    const refused = mine.filter((q) => q.app.length === 0 && (q.fate.kind === 'reset' || (q.fate.status ?? 0) >= 400)).length;
    t.comment(`${target.name}: ${forwarded} forwarded and compared, ${refused} refused or reset`);
    t.ok(forwarded > 20, `${target.name}: a good share of the requests reached the app and were compared`);
    t.ok(refused > 20, `${target.name}: a good share were refused`);
  }

  await report(t, env, 'HTTP/2', findings, async (f, s) => {
    const [r] = await runShapes('s', [{ shape: s, target: f.run.target }], env.tokens, { timeoutMs: 1500 });
    const out = emptyFindings();
    await checkRun(r!, { policy: f.run.target.sidecar.policy, tokens: env.tokens, routers: env.routers, tolerate: env.tolerate }, out);
    return out.violations;
  });
});
