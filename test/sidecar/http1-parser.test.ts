import { readFileSync } from 'node:fs';
import { METHODS } from 'node:http';
import { createRequire } from 'node:module';
import t from 'tap';
import { checkParser, type LlParser, type ParseError } from '../../sidecar/src/protocol/http1/llhttp.js';
import { PublicParser } from '../../sidecar/src/protocol/http1/public-parser.js';

/**
 * The public HTTP/1.1 parser (http-parser-js behind sidecar/src/protocol/http1/public-parser.ts, the
 * fallback when Node's llhttp binding is unusable) against llhttp itself, on the runtime this file
 * runs on (every line of the runtime matrix, scripts/runtime-matrix.sh): over a corpus of request
 * and response shapes — the smuggling corpus of test/hostile/h1-smuggling.test.ts, framing fields,
 * every byte in each part of a head and of a chunk line, versions, header-size bounds, callbacks'
 * return values — both must make the same callbacks, in the same order, with the same values, and
 * refuse the same inputs; each input is also fed to the public parser split in two at every byte.
 * Error codes may differ where the two name the same refusal differently (both answer 400). A
 * framing difference here is a request the sidecar and the app could frame differently.
 */

type Ctor = (new () => LlParser) & { REQUEST: number; RESPONSE: number };
const httpCommon = createRequire(import.meta.url)('_http_common') as { HTTPParser: Ctor };
const LLHTTP = httpCommon.HTTPParser;
const PUBLIC = PublicParser as unknown as Ctor;

interface Opts {
  max?: number;
  rets?: number[];
  finish?: boolean;
  split?: boolean;
}

const tables = new Map<Ctor, string[]>();
/** Method names by each parser's own numbering. */
function methodNames(c: Ctor): string[] {
  let names = tables.get(c);
  if (names !== undefined) return names;
  names = [];
  for (const m of METHODS) {
    const p = new c();
    p.initialize(c.REQUEST, {}, 0, 0);
    p[2] = (_a: number, _b: number, _f: unknown, i: number) => {
      names[i] = m;
      return 0;
    };
    p.execute(Buffer.from(`${m} / HTTP/1.1\r\n\r\n`, 'latin1'));
    p.close();
  }
  tables.set(c, names);
  return names;
}

/** The callbacks a parser makes for `chunks`, normalised (fields flushed early joined to the head's). */
function run(c: Ctor, kind: 'req' | 'res', chunks: readonly string[], o: Opts): string {
  const names = methodNames(c);
  const p = new c();
  p.initialize(kind === 'req' ? c.REQUEST : c.RESPONSE, {}, o.max ?? 0, 0);
  const ev: string[] = [];
  let pending: string[] = [];
  let url = '';
  let inHead = true;
  let k = 0;
  p[0] = () => {
    ev.push('begin');
    inHead = true;
    pending = [];
    url = '';
  };
  p[1] = (f: string[], u: string) => {
    if (inHead) {
      pending.push(...f);
      url += u;
    } else ev.push(`trailers ${JSON.stringify(f)}`);
  };
  p[2] = (
    maj: number,
    min: number,
    f: string[] | undefined,
    m: number,
    u: string | undefined,
    st: number | undefined,
    sm: string | undefined,
    up: boolean,
    ka: boolean,
  ) => {
    inHead = false;
    ev.push(
      `head ${JSON.stringify([maj, min, [...pending, ...(f ?? [])], kind === 'req' ? names[m] : null, kind === 'req' ? url + (u ?? '') : null, st ?? null, sm ?? null, up, ka])}`,
    );
    return o.rets?.[k++] ?? 0;
  };
  p[3] = (b: Buffer) => {
    const last = ev.length - 1;
    if (ev[last]?.startsWith('body ') === true) ev[last] += b.toString('latin1');
    else ev.push(`body ${b.toString('latin1')}`);
  };
  p[4] = () => {
    ev.push('complete');
  };
  let stopped = false;
  let failed = false;
  for (const s of chunks) {
    const r = p.execute(Buffer.from(s, 'latin1'));
    if (typeof r !== 'number') {
      ev.push(`error ${r.code}`);
      failed = true;
      break;
    }
    if (r < s.length) {
      ev.push('stop');
      stopped = true;
      break;
    }
  }
  if (o.finish === true && !stopped && !failed) {
    const r = p.finish();
    ev.push(r !== undefined && typeof r !== 'number' ? `finish ${r.code}` : 'finish ok');
  }
  p.close();
  return ev.join(' | ');
}

