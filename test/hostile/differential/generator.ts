/**
 * Request shapes for the differential suite, drawn from a seeded PRNG: the same seed gives the
 * same shapes, so any failure can be replayed with `SIDEGATE_DIFF_SEED=<seed>`.
 *
 * A shape is one client connection's worth of requests: a single request, a pipelined batch, or
 * an Upgrade request followed by pipelined requests. Strings are byte strings (one char per byte,
 * latin1): targets carry raw bytes such as TAB, DEL or 0xFF exactly as they go on the wire.
 */

/** A token the runner mints; `{user}` etc. inside header values are replaced with it. */
export type TokenName = 'user' | 'admin' | 'bad';

export type Body =
  | { readonly kind: 'length'; readonly data: string }
  | { readonly kind: 'chunked'; readonly chunks: readonly string[]; readonly trailers: readonly (readonly [string, string])[] };

export interface ReqSpec {
  readonly method: string;
  /** Request target as sent (origin-form, absolute-form or `*`), byte string. */
  readonly target: string;
  /** Header fields as spelled, in order; values may contain `{user}`, `{admin}`, `{bad}`. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Body | undefined;
  /** HTTP/1.1 Upgrade request (`Upgrade: websocket`, `Connection: Upgrade`). */
  readonly upgrade: boolean;
}

export interface Shape {
  readonly id: number;
  readonly kind: 'single' | 'pipeline' | 'upgrade';
  readonly requests: readonly ReqSpec[];
}

/** The seed: `SIDEGATE_DIFF_SEED` (decimal or 0x hex), else a random 32-bit one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const s = env.SIDEGATE_DIFF_SEED;
  if (s !== undefined && s.trim() !== '') {
    const n = Number(s.trim());
    if (!Number.isInteger(n)) throw new Error(`SIDEGATE_DIFF_SEED must be an integer, got ${s}`);
    return n >>> 0;
  }
  return (Math.random() * 0x100000000) >>> 0;
}

/** Shapes per run: `SIDEGATE_DIFF_SHAPES`, else `def`. */
export function shapeCount(def: number, env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.SIDEGATE_DIFF_SHAPES ?? '');
  return Number.isInteger(n) && n > 0 ? n : def;
}

/** mulberry32: small, fast, and good enough to spread choices; returns uniform [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type R = () => number;
const int = (r: R, n: number): number => Math.floor(r() * n);
const pick = <T>(r: R, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const chance = (r: R, p: number): boolean => r() < p;

// --- paths

/** Path segments that aim at the policy's rules. */
const ANCHORS: readonly (readonly string[])[] = [
  ['public', 'x'],
  ['admin', 'x'],
  ['admin'],
  ['api', 'x'],
  ['exact', 'secret'],
  ['other'],
  ['Admin', 'x'],
  ['EXACT', 'secret'],
  ['public', '..', 'admin', 'x'],
  ['public', '..', 'exact', 'secret'],
  ['api', '..', 'admin', 'x'],
  ['admin', '..', 'public', 'x'],
];

/** Segments (or segment spellings) known to confuse one reader or another. */
const TRICKY: readonly string[] = [
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '%2e%2e',
  '.%2e',
  '%2e.',
  '%2f',
  '..%2f',
  'x%2f..',
  '%5C',
  '%5c..',
  '\\',
  '..\\',
  ';x',
  ';',
  '',
  '%61dmin',
  '%70ublic',
  'adm%69n',
  '%2561dmin',
  'ADMIN',
  'Admin',
  'admin;x',
  'public;x',
  '..;',
  '.;',
  '%2e%2e;x',
  '%20',
  'a%20b',
  '%00',
  '%',
  '%zz',
  '*',
  '~',
  'x.y',
  '%7e',
];

/** Single bytes injected into or between segments. */
const BYTES: readonly string[] = [' ', '\t', '\x7f', '\x80', '\xff', '\xc3\xa9', '|', '{', '}', '^', '`', '"', '<', '>', '\x0b', '\x01'];

const SUFFIXES: readonly string[] = [
  '#frag',
  '#/../admin/x',
  '#',
  '?q=1&x=/admin',
  '?/../admin',
  '?a=%2e%2e',
  '?',
  '?q=1#f',
  '?x=\\..',
  '?_method=DELETE',
  '?%5Fmethod=get',
  '?a=1;_method=delete',
];

