import t from 'tap';
import { startProxy } from '../helpers/proxy.js';
import { startLineApp } from './boundary-support.js';
import { rawExchange, sleep } from './support.js';

/**
 * Review finding (2026-12-06, third review): with `trustedHops: 0` the client address is the
 * socket peer (bans, limits, the log), and the sidecar's `x-forwarded-for` ends with it; but a
 * client's own `Forwarded: for=...` (RFC 7239), `X-Real-IP` and `True-Client-IP` reached the app
 * as sent. Rack 3 prefers `Forwarded` to `X-Forwarded-For`, gin, echo and chi's RealIP read
 * `X-Real-IP` (chi `True-Client-IP` first): such an app acted on an address (and, from
 * `Forwarded`, a scheme and host) the client chose, not the one the sidecar judged. Like
 * `x-forwarded-proto` and `-host`, they are kept only from proxies the policy trusts.
 */
const policy = (hops: number): string => `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-forwarded-client }
spec:
  clientAddress: { trustedHops: ${hops} }
`;
const SPOOFED = ['Forwarded: for=203.0.113.7;proto=https;host=admin.internal', 'X-Real-IP: 203.0.113.7', 'True-Client-IP: 203.0.113.7'];
const request = `GET /x HTTP/1.1\r\nHost: x\r\n${SPOOFED.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`;

t.test('client-address headers reach the app only from trusted proxies', async (t) => {
  const app = await startLineApp();
  t.teardown(() => app.close());
  await t.test("trustedHops 0: the client's own are removed", async (t) => {
    const p = await startProxy(app.url, [], { policy: policy(0) });
    t.teardown(() => p.close());
    await rawExchange(p.proxy.port, [request], 300);
    await sleep(30);
    const head = app.heads.at(-1) ?? '';
    t.notMatch(head, /203\.0\.113\.7/, `no client-chosen address reached the app:\n${head}`);
    t.notMatch(head, /^(forwarded|x-real-ip|true-client-ip):/im, 'none of the three headers');
    t.match(head, /\r\nx-forwarded-for: 127\.0\.0\.1\r\n/, 'x-forwarded-for is the socket peer');
  });
  await t.test('trustedHops 1: the proxy in front sets them, and they are kept', async (t) => {
    const p = await startProxy(app.url, [], { policy: policy(1) });
    t.teardown(() => p.close());
    await rawExchange(p.proxy.port, [request], 300);
    await sleep(30);
    const head = app.heads.at(-1) ?? '';
    for (const l of SPOOFED) t.ok(head.toLowerCase().includes(`\r\n${l.toLowerCase()}`), `kept: ${l}`);
  });
});
