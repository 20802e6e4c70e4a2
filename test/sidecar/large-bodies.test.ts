import { createHash } from 'node:crypto';
import { connect } from 'node:http2';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { PATTERN, startHttpApp, type Seen } from '../helpers/apps.js';
import { startProxy } from '../helpers/proxy.js';

const MB = 50;

function* upload(): Generator<Buffer> {
  for (let i = 0; i < MB; i++) yield PATTERN;
}

function expectedSha(): string {
  const h = createHash('sha256');
  for (const b of upload()) h.update(b);
  return h.digest('hex');
}

t.test('50 MB up and down, streamed, checksums equal', async (t) => {
  const app = await startHttpApp();
  const p = await startProxy(app.url);
  t.teardown(async () => {
    await p.close();
    await app.close();
  });
  const want = expectedSha();
  const rssBefore = process.memoryUsage().rss;

  await t.test('HTTP/1.1 upload', async (t) => {
    const r = await request(`${p.url}/upload`, {
      method: 'POST',
      body: Readable.from(upload()),
      headers: { 'content-length': String(MB * PATTERN.length) },
    });
    const seen = (await r.body.json()) as Seen;
    t.equal(seen.bodyBytes, MB * PATTERN.length);
    t.equal(seen.bodySha256, want);
  });

  await t.test('HTTP/1.1 download', async (t) => {
    const r = await request(`${p.url}/download?mb=${MB}`);
    const h = createHash('sha256');
    let n = 0;
    for await (const c of r.body) {
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
    Readable.from(upload()).pipe(up);
    const chunks: Buffer[] = [];
    up.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => up.on('end', r));
    const seen = JSON.parse(Buffer.concat(chunks).toString()) as Seen;
    t.equal(seen.bodySha256, want);
    const down = s.request({ ':method': 'GET', ':path': `/download?mb=${MB}` });
    const h = createHash('sha256');
    down.on('data', (c: Buffer) => h.update(c));
    await new Promise((r) => down.on('end', r));
    t.equal(h.digest('hex'), want);
  });

  // 4 × 50 MB went through this process (client, proxy and app): buffering would show here.
  const grew = (process.memoryUsage().rss - rssBefore) / (1 << 20);
  t.ok(grew < 150, `RSS grew ${grew.toFixed(0)} MB while relaying 200 MB: bodies are streamed`);
});
