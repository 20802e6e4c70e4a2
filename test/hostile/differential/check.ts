import type { CompiledPolicy } from '../../../policies/src/types.js';
import { headerValues, type AppRequest } from './apps.js';
import type { LogLine, RequestRun, ShapeRun } from './harness.js';
import {
  FORWARD,
  IDENTITY_HEADERS,
  implies,
  limitKeyFromApp,
  requirementOf,
  requirementText,
  routeFor,
  ruleFor,
  satisfies,
  type Tokens,
} from './policy.js';
import { parseurlPathname, type RouterModel } from './routers.js';

/**
 * The comparison: for each request, (a) what the sidecar decided (its debug access log line),
 * (b) what the app received, (c) how each router model reads what the app received. A finding
 * is a `violation` (the property is broken) or an `info` (a documented, tolerated difference).
 *
 * Tolerated, on purpose (each is counted and reported, never failed on):
 * - `sidecar-stricter`: a router reads the path as one whose requirement is weaker than the one
 *   the sidecar applied (e.g. `/admin;x/y`: the sidecar matches `/admin/y` like a servlet
 *   container, Express reads `/admin;x/y`). The request satisfied the stricter requirement, so
 *   it satisfies the router's: nothing got through that the policy would refuse.
 * - `trailing-slash`: path.Clean (Go) and normpath (Python) drop a trailing slash; the real
 *   routers keep it (Go's ServeMux puts it back, Flask/Werkzeug distinguish it), so a difference
 *   that disappears when the slash is kept is an artefact of the model.
 * - `router-refuses`: a router cannot parse the target at all (it would answer 400 itself).
 * - `unusual-target-bytes`: `"<>\^`{|}` forwarded in the target: outside RFC 3986, but HTTP/1.1
 *   parsers (llhttp, the sidecar's own front among them) accept them and the modelled routers
 *   read them alike; a rule difference they cause is caught by the router comparison anyway.
 *   (SP, CTL, DEL, `#` and bytes 0x80-0xFF are violations: llhttp refuses them on HTTP/1.1, and
 *   readers disagree on them.)
 * - `forwarded-not-recorded`: the log says the request was relayed, the app recorded nothing for
 *   it (its own parser refused it, or the upstream call failed): a blind spot of the harness,
 *   listed so its size is known.
 * - `no-answer`: the client got no answer within the run's safety timeout (a hang, not a
 *   differential; listed so it is seen).
 * - `log-upstream-null`: a request relayed to an h2c app is logged with `upstream_duration_ms`
 *   null (the h2c upstream settles from the sink's close callback before timing the call): a
 *   telemetry inaccuracy, not a decision differential.
 * - `duplicate-field-first-wins`: a field that may occur once (Authorization on a public path)
 *   sent twice reaches the app once, the first value: node:http's rule, which the sidecar also
 *   judged by.
 * - `duplicate-authorization`: two Authorization fields, the sidecar used the first (node:http's
 *   rule); the token never reaches the app (it is stripped), so no app can read the other one.
 *
 * Not tolerated any more: `express-matching` (Express routes case-insensitively and with an
 * optional trailing slash; a path whose reading so gets a weaker requirement than the sidecar
 * applied is a violation: the sidecar refuses paths whose case changes the verdict, and exact
 * rules match with and without the slash).
 *
 * `SIDEGATE_DIFF_TOLERATE` (comma-separated classes) turns more classes into infos: for running
 * the suite green while a known violation is being fixed. It is printed when used.
 */
export interface Finding {
  readonly cls: string;
  readonly run: ShapeRun;
  readonly index: number;
  readonly detail: string;
}

export interface Findings {
  readonly violations: Finding[];
  readonly infos: Finding[];
}

export interface CheckCtx {
  readonly policy: CompiledPolicy;
  readonly tokens: Tokens;
  readonly routers: readonly RouterModel[];
  readonly tolerate: ReadonlySet<string>;
}

