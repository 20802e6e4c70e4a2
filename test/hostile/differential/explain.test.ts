import t from 'tap';
import { explain, type ExplainResult } from '../../../cli/explain.js';
import { parseExplainArgs } from '../../../cli/explain-args.js';
import { startProxy } from '../../helpers/proxy.js';
import { startRawApp, type RecordingApp } from './apps.js';
import { describeShape, generateShapes, h1OnlyReason, seedFromEnv, shapeCount, type Shape } from './generator.js';
import { h1Target, h2Target, runShapes, type RequestRun, type ShapeRun, type Sidecar, type Target } from './harness.js';
import { compiled, mintTokens, NAMESPACE, policyDocument, SERVICE } from './policy.js';

/**
 * `sidegate explain` against the sidecar it explains: generated requests (the differential
 * suite's shapes, each request sent on its own connection) go to real sidecars, and for each one
 * the pipeline judged (it has an access log line) the explanation of the same method, target and
 * header fields must give what the sidecar did: forwarded or its status and error code, the route,
 * the auth rule, and every limit's key. Requests refused before there is a request to judge
 * (HTTP/1.1 parse errors, HTTP/2 protocol errors) have no log line and nothing to explain; they
 * are counted, not compared. Replay with SIDEGATE_DIFF_SEED.
 */

interface Verdict {
  readonly forwarded: boolean;
  readonly status: number | undefined;
  readonly error: string | undefined;
  readonly route: string | undefined;
  readonly rule: string | undefined;
  readonly limits: Readonly<Record<string, string>>;
}

async function sidecar(app: RecordingApp, doc: Record<string, unknown>, trustedHops: number): Promise<Sidecar> {
  const proxy = await startProxy(app.url, ['--log-level', 'debug', '--namespace', NAMESPACE, '--service', SERVICE], {
    policy: JSON.stringify(doc),
  });
  return { proxy, app, policy: compiled(doc), trustedHops, tls: undefined };
}

/** What the sidecar did with one request, from the client's side and its access log line. */
function observed(q: RequestRun): Verdict {
  const log = q.logs[0]!;
  return {
    forwarded: q.fate.fromApp,
    status: q.fate.fromApp ? undefined : q.fate.status,
    error: typeof log.error === 'string' ? log.error : undefined,
    route: log.route,
    rule: log.decision?.rule,
    limits: log.decision?.limits ?? {},
  };
}

function explained(e: ExplainResult): Verdict {
  return {
    forwarded: e.answer.forwarded,
    status: e.answer.status,
    error: e.answer.error,
    route: e.route,
    rule: e.auth.rule,
    limits: Object.fromEntries(e.limits.map((l) => [l.name, l.key])),
  };
}

/** The header fields the request went out with, as `sidegate explain -H` takes them. */
function headerArgs(q: RequestRun, target: Target, key: string): string[] {
  const s = q.sent;
  const fields: (readonly [string, string])[] =
    target.protocol === 'h1'
      ? [['Host', 'x'], ['x-request-id', s.id], ['x-diff-shape', key], ...s.headers]
      : [['host', 'x'], ['x-request-id', s.id], ['x-diff-shape', key], ...s.headers];
  const b = s.spec.body;
  if (b?.kind === 'length') fields.push(['Content-Length', String(s.body.length)]);
  else if (b?.kind === 'chunked' && target.protocol === 'h1') fields.push(['Transfer-Encoding', 'chunked']);
  return fields.flatMap(([n, v]) => ['-H', `${n}: ${v}`]);
}

/** A chunked body with a content-length trailer: refused by HTTP/1.1 framing while it is read. */
function bodyRefused(q: RequestRun, run: ShapeRun): boolean {
  const b = q.sent.spec.body;
  return run.target.protocol === 'h1' && b?.kind === 'chunked' && b.trailers.some(([n]) => n.toLowerCase() === 'content-length');
}

/**
 * The target as the sidecar received it: HTTP/1.1 reads spaces and tabs at either end of the
 * target as the request line's separators (`GET /x  HTTP/1.1` asks for `/x`); HTTP/2 keeps them.
 */
function requestTarget(q: RequestRun, target: Target): string {
  return target.protocol === 'h1' ? q.sent.spec.target.replace(/^[ \t]+|[ \t]+$/g, '') : q.sent.spec.target;
}

async function explainRun(q: RequestRun, run: ShapeRun): Promise<ExplainResult> {
  const target = run.target;
  const argv = [
    '-f',
    target.sidecar.proxy.policyFile!,
    '--namespace',
    NAMESPACE,
    '--service',
    SERVICE,
    '--client-ip',
    '127.0.0.1',
    ...(target.protocol === 'h2' ? ['--http2'] : []),
    ...headerArgs(q, target, run.key),
    '--',
    q.sent.spec.method,
    requestTarget(q, target),
  ];
  return explain(parseExplainArgs(argv));
}