const KEYWORDS = new Set(['public', 'admin', 'api', 'exact', 'secret']);

function genPath(r: R): string {
  const segs = [...pick(r, ANCHORS)];
  const edits = int(r, 3);
  for (let i = 0; i < edits; i++) {
    const roll = r();
    const at = int(r, segs.length + 1);
    if (roll < 0.45) {
      segs.splice(at, 0, pick(r, TRICKY));
    } else if (roll < 0.7) {
      segs.splice(at, 0, pick(r, BYTES));
    } else {
      // Mutate a keyword in place: a byte inside it, one letter percent-encoded, or its case
      // (Express and ASP.NET route case-insensitively).
      const k = segs.findIndex((s) => KEYWORDS.has(s));
      if (k < 0) {
        segs.splice(at, 0, pick(r, TRICKY));
        continue;
      }
      const w = segs[k]!;
      const p = 1 + int(r, w.length - 1);
      const how = r();
      segs[k] =
        how < 0.4
          ? w.slice(0, p) + pick(r, BYTES) + w.slice(p)
          : how < 0.8
            ? w.slice(0, p) + `%${w.charCodeAt(p).toString(16)}` + w.slice(p + 1)
            : chance(r, 0.5)
              ? w.toUpperCase()
              : w.charAt(0).toUpperCase() + w.slice(1);
    }
  }
  let path = `/${segs.join('/')}`;
  if (chance(r, 0.08)) path = `/${path}`;
  if (chance(r, 0.12)) path += '/';
  return path;
}

function genTarget(r: R): string {
  const roll = r();
  if (roll < 0.03) return '*';
  if (roll < 0.09) return pick(r, ['http://h', 'https://h:443', 'HTTP://h', 'http://evil.example']) + genPath(r);
  let t = genPath(r);
  if (chance(r, 0.25)) t += pick(r, SUFFIXES);
  return t;
}

// --- methods and headers

const METHODS: readonly (readonly [string, number])[] = [
  ['GET', 22],
  ['POST', 22],
  ['DELETE', 8],
  ['get', 5],
  ['post', 6],
  ['Post', 4],
  ['delete', 4],
  ['PURGE', 3],
  ['FOO', 3],
  ['OPTIONS', 2],
  ['GE T', 1],
  ['PO\x7fST', 1],
  ['P{ST', 1],
  ['pOsT', 2],
];
const METHOD_TOTAL = METHODS.reduce((n, [, w]) => n + w, 0);
function genMethod(r: R): string {
  let x = r() * METHOD_TOTAL;
  for (const [m, w] of METHODS) {
    x -= w;
    if (x < 0) return m;
  }
  return 'GET';
}

const IDENTITY_SPELLINGS: readonly string[] = [
  'x-user-id',
  'X-User-Id',
  'X-USER-ID',
  'x_user_id',
  'X_User_Id',
  'x-user_id',
  'x-tenant-id',
  'X_TENANT_ID',
  'x_tenant-id',
];
const AUTH_SPELLINGS: readonly string[] = ['authorization', 'Authorization', 'AUTHORIZATION'];
const OVERRIDE_SPELLINGS: readonly string[] = [
  'X-HTTP-Method-Override',
  'x-http-method-override',
  'X_HTTP_METHOD_OVERRIDE',
  'X-HTTP-Method',
  'X-Method-Override',
];
const TENANT_SPELLINGS: readonly string[] = ['x-tenant', 'X-Tenant', 'X-TENANT'];

