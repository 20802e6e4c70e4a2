import type { CompiledPolicy } from '../../../policies/src/types.js';
import { startProxy, type RunningProxy } from '../../helpers/proxy.js';
import { headerValues, type AppRequest, type RecordingApp } from './apps.js';
import {
  answeredBy,
  answerRequestId,
  h1Exchange,
  h2Exchange,
  type ClientAnswer,
  type ConnectOpts,
  type H2Request,
  type H2StreamResult,
} from './clients.js';
import { SMUGGLE_MARK, simplifications, type ReqSpec, type Shape, type TokenName } from './generator.js';
import { compiled, NAMESPACE, policyDocument, SERVICE, type Tokens } from './policy.js';

/**
 * Sidecars to test, the ways to reach them, and running shapes through them: each request gets
 * its own `x-request-id` (the sidecar logs it as request_id and forwards it), and every request
 * carries `x-diff-shape` so whatever reaches the app can be traced to the shape that sent it.
 */
export interface Sidecar {
  readonly proxy: RunningProxy;
  readonly app: RecordingApp;
  readonly policy: CompiledPolicy;
  readonly trustedHops: number;
  readonly tls: { readonly ca: Buffer } | undefined;
}

export interface Target {
  /** e.g. `h1`, `h2c`, `h2-tls`, `h1→h2c-app`. */
  readonly name: string;
  readonly protocol: 'h1' | 'h2';
  readonly sidecar: Sidecar;
  readonly connect: ConnectOpts;
}

export async function startSidecar(o: {
  app: RecordingApp;
  tokens: Tokens;
  trustedHops: number;
  tls?: { certFile: string; keyFile: string; cert: Buffer };
}): Promise<Sidecar> {
  const doc = policyDocument(o.tokens.key, o.trustedHops);
  const flags = ['--log-level', 'debug', '--namespace', NAMESPACE, '--service', SERVICE];
  if (o.tls !== undefined) flags.push('--tls-cert', o.tls.certFile, '--tls-key', o.tls.keyFile);
  const proxy = await startProxy(o.app.url, flags, { policy: JSON.stringify(doc) });
  return {
    proxy,
    app: o.app,
    policy: compiled(doc),
    trustedHops: o.trustedHops,
    tls: o.tls === undefined ? undefined : { ca: o.tls.cert },
  };
}

export function h1Target(name: string, sc: Sidecar): Target {
  return {
    name,
    protocol: 'h1',
    sidecar: sc,
    connect: { port: sc.proxy.proxy.port, tls: sc.tls === undefined ? undefined : { ca: sc.tls.ca, alpn: 'http/1.1' } },
  };
}

export function h2Target(name: string, sc: Sidecar): Target {
  return {
    name,
    protocol: 'h2',
    sidecar: sc,
    connect: { port: sc.proxy.proxy.port, tls: sc.tls === undefined ? undefined : { ca: sc.tls.ca, alpn: 'h2' } },
  };
}

// --- what was sent

export interface SentRequest {
  readonly id: string;
  readonly index: number;
  readonly spec: ReqSpec;
  /** Header fields after token substitution, as sent (h2: names lowercased, values trimmed). */
  readonly headers: readonly (readonly [string, string])[];
  /** The body's bytes as the app should receive them (dechunked). */
  readonly body: string;
  readonly trailers: readonly (readonly [string, string])[];
  /** Tokens in the request head's authorization fields. */
  readonly headTokens: readonly string[];
}

export interface Fate {
  /** Final status the client got, if any. */
  readonly status: number | undefined;
  /** The app answered (its marker came through), as opposed to the sidecar. */
  readonly fromApp: boolean;
  /** The answer carried this request's id (the pipeline answered or relayed it). */
  readonly stamped: boolean;
  /** `answer`, `reset`, `refused` (GOAWAY or connection gone), `none` (nothing, e.g. after a close). */
  readonly kind: 'answer' | 'reset' | 'refused' | 'none';
}

