import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { checkFastPath, checkParser } from '../../sidecar/src/protocol/http1/llhttp.js';
import { startHttpApp } from '../helpers/apps.js';
import { runWithEnv } from '../helpers/engine-suite.js';
import { spawnProxy } from '../helpers/spawn.js';

/**
 * The HTTP/1.1 engines read sockets through Node.js internals (`_handle`, consumed by llhttp in
 * C++; sidecar/src/protocol/http1/llhttp.ts) and parse with Node's private llhttp binding. On the runtime
 * this file runs on — every line of the runtime matrix, scripts/runtime-matrix.sh — both start-up
 * self-checks must pass and llhttp and the fast path be the ones in use; with either off, the
 * public paths (stream events; http-parser-js, test/sidecar/http1-parser.test.ts) must serve the
 * same requests.
 */
t.test('the self-checks pass on this Node.js', async (t) => {
  t.same(await checkParser(), { parser: 'llhttp' }, `llhttp's binding (not the http-parser-js fallback) on ${process.version}`);
  t.same(await checkFastPath(), { inUse: true }, `fast path on ${process.version}`);
});

async function gauges(adminUrl: string): Promise<{ fast?: string; llhttp?: string; public?: string }> {
  const r = await request(`${adminUrl}/metrics`);
  const text = await r.body.text();
  return {
    fast: /^sidegate_http1_fast_path (\d+)$/m.exec(text)?.[1],
    llhttp: /^sidegate_http1_parser\{parser="llhttp"\} (\d+)$/m.exec(text)?.[1],
    public: /^sidegate_http1_parser\{parser="http-parser-js"\} (\d+)$/m.exec(text)?.[1],
  };
}

/** Two pipelined GETs on one connection: both answered, in order. */
async function pipelined(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d: Buffer) => {
      out += String(d);
    });
    s.on('close', () => {
      resolve(out);
    });
    s.on('error', reject);
    s.write('GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  });
}

const MODES = [
  { flags: ['--http1-fast-path', 'auto'], fast: '1', parser: 'llhttp', warning: undefined },
  { flags: ['--http1-fast-path', 'off'], fast: '0', parser: 'llhttp', warning: /HTTP\/1\.1 fast path off/ },
  { flags: ['--http1-parser', 'public'], fast: '0', parser: 'http-parser-js', warning: /HTTP\/1\.1 parser fallback: http-parser-js/ },
] as const;

for (const mode of MODES) {
  t.test(`a spawned sidecar with ${mode.flags.join(' ')}`, async (t) => {
    const app = await startHttpApp();
    t.teardown(() => app.close());
    const p = await spawnProxy(app.url, [...mode.flags, '--drain-delay', '0s', '--drain-timeout', '1s']);
    t.teardown(() => {
      p.proc.kill('SIGKILL');
    });
    t.same(
      await gauges(p.adminUrl),
      { fast: mode.fast, llhttp: mode.parser === 'llhttp' ? '1' : '0', public: mode.parser === 'llhttp' ? '0' : '1' },
      `sidegate_http1_fast_path ${mode.fast}, sidegate_http1_parser{parser="${mode.parser}"} 1`,
    );
    const r = await request(`${p.url}/hello`, { method: 'POST', body: 'x'.repeat(100_000) });
    t.equal(r.statusCode, 200);
    t.match(JSON.parse(await r.body.text()), { url: '/hello', bodyBytes: 100_000 }, 'the app saw the request and its body');
    const out = await pipelined(p.port);
    // Logs are buffered (4 KB) until then: a drained exit writes them out.
    p.proc.kill('SIGTERM');
    await p.exited;
    const warnings = (p.output.stdout + p.output.stderr)
      .split('\n')
      .filter((l) => /"level":"warn"[^\n]*HTTP\/1\.1 (fast path|parser)/.test(l));
    if (mode.warning === undefined) t.same(warnings, [], 'no warning');
    else {
      t.equal(warnings.length, 1, 'one warning line');
      t.match(warnings[0], mode.warning, 'saying why');
    }
    t.match(out, /^HTTP\/1\.1 200[\s\S]*"url":"\/a"[\s\S]*HTTP\/1\.1 200[\s\S]*"url":"\/b"/, 'pipelined requests answered in order');
  });
}

t.test('the HTTP/1.1 test files pass with the fast path off too', async (t) => {
  const files = ['sidecar/http1', 'sidecar/h1-engine', 'sidecar/large-bodies', 'sidecar/upstream-errors', 'hostile/h1-smuggling'];
  for (const r of await runWithEnv({ SIDEGATE_TEST_HTTP1_FAST_PATH: 'off' }, files, 120_000)) t.equal(r.code, 0, `${r.file}: ${r.report}`);
});
