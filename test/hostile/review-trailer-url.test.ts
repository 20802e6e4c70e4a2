import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { inlineProvider, rawExchange, sleep, startRecordingApp, statuses } from './support.js';

/**
 * Review finding: after a chunked request with a trailer section, the next request on the
 * connection is judged and forwarded with the previous request's target prepended. node's parser
 * binding flushes the trailers with the previous URL (kOnHeaders(fields, url)) and, having
 * flushed once, hands every later head over in pieces; the connection keeps that URL in
 * `this.url` (dropping the trailers does not reset it), so the next head's URL is appended to
 * it. `GET /private/data` (401 alone) reaches the app as
 * `GET /public/share?to=mallory&what=/private/data`, answered 200. Through a front proxy that
 * reuses its connections to the pod and forwards request trailers, one client chooses where
 * the next client's request (with that client's credentials) goes.
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: review-trailer-url }\nspec:\n  auth:\n    providers:\n${yaml}        forwardClaims: { sub: x-user-id }\n    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`;
const C = '\r\n';
const A = `POST /public/share?to=mallory&what= HTTP/1.1${C}Host: x${C}Transfer-Encoding: chunked${C}${C}1${C}a${C}0${C}t: 1${C}${C}`;
const B = `GET /private/data HTTP/1.1${C}Host: x${C}${C}`;

t.test('a request after one with trailers keeps its own target', async (t) => {
  const app = await startRecordingApp();
  const p = await startProxy(app.url, [], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  for (const [name, chunks] of [
    ['one write', [A + B]],
    ['two writes', [A, B]],
  ] as const) {
    const n = app.started.length;
    const raw = await rawExchange(p.proxy.port, chunks, 500);
    await sleep(30);
    t.same(app.started.slice(n), ['POST /public/share?to=mallory&what='], `${name}: only the first request reached the app`);
    t.same(statuses(raw), [200, 401], `${name}: the second request is judged as /private/data (401)`);
  }
});