t.test('sidegate explain gives what the sidecar does, for generated requests', async (t) => {
  const seed = seedFromEnv();
  t.comment(`SIDEGATE_DIFF_SEED=${seed}`);
  const tokens = await mintTokens();
  const app = await startRawApp();
  t.teardown(() => app.close());
  const plain = await sidecar(app, policyDocument(tokens.key, 0), 0);
  // The same policy in maintenance: public paths and OPTIONS excepted, admins allow-listed; and one trusted hop.
  const doc = policyDocument(tokens.key, 1);
  (doc.spec as Record<string, unknown>).maintenance = {
    except: [{ paths: ['/public/*'] }, { methods: ['OPTIONS'] }],
    allow: { claims: { role: ['admin'] } },
    retryAfter: '5m',
  };
  const closed = await sidecar(app, doc, 1);
  t.teardown(async () => {
    await plain.proxy.close();
    await closed.proxy.close();
  });
  const targets = {
    h1: h1Target('h1', plain),
    maintenance: h1Target('h1[maintenance, trustedHops=1]', closed),
    h2c: h2Target('h2c', plain),
  };

  // Every request of the generated shapes (Upgrade shapes aside) alone on a connection.
  const singles: Shape[] = generateShapes(seed, shapeCount(300))
    .filter((s) => s.kind !== 'upgrade')
    .flatMap((s, i) => s.requests.map((q, j) => ({ id: i * 10 + j, kind: 'single' as const, requests: [q] })));
  const work = singles.flatMap((s, i) => [
    { shape: s, target: targets.h1 },
    ...(i % 2 === 0 ? [{ shape: s, target: targets.maintenance }] : []),
    ...(i % 3 === 0 && h1OnlyReason(s) === undefined ? [{ shape: s, target: targets.h2c }] : []),
  ]);
  const runs = await runShapes('explain', work, tokens);

  const mismatches: string[] = [];
  const seen = new Map<string, number>();
  const bump = (k: string): void => {
    seen.set(k, (seen.get(k) ?? 0) + 1);
  };
  let judged = 0;
  for (const run of runs) {
    const q = run.requests[0]!;
    if (q.logs.length !== 1) {
      bump(`${run.target.name}: not judged (no request formed)`);
      continue;
    }
    judged++;
    const e = await explainRun(q, run);
    let want = observed(q);
    const got = explained(e);
    // The one refusal that comes after the deciding stages in these shapes: HTTP/1.1 framing
    // refuses a content-length trailer while the body is read (400), once the head was judged and
    // forwarded. explain judges the head; it says "forwarded", and the rest must agree.
    if (bodyRefused(q, run) && want.status === 400 && want.error === 'SIDEGATE_ERR_BAD_REQUEST' && want.rule !== 'none') {
      bump(`${run.target.name}: body refused after the decision (content-length trailer)`);
      want = { ...want, forwarded: true, status: undefined, error: undefined };
    }
    bump(
      `${run.target.name}: ${got.forwarded ? 'forwarded' : `${got.status} ${got.error ?? ''}`}${e.maintenance === 'off' ? '' : ` [maintenance ${e.maintenance}]`}`,
    );
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      mismatches.push(
        `${run.target.name} ${describeShape(run.shape)}\n    sidecar: ${JSON.stringify(want)}\n    explain: ${JSON.stringify(got)}`,
      );
    }
  }
  t.comment(
    [...seen]
      .sort()
      .map(([k, n]) => `${n}\t${k}`)
      .join('\n'),
  );
  t.ok(judged >= 300, `${judged} requests judged by the sidecars and explained (of ${runs.length} sent)`);
  t.same(mismatches, [], `explain gives the sidecar's answer, route, rule and limit keys (SIDEGATE_DIFF_SEED=${seed})`);

  // Controls: the comparison covered each kind of answer, so a harness that saw nothing cannot pass.
  const count = (re: RegExp): number => [...seen].filter(([k]) => re.test(k)).reduce((n, [, c]) => n + c, 0);
  for (const [what, re] of [
    ['forwarded', /^h1: forwarded$/],
    ['401', /^h1: 401 SIDEGATE_ERR_UNAUTHENTICATED/],
    ['403', /^h1: 403 SIDEGATE_ERR_FORBIDDEN/],
    ['400', /^h1: 400 SIDEGATE_ERR_BAD_REQUEST/],
    ['maintenance refusals', /503 SIDEGATE_ERR_MAINTENANCE \[maintenance refused\]/],
    ['maintenance exceptions', /\[maintenance excepted\]/],
    ['allow-listed', /\[maintenance allowed\]/],
    ['h2c', /^h2c: /],
  ] as const)
    t.ok(count(re) > 0, `the comparison includes ${what} (${count(re)})`);
});