const CRLF = '\r\n';
const cases: [kind: 'req' | 'res', input: string, opts: Opts][] = [];
const req = (s: string, o: Opts = {}): void => {
  cases.push(['req', s, o]);
};
const res = (s: string, o: Opts = {}): void => {
  cases.push(['res', s, { finish: true, ...o }]);
};

// Start lines, fields and their bytes.
for (const s of [
  '\r\nGET / HTTP/1.1\r\n\r\n',
  '\n\nGET / HTTP/1.1\r\n\r\n',
  'GET  / HTTP/1.1\r\n\r\n',
  'GET /  HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1 \r\n\r\n',
  'GET  HTTP/1.1\r\n\r\n',
  'GET /\r\n\r\n',
  'GET /\r\nHost: x\r\n\r\n',
  'GET / \r\n\r\n',
  'GET / http/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\n\r\r\n',
  'FOO / HTTP/1.1\r\n\r\n',
  'get / HTTP/1.1\r\n\r\n',
  'QUERY / HTTP/1.1\r\n\r\n',
  'GETX / HTTP/1.1\r\n\r\n',
  'GARBAGE\r\n\r\n',
  'GET /a#b HTTP/1.1\r\n\r\n',
  'GET /a?b?c#d#e HTTP/1.1\r\n\r\n',
  'GET * HTTP/1.1\r\n\r\n',
  'GET *a HTTP/1.1\r\n\r\n',
  'GET // HTTP/1.1\r\n\r\n',
  'GET a HTTP/1.1\r\n\r\n',
  'GET ?a HTTP/1.1\r\n\r\n',
  'GET http://a/b HTTP/1.1\r\n\r\n',
  'GET HTTP://a HTTP/1.1\r\n\r\n',
  'GET http:/b HTTP/1.1\r\n\r\n',
  'GET http:// HTTP/1.1\r\n\r\n',
  'GET h1://a HTTP/1.1\r\n\r\n',
  'GET http://a@b:c/d HTTP/1.1\r\n\r\n',
  'GET http://a"b/ HTTP/1.1\r\n\r\n',
  'GET http://a/b"c HTTP/1.1\r\n\r\n',
  'GET http://a?x HTTP/1.1\r\n\r\n',
  'GET http://a#x HTTP/1.1\r\n\r\n',
  'GET http://a{b/ HTTP/1.1\r\n\r\n',
  'GET http://[::1]:80/ HTTP/1.1\r\n\r\n',
  'GET http://a%20b/ HTTP/1.1\r\n\r\n',
  'GET /a\\b HTTP/1.1\r\n\r\n',
  'CONNECT a:1 HTTP/1.1\r\n\r\nXYZ',
  'CONNECT / HTTP/1.1\r\n\r\n',
  'CONNECT a:1/x HTTP/1.1\r\n\r\n',
  'CONNECT http://a/ HTTP/1.1\r\n\r\n',
  'CONNECT a"b:1 HTTP/1.1\r\n\r\n',
  'CONNECT a:1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nabXYZ',
  'GET / HTTP/1.1\r\nA: b \t \r\n\r\n',
  'GET / HTTP/1.1\r\nA:\t b\r\n\r\n',
  'GET / HTTP/1.1\r\nA:\r\n\r\n',
  'GET / HTTP/1.1\r\nA\r\n\r\n',
  'GET / HTTP/1.1\r\n: b\r\n\r\n',
  'GET / HTTP/1.1\r\nA b: c\r\n\r\n',
  'GET / HTTP/1.1\r\nA : c\r\n\r\n',
  'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n',
  'GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n',
  'GET / HTTP/1.1\r\n A: b\r\n\r\n',
  'GET / HTTP/1.1\r\n\tA: b\r\n\r\n',
  'GET / HTTP/1.1\r\nA: b\rc\r\n\r\n',
  'GET / HTTP/1.1\r\nA: b\n\r\n',
  'GET / HTTP/1.1\nA: b\r\n\r\n',
  'GET / HTTP/1.1\r\nA: b\r\n\n',
  'GET / HTTP/1.1\r\nA: b\r\n\rX',
  'GET / HTTP/1.0\r\n\r\n',
  'GET / HTTP/2.0\r\nConnection: keep-alive\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: closed\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: close;x\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: x close\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: ,close,\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: Keep-Alive \r\n\r\n',
  'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nXYZ',
  'GET / HTTP/1.1\r\nUpgrade:\r\nConnection: Upgrade\r\n\r\nXYZ',
  'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nabXYZ',
  'GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n',
  'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nXYZ',
  'GET / HTTP/1.1\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\n\r\n',
  `GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(40)}\r\n`,
])
  req(s);