export type LogLine = Record<string, unknown> & {
  request_id?: string;
  method?: string;
  path?: string;
  status?: number;
  route?: string;
  upstream_duration_ms?: number | null;
  error?: string;
  auth?: { result?: string; provider?: string; reason?: string; sub?: string };
  decision?: { rule?: string; limits?: Record<string, string> };
};

export interface RequestRun {
  readonly sent: SentRequest;
  readonly fate: Fate;
  /** Access log lines with this request id. */
  logs: LogLine[];
  /** What reached the app carrying exactly this id. */
  app: AppRequest[];
}

export interface ShapeRun {
  readonly shape: Shape;
  readonly target: Target;
  readonly key: string;
  readonly requests: RequestRun[];
  /** App requests traced to this shape that carry none of its request ids (smuggled, tunnelled). */
  strays: AppRequest[];
  /** App requests traced to this shape whose request id is none of the shape's but one the sidecar logged (its id was replaced). */
  relabelled: { app: AppRequest; log: LogLine }[];
  readonly timedOut: boolean;
}

const PLACEHOLDER = /\{(user|admin|bad)\}/g;
const fill = (v: string, tokens: Tokens): string => v.replace(PLACEHOLDER, (_m, n: string) => tokens.values[n as TokenName]);
const trimOws = (v: string): string => v.replace(/^[ \t]+|[ \t]+$/g, '');

function smuggled(key: string, index: number): string {
  return `POST /admin/x HTTP/1.1\r\nHost: x\r\nx-request-id: ${key}.${index}.smuggled\r\nx-diff-shape: ${key}\r\ncontent-length: 0\r\n\r\n`;
}

function resolve(spec: ReqSpec, key: string, index: number, tokens: Tokens, h2: boolean): SentRequest {
  const id = `${key}.${index}`;
  const headers = spec.headers.map(([n, v]): [string, string] => (h2 ? [n.toLowerCase(), trimOws(fill(v, tokens))] : [n, fill(v, tokens)]));
  // An Upgrade is an HTTP/1.1 request with these fields; HTTP/2 has none (the request goes as a plain one).
  if (spec.upgrade && !h2)
    headers.push(
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    );
  const b = spec.body;
  const data = (x: string): string => (x === SMUGGLE_MARK ? smuggled(key, index) : x);
  const body = b === undefined ? '' : b.kind === 'length' ? data(b.data) : b.chunks.map(data).join('');
  const trailers =
    b?.kind === 'chunked'
      ? b.trailers.map(([n, v]): [string, string] => (h2 ? [n.toLowerCase(), trimOws(fill(v, tokens))] : [n, fill(v, tokens)]))
      : [];
  const headTokens = headers.filter(([n]) => n.toLowerCase() === 'authorization').map(([, v]) => trimOws(v).replace(/^bearer\s+/i, ''));
  return { id, index, spec, headers, body, trailers, headTokens };
}

function h1Bytes(s: SentRequest, key: string): string {
  const q = s.spec;
  let out = `${q.method} ${q.target} HTTP/1.1\r\nHost: x\r\nx-request-id: ${s.id}\r\nx-diff-shape: ${key}\r\n`;
  for (const [n, v] of s.headers) out += `${n}: ${v}\r\n`;
  const b = q.body;
  if (b === undefined) return `${out}\r\n`;
  if (b.kind === 'length') return `${out}Content-Length: ${s.body.length}\r\n\r\n${s.body}`;
  out += 'Transfer-Encoding: chunked\r\n\r\n';
  const chunks = b.chunks.map((c) => (c === SMUGGLE_MARK ? smuggled(key, s.index) : c)).filter((c) => c !== '');
  for (const c of chunks) out += `${c.length.toString(16)}\r\n${c}\r\n`;
  out += '0\r\n';
  for (const [n, v] of s.trailers) out += `${n}: ${v}\r\n`;
  return `${out}\r\n`;
}

