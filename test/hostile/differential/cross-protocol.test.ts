import t from 'tap';
import { selfSigned } from '../../helpers/tls.js';
import { startRawApp } from './apps.js';
import { crossCheck, emptyFindings, sequenceCheck } from './check.js';
import { h1OnlyReason, type Shape } from './generator.js';
import { h1Target, h2Target, runShapes, startSidecar, type ShapeRun, type Target } from './harness.js';
import { dump, report, suiteEnv } from './suite.js';

/**
 * The cross-protocol property: the same request (method, target, headers, body) sent over
 * HTTP/1.1, h2c and h2 over TLS gets the same
 * decision: the same verdict (forwarded, or the same status from the sidecar; a parse error, a
 * stream reset and the pipeline's 400 are one "malformed" verdict), the same rule, the same limit
 * keys, and the app receives the same method, target, identity fields and body.
 *
 * On HTTP/2 the request is the HTTP/1.1 one's semantic twin: field names lowercased, values
 * without surrounding whitespace (HTTP/1.1 strips it, HTTP/2 forbids it), chunked bodies as DATA
 * frames and their trailers as a trailing HEADERS frame, Content-Length kept for sized bodies.
 * Shapes HTTP/2 cannot express are HTTP/1.1-only and skipped here (listed in the output):
 * Upgrade sequences, a Connection header, absolute-form targets, and a content-length trailer.
 */
t.test('the comparison flags what it should (self-test on fabricated runs)', async (t) => {
  const shape: Shape = {
    id: -1,
    kind: 'single',
    requests: [{ method: 'GET', target: '/public/x', headers: [], body: undefined, upgrade: false }],
  };
  const run = (name: string, key: string, forwarded: boolean, rule: string, target = '/public/x'): ShapeRun => ({
    shape,
    key,
    target: { name } as Target,
    timedOut: false,
    strays: [],
    relabelled: [],
    requests: [
      {
        sent: { id: `${key}.0`, index: 0, spec: shape.requests[0]!, headers: [], body: '', trailers: [], headTokens: [] },
        fate: { status: forwarded ? 200 : 401, fromApp: forwarded, stamped: true, kind: 'answer' },
        logs: [
          {
            request_id: `${key}.0`,
            method: 'GET',
            path: target,
            status: forwarded ? 200 : 401,
            upstream_duration_ms: forwarded ? 1 : null,
            ...(forwarded ? {} : { error: 'SIDEGATE_ERR_UNAUTHENTICATED' }),
            decision: { rule, limits: { a: 'k' } },
          },
        ],
        app: forwarded
          ? [
              {
                app: 'h1',
                conn: 1,
                seq: 0,
                requestLine: `GET ${target} HTTP/1.1`,
                method: 'GET',
                target,
                lineWellFormed: true,
                headers: [],
                trailers: [],
                body: '',
                anomalies: [],
              },
            ]
          : [],
      },
    ],
  });
  const same = emptyFindings();
  crossCheck([run('h1', 'a', true, 'rules[0]'), run('h2c', 'b', true, 'rules[0]')], new Set(), same);
  t.same(same.violations, [], 'identical outcomes: nothing flagged');
  const diff = emptyFindings();
  crossCheck(
    [run('h1', 'a', true, 'rules[0]'), run('h2c', 'b', false, 'rules[0]'), run('h2-tls', 'c', true, 'default', '/public/y')],
    new Set(),
    diff,
  );
  t.same(
    diff.violations.map((f) => f.cls).sort(),
    ['cross-protocol app request', 'cross-protocol rule', 'cross-protocol verdict'],
    'a different verdict, rule and app request are each flagged',
  );
  const seq = emptyFindings();
  sequenceCheck(run('h1', 'a', true, 'rules[0]', '/public/x'), [run('h1', 'b', false, 'rules[0]')], new Set(), seq);
  t.same(
    seq.violations.map((f) => f.cls),
    ['sequence verdict'],
    'the sequence property compares the same way',
  );
});

t.test('the same request gets the same decision on HTTP/1.1, h2c and h2 over TLS', async (t) => {
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
  // HTTP/1.1 is the reference: the cleartext sidecar serves it (and h2c) on one port.
  targets.push(h1Target('h1', clear), h2Target('h2c', clear), h2Target('h2-tls', tls));

  const both: Shape[] = [];
  const h1Only = new Map<string, number>();
  for (const s of env.shapes) {
    const why = h1OnlyReason(s);
    if (why === undefined) both.push(s);
    else h1Only.set(why, (h1Only.get(why) ?? 0) + 1);
  }
  t.comment(
    `${both.length} shapes sent on every protocol; HTTP/1.1-only, skipped: ${[...h1Only].map(([w, n]) => `${n} × ${w}`).join('; ') || 'none'}`,
  );
  t.ok(both.length > env.shapes.length / 2, 'most shapes can be expressed on both protocols');

  const runs = await runShapes(
    'x',
    both.flatMap((shape) => targets.map((target) => ({ shape, target }))),
    env.tokens,
  );
  dump(t, runs);
  const byShape = new Map<number, ShapeRun[]>();
  for (const r of runs) {
    const xs = byShape.get(r.shape.id);
    if (xs) xs.push(r);
    else byShape.set(r.shape.id, [r]);
  }
  const findings = emptyFindings();
  for (const rs of byShape.values())
    crossCheck(
      targets.map((tg) => rs.find((r) => r.target === tg)!),
      env.tolerate,
      findings,
    );

  const compared = runs
    .filter((r) => r.target === targets[0])
    .flatMap((r) => r.requests)
    .filter((q) => q.app.length > 0).length;
  t.ok(compared > 20, `a good share of the requests were forwarded on HTTP/1.1 and compared (${compared})`);

  await report(t, env, 'cross-protocol', findings, async (f, s) => {
    const rs = await runShapes(
      's',
      [
        { shape: s, target: targets[0]! },
        { shape: s, target: f.run.target },
      ],
      env.tokens,
      { timeoutMs: 1500 },
    );
    const out = emptyFindings();
    crossCheck(rs, env.tolerate, out);
    return out.violations;
  });
});