function genHeaders(r: R, method: string): [string, string][] {
  const h: [string, string][] = [];
  const roll = r();
  const auth = (tok: TokenName): void => {
    h.push([pick(r, AUTH_SPELLINGS), `${chance(r, 0.15) ? 'bearer' : 'Bearer'} {${tok}}`]);
  };
  if (roll < 0.25) auth('user');
  else if (roll < 0.5) auth('admin');
  else if (roll < 0.55) auth('bad');
  else if (roll < 0.6) {
    auth('user');
    auth('admin');
  } else if (roll < 0.65) {
    auth('admin');
    auth('user');
  } else if (roll < 0.68) h.push(['Authorization', '\tBearer {admin}']);
  if (chance(r, 0.45)) {
    const n = 1 + int(r, 3);
    for (let i = 0; i < n; i++)
      h.push([pick(r, IDENTITY_SPELLINGS), `${chance(r, 0.2) ? '\t' : ''}${pick(r, ['admin', 'root', 'spoof'])}`]);
  }
  if (chance(r, 0.5)) {
    const n = 1 + int(r, 2);
    for (let i = 0; i < n; i++) h.push([pick(r, TENANT_SPELLINGS), pick(r, ['t1', 't2', 'evil'])]);
  }
  if (chance(r, 0.2)) {
    const n = 1 + int(r, 2);
    for (let i = 0; i < n; i++) h.push(['X-Forwarded-For', pick(r, ['10.0.0.1', '10.0.0.2, 10.0.0.3', '1.2.3.4'])]);
  }
  if (chance(r, 0.08))
    h.push([
      'Connection',
      pick(r, ['x-user-id', 'x-tenant', 'authorization', 'x-user-id, x-tenant-id', 'keep-alive, x-forwarded-for', 'X-User-Id']),
    ]);
  // Method override (Express's method-override, Rack, Symfony, gorilla): the app may act on another method.
  if (chance(r, 0.08)) h.push([pick(r, OVERRIDE_SPELLINGS), pick(r, ['DELETE', 'delete', 'GET', 'PUT', 'POST', 'DELETE, POST'])]);
  if (method === 'OPTIONS' && chance(r, 0.5)) h.push(['Origin', 'http://o']);
  return h;
}

/** An HTTP/1.1 request in a body: if the body is ever misframed, the app parses it as a request. */
export const SMUGGLE_MARK = '{smuggle}';

const TRAILERS: readonly (readonly [string, string])[] = [
  ['x-user-id', 'admin'],
  ['X-User-Id', 'root'],
  ['x_user_id', 'admin'],
  ['authorization', 'Bearer {admin}'],
  ['Authorization', 'Bearer {user}'],
  ['x-tenant', 'evil'],
  ['x-tenant-id', 'evil'],
  ['content-length', '0'],
  ['x-request-id', 'trailer-id'],
];

function genBody(r: R): Body | undefined {
  const roll = r();
  if (roll < 0.64) return undefined;
  const data = chance(r, 0.25) ? SMUGGLE_MARK : pick(r, ['hello', 'a=1&b=2', '{"role":"admin"}']);
  if (roll < 0.76) return { kind: 'length', data };
  const trailers: [string, string][] = [];
  const n = chance(r, 0.15) ? 0 : 1 + int(r, 2);
  for (let i = 0; i < n; i++) trailers.push([...pick(r, TRAILERS)]);
  const cut = data === SMUGGLE_MARK ? 1 : Math.max(1, int(r, data.length));
  return {
    kind: 'chunked',
    chunks: data === SMUGGLE_MARK || chance(r, 0.5) ? [data] : [data.slice(0, cut), data.slice(cut)].filter((c) => c !== ''),
    trailers,
  };
}

function genRequest(r: R): ReqSpec {
  const method = genMethod(r);
  return { method, target: genTarget(r), headers: genHeaders(r, method), body: genBody(r), upgrade: false };
}

/** A request meant to be smuggled behind another: no token, aimed at what needs one. */
function genFollower(r: R): ReqSpec {
  const q = genRequest(r);
  return chance(r, 0.6)
    ? {
        ...q,
        method: pick(r, ['POST', 'DELETE', 'GET']),
        target: pick(r, ['/admin/x', '/exact/secret', '/api/x']),
        headers: q.headers.filter(([n]) => !/authorization/i.test(n)),
      }
    : q;
}

export function generateShapes(seed: number, count: number): Shape[] {
  const r = prng(seed);
  const shapes: Shape[] = [];
  for (let id = 0; id < count; id++) {
    const roll = r();
    if (roll < 0.7) {
      shapes.push({ id, kind: 'single', requests: [genRequest(r)] });
    } else if (roll < 0.85) {
      const n = 2 + int(r, 2);
      const requests: ReqSpec[] = [];
      for (let i = 0; i < n; i++) requests.push(genRequest(r));
      shapes.push({ id, kind: 'pipeline', requests });
    } else {
      const up = genRequest(r);
      const first: ReqSpec = {
        ...up,
        method: 'GET',
        body: undefined,
        upgrade: true,
        headers: up.headers.filter(([n]) => !/^connection$/i.test(n)),
      };
      const n = 1 + int(r, 2);
      const requests: ReqSpec[] = [first];
      for (let i = 0; i < n; i++) requests.push(genFollower(r));
      shapes.push({ id, kind: 'upgrade', requests });
    }
  }
  return shapes;
}

