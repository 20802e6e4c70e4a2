import { createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { rawExchange, sleep } from './support.js';

/**
 * Review finding (2026-12-06, third review): response desync on the upstream keep-alive pool.
 * An app that sends more than its framing says (a body on a HEAD answer, a Content-Length that
 * counts characters rather than bytes, bytes after a response) leaves bytes on the connection
 * that the pool read as the next response: the connection went back to the pool out of step,
 * and another client's request got the leftover, attacker-chosen, response (or hung behind it).
 * A response that begins while no call holds the connection now closes it, and a connection
 * that carried a HEAD is not reused (whether the app sends a body there cannot be told).
 */
const FAKE = 'HTTP/1.1 200 OK\r\ncontent-length: 13\r\nx-evil: 1\r\n\r\nattacker-body';

/**
 * A buggy app over raw sockets. `HEAD /reflect?b=...&delay=ms`: answers the head, then writes
 * `b` as a body after `delay`. `GET /short?b=...`: a response whose Content-Length is 2 followed
 * at once by `b`. Anything else: `real answer for <target>`, after 300 ms for targets with `slow`.
 */
async function startBuggyApp(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const [method, target] = head.split(' ') as [string, string];
        const q = new URL(target, 'http://x').searchParams;
        const b = q.get('b') ?? '';
        if (method === 'HEAD') {
          s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\n\r\n`);
          setTimeout(
            () => {
              if (!s.destroyed) s.write(b, 'latin1');
            },
            Number(q.get('delay') ?? 0),
          );
        } else if (target.startsWith('/short')) {
          s.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok${b}`, 'latin1');
        } else {
          const body = `real answer for ${target}`;
          setTimeout(
            () => {
              if (!s.destroyed) s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
            },
            target.includes('slow') ? 300 : 0,
          );
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const policy = `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: review-desync }
spec:
  upstream: { timeout: 2s }
`;
const bodyOf = (raw: string): string => raw.slice(raw.indexOf('\r\n\r\n') + 4);

t.test("bytes an app sends beyond its framing never become another client's response", async (t) => {
  const app = await startBuggyApp();
  t.teardown(() => app.close());
  // A sidecar of its own for each case: a polluted pool must not spill into the next case.
  const sidecar = async (t: Test): Promise<RunningProxy> => {
    const p = await startProxy(app.url, [], { policy });
    t.teardown(() => p.close());
    return p;
  };

  await t.test('a body sent late on a HEAD answer', async (t) => {
    const p = await sidecar(t);
    for (let round = 1; round <= 3; round++) {
      const attacker = rawExchange(
        p.proxy.port,
        [`HEAD /reflect?delay=100&b=${encodeURIComponent(FAKE)} HTTP/1.1\r\nHost: x\r\n\r\n`],
        600,
      );
      await sleep(30); // the HEAD is answered; its connection would be idle in the pool
      const victim = await rawExchange(p.proxy.port, ['GET /victim-slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 1500);
      await attacker;
      t.notMatch(victim, /x-evil|attacker-body/, `round ${round}: the victim never gets the app's stray bytes`);
      t.equal(bodyOf(victim), 'real answer for /victim-slow', `round ${round}: the victim gets its own answer`);
    }
  });

  await t.test('a body sent at once on a HEAD answer', async (t) => {
    const p = await sidecar(t);
    await rawExchange(p.proxy.port, [`HEAD /reflect?b=${encodeURIComponent(FAKE)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 300);
    const victim = await rawExchange(p.proxy.port, ['GET /victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 1500);
    t.equal(bodyOf(victim), 'real answer for /victim', 'the victim gets its own answer');
  });

  await t.test('bytes after a complete response: the start of a response with a long body', async (t) => {
    const p = await sidecar(t);
    const stray = 'HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n';
    const first = await rawExchange(
      p.proxy.port,
      [`GET /short?b=${encodeURIComponent(stray)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      300,
    );
    t.equal(bodyOf(first), 'ok', 'the first client gets the 2 bytes the app declared');
    const victim = await rawExchange(p.proxy.port, ['GET /victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 2500);
    t.equal(bodyOf(victim), 'real answer for /victim', 'the next client gets its own answer, not a hang behind the stray one');
  });

  await t.test('bytes after a complete response: a whole attacker-chosen response', async (t) => {
    const p = await sidecar(t);
    const first = await rawExchange(
      p.proxy.port,
      [`GET /short?b=${encodeURIComponent(FAKE)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
      300,
    );
    t.equal(bodyOf(first), 'ok', 'the first client gets the 2 bytes the app declared');
    const victim = await rawExchange(p.proxy.port, ['GET /victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 1500);
    t.equal(bodyOf(victim), 'real answer for /victim', 'the next client gets its own answer');
  });
});
