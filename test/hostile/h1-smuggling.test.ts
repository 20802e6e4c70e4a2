import t from 'tap';
import { request } from 'undici';
import { startProxy } from '../helpers/proxy.js';
import { inlineProvider, rawExchange, sleep, startRecordingApp, statuses } from './support.js';

/**
 * HTTP/1.1 request smuggling shapes over raw sockets. Whatever the sidecar does with each (reject
 * or normalise), the app must parse exactly the requests the sidecar forwarded: the same count, in
 * the same order, with the same method and path. A request refused halfway through its body (a bad
 * chunk) may have started upstream, but the app must see it aborted, never complete with a cut
 * body. The smuggled request targets /admin, which needs a token: if it ever reached the app, a
 * request would have dodged authentication.
 */
const SMUGGLED = 'GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n';
const CRLF = '\r\n';
const head = (...lines: string[]): string => `POST /public/x HTTP/1.1${CRLF}Host: x${CRLF}${lines.map((l) => l + CRLF).join('')}${CRLF}`;

interface Case {
  readonly name: string;
  readonly bytes: string | Buffer;
  /** `reject`: 400 from sidegate and no complete request at the app. `forward`: the app gets n. */
  readonly expect: 'reject' | { forward: number };
}

const chunkedSmuggle = `0${CRLF}${CRLF}${SMUGGLED}`;
const CASES: readonly Case[] = [
  // Controls: a plain body and honest pipelining are forwarded as what they are.
  { name: 'control: content-length body', bytes: head('Content-Length: 5') + 'hello', expect: { forward: 1 } },
  {
    name: 'control: two pipelined requests',
    bytes: head('Content-Length: 1') + 'a' + head('Content-Length: 1') + 'b',
    expect: { forward: 2 },
  },
  {
    name: 'control: chunked body',
    bytes: head('Transfer-Encoding: chunked') + `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
    expect: { forward: 1 },
  },
  {
    name: 'GET with a body that looks like a request',
    bytes: `GET /public/x HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: ${SMUGGLED.length}${CRLF}${CRLF}${SMUGGLED}`,
    expect: { forward: 1 },
  },
  // CL.TE / TE.CL
  {
    name: 'CL then TE',
    bytes: head(`Content-Length: ${chunkedSmuggle.length}`, 'Transfer-Encoding: chunked') + chunkedSmuggle,
    expect: 'reject',
  },
  { name: 'TE then CL', bytes: head('Transfer-Encoding: chunked', 'Content-Length: 4') + chunkedSmuggle, expect: 'reject' },
  { name: 'CL.TE with CL short', bytes: head('Content-Length: 3', 'Transfer-Encoding: chunked') + chunkedSmuggle, expect: 'reject' },
  // Duplicate and malformed Content-Length
  {
    name: 'duplicate CL, different values',
    bytes: head('Content-Length: 0', `Content-Length: ${SMUGGLED.length}`) + SMUGGLED,
    expect: 'reject',
  },
  { name: 'duplicate CL, same value', bytes: head('Content-Length: 5', 'Content-Length: 5') + 'hello', expect: 'reject' },
  { name: 'CL as a list', bytes: head('Content-Length: 5, 5') + 'hello', expect: 'reject' },
  { name: 'CL with a plus sign', bytes: head('Content-Length: +5') + 'hello', expect: 'reject' },
  { name: 'CL negative', bytes: head('Content-Length: -1') + SMUGGLED, expect: 'reject' },
  { name: 'CL in hex', bytes: head('Content-Length: 0x5') + 'hello', expect: 'reject' },
  // Obfuscated Transfer-Encoding
  { name: 'TE xchunked with CL', bytes: head('Transfer-Encoding: xchunked', 'Content-Length: 4') + chunkedSmuggle, expect: 'reject' },
  {
    name: 'TE with space before colon',
    bytes: head('Transfer-Encoding : chunked', 'Content-Length: 4') + chunkedSmuggle,
    expect: 'reject',
  },
  {
    name: 'TE chunked then identity',
    bytes: head('Transfer-Encoding: chunked', 'Transfer-Encoding: identity') + chunkedSmuggle,
    expect: 'reject',
  },
  { name: 'TE chunked, identity (list)', bytes: head('Transfer-Encoding: chunked, identity') + chunkedSmuggle, expect: 'reject' },
  { name: 'TE with vertical tab', bytes: head('Transfer-Encoding:\x0bchunked', 'Content-Length: 4') + chunkedSmuggle, expect: 'reject' },
  {
    name: 'TE on HTTP/1.0 with CL',
    bytes: `POST /public/x HTTP/1.0${CRLF}Host: x${CRLF}Transfer-Encoding: chunked${CRLF}Content-Length: 4${CRLF}${CRLF}${chunkedSmuggle}`,
    expect: 'reject',
  },
  // Obsolete line folding
  { name: 'obs-fold in a header', bytes: head('X-Folded: a', ' b', 'Content-Length: 0'), expect: 'reject' },
  {
    name: 'obs-fold hiding TE',
    bytes: head('X-Foo: a', ' Transfer-Encoding: chunked', 'Content-Length: 4') + chunkedSmuggle,
    expect: 'reject',
  },
  {
    name: 'TE value on a folded line',
    bytes: head('Transfer-Encoding:', ' chunked', 'Content-Length: 4') + chunkedSmuggle,
    expect: 'reject',
  },
  // Invalid characters
  { name: 'space in a header name', bytes: head('X Foo: a', 'Content-Length: 0'), expect: 'reject' },
  { name: 'NUL in a header value', bytes: head('X-Foo: a\x00b', 'Content-Length: 0'), expect: 'reject' },
  {
    name: 'bare CR in a header value',
    bytes: head('X-Foo: a\rTransfer-Encoding: chunked', 'Content-Length: 4') + chunkedSmuggle,
    expect: 'reject',
  },
  {
    name: 'bare LF line endings',
    bytes: `POST /public/x HTTP/1.1\nHost: x\nContent-Length: 4\nTransfer-Encoding: chunked\n\n${chunkedSmuggle}`,
    expect: 'reject',
  },
  {
    name: 'non-ASCII in a header name',
    bytes: Buffer.concat([Buffer.from(head('X-F\u00e9o: a', 'Content-Length: 0'), 'latin1')]),
    expect: 'reject',
  },
  { name: 'space in the request target', bytes: `GET /public/x /admin/secret HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`, expect: 'reject' },
  // Chunk sizes
  {
    name: 'chunk size overflowing 64 bits',
    bytes: head('Transfer-Encoding: chunked') + `10000000000000000a${CRLF}${SMUGGLED}${CRLF}0${CRLF}${CRLF}`,
    expect: 'reject',
  },
  { name: 'chunk size with a sign', bytes: head('Transfer-Encoding: chunked') + `-5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, expect: 'reject' },
  {
    name: 'chunk size with a 0x prefix',
    bytes: head('Transfer-Encoding: chunked') + `0x5${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
    expect: 'reject',
  },
  {
    name: 'chunk size with spaces before CRLF',
    bytes: head('Transfer-Encoding: chunked') + `5   ${CRLF}hello${CRLF}0${CRLF}${CRLF}`,
    expect: 'reject',
  },
  {
    name: 'chunk data longer than its size',
    bytes: head('Transfer-Encoding: chunked') + `1${CRLF}ab${CRLF}0${CRLF}${CRLF}`,
    expect: 'reject',
  },
  { name: 'chunk terminated by bare LF', bytes: head('Transfer-Encoding: chunked') + `5\nhello\n0\n\n${SMUGGLED}`, expect: 'reject' },
];

t.test('HTTP/1.1 smuggling shapes: the app never frames a request differently than the sidecar', async (t) => {
  const app = await startRecordingApp();
  const { yaml } = inlineProvider();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: smuggling }
spec:
  routes:
    - { name: public, match: { paths: [/public/*] } }
    - { name: admin, match: { paths: [/admin/*] } }
  auth:
    providers:
${yaml}    rules:
      - { match: { paths: [/public/*] }, require: none }
`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const outcomes: string[] = [];

  for (const c of CASES) {
    const before = { app: app.received.length, started: app.started.length, aborted: app.aborted.length, logs: p.logs.length };
    const raw = await rawExchange(p.proxy.port, [c.bytes]);
    await sleep(30);
    const lines = p.logs.slice(before.logs).filter((l) => l.msg === 'request' && l.upstream_duration_ms !== null);
    const label = (l: Record<string, unknown>): string => `${String(l.method)} ${String(l.path)}`;
    // Relayed whole (any status but 499, which means the client side broke off mid-request).
    const relayed = lines.filter((l) => l.status !== 499).map(label);
    const brokenOff = lines.filter((l) => l.status === 499).map(label);
    const appSaw = app.received.slice(before.app).map((r) => `${r.method} ${r.url.split('?')[0] ?? r.url}`);
    const appStarted = app.started.slice(before.started).map((x) => x.split('?')[0] ?? x);
    const appAborted = app.aborted.length - before.aborted;
    const got = statuses(raw);
    outcomes.push(
      `${c.name}: answers [${got.join(', ')}], app saw [${appSaw.join(', ')}]${appAborted ? `, ${appAborted} aborted mid-body` : ''}`,
    );
    t.same(appSaw, relayed, `${c.name}: the app completed exactly the requests the sidecar relayed whole`);
    t.ok(appStarted.length <= relayed.length + brokenOff.length, `${c.name}: the app began no request the sidecar did not forward`);
    t.equal(
      appSaw.length + appAborted,
      appStarted.length,
      `${c.name}: every request the app began is complete or aborted, never cut short and completed`,
    );
    t.notOk(
      appStarted.some((x) => x.includes('/admin')),
      `${c.name}: nothing reached /admin without a token`,
    );
    if (c.expect === 'reject') {
      t.equal(got[0], 400, `${c.name}: answered 400`);
      t.match(raw, /SIDEGATE_ERR_BAD_REQUEST/, `${c.name}: with its code`);
      t.equal(appSaw.length, 0, `${c.name}: no complete request reached the app`);
    } else {
      t.equal(appSaw.length, c.expect.forward, `${c.name}: forwarded ${c.expect.forward}`);
    }
    // The pooled connection to the app still frames correctly after each attempt.
    const r = await request(`${p.url}/public/after`);
    await r.body.dump();
    t.equal(app.received.at(-1)?.url, '/public/after', `${c.name}: the next request on the upstream pool is intact`);
  }
  t.comment(outcomes.join('\n'));
});