function h2Request(s: SentRequest, key: string, scheme: 'http' | 'https'): H2Request {
  const q = s.spec;
  const fields: (readonly [string, string])[] = [
    [':method', q.method],
    [':scheme', scheme],
    [':authority', 'x'],
    [':path', q.target],
    ['x-request-id', s.id],
    ['x-diff-shape', key],
    ...s.headers,
  ];
  const b = q.body;
  if (b === undefined) return { fields };
  if (b.kind === 'length')
    return { fields: [...fields, ['content-length', String(s.body.length)]], body: { data: [s.body], trailers: [] } };
  return { fields, body: { data: b.chunks.map((c) => (c === SMUGGLE_MARK ? smuggled(key, s.index) : c)), trailers: s.trailers } };
}

function fateOfAnswer(a: ClientAnswer | undefined, id: string): Fate {
  if (a === undefined) return { status: undefined, fromApp: false, stamped: false, kind: 'none' };
  return { status: a.status, fromApp: answeredBy(a) !== undefined, stamped: answerRequestId(a) === id, kind: 'answer' };
}

function fateOfStream(st: H2StreamResult, id: string): Fate {
  if (st.status !== undefined) return fateOfAnswer({ status: st.status, headers: st.headers }, id);
  if (st.reset !== undefined) return { status: undefined, fromApp: false, stamped: false, kind: 'reset' };
  return { status: undefined, fromApp: false, stamped: false, kind: 'refused' };
}

/** Send one shape on one connection; logs and app requests are attached later by `collect`. */
export async function sendShape(target: Target, shape: Shape, key: string, tokens: Tokens, timeoutMs = 4000): Promise<ShapeRun> {
  const h2 = target.protocol === 'h2';
  const sent = shape.requests.map((q, i) => resolve(q, key, i, tokens, h2));
  let fates: Fate[];
  let timedOut: boolean;
  if (!h2) {
    const r = await h1Exchange(target.connect, [sent.map((s) => h1Bytes(s, key)).join('')], sent.length, timeoutMs);
    timedOut = r.timedOut;
    fates = sent.map((s, i) => fateOfAnswer(r.answers[i], s.id));
  } else {
    const scheme = target.connect.tls === undefined ? 'http' : 'https';
    const r = await h2Exchange(
      target.connect,
      sent.map((s) => h2Request(s, key, scheme)),
      timeoutMs,
    );
    timedOut = r.timedOut;
    fates = sent.map((s, i) => fateOfStream(r.streams[i]!, s.id));
  }
  return {
    shape,
    target,
    key,
    requests: sent.map((s, i) => ({ sent: s, fate: fates[i]!, logs: [], app: [] })),
    strays: [],
    relabelled: [],
    timedOut,
  };
}

const requestLogs = (p: RunningProxy): LogLine[] => p.logs.filter((l): l is LogLine => l.msg === 'request');

/**
 * Wait for the access log lines of every request whose answer carried its id (they are written
 * when the exchange ends, just after the answer) and then, for a little longer, of every request
 * the app received (a tunnel logs when it closes; a request that never gets a line is what the
 * checks are looking for), then for the logs to stop growing. Bounded; what is still missing
 * then is judged missing.
 */
