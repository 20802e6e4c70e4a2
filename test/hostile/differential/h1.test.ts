import t from 'tap';
import { startH2cApp, startRawApp } from './apps.js';
import { checkRun, emptyFindings, sequenceCheck, type CheckCtx } from './check.js';
import type { Shape } from './generator.js';
import { h1Target, runShapes, startSidecar, type ShapeRun, type Target } from './harness.js';
import { compiled, mintTokens, policyDocument } from './policy.js';
import { goModel, goPathClean, parseurlPathname, routerModels, whatwgModel } from './routers.js';
import { checkAll, dump, report, suiteEnv } from './suite.js';

/**
 * Differential test over HTTP/1.1: for every generated shape, what the sidecar decided (its debug
 * access log), what the app received on the wire, and how common routers read that must agree
 * (see check.ts for the property and the tolerated differences). Targets: the default policy
 * (trustedHops 0) in front of a raw HTTP/1.1 app; a third of the shapes also with trustedHops 1,
 * and another third in front of an h2c app (the sidecar's node:http2 upstream).
 */
t.test('router models read what their originals read', async (t) => {
  // Go's documented path.Clean examples (pkg.go.dev/path#Clean).
  for (const [i, o] of [
    ['a/c', 'a/c'],
    ['a//c', 'a/c'],
    ['a/c/.', 'a/c'],
    ['a/c/b/..', 'a/c'],
    ['/../a/c', '/a/c'],
    ['/../a/b/../././/c', '/a/c'],
    ['', '.'],
    ['/', '/'],
    ['/a/b/', '/a/b'],
  ]) {
    t.equal(goPathClean(i!), o, `path.Clean(${JSON.stringify(i)})`);
  }
  t.equal(goModel.read('/public/%2e%2e/admin/x'), '/admin/x', 'Go unescapes, then cleans');
  t.equal(goModel.read('/a\tb'), undefined, 'Go refuses control bytes');
  t.equal(goModel.read('/%zz'), undefined, 'Go refuses a bad escape');
  t.equal(goModel.read('/admin#x/../y'), '/admin', 'Go cuts the fragment first');
  t.equal(whatwgModel.read('/public\\..\\admin/x'), '/admin/x', 'WHATWG: backslash is a slash');
  t.equal(whatwgModel.read('/ad\tmin/x'), '/admin/x', 'WHATWG: tabs are removed');
  t.equal(whatwgModel.read('/public/%2e%2e/admin'), '/admin', 'WHATWG: %2e%2e is a dot segment');
  t.equal(parseurlPathname('/a/b?c#d'), '/a/b', 'parseurl fast path: up to ?');
  t.equal(parseurlPathname('/ad min/x'), '/ad%20min/x', 'parseurl falls back to url.parse, which escapes a space');
  t.equal(parseurlPathname('/admin#/x'), '/admin', 'parseurl falls back to url.parse, which drops the fragment');
  // The suite reads Express's routing with the real parseurl (a devDependency), not the port.
  const models = await routerModels();
  t.teardown(async () => {
    for (const m of models) await m.close?.();
  }); // the Python model is a child process
  const express = models.find((m) => m.name.startsWith('express'));
  t.equal(express?.name, 'express (parseurl)', 'the real parseurl is the Express model');
  for (const target of ['/a/b?c#d', '/ad min/x', '/admin#/x', '/p%2e/./x', '\\a\\b', '/x?y=/../z']) {
    t.equal(express?.read(target), parseurlPathname(target), `the port reads ${JSON.stringify(target)} as parseurl does`);
  }
});

