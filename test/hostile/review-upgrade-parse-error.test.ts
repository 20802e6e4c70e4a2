import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { inlineProvider, rawExchange, statuses } from './support.js';

/**
 * Review finding: after an Upgrade request the app answered without switching, a malformed head
 * pipelined behind it is not refused: node's parser binding reports no error while the previous
 * message's upgrade flag is still set (until the next head completes), so the connection waits,
 * reading and dropping bytes, until the headers timeout answers 408. Without the Upgrade before
 * it, the same head is answered 400 at once. (No request reaches the app: the error is in a head.)
 */
const { yaml } = inlineProvider();
const policy = `apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: review-upgrade-parse }\nspec:\n  auth:\n    providers:\n${yaml}    rules:\n      - { match: { paths: [/public/*] }, require: none }\n`;
const C = '\r\n';
const UP = `GET /public/x HTTP/1.1${C}Host: x${C}Upgrade: foo${C}Connection: Upgrade${C}${C}`;
const BAD = [
  `GET /public/a HTTP/1.1${C}Host : x${C}${C}`,
  `POST /public/y HTTP/1.1${C}Host: x${C}Content-Length: 4${C}Transfer-Encoding: chunked${C}${C}0${C}${C}`,
];

t.test('a malformed head after a declined Upgrade is refused with 400 at once', async (t) => {
  const app = await startLineApp();
  const p = await startProxy(app.url, ['--headers-timeout', '3s'], { policy });
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  for (const bad of BAD) {
    const alone = await rawExchange(p.proxy.port, [bad], 1000);
    t.same(statuses(alone), [400], `alone: 400 (${JSON.stringify(bad.split(C, 2))})`);
    const start = Date.now();
    const after = await rawExchange(p.proxy.port, [UP + bad], 1000);
    t.same(
      statuses(after),
      [200, 400],
      `after a declined Upgrade: the app's 200, then 400 (got ${JSON.stringify(statuses(after))} after ${Date.now() - start} ms)`,
    );
  }
});