// Content-Length and Transfer-Encoding, alone and together.
for (const cl of ['5', ' 5 ', '007', '5, 5', '5 5', '', '+5', '-1', '0x5', '99999999999999999999', '5\t'])
  req(`POST / HTTP/1.1\r\nContent-Length: ${cl}\r\n\r\nhello`);
req('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello');
// A chunk line past llhttp's extension bound, all in one read (not only when cut by reads).
req(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=${'x'.repeat(17_000)}\r\nz\r\n0\r\n\r\n`, { split: false });
req('POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
req('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n');
req('POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 4\r\n\r\n0\r\n\r\n');
req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
for (const te of [
  'chunked',
  'identity',
  'gzip, chunked',
  'CHUNKED',
  'Chunked',
  'chunked ',
  'chunked,',
  ',chunked',
  'chunked;q=1',
  'chunkedx',
  '',
  ' ',
  'chunked, identity',
  'chunked, chunked',
  'chunked , x',
  'gzip,chunked',
  'gzip ,  chunked',
  'gzip;chunked',
  'gzip chunked',
  '"chunked"',
  'chunked\t',
  'x,,chunked',
  'x, chunked, chunked',
  'gzip,\tchunked',
  'chunked  ,gzip',
  'chunked\u00e9',
]) {
  req(`POST / HTTP/1.1\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`);
  res(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\nabc`);
}
for (const [a, b] of [
  ['chunked', 'identity'],
  ['gzip', 'chunked'],
  ['chunked', 'chunked'],
  ['identity, chunked', 'gzip'],
  ['gzip', ''],
]) {
  req(`POST / HTTP/1.1\r\nTransfer-Encoding: ${a}\r\nTransfer-Encoding: ${b}\r\n\r\n0\r\n\r\n`);
  res(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${a}\r\nTransfer-Encoding: ${b}\r\n\r\n0\r\n\r\nabc`);
}
// Chunk lines, chunk data ends, trailers.
const chunked = (rest: string): string => `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${rest}`;
for (const size of [
  '5;a=b',
  '5 ;a=b',
  '5; a=b',
  '5;a="b c"',
  '5;a',
  '5;a=',
  '5;a=b;c=d',
  '005',
  '5;a="b\\"c"',
  '5;a="b\u0001c"',
  '5;a="b\u00e9c"',
  '5;a="bc"x',
  '5;a="bc";d',
  '5;',
  '5;;',
  '5;a=b=c',
  '5;a b',
  '5;=b',
  '5\t',
  '5 ',
  '-5',
  '0x5',
  '+5',
  '5zz',
  '',
  'G',
  '5;a="\\',
  '5;a="b\\\u0001"',
])
  req(chunked(`${size}\r\nhello\r\n0\r\n\r\n`));
for (const tail of [
  '0\r\n\r\n',
  '0\r\nA: b\r\n\r\n',
  '0\r\nA b: b\r\n\r\n',
  '0\r\nA: b\r\n c\r\n\r\n',
  '0\r\nContent-Length: 5\r\n\r\n',
  '0\r\nTransfer-Encoding: chunked\r\n\r\n',
  '0\r\n\n',
  '0\n\r\n',
  '0;a=b\r\n\r\n',
  '0\r\nA: b\r\nB: c\r\n\r\nGET /2 HTTP/1.1\r\n\r\n',
  '0\r\n\r\nGET /2 HTTP/1.1\r\n\r\n',
])
  req(chunked(`5\r\nhello\r\n${tail}`));
for (const mid of ['helloXX0\r\n\r\n', 'hello\rX0\r\n\r\n', 'hello\n0\r\n\r\n', 'hello\r\n\r\n']) req(chunked(`5\r\n${mid}`));
req(chunked('10000000000000000\r\nhello'));
req(chunked('5\nhello\r\n0\r\n\r\n'));
req(chunked('5\rhello\r\n0\r\n\r\n'));
// Responses.
for (const s of [
  'HTTP/1.1 200\r\n\r\n',
  'HTTP/1.1 200 \r\n\r\n',
  'HTTP/1.1 200  OK\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1  200 OK\r\n\r\n',
  'HTTP/1.1 20 OK\r\n\r\n',
  'HTTP/1.1 2000 OK\r\n\r\n',
  'HTTP/1.1 099 OK\r\n\r\n',
  'HTTP/1.1 600 OK\r\n\r\n',
  'HTTP/1.1 200 OK\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1 204 OK\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1 304 OK\r\nTransfer-Encoding: chunked\r\n\r\nabc',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na',
  'HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nXYZ',
  'HTTP/1.1 101 Switching\r\n\r\nXYZ',
  'HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 1\r\n\r\naXYZ',
  'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na',
  'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\na',
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab',
  'HTTP/1.1 200 OK\r\nCont',
  '',
  'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
  'HTTP/1.1 200 OK\r\n A: b\r\n\r\n',
  'HTTP/1.1 200 O\u0000K\r\n\r\n',
  'HTTP/1.1 200 O\rK\r\n\r\n',
  'HTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 199 X\r\nContent-Length: 2\r\n\r\nab',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab',
  'HTTP/1.2 200 OK\r\n\r\n',
  'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n',
  'XTTP/1.1 200 OK\r\n\r\n',
])
  res(s);
// Every byte in each place.
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  const o = { split: false };
  req(`GET /a${c}b HTTP/1.1\r\n\r\n`, o);
  req(`GET${c}/ HTTP/1.1\r\n\r\n`, o);
  req(`GET /${c}HTTP/1.1\r\n\r\n`, o);
  req(`GET / HTTP/1.1\r\nA${c}b: c\r\n\r\n`, o);
  req(`GET / HTTP/1.1\r\nA: b${c}c\r\n\r\n`, o);
  req(`GET / HTTP/1.1\r\nA: ${c}\r\n\r\n`, o);
  req(chunked(`1;a=${c}\r\nx\r\n0\r\n\r\n`), o);
  req(chunked(`1;a="${c}"\r\nx\r\n0\r\n\r\n`), o);
  req(chunked(`1;${c}\r\nx\r\n0\r\n\r\n`), o);
  req(chunked(`1${c}\r\nx\r\n0\r\n\r\n`), o);
  res(`HTTP/1.1 200 O${c}K\r\nContent-Length: 0\r\n\r\n`, o);
}
for (let a = 0; a < 10; a++)
  for (let b = 0; b < 10; b++) {
    req(`GET / HTTP/${a}.${b}\r\n\r\n`, { split: false });
    res(`HTTP/${a}.${b} 200 OK\r\nContent-Length: 0\r\n\r\n`, { split: false });
  }
// The header-size bound, as Node counts it (target, reason, names, values; trailers apart).
for (let n = 94; n <= 101; n++) {
  const o = { max: 100, split: false };
  req(`GET /${'a'.repeat(n)} HTTP/1.1\r\n\r\n`, o);
  req(`GET / HTTP/1.1\r\nA: ${'a'.repeat(n)}\r\n\r\n`, o);
  req(`GET / HTTP/1.1\r\nA: ${'a'.repeat(n)}   \r\n\r\n`, o);
  req(`GET / HTTP/1.1\r\nA${'a'.repeat(n)}: b\r\n\r\n`, o);
  res(`HTTP/1.1 200 ${'a'.repeat(n - 14)}\r\nContent-Length: 0\r\n\r\n`, o);
  req(chunked(`0\r\nA: ${'a'.repeat(n)}\r\n\r\n`), o);
}
req(`GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(49)}\r\n`, { max: 100 });
req(`GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(50)}\r\n`, { max: 100 });
// What the engines return from the head callback: 1 (no body: HEAD), 2, 21 (HPE_PAUSED), others.
req('GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n', { rets: [1] });
res('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n\r\n', { rets: [1] });
res('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n\r\n', { rets: [2] });
req('GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab', { rets: [5] });
req('GET /1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nab', { rets: [21] });
// The smuggling corpus, as test/hostile/h1-smuggling.test.ts sends it.
{
  const src = readFileSync('test/hostile/h1-smuggling.test.ts', 'utf8');
  const SMUGGLED = 'GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n';
  const head = (...lines: string[]): string => `POST /public/x HTTP/1.1${CRLF}Host: x${CRLF}${lines.map((l) => l + CRLF).join('')}${CRLF}`;
  const start = src.indexOf('const CASES');
  const body = src.slice(start, src.indexOf('];', start) + 2).replace(': readonly Case[]', '');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the test file's own literal corpus, evaluated as written
  const corpus = new Function('head', 'CRLF', 'SMUGGLED', 'chunkedSmuggle', `${body}; return CASES;`)(
    head,
    CRLF,
    SMUGGLED,
    `0${CRLF}${CRLF}${SMUGGLED}`,
  ) as { name: string; bytes: string | Buffer }[];
  t.ok(corpus.length >= 30, `the smuggling corpus was read (${corpus.length} cases)`);
  for (const c of corpus) req(typeof c.bytes === 'string' ? c.bytes : c.bytes.toString('latin1'));
}

/**
 * Deliberately stricter than llhttp (both still refuse or frame nothing differently): sizes that
 * JavaScript numbers cannot count exactly. Inputs containing one of these are only required to be
 * refused by the public parser.
 */
const STRICTER = [/\r\n\r\nf{16}\r\n/];

t.test("http-parser-js, as the adapter drives it, makes llhttp's callbacks and refusals", async (t) => {
  let codes = 0;
  const diffs: string[] = [];
  for (const [kind, input, o] of cases) {
    const ll = run(LLHTTP, kind, [input], o);
    const pub = run(PUBLIC, kind, [input], o);
    const strip = (s: string): string => s.replace(/(error|finish) HPE_[A-Z_]+/g, '$1');
    if (ll !== pub) {
      if (strip(ll) === strip(pub)) codes++;
      else diffs.push(`${JSON.stringify(input)}\n  llhttp:         ${ll}\n  http-parser-js: ${pub}`);
    }
    if (o.split === false || pub.includes('stop')) continue;
    for (let i = 1; i < input.length; i++) {
      const s = run(PUBLIC, kind, [input.slice(0, i), input.slice(i)], o);
      if (strip(s) !== strip(pub)) {
        diffs.push(`${JSON.stringify(input)} split at ${i}\n  whole: ${pub}\n  split: ${s}`);
        break;
      }
    }
  }
  t.comment(`${cases.length} inputs; ${codes} refused by both under different error codes`);
  t.same(diffs, [], 'no input framed differently');
});

/** A small seeded PRNG (mulberry32): the same mutations on every run. */
function prng(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

t.test('seeded mutations of well-formed messages: the same framing or a refusal by the public parser', async (t) => {
  const seeds: ['req' | 'res', string][] = [
    ['req', 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n'],
    [
      'req',
      'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n',
    ],
    ['req', 'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nXYZ'],
    ['req', 'GET http://a:1/x?y#z HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['res', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No\r\n\r\n'],
    ['res', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['res', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc'],
  ];
  const bits = [
    '\r',
    '\n',
    ' ',
    '\t',
    ':',
    ',',
    ';',
    '=',
    '"',
    '\\',
    '\0',
    '\x7f',
    '\x80',
    '\xff',
    'a',
    'A',
    '0',
    '9',
    'f',
    'G',
    '/',
    '?',
    '#',
    '-',
    '+',
    'x',
    'chunked',
    'close',
    'upgrade',
    'HTTP/1.1',
    '\r\n',
    '\r\n\r\n',
    'Content-Length: 1',
    'Transfer-Encoding: chunked',
  ];
  const rnd = prng(21);
  const strip = (s: string): string => s.replace(/(error|finish) HPE_[A-Z_]+/g, '$1');
  let same = 0;
  let codes = 0;
  let stricter = 0;
  const diffs: string[] = [];
  for (let i = 0; i < 30_000; i++) {
    const [kind, src] = seeds[rnd(seeds.length)]!;
    let input = src;
    for (let k = 1 + rnd(3); k > 0; k--) {
      const at = rnd(input.length + 1);
      const bit = bits[rnd(bits.length)]!;
      const op = rnd(3);
      input = input.slice(0, at) + (op === 1 ? '' : bit) + input.slice(op === 0 ? at : at + 1 + (op === 1 ? rnd(3) : 0));
    }
    // finish() after a 101 is no parser's business any more (the tunnel has the socket).
    const o: Opts = { finish: kind === 'res' && !/^HTTP\/\d\.\d 101/m.test(input) };
    const ll = run(LLHTTP, kind, [input], o);
    const pub = run(PUBLIC, kind, [input], o);
    if (ll === pub) {
      same++;
      continue;
    }
    if (strip(ll) === strip(pub)) {
      codes++;
      continue;
    }
    // llhttp takes an HTTP/0.9-form request line (no version) ended by a bare LF; the adapter refuses it.
    const shared = pub.replace(/ \| error HPE_[A-Z_]+$/, '');
    if (
      pub !== shared &&
      ll.startsWith(shared) &&
      /"[A-Z-]+ [^ \r\n]*\n/.test(JSON.stringify(input).replace(/\\n/g, '\n').replace(/\\r/g, '\r')) &&
      ll.slice(shared.length).includes('[0,9,')
    ) {
      stricter++;
      continue;
    }
    diffs.push(`${JSON.stringify(input)}\n  llhttp:         ${ll}\n  http-parser-js: ${pub}`);
  }
  t.comment(`${same} identical, ${codes} refused under other codes, ${stricter} HTTP/0.9 lines with a bare LF refused by the adapter only`);
  t.same(diffs.slice(0, 20), [], 'no mutation framed differently');
});

t.test('where the public parser is stricter than llhttp, it refuses', async (t) => {
  const huge = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello';
  t.ok(STRICTER.some((r) => r.test(huge)));
  t.match(run(PUBLIC, 'req', [huge], {}), /error HPE_INVALID_CHUNK_SIZE$/, 'a chunk size beyond 2^53 - 1');
  t.match(
    run(PUBLIC, 'req', ['POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n'], {}),
    /^begin \| error HPE_INVALID_CONTENT_LENGTH$/,
    'a Content-Length beyond 2^53 - 1',
  );
  t.match(run(PUBLIC, 'req', ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'], {}), /error HPE_INVALID_METHOD$/, 'the HTTP/2 preface');
  t.match(run(LLHTTP, 'req', ['GET /a\nHost: x\r\n\r\n'], {}), /head \[0,9,/, 'llhttp: an HTTP/0.9-form line may end in a bare LF');
  t.match(
    run(PUBLIC, 'req', ['GET /a\nHost: x\r\n\r\n'], {}),
    /^begin \| error HPE_INVALID_VERSION$/,
    'the adapter: refused, as every bare LF',
  );
});

t.test('a request paused at its head (the queue bound) goes on after resume()', async (t) => {
  for (const c of [LLHTTP, PUBLIC]) {
    const p = new c();
    p.initialize(c.REQUEST, {}, 0, 0);
    const ev: string[] = [];
    p[2] = (_a: number, _b: number, _f: unknown, _m: number, u: string) => {
      ev.push(`head ${u}`);
      return ev.length === 1 ? 21 : 0;
    };
    p[3] = (b: Buffer) => {
      ev.push(`body ${b.toString()}`);
    };
    p[4] = () => {
      ev.push('complete');
    };
    const data = Buffer.from('POST /1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\n\r\n');
    const r = p.execute(data) as ParseError;
    t.equal(r.code, 'HPE_PAUSED');
    const headEnd = data.indexOf('\r\n\r\n') + 4;
    t.equal(r.bytesParsed, headEnd, 'stopped right after the head');
    p.resume();
    t.equal(p.execute(data.subarray(headEnd)), data.length - headEnd, 'the rest parsed after resume()');
    t.same(ev, ['head /1', 'body ab', 'complete', 'head /2', 'complete'], c === PUBLIC ? 'http-parser-js' : 'llhttp');
    p.close();
  }
});

t.test('the self-check picks llhttp on this Node.js, and the fallback only when told', async (t) => {
  // On every line of the runtime matrix the built-in binding must be the parser in use.
  t.same(await checkParser('public'), { parser: 'http-parser-js', reason: '--http1-parser public' });
  t.same(await checkParser(), { parser: 'llhttp' }, `llhttp on ${process.version}`);
});

t.test('a binding of another shape fails the self-check, and the fallback takes over', async (t) => {
  // What a Node.js whose internals moved looks like to the check: the binding without consume(),
  // with its slots renumbered, or gone.
  class NoConsume {
    static readonly REQUEST = 1;
    static readonly RESPONSE = 2;
    static readonly kLenientNone = 0;
  }
  const renumbered = Object.assign(
    function Renumbered() {
      /* a constructor */
    },
    { ...Object.fromEntries(Object.entries(LLHTTP)), kOnHeaders: 7 },
  );
  renumbered.prototype = LLHTTP.prototype;
  for (const [stub, reason] of [
    [NoConsume, 'the HTTPParser binding has no consume()'],
    [renumbered, "the HTTPParser binding's kOnHeaders is 7, not 1"],
    [undefined, '_http_common has no HTTPParser'],
  ] as const) {
    httpCommon.HTTPParser = stub as unknown as Ctor;
    try {
      t.same(await checkParser(), { parser: 'http-parser-js', reason }, reason);
    } finally {
      httpCommon.HTTPParser = LLHTTP;
    }
  }
  t.same(await checkParser(), { parser: 'llhttp' }, 'the binding back: llhttp again');
});