t.test('the comparison flags what it should (checker self-test on a fabricated run)', async (t) => {
  const env = { tokens: await mintTokens(), routers: await routerModels() };
  t.teardown(async () => {
    for (const r of env.routers) await r.close?.();
  });
  const doc = policyDocument(env.tokens.key, 0);
  const policy = compiled(doc);
  const shape: Shape = {
    id: -1,
    kind: 'single',
    requests: [{ method: 'POST', target: '/public/x', headers: [], body: undefined, upgrade: false }],
  };
  const target = { name: 'fabricated', protocol: 'h1', sidecar: { policy } } as unknown as Target;
  const run: ShapeRun = {
    shape,
    target,
    key: 'k',
    timedOut: false,
    relabelled: [],
    strays: [
      {
        app: 'h1',
        conn: 1,
        seq: 1,
        requestLine: 'GET /smuggled HTTP/1.1',
        method: 'GET',
        target: '/smuggled',
        lineWellFormed: true,
        headers: [['x-diff-shape', 'k']],
        trailers: [],
        body: '',
        anomalies: [],
      },
    ],
    requests: [
      {
        sent: { id: 'k.0', index: 0, spec: shape.requests[0]!, headers: [], body: '', trailers: [], headTokens: [] },
        fate: { status: 200, fromApp: true, stamped: true, kind: 'answer' },
        // The sidecar says: public rule, no identity; the app got a path routers read as /admin and a spoofed identity.
        logs: [
          {
            request_id: 'k.0',
            method: 'POST',
            path: '/public/x',
            status: 200,
            upstream_duration_ms: 1,
            auth: { result: 'skipped' },
            decision: { rule: 'rules[0]', limits: {} },
          },
        ],
        app: [
          {
            app: 'h1',
            conn: 1,
            seq: 0,
            requestLine: 'POST /admin#/x HTTP/1.1',
            method: 'POST',
            target: '/admin#/x',
            lineWellFormed: true,
            headers: [
              ['x-request-id', 'k.0'],
              ['X_User_Id', 'admin'],
            ],
            trailers: [],
            body: 'extra',
            anomalies: [],
          },
        ],
      },
    ],
  };
  const f = emptyFindings();
  const ctx: CheckCtx = { policy, tokens: env.tokens, routers: env.routers, tolerate: new Set() };
  await checkRun(run, ctx, f);
  const classes = new Set(f.violations.map((x) => x.cls));
  // A class may carry its cause in brackets (`rule-mismatch (target bytes)`): any cause counts.
  const flagged = (c: string): boolean => [...classes].some((x) => x === c || x.startsWith(`${c} (`));
  for (const c of ['unjudged-request', 'malformed-request-line (#)', 'identity-header', 'rule-mismatch', 'body-mismatch', 'limit-key'])
    t.ok(flagged(c), `flags ${c}`);
  t.notOk(classes.has('method-mismatch'), 'no method mismatch where there is none');
});

