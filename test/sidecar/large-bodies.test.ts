import { createHash } from 'node:crypto';
import { connect } from 'node:http2';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { PATTERN, startHttpApp, type Seen, type TestApp } from '../helpers/apps.js';
import { startProxy, until } from '../helpers/proxy.js';

const MB = 50;

/**
 * The upload, 1 MiB at a time. Halfway it waits until the app has read at least 10 MiB of this
 * body: a sidecar that buffered the body before forwarding it would hold the rest back forever
 * (the wait fails after 5 s), one that streams has passed on all but what sockets hold.
 */
async function* upload(app?: TestApp): AsyncGenerator<Buffer> {
  const start = app?.hits.bytesIn ?? 0;
  for (let i = 0; i < MB; i++) {
    if (app !== undefined && i === MB / 2)
      await until(() => app.hits.bytesIn - start >= 10 * PATTERN.length, 'the app reading the first half while the client still sends');
    yield PATTERN;
  }
}

/** True when the app has not yet written the whole download: the first bytes came through while it was still sending. */
function stillSending(app: TestApp, start: number): boolean {
  return app.hits.bytesOut - start < MB * PATTERN.length;
}

function expectedSha(): string {
  const h = createHash('sha256');
  for (let i = 0; i < MB; i++) h.update(PATTERN);
  return h.digest('hex');
}

t.test(
  '50 MB up and down, streamed (the app reads before the client is done, the client before the app is), checksums equal',
  async (t) => {
    const app = await startHttpApp();
    const p = await startProxy(app.url);
    t.teardown(async () => {
      await p.close();
      await app.close();
    });
    const want = expectedSha();

    await t.test('HTTP/1.1 upload', async (t) => {
      const r = await request(`${p.url}/upload`, {
        method: 'POST',
        body: Readable.from(upload(app)),
        headers: { 'content-length': String(MB * PATTERN.length) },
      });
      const seen = (await r.body.json()) as Seen;
      t.equal(seen.bodyBytes, MB * PATTERN.length);
      t.equal(seen.bodySha256, want);
    });

    await t.test('HTTP/1.1 download', async (t) => {
      const start = app.hits.bytesOut;
      const r = await request(`${p.url}/download?mb=${MB}`);
      const h = createHash('sha256');
      let n = 0;
      for await (const c of r.body) {
        if (n === 0) t.ok(stillSending(app, start), 'the first bytes arrive while the app is still sending');
        h.update(c as Buffer);
        n += (c as Buffer).length;
      }
      t.equal(n, MB * PATTERN.length);
      t.equal(h.digest('hex'), want);
    });

    await t.test('h2c upload and download', async (t) => {
      const s = connect(p.url);
      t.teardown(() => s.close());
      const up = s.request({ ':method': 'POST', ':path': '/upload' });
      Readable.from(upload(app)).pipe(up);
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((r) => up.on('end', r));
      const seen = JSON.parse(Buffer.concat(chunks).toString()) as Seen;
      t.equal(seen.bodySha256, want);
      const start = app.hits.bytesOut;
      const down = s.request({ ':method': 'GET', ':path': `/download?mb=${MB}` });
      const h = createHash('sha256');
      let first = true;
      down.on('data', (c: Buffer) => {
        if (first) t.ok(stillSending(app, start), 'the first bytes arrive while the app is still sending');
        first = false;
        h.update(c);
      });
      await new Promise((r) => down.on('end', r));
      t.equal(h.digest('hex'), want);
    });
  },
);
