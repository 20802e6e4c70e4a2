import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type ClientSessionOptions } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startH2cApp, startHttpApp, type TestApp } from '../../../helpers/apps.js';
import { startProxy, type RunningProxy } from '../../../helpers/proxy.js';
import { selfSigned } from '../../../helpers/tls.js';

/**
 * Real HTTP/2 clients through the sidecar's own engine, with their non-default settings: curl
 * (prior knowledge, and ALPN over TLS), nghttp and h2load (header table size 0 and 1024, tiny
 * and huge windows, max frame size at both bounds), Node's http2.connect, and python-h2; each
 * to an HTTP/1.1 app and to an h2c app, cleartext and TLS. Every answer must be the app's,
 * intact: its status, the echo of the path and method it received, and the body's checksum.
 * (grpc-js is covered by test/sidecar/grpc.test.ts.)
 */
const PYTHON = '/usr/bin/python3';
const PY_CLIENT = fileURLToPath(new URL('../../../../../test/sidecar/protocol/http2/python-h2-client.py', import.meta.url));
const BODY = Buffer.alloc(100_000, 'interop-');
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

interface Out {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
function run(cmd: string, args: readonly string[]): Promise<Out> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

interface Echo {
  readonly method: string;
  readonly url: string;
  readonly bodySha256: string;
  readonly bodyBytes: number;
}
function echoOf(text: string): Echo | undefined {
  const i = text.indexOf('{"method"');
  if (i < 0) return undefined;
  try {
    return JSON.parse(text.slice(i, text.indexOf('}', text.lastIndexOf('"bodyBytes"')) + 1)) as Echo;
  } catch {
    return undefined;
  }
}

type Sub = Parameters<Parameters<typeof t.test>[0]>[0];

interface Front {
  readonly name: string;
  readonly url: string;
  readonly tls: boolean;
  readonly port: number;
}

t.test("real HTTP/2 clients get the app's answer intact, every setting, both apps, h2c and TLS", async (t) => {
  const h1 = await startHttpApp();
  const h2c = await startH2cApp();
  const cert = selfSigned();
  const proxies: RunningProxy[] = [];
  t.teardown(async () => {
    for (const p of proxies) await p.close();
    await h1.close();
    await h2c.close();
  });
  const fronts: Front[] = [];
  for (const [app, appName] of [
    [h1, 'http1 app'],
    [h2c, 'h2c app'],
  ] as [TestApp, string][]) {
    for (const tls of [false, true]) {
      const p = await startProxy(app.url, tls ? ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile] : []);
      proxies.push(p);
      const port = p.proxy.port;
      fronts.push({ name: `${tls ? 'h2/TLS' : 'h2c'} → ${appName}`, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, tls, port });
    }
  }
  const bodyFile = join(mkdtempSync(join(tmpdir(), 'sidegate-interop-')), 'body');
  writeFileSync(bodyFile, BODY);

  /** The echo must name the method and path sent and, for a POST, the body's checksum. */
  const intact = (t: Sub, what: string, text: string, method: string, path: string): void => {
    const e = echoOf(text);
    t.ok(e !== undefined, `${what}: the app's echo came back${e === undefined ? ` (got ${JSON.stringify(text.slice(0, 200))})` : ''}`);
    if (e === undefined) return;
    t.same([e.method, e.url], [method, path], `${what}: the app received ${method} ${path}`);
    if (method === 'POST') t.same([e.bodyBytes, e.bodySha256], [BODY.length, BODY_SHA], `${what}: the body arrived whole`);
  };

  for (const f of fronts) {
    await t.test(f.name, async (t) => {
      // curl: prior knowledge on cleartext, ALPN over TLS; a GET and a 100 kB POST.
      const curlBase = ['-sS', f.tls ? '--http2' : '--http2-prior-knowledge', '-k', '-w', '\n%{http_version} %{http_code}'];
      let r = await run('curl', [...curlBase, `${f.url}/curl/get`]);
      t.match(r.stdout, /\n2 200$/, `curl GET: HTTP/2, 200 (${r.stderr.trim()})`);
      intact(t, 'curl GET', r.stdout, 'GET', '/curl/get');
      r = await run('curl', [...curlBase, '--data-binary', `@${bodyFile}`, `${f.url}/curl/post`]);
      t.match(r.stdout, /\n2 200$/, `curl POST: HTTP/2, 200 (${r.stderr.trim()})`);
      intact(t, 'curl POST', r.stdout, 'POST', '/curl/post');

      // nghttp: header table sizes and windows away from the defaults (-w/-W: 2^N-1 bytes).
      for (const opts of [
        ['-c', '0'],
        ['-c', '1024'],
        ['-w', '1', '-W', '16'],
        ['-w', '30', '-W', '30'],
      ]) {
        const what = `nghttp ${opts.join(' ')}`;
        r = await run('nghttp', [...opts, '-d', bodyFile, `${f.url}/nghttp/post`]);
        t.equal(r.code, 0, `${what}: exit 0 (${r.stderr.trim().slice(0, 300)})`);
        intact(t, what, r.stdout, 'POST', '/nghttp/post');
      }

      // h2load: 200 requests on 2 connections with the settings at their bounds.
      for (const opts of [
        ['--header-table-size=0'],
        ['--header-table-size=1024', '--encoder-header-table-size=0'],
        ['-w', '1', '-W', '16'],
        ['-f', '16384'],
        ['-f', '16777215', '-w', '30', '-W', '30'],
      ]) {
        const what = `h2load ${opts.join(' ')}`;
        r = await run('h2load', ['-n', '200', '-c', '2', '-m', '10', ...opts, `${f.url}/h2load`]);
        t.match(
          r.stdout,
          /requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored/,
          `${what}: 200 of 200 succeeded`,
        );
        t.match(r.stdout, /status codes: 200 2xx/, `${what}: every one 200`);
      }

      // Node's own client with its settings at the bounds.
      const settings: ClientSessionOptions['settings'][] = [
        { headerTableSize: 0 },
        { headerTableSize: 1024 },
        { initialWindowSize: 1 },
        { maxFrameSize: 16384 },
        { maxFrameSize: 16777215, initialWindowSize: 2 ** 31 - 1 },
      ];
      for (const s of settings) {
        const what = `http2.connect ${JSON.stringify(s)}`;
        const session = connect(f.url, { settings: s, rejectUnauthorized: false });
        const text = await new Promise<string>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': '/node/post' });
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => resolve(Buffer.concat(chunks).toString()));
          req.on('error', reject);
          req.end(BODY);
        }).finally(() => session.close());
        intact(t, what, text, 'POST', '/node/post');
      }

      // python-h2: header table size 0 and 1024, a tiny and a huge window.
      for (const [table, window] of [
        [0, 65535],
        [1024, 1],
        [4096, 2 ** 31 - 1],
      ] as const) {
        const what = `python-h2 table ${table} window ${window}`;
        r = await run(PYTHON, [
          PY_CLIENT,
          '127.0.0.1',
          String(f.port),
          f.tls ? '1' : '0',
          '/python/post',
          String(table),
          String(window),
          String(BODY.length),
        ]);
        if (r.code !== 0 && /No module named 'h2'/.test(r.stderr))
          throw new Error('python-h2 is not installed: run `apt-get install -y python3-h2` (.ci/run does)');
        t.equal(r.code, 0, `${what}: exit 0 (${r.stderr.trim().slice(-300)})`);
        const out = r.code === 0 ? (JSON.parse(r.stdout) as { status: number; body: string }) : { status: 0, body: '' };
        t.equal(out.status, 200, `${what}: 200`);
        intact(t, what, out.body, 'POST', '/python/post');
      }
    });
  }
});