t.test('differential over HTTP/1.1', async (t) => {
  const env = await suiteEnv(t, 300);
  const h1app = await startRawApp();
  const h2app = await startH2cApp();
  t.teardown(async () => {
    await h1app.close();
    await h2app.close();
  });
  const main = await startSidecar({ app: h1app, tokens: env.tokens, trustedHops: 0 });
  const hops1 = await startSidecar({ app: h1app, tokens: env.tokens, trustedHops: 1 });
  const toH2c = await startSidecar({ app: h2app, tokens: env.tokens, trustedHops: 0 });
  t.teardown(async () => {
    await main.proxy.close();
    await hops1.proxy.close();
    await toH2c.proxy.close();
  });
  const targets = { main: h1Target('h1', main), hops1: h1Target('h1[trustedHops=1]', hops1), h2c: h1Target('h1→h2c-app', toH2c) };

  // Controls: the policy's own meaning, so a harness that sees nothing cannot pass quietly.
  const control = (method: string, target: string, auth?: string): Shape => ({
    id: -1,
    kind: 'single',
    requests: [
      { method, target, headers: auth === undefined ? [] : [['Authorization', `Bearer {${auth}}`]], body: undefined, upgrade: false },
    ],
  });
  const [pub, denied, admitted] = await runShapes(
    'c',
    [
      { shape: control('GET', '/public/x'), target: targets.main },
      { shape: control('POST', '/admin/x', 'user'), target: targets.main },
      { shape: control('POST', '/admin/x', 'admin'), target: targets.main },
    ],
    env.tokens,
  );
  t.equal(pub!.requests[0]!.app.length, 1, 'control: a public request reaches the app');
  t.equal(denied!.requests[0]!.app.length, 0, 'control: POST /admin/x with a user token does not');
  t.equal(denied!.requests[0]!.fate.status, 403, 'control: and is answered 403');
  t.same(
    admitted!.requests[0]!.app[0]?.headers.filter(([n]) => n === 'x-user-id'),
    [['x-user-id', 'a-1']],
    'control: an admin gets through with the identity the sidecar set',
  );
  t.equal(admitted!.requests[0]!.logs[0]?.decision?.rule, 'rules[1]', 'control: the log names the admin rule (debug decision is on)');

  const work = env.shapes.flatMap((shape) => [
    { shape, target: targets.main },
    ...(shape.id % 3 === 1 ? [{ shape, target: targets.hops1 }] : []),
    ...(shape.id % 3 === 2 ? [{ shape, target: targets.h2c }] : []),
  ]);
  const runs = await runShapes('h1', work, env.tokens);
  dump(t, runs);
  const findings = await checkAll(runs, env);

  const forwarded = runs.flatMap((r) => r.requests).filter((q) => q.app.length > 0);
  const refused = runs.flatMap((r) => r.requests).filter((q) => q.app.length === 0 && q.fate.status !== undefined && q.fate.status >= 400);
  const hung = runs.filter((r) => r.timedOut).map((r) => `${r.target.name} shape ${r.shape.id}`);
  t.comment(
    `${runs.length} shape runs, ${forwarded.length} requests forwarded and compared, ${refused.length} refused, ${hung.length} timed out${hung.length > 0 ? ` (${hung.join(', ')})` : ''}`,
  );
  t.ok(forwarded.length > 20, 'a good share of the requests reached the app and were compared');
  t.ok(refused.length > 20, 'a good share were refused');
  t.ok(
    forwarded.some((q) => q.app[0]!.headers.some(([n]) => n === 'x-user-id')),
    'some carried an identity the sidecar set',
  );
  t.ok(
    forwarded.some((q) => q.sent.spec.target.includes('..') || q.sent.spec.target.includes('%')),
    'some had paths the sidecar had to normalise',
  );

  // The sequence property: each request of a pipelined batch or Upgrade sequence, sent alone.
  const alone = (s: Shape): Shape[] => s.requests.map((q) => ({ id: s.id, kind: q.upgrade ? 'upgrade' : 'single', requests: [q] }));
  const sequenced = async (s: Shape, tag: string, timeoutMs?: number): Promise<ReturnType<typeof emptyFindings>> => {
    const rs = await runShapes(
      tag,
      [s, ...alone(s)].map((shape) => ({ shape, target: targets.main })),
      env.tokens,
      { timeoutMs },
    );
    const out = emptyFindings();
    sequenceCheck(rs[0]!, rs.slice(1), env.tolerate, out);
    return out;
  };
  const seqFindings = emptyFindings();
  const multi = env.shapes.filter((s) => s.requests.length > 1);
  const seqRuns = await runShapes(
    'q',
    multi.flatMap((s) => [s, ...alone(s)]).map((shape) => ({ shape, target: targets.main })),
    env.tokens,
  );
  for (let k = 0, at = 0; k < multi.length; k++) {
    const n = multi[k]!.requests.length;
    sequenceCheck(seqRuns[at]!, seqRuns.slice(at + 1, at + 1 + n), env.tolerate, seqFindings);
    at += 1 + n;
  }
  t.comment(`sequence property: ${multi.length} pipelined or Upgrade shapes, each request also sent alone`);
  await report(t, env, 'HTTP/1.1 sequences', seqFindings, async (_f, s) => (await sequenced(s, 's', 1500)).violations);

  await report(t, env, 'HTTP/1.1', findings, async (f, s) => {
    const [r] = await runShapes('s', [{ shape: s, target: f.run.target }], env.tokens, { timeoutMs: 1500 });
    const out = emptyFindings();
    await checkRun(r!, { policy: f.run.target.sidecar.policy, tokens: env.tokens, routers: env.routers, tolerate: env.tolerate }, out);
    return out.violations;
  });
});