export function tolerated(env: NodeJS.ProcessEnv = process.env): Set<string> {
  return new Set(
    (env.SIDEGATE_DIFF_TOLERATE ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
}

const esc = (s: string): string => JSON.stringify(s).replace(/[\u007f-\u00ff]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
const pathOf = (target: string): string => target.split('?')[0]!;
/** The target with `;params` removed from every path segment (the query untouched). */
const stripParams = (target: string): string => {
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  return (
    p
      .split('/')
      .map((seg) => seg.split(';', 1)[0])
      .join('/') + (q < 0 ? '' : target.slice(q))
  );
};
/** Identity header spellings an app may read as the real one: any case, `_` for `-` (CGI, WSGI, nginx underscores_in_headers). */
const asIdentity = (name: string): string | undefined => {
  const n = name.toLowerCase().replace(/_/g, '-');
  return IDENTITY_HEADERS.has(n) ? n : undefined;
};

/**
 * The methods an app may act on for what it received: the method itself and, for a POST, the
 * one a method override names (Express's `method-override` reads `X-HTTP-Method-Override`,
 * gorilla/handlers it or `_method`, Symfony and Laravel `X-HTTP-Method-Override` or `_method`,
 * others `X-HTTP-Method`, `X-Method-Override`; CGI-style servers read `_` for `-`).
 */
function actedMethods(a: AppRequest): string[] {
  const method = a.method.toUpperCase();
  const out = [method];
  if (method !== 'POST') return out;
  const add = (v: string): void => {
    const m = v.trim().toUpperCase();
    if (m !== '' && !out.includes(m)) out.push(m);
  };
  for (const [n, v] of a.headers) {
    if (/^x[-_]http[-_]method(?:[-_]override)?$|^x[-_]method[-_]override$/i.test(n)) for (const item of v.split(',')) add(item);
  }
  const q = a.target.indexOf('?');
  if (q >= 0) {
    for (const part of a.target.slice(q + 1).split(/[&;]/)) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const dec = (x: string): string => {
        try {
          return decodeURIComponent(x.replace(/\+/g, ' '));
        } catch {
          return x;
        }
      };
      if (dec(part.slice(0, eq)) === '_method') add(dec(part.slice(eq + 1)));
    }
  }
  return out;
}

/** Bytes in a forwarded request-target that HTTP readers disagree on (RFC 9112 §3.2 allows none of them). */
// eslint-disable-next-line no-control-regex -- control bytes are exactly what it looks for
const BAD_TARGET = /[\x00-\x20\x7f-\xff#]/;
const ODD_TARGET = /["<>\\^`{|}]/;

/** Fields the sidecar itself writes on the forwarded request (framing, forwarding, the request id, the run's tracer). */
// `connection` is hop-by-hop: the sidecar writes its own (`upgrade` for an Upgrade it forwards).
const SIDECAR_FIELDS: ReadonlySet<string> = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'via',
  'x-request-id',
  'transfer-encoding',
  'content-length',
  'connection',
]);

/** The log line that judged a request, or undefined. */
function judged(q: RequestRun): LogLine | undefined {
  return q.logs[0];
}

/**
 * The sidecar answered the request itself (by its own account): an error code and no call to the
 * app. (Not `upstream_duration_ms` alone: it is null for requests relayed to an h2c app, see
 * `log-upstream-null`.)
 */
const refusedByLog = (l: LogLine): boolean =>
  l.error !== undefined && (l.upstream_duration_ms === null || l.upstream_duration_ms === undefined);

export async function checkRun(run: ShapeRun, ctx: CheckCtx, into: Findings): Promise<void> {
  const add = (cls: string, index: number, detail: string, benign = false): void => {
    const f = { cls, run, index, detail };
    if (benign || ctx.tolerate.has(cls)) into.infos.push(f);
    else into.violations.push(f);
  };
  if (run.timedOut) add('no-answer', -1, 'the connection got no (complete) answer within the timeout', true);
  for (const a of run.strays) {
    add(
      'unjudged-request',
      -1,
      `the app received ${esc(a.requestLine)} (x-request-id ${esc(headerValues(a.headers, 'x-request-id').join(', ') || 'none')}) that matches no request the sidecar judged`,
    );
  }
  for (const { app: a, log } of run.relabelled) {
    add(
      'request-id-replaced',
      -1,
      `the app received ${esc(a.requestLine)} with x-request-id ${esc(String(log.request_id))}, which the sidecar logged for ${esc(`${String(log.method)} ${String(log.path)}`)}: not the id the client sent in the head`,
    );
  }
  for (const q of run.requests) {
    const i = q.sent.index;
    const l = judged(q);
    if (l !== undefined && q.app.length === 0 && !refusedByLog(l) && l.status !== 499 && !run.relabelled.some((x) => x.log === l)) {
      add(
        'forwarded-not-recorded',
        i,
        `logged as relayed (status ${String(l.status)}, error ${String(l.error)}), but the app recorded no request with this id`,
        true,
      );
    }
    if (q.logs.length > 1) add('log-duplicated', i, `${q.logs.length} access log lines for one request id`);
    if (l !== undefined && l.decision !== undefined && l.method !== undefined && l.path !== undefined && l.decision.rule !== 'none') {
      const own = ruleFor(ctx.policy, l.method, l.path);
      if (own !== l.decision.rule)
        add('log-inconsistent', i, `logged rule ${String(l.decision.rule)} for ${esc(l.method)} ${esc(l.path)}, the policy gives ${own}`);
    }
    if (q.sent.headTokens.length > 1 && l !== undefined && l.auth?.result === 'success')
      add('duplicate-authorization', i, 'two Authorization fields, accepted', true);
    if (q.app.length === 0) continue;
    if (l === undefined) {
      for (const a of q.app)
        add(
          'unjudged-request',
          i,
          `the app received ${esc(a.requestLine)} carrying this request's id, but the sidecar logged no decision for it`,
        );
      continue;
    }
    if (l.error === undefined && (l.upstream_duration_ms === null || l.upstream_duration_ms === undefined))
      add(
        'log-upstream-null',
        i,
        `relayed to the app (status ${String(l.status)}) but logged with upstream_duration_ms ${String(l.upstream_duration_ms)}`,
        true,
      );
    if (refusedByLog(l))
      add(
        'refused-but-forwarded',
        i,
        `the sidecar answered ${String(l.status)} itself (${String(l.error)}), yet the app received ${esc(q.app[0]!.requestLine)}`,
      );
    if (q.app.length > 1) add('duplicated-request', i, `the app received this request ${q.app.length} times`);
    for (const a of q.app) await compare(q, l, a, ctx, add);
  }
}

async function compare(
  q: RequestRun,
  l: LogLine,
  a: AppRequest,
  ctx: CheckCtx,
  add: (cls: string, i: number, d: string, benign?: boolean) => void,
): Promise<void> {
  const i = q.sent.index;
  const rule = String(l.decision?.rule ?? 'missing');
  if (l.decision === undefined) add('log-without-decision', i, 'no decision in the access log line (is --log-level debug on?)');

  // The request line itself.
  if (a.method !== l.method) add('method-mismatch', i, `the sidecar judged ${esc(String(l.method))}, the app received ${esc(a.method)}`);
  if (!a.lineWellFormed || BAD_TARGET.test(a.target)) {
    const c = a.lineWellFormed ? BAD_TARGET.exec(a.target)![0] : ' ';
    const what = c === '#' ? '#' : c === ' ' ? 'SP' : c === '\t' ? 'HTAB' : c === '\x7f' ? 'DEL' : c > '\x7f' ? 'non-ASCII' : 'CTL';
    add(`malformed-request-line (${what})`, i, `the app received the request line ${esc(a.requestLine)}`);
  } else if (ODD_TARGET.test(a.target)) add('unusual-target-bytes', i, `target ${esc(a.target)}`, true);

  // Identity: exactly the headers the sidecar set from the token it verified, in no other spelling.
  const sub = l.auth?.result === 'success' ? l.auth.sub : undefined;
  const claims = sub === undefined ? undefined : ctx.tokens.claimsBySub.get(sub);
  const expected: string[] = [];
  if (claims !== undefined)
    for (const [claim, header] of Object.entries(FORWARD))
      if (claims[claim] !== undefined)
        expected.push(`${header}: ${typeof claims[claim] === 'string' ? claims[claim] : JSON.stringify(claims[claim])}`);
  const got = a.headers.filter(([n]) => asIdentity(n) !== undefined).map(([n, v]) => `${n}: ${v}`);
  if (sub !== undefined && claims === undefined)
    add('identity-header', i, `the sidecar vouched for ${esc(sub)}, a subject no valid token carries`);
  if (JSON.stringify([...got].sort()) !== JSON.stringify([...expected].sort())) {
    add(
      'identity-header',
      i,
      `the app received identity fields [${got.map(esc).join(', ')}], the sidecar vouched for [${expected.map(esc).join(', ')}] (auth ${String(l.auth?.result)})`,
    );
  }
  const inTrailers = a.trailers.filter(([n]) => asIdentity(n) !== undefined);
  if (inTrailers.length > 0)
    add(
      'identity-header',
      i,
      `identity fields in the trailers the app received: ${inTrailers.map(([n, v]) => esc(`${n}: ${v}`)).join(', ')}`,
    );
  if (sub !== undefined && !q.sent.headTokens.some((tok) => ctx.tokens.subByToken.get(tok) === sub)) {
    add('auth-not-from-head', i, `the sidecar authenticated ${esc(sub)} from a token that is not in the request head (a trailer?)`);
  }

  // Every other field the app received is one the client sent in its head, with the same value:
  // nothing promoted from trailers, nothing merged or rewritten on the way.
  const sentHead = new Map<string, string[]>([['x-diff-shape', [q.sent.id.slice(0, q.sent.id.lastIndexOf('.'))]]]);
  for (const [n, v] of q.sent.headers) {
    const k = n.toLowerCase();
    const xs = sentHead.get(k);
    const tv = v.replace(/^[ \t]+|[ \t]+$/g, '');
    if (xs) xs.push(tv);
    else sentHead.set(k, [tv]);
  }
  const appHead = new Map<string, string[]>();
  for (const [n, v] of a.headers) {
    const k = n.toLowerCase();
    if (SIDECAR_FIELDS.has(k) || asIdentity(k) !== undefined) continue;
    const xs = appHead.get(k);
    if (xs) xs.push(v);
    else appHead.set(k, [v]);
  }
  for (const [k, vs] of appHead) {
    const mine = sentHead.get(k);
    if (mine === undefined)
      add(
        'field-not-from-head',
        i,
        `the app received ${esc(`${k}: ${vs.join(', ')}`)}, a field the client did not send in the request head`,
      );
    else if (mine.length > 1 && vs.length === 1 && vs[0] === mine[0])
      add('duplicate-field-first-wins', i, `${k}: the client sent ${mine.length}, the app got the first`, true);
    else if (mine.join(', ') !== vs.join(', '))
      add('field-not-from-head', i, `the app received ${esc(`${k}: ${vs.join(', ')}`)}, the client's head said ${esc(mine.join(', '))}`);
  }

  // The body the app got is the body the client sent.
  if (a.body !== q.sent.body)
    add(
      'body-mismatch',
      i,
      `the app received a body of ${a.body.length} bytes ${esc(a.body.slice(0, 80))}, the client sent ${q.sent.body.length} ${esc(q.sent.body.slice(0, 80))}`,
    );
  if (a.anomalies.length > 0) add('app-framing', i, `the app saw: ${a.anomalies.join('; ')}`);

  // Rate-limit keys, recomputed from what the app received (route from Express's reading).
  const fields = new Map<string, string[]>();
  for (const [n, v] of a.headers) {
    const k = n.toLowerCase();
    const xs = fields.get(k);
    if (xs) xs.push(v);
    else fields.set(k, [v]);
  }
  const route = routeFor(ctx.policy, a.method, parseurlPathname(a.target) ?? pathOf(a.target));
  const logged = l.decision?.limits ?? {};
  const acted = actedMethods(a);
  for (const spec of ctx.policy.rateLimits) {
    const theirs = logged[spec.name];
    // A method override the app acts on: the request must have been keyed as that method too.
    for (const m of acted.slice(1)) {
      const over = limitKeyFromApp(ctx.policy, spec.name, {
        method: m,
        route: routeFor(ctx.policy, m, parseurlPathname(a.target) ?? pathOf(a.target)),
        headers: fields,
        claims,
      });
      if (theirs !== undefined && over !== theirs)
        add(
          'limit-key (method override)',
          i,
          `limit ${spec.name}: the sidecar keyed ${theirs} for ${esc(String(l.method))}, the app may act on ${esc(m)} (a method override), which keys ${String(over)}`,
        );
    }
    const mine = limitKeyFromApp(ctx.policy, spec.name, { method: a.method, route, headers: fields, claims });
    if (theirs === undefined) add('limit-key', i, `limit ${spec.name} applies to every request but the sidecar logged no key for it`);
    else if (mine !== theirs) {
      // The cause, when it is the path parameters the sidecar strips for matching but forwards.
      const plain = routeFor(ctx.policy, a.method, stripParams(parseurlPathname(a.target) ?? pathOf(a.target)));
      const cause = String(l.path).includes('#')
        ? ' (fragment)'
        : plain !== route && limitKeyFromApp(ctx.policy, spec.name, { method: a.method, route: plain, headers: fields, claims }) === theirs
          ? ' (path parameters)'
          : '';
      add(
        `limit-key${cause}`,
        i,
        `limit ${spec.name}: the sidecar keyed ${theirs}, the app's request (method ${esc(a.method)}, route ${route}, x-tenant ${esc((fields.get('x-tenant') ?? []).join(', '))}, x-forwarded-for ${esc((fields.get('x-forwarded-for') ?? []).join(', '))}) gives ${String(mine)}`,
      );
    }
  }

  // Each router's reading, judged by the same policy.
  const applied = requirementOf(ctx.policy, rule);
  const method = a.method.toUpperCase();
  for (const m of ctx.routers) {
    const path = await m.read(a.target);
    if (path === undefined) {
      add('router-refuses', i, `${m.name} cannot parse ${esc(a.target)}`, true);
      continue;
    }
    const theirs = requirementOf(ctx.policy, ruleFor(ctx.policy, method, path));
    const what = `${m.name} reads ${esc(method)} ${esc(path)} (from ${esc(a.target)}): ${ruleFor(ctx.policy, method, path)} requiring ${requirementText(theirs)}; the sidecar applied ${rule} requiring ${requirementText(applied)} to ${esc(String(l.method))} ${esc(String(l.path))}`;
    if (requirementText(theirs) !== requirementText(applied)) {
      if (implies(applied, theirs)) add('sidecar-stricter', i, what, true);
      else if (
        m.dropsTrailingSlash === true &&
        pathOf(a.target).endsWith('/') &&
        implies(applied, requirementOf(ctx.policy, ruleFor(ctx.policy, method, `${path}/`)))
      )
        add('trailing-slash', i, what, true);
      else {
        // Name the cause when one fix would remove the difference: the method's case (frameworks
        // upper-case it, the sidecar matched it as sent) or path parameters (the sidecar matched
        // without them, the app gets them).
        const asLogged = requirementOf(ctx.policy, ruleFor(ctx.policy, String(l.method), path));
        const unparam = await m.read(stripParams(a.target));
        const cause =
          String(l.method) !== method && implies(applied, asLogged)
            ? ' (method case)'
            : a.target.includes(';') &&
                unparam !== undefined &&
                implies(applied, requirementOf(ctx.policy, ruleFor(ctx.policy, method, unparam)))
              ? ' (path parameters)'
              : String(l.path).includes('#')
                ? ' (fragment)'
                : BAD_TARGET.test(a.target)
                  ? ' (target bytes)'
                  : '';
        add(
          `rule-mismatch${cause}`,
          i,
          `${what}; ${satisfies(theirs, claims) ? 'this request happened to meet both' : "this request does NOT meet the router's requirement: it got through"}`,
        );
      }
    }
    for (const over of acted.slice(1)) {
      const r = requirementOf(ctx.policy, ruleFor(ctx.policy, over, path));
      if (!implies(applied, r))
        add(
          'rule-mismatch (method override)',
          i,
          `${m.name} reads ${esc(path)}; the app may act on ${esc(over)} (a method override): ${ruleFor(ctx.policy, over, path)} requiring ${requirementText(r)}; the sidecar applied ${rule} requiring ${requirementText(applied)} to ${esc(String(l.method))}; ${satisfies(r, claims) ? 'this request happened to meet both' : 'this request does NOT meet it: it got through'}`,
        );
    }
    if (m.caseInsensitive === true || m.optionalTrailingSlash === true) {
      const variants = new Set<string>();
      const strip = (p: string): string => p.replace(/\/+$/, '') || '/';
      if (m.caseInsensitive === true) variants.add(path.toLowerCase());
      if (m.optionalTrailingSlash === true) variants.add(strip(path));
      if (m.caseInsensitive === true && m.optionalTrailingSlash === true) variants.add(strip(path.toLowerCase()));
      variants.delete(path);
      for (const v of variants) {
        const r = requirementOf(ctx.policy, ruleFor(ctx.policy, method, v));
        if (!implies(applied, r)) {
          add(
            'express-matching',
            i,
            `${m.name} would route ${esc(path)} like ${esc(v)} (${requirementText(r)}); the sidecar applied ${requirementText(applied)}`,
          );
          break;
        }
      }
    }
  }
}

// --- cross-protocol

/** What one protocol made of one request: comparable across protocols. */
interface Outcome {
  /** `forwarded`, a status the sidecar answered with, or `?` (no verdict to compare). */
  readonly verdict: string;
  readonly rule?: string | undefined;
  readonly limits?: string;
  readonly app?: string;
}

function outcome(q: RequestRun, key: string): Outcome {
  const l = judged(q);
  const rule = l?.decision?.rule;
  if (q.app.length > 0) {
    const a = q.app[0]!;
    const ids = a.headers
      .filter(([n]) => asIdentity(n) !== undefined)
      .map(([n, v]) => `${n}: ${v}`)
      .sort();
    // The body may embed the run's key (a smuggled request's ids): compare it without.
    const body = a.body.replace(new RegExp(`${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:\\.\\d+)?`, 'g'), 'KEY');
    return {
      verdict: l === undefined ? 'forwarded, no decision logged' : 'forwarded',
      rule,
      limits: JSON.stringify(Object.entries(l?.decision?.limits ?? {}).sort()),
      app: `${a.method} ${a.target} [${ids.join('; ')}] body ${body}`,
    };
  }
  if (l !== undefined && refusedByLog(l)) return { verdict: String(l.status), rule };
  // Refused below the pipeline: an HTTP/1.1 parse error (400, no log line), an HTTP/2 stream
  // reset or refusal. These are one class: "malformed", the same as the pipeline's 400.
  if (l === undefined && ((q.fate.kind === 'answer' && q.fate.status === 400 && !q.fate.stamped) || q.fate.kind === 'reset'))
    return { verdict: '400' };
  return { verdict: '?' };
}

/**
 * Compare what two runs made of one request each (`a` the reference): the same verdict, the same
 * rule, and when both were forwarded the same limit keys and the same request at the app (method,
 * target, identity fields, body). Requests without a verdict on either side are not compared.
 */
function compareOutcomes(
  prefix: string,
  a: Outcome,
  b: Outcome,
  label: string,
  run: ShapeRun,
  index: number,
  tolerate: ReadonlySet<string>,
  into: Findings,
): void {
  if (a.verdict === '?' || b.verdict === '?') return;
  const diffs: [string, string][] = [];
  if (a.verdict !== b.verdict) diffs.push(['verdict', `${a.verdict} vs ${b.verdict}`]);
  else if (a.rule !== b.rule && a.rule !== undefined && b.rule !== undefined)
    diffs.push(['rule', `${String(a.rule)} vs ${String(b.rule)}`]);
  if (a.verdict === 'forwarded' && b.verdict === 'forwarded') {
    if (a.limits !== b.limits) diffs.push(['limit keys', `${String(a.limits)} vs ${String(b.limits)}`]);
    if (a.app !== b.app) diffs.push(['app request', `the app received ${esc(String(a.app))} vs ${esc(String(b.app))}`]);
  }
  for (const [aspect, d] of diffs) {
    const cls = `${prefix} ${aspect}`;
    const f = { cls, run, index, detail: `${label}: ${d}` };
    if (tolerate.has(cls) || tolerate.has(prefix)) into.infos.push(f);
    else into.violations.push(f);
  }
}

/**
 * The same shape on several targets (the first is the reference, HTTP/1.1), request by request.
 * HTTP/1.1 requests left unanswered behind a connection-closing answer have no verdict (`?`):
 * HTTP/2 streams are independent, HTTP/1.1 pipelining is not, so they are not compared.
 */
export function crossCheck(runs: readonly ShapeRun[], tolerate: ReadonlySet<string>, into: Findings): void {
  const [ref, ...others] = runs;
  if (ref === undefined) return;
  for (const other of others) {
    ref.requests.forEach((rq, i) => {
      const oq = other.requests[i];
      if (oq !== undefined)
        compareOutcomes(
          'cross-protocol',
          outcome(rq, ref.key),
          outcome(oq, other.key),
          `${ref.target.name} vs ${other.target.name}`,
          other,
          i,
          tolerate,
          into,
        );
    });
  }
}

/**
 * The sequence property: request i of a pipelined batch (or of an Upgrade sequence) gets the same
 * decision, and reaches the app the same way, as the same request sent alone on its own
 * connection (`alone[i]`, a one-request run). What came before it on the connection must not
 * change how it is read.
 */
export function sequenceCheck(seq: ShapeRun, alone: readonly ShapeRun[], tolerate: ReadonlySet<string>, into: Findings): void {
  seq.requests.forEach((q, i) => {
    const solo = alone[i];
    const sq = solo?.requests[0];
    if (solo === undefined || sq === undefined) return;
    compareOutcomes(
      'sequence',
      outcome(sq, solo.key),
      outcome(q, seq.key),
      `request ${i} alone vs after ${i} other request(s) on the connection`,
      seq,
      i,
      tolerate,
      into,
    );
  });
}

export function emptyFindings(): Findings {
  return { violations: [], infos: [] };
}