t.test('absolute-form targets: the rule that applies is the one for the path the app receives', async (t) => {
  const app = await startRecordingApp();
  const { yaml } = inlineProvider();
  const p = await startProxy(app.url, [], {
    policy: `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: absolute }\nspec:\n  auth:\n    providers:\n${yaml}    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`,
  });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const get = (target: string, host = 'x'): Promise<string> =>
    rawExchange(p.proxy.port, [`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]);

  for (const target of [
    'http://evil.example/admin/secret',
    'http://x/public/../admin/secret',
    'https://x:443/admin/secret',
    'http://x//admin/secret',
  ]) {
    const n = app.received.length;
    const raw = await get(target);
    t.equal(statuses(raw)[0], 401, `${target}: judged as /admin (401)`);
    t.equal(app.received.length, n, `${target}: not forwarded`);
  }
  const n = app.received.length;
  const raw = await get('http://evil.example/public/x?q=1');
  t.equal(statuses(raw)[0], 200);
  const seen = app.received[n];
  t.equal(seen?.url, '/public/x?q=1', 'the app gets origin-form, never the absolute URL');
  t.same(app.received.slice(n).length, 1);
  for (const bad of ['ftp://x/public/x', 'http:/public/x', 'public/x', '*']) {
    const before = app.received.length;
    const r = statuses(await get(bad));
    t.ok(r[0] === 400 || r[0] === 401 || r[0] === 404, `${bad}: refused (${r[0]})`);
    t.equal(app.received.length, before, `${bad}: not forwarded`);
  }
});