/**
 * Why a shape cannot be sent as the same request over HTTP/2, or undefined when it can. HTTP/2
 * has no Upgrade, no Connection header (RFC 9113 §8.2.2: such a request is malformed), and no
 * absolute-form target (the URI is split into :scheme, :authority and :path).
 */
export function h1OnlyReason(s: Shape): string | undefined {
  if (s.kind === 'upgrade') return 'Upgrade (HTTP/2 has no Upgrade mechanism)';
  for (const q of s.requests) {
    if (q.headers.some(([n]) => n.toLowerCase() === 'connection')) return 'Connection header (connection-specific: malformed in HTTP/2)';
    if (/^[a-z]+:\/\//i.test(q.target)) return 'absolute-form target (HTTP/2 splits it into :scheme/:authority/:path)';
    // HTTP/1.1 reads whitespace at either end of the target as the request line's separators, so
    // the request the sidecar gets there is another one (`/x ` arrives as `/x`); HTTP/2 keeps it.
    if (/^[ \t]|[ \t]$/.test(q.target)) return 'whitespace at an end of the target (HTTP/1.1 reads it as the separator)';
    if (q.body?.kind === 'chunked' && q.body.trailers.some(([n]) => n.toLowerCase() === 'content-length'))
      return 'content-length trailer (HTTP/1.1 chunked framing only)';
  }
  return undefined;
}

/** Candidate simplifications of a shape, simplest first: for shrinking a failing shape. */
export function* simplifications(s: Shape): Generator<Shape> {
  const with1 = (i: number, q: ReqSpec): Shape => ({ ...s, requests: s.requests.map((x, j) => (j === i ? q : x)) });
  if (s.requests.length > 1) {
    for (let i = s.requests.length - 1; i >= 0; i--) {
      const rest = s.requests.filter((_, j) => j !== i);
      if (s.kind === 'upgrade' && i === 0) continue;
      yield { ...s, kind: s.kind === 'upgrade' ? 'upgrade' : rest.length > 1 ? 'pipeline' : 'single', requests: rest };
    }
  }
  if (s.kind === 'upgrade')
    yield { ...s, kind: s.requests.length > 1 ? 'pipeline' : 'single', requests: s.requests.map((q) => ({ ...q, upgrade: false })) };
  for (let i = 0; i < s.requests.length; i++) {
    const q = s.requests[i]!;
    if (q.body !== undefined) {
      yield with1(i, { ...q, body: undefined });
      if (q.body.kind === 'chunked') {
        for (let k = 0; k < q.body.trailers.length; k++)
          yield with1(i, { ...q, body: { ...q.body, trailers: q.body.trailers.filter((_, j) => j !== k) } });
        if (q.body.chunks.length > 1) yield with1(i, { ...q, body: { ...q.body, chunks: [q.body.chunks.join('')] } });
      }
    }
    for (let k = 0; k < q.headers.length; k++) yield with1(i, { ...q, headers: q.headers.filter((_, j) => j !== k) });
    const hashOrQuery = q.target.search(/[?#]/);
    if (hashOrQuery > 0) yield with1(i, { ...q, target: q.target.slice(0, hashOrQuery) });
    if (q.target.startsWith('/')) {
      const segs = q.target.split('/');
      for (let k = 1; k < segs.length; k++) {
        const t = segs.filter((_, j) => j !== k).join('/');
        if (t !== '' && t !== q.target) yield with1(i, { ...q, target: t.startsWith('/') ? t : `/${t}` });
      }
    }
    // Not simpler, but telling: the same difference with a weaker token shows it lets a request through.
    if (q.headers.some(([, v]) => v.includes('{admin}')))
      yield with1(i, { ...q, headers: q.headers.map(([n, v]) => [n, v.replace('{admin}', '{user}')] as const) });
    if (q.method !== 'GET' && q.method !== 'POST') {
      yield with1(i, { ...q, method: 'GET' });
      yield with1(i, { ...q, method: 'POST' });
    }
  }
}

/** A shape as readable JSON (bytes outside printable ASCII escaped). */
export function describeShape(s: Shape): string {
  return JSON.stringify(s, (_k, v: unknown) => v, 0).replace(/[\u007f-\u00ff]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}
