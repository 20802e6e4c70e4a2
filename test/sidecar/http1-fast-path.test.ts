import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { checkFastPath } from '../../sidecar/src/http1/llhttp.js';
import { startHttpApp } from '../helpers/apps.js';
import { runWithEnv } from '../helpers/engine-suite.js';
import { spawnProxy } from '../helpers/spawn.js';

/**
 * The HTTP/1.1 engines read sockets through Node.js internals (`_handle`, consumed by llhttp in
 * C++; sidecar/src/http1/llhttp.ts). On the runtime this file runs on — every line of the runtime
 * matrix, scripts/runtime-matrix.sh — the start-up self-check must pass and the fast path be the
 * one in use; with it off, the public path (stream events) must serve the same requests.
 */
t.test('the self-check passes on this Node.js', async (t) => {
  t.same(await checkFastPath(), { inUse: true }, `fast path on ${process.version}`);
});

async function gauge(adminUrl: string): Promise<string | undefined> {
  const r = await request(`${adminUrl}/metrics`);
  return /^sidegate_http1_fast_path (\d+)$/m.exec(await r.body.text())?.[1];
}

/** Two pipelined GETs on one connection: both answered, in order. */
async function pipelined(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d: Buffer) => { out += String(d); });
    s.on('close', () => { resolve(out); });
    s.on('error', reject);
    s.write('GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  });
}

for (const mode of ['auto', 'off'] as const) {
  t.test(`a spawned sidecar with --http1-fast-path ${mode}`, async (t) => {
    const app = await startHttpApp();
    t.teardown(() => app.close());
    const p = await spawnProxy(app.url, ['--http1-fast-path', mode, '--drain-delay', '0s', '--drain-timeout', '1s']);
    t.teardown(() => { p.proc.kill('SIGKILL'); });
    t.equal(await gauge(p.adminUrl), mode === 'auto' ? '1' : '0', 'sidegate_http1_fast_path');
    const r = await request(`${p.url}/hello`, { method: 'POST', body: 'x'.repeat(100_000) });
    t.equal(r.statusCode, 200);
    t.match(JSON.parse(await r.body.text()), { url: '/hello', bodyBytes: 100_000 }, 'the app saw the request and its body');
    const out = await pipelined(p.port);
    // Logs are buffered (4 KB) until then: a drained exit writes them out.
    p.proc.kill('SIGTERM');
    await p.exited;
    const warned = /"level":"warn"[^\n]*HTTP\/1\.1 fast path off/.test(p.output.stdout + p.output.stderr);
    t.equal(warned, mode === 'off', mode === 'off' ? 'a warning says the fast path is off' : 'no warning');
    t.match(out, /^HTTP\/1\.1 200[\s\S]*"url":"\/a"[\s\S]*HTTP\/1\.1 200[\s\S]*"url":"\/b"/, 'pipelined requests answered in order');
  });
}

t.test('the HTTP/1.1 test files pass with the fast path off too', async (t) => {
  const files = ['sidecar/http1', 'sidecar/h1-engine', 'sidecar/large-bodies', 'sidecar/upstream-errors', 'hostile/h1-smuggling'];
  for (const r of await runWithEnv({ SIDEGATE_TEST_HTTP1_FAST_PATH: 'off' }, files, 120_000)) t.equal(r.code, 0, `${r.file}: ${r.report}`);
});