async function settle(runs: readonly ShapeRun[]): Promise<void> {
  const proxies = [...new Set(runs.map((r) => r.target.sidecar.proxy))];
  const apps = [...new Set(runs.map((r) => r.target.sidecar.app))];
  const keys = new Set(runs.map((r) => r.key));
  const stamped = new Set(runs.flatMap((r) => r.requests.filter((q) => q.fate.stamped).map((q) => q.sent.id)));
  const start = Date.now();
  let stampedDone = 0;
  let last = -1;
  let stable = 0;
  while (Date.now() - start < 3000) {
    const have = new Set(proxies.flatMap((p) => requestLogs(p).map((l) => l.request_id)));
    const received = apps
      .flatMap((a) => a.received)
      .filter((a) => headerValues(a.headers, 'x-diff-shape').some((k) => keys.has(k)))
      .flatMap((a) => headerValues(a.headers, 'x-request-id'));
    const total = proxies.reduce((n, p) => n + p.logs.length, 0);
    stable = total === last ? stable + 1 : 0;
    last = total;
    if ([...stamped].every((id) => have.has(id))) {
      stampedDone ||= Date.now();
      const appDone = received.every((id) => have.has(id)) || Date.now() - stampedDone > 500;
      if (appDone && stable >= 3) return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Attach log lines and app requests to each run, by request id and shape key. */
export function collect(runs: readonly ShapeRun[]): void {
  const byProxy = new Map<RunningProxy, Map<string, LogLine[]>>();
  const byApp = new Map<RecordingApp, Map<string, AppRequest[]>>();
  for (const r of runs) {
    const p = r.target.sidecar.proxy;
    if (!byProxy.has(p)) {
      const m = new Map<string, LogLine[]>();
      for (const l of requestLogs(p)) {
        const id = String(l.request_id);
        const xs = m.get(id);
        if (xs) xs.push(l);
        else m.set(id, [l]);
      }
      byProxy.set(p, m);
    }
    const app = r.target.sidecar.app;
    if (!byApp.has(app)) {
      const m = new Map<string, AppRequest[]>();
      for (const a of app.received) {
        for (const k of new Set(headerValues(a.headers, 'x-diff-shape'))) {
          const xs = m.get(k);
          if (xs) xs.push(a);
          else m.set(k, [a]);
        }
      }
      byApp.set(app, m);
    }
  }
  for (const r of runs) {
    const logs = byProxy.get(r.target.sidecar.proxy)!;
    const appReqs = byApp.get(r.target.sidecar.app)!.get(r.key) ?? [];
    const ids = new Map(r.requests.map((q) => [q.sent.id, q]));
    for (const q of r.requests) {
      q.logs = logs.get(q.sent.id) ?? [];
      q.app = [];
    }
    r.strays = [];
    r.relabelled = [];
    for (const a of appReqs) {
      const rid = headerValues(a.headers, 'x-request-id');
      const q = rid.length === 1 ? ids.get(rid[0]!) : undefined;
      const logged = rid.length === 1 ? logs.get(rid[0]!)?.[0] : undefined;
      if (q !== undefined) q.app.push(a);
      else if (logged !== undefined) r.relabelled.push({ app: a, log: logged });
      else r.strays.push(a);
    }
  }
}

let attempts = 0;
/** A fresh, safe key for one run of a shape on a target (also the prefix of its request ids). */
export function runKey(tag: string, shape: Shape, target: Target): string {
  return `${tag}.${shape.id}.${target.name.replace(/[^A-Za-z0-9]/g, '')}.${attempts++}`;
}

/** Run shapes on targets, `concurrency` connections at a time, then settle and collect. */
export async function runShapes(
  tag: string,
  work: readonly { shape: Shape; target: Target }[],
  tokens: Tokens,
  opts: { concurrency?: number; timeoutMs?: number } = {},
): Promise<ShapeRun[]> {
  const concurrency = opts.concurrency ?? 12;
  const out: ShapeRun[] = new Array<ShapeRun>(work.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < work.length) {
      const i = next++;
      const w = work[i]!;
      out[i] = await sendShape(w.target, w.shape, runKey(tag, w.shape, w.target), tokens, opts.timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, work.length) }, worker));
  await settle(out);
  collect(out);
  return out;
}

/** Greedy shrinking: apply the first simplification that keeps `fails`, until none does or the budget runs out. */
export async function shrink(shape: Shape, fails: (s: Shape) => Promise<boolean>, budget = 80, deadline = Infinity): Promise<Shape> {
  let cur = shape;
  let left = budget;
  for (let improved = true; improved && left > 0;) {
    improved = false;
    for (const cand of simplifications(cur)) {
      if (left-- <= 0 || Date.now() > deadline) {
        left = 0;
        break;
      }
      if (await fails(cand)) {
        cur = cand;
        improved = true;
        break;
      }
    }
  }
  return cur;
}
