/** The three commands as users run them: `sidegate inject`, `sidegate injector`, exit codes. */
import { spawn } from 'node:child_process';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { runInject } from '../../cli/inject.js';
import { validatePolicyConfigMap } from '../../injector/src/admission.js';
import { parseInjectorConfig } from '../../injector/src/config.js';
import { admissionReview, postRaw } from './helpers/review.js';
import { makeCert } from './helpers/tls.js';
import { CLI } from '../helpers/spawn.js';

const MAIN = CLI;

function io(stdin?: string): {
  out: string[];
  err: string[];
  io: { out: (s: string) => void; err: (s: string) => void; stdin?: NodeJS.ReadableStream };
} {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (s) => out.push(s), err: (s) => err.push(s), ...(stdin === undefined ? {} : { stdin: Readable.from([stdin]) }) },
  };
}

void t.test('sidegate inject exit codes', async (t) => {
  const dir = makeCert().dir;
  const ok = io('apiVersion: v1\nkind: Pod\nmetadata: { name: a }\nspec: { containers: [ { name: a, image: a } ] }\n');
  t.equal(await runInject(['-f', '-'], ok.io), 0, 'stdin');
  t.match(ok.out.join('\n'), /name: sidegate-proxy/);
  const missing = io();
  t.equal(await runInject(['-f', join(dir, 'nope.yaml')], missing.io), 2, 'missing file');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'a: [b\n');
  const syntax = io();
  t.equal(await runInject(['-f', bad], syntax.io), 2, 'YAML syntax error');
  t.match(syntax.err.join('\n'), /sidegate inject:/);
  const cfg = join(dir, 'cfg.yaml');
  writeFileSync(cfg, 'imagee: x\n');
  const badCfg = io('kind: Pod\n');
  t.equal(await runInject(['-f', '-', '--config', cfg], badCfg.io), 2, 'bad config');
  t.match(badCfg.err.join('\n'), /unknown key "imagee"/);
  t.equal(await runInject([], io().io), 2, 'usage');
});

void t.test('/validate merges ConfigMaps over the chart defaults', async (t) => {
  const config = parseInjectorConfig({ defaultPolicy: { spec: { upstream: { timeout: 'soon' } } } });
  const req = {
    uid: 'u',
    kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    namespace: 'shop',
    operation: 'CREATE',
    dryRun: false,
    object: {
      metadata: { name: 'p', labels: { 'sidegate.dev/policy': 'true' } },
      data: { 'policy.yaml': 'apiVersion: sidegate.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec: {}\n' },
    },
  };
  t.equal(validatePolicyConfigMap(req).response.allowed, true, 'valid alone');
  t.equal(validatePolicyConfigMap(req, config).response.allowed, false, 'the defaults it will be merged with are checked too');
  await Promise.resolve();
});

void t.test('sidegate injector serves, then exits 0 on SIGTERM', async (t) => {
  const tls = makeCert();
  const p = spawn(process.execPath, [MAIN, 'injector', '--cert', tls.certFile, '--key', tls.keyFile, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on [^"]*:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    p.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  t.equal((await postRaw(port, '/healthz', '', tls.cert, {}, 'GET')).status, 200);
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  p.kill('SIGTERM');
  t.equal(await exited, 0);
});

void t.test('on SIGTERM the injector keeps answering for its shutdown delay, each answer closing its connection', async (t) => {
  const tls = makeCert();
  const p = spawn(
    process.execPath,
    [MAIN, 'injector', '--cert', tls.certFile, '--key', tls.keyFile, '--listen', '127.0.0.1:0', '--shutdown-delay', '5'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    p.kill('SIGKILL');
  });
  let out = '';
  const seen = (re: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve) => {
      const check = (): void => {
        const m = re.exec(out);
        if (m !== null) {
          p.stdout.off('data', check);
          resolve(m);
        }
      };
      p.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        check();
      });
      check();
    });
  const port = Number((await seen(/listening on [^"]*:(\d+)/))[1]);
  // The apiserver's pooled connection: one keep-alive TLS connection used before and after SIGTERM.
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = (path: string, method = 'GET', body = ''): Promise<{ status: number; connection: string | undefined; socket: object }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          path,
          method,
          ca: tls.cert,
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, socket: req.socket! }));
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  const before = await get('/readyz');
  t.equal(before.status, 200);
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  p.kill('SIGTERM');
  await seen(/shutting down/);
  const review = await get(
    '/inject',
    'POST',
    JSON.stringify(
      admissionReview(
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'x' }] } },
        { namespace: 'shop' },
      ),
    ),
  );
  t.equal(review.status, 200, 'a review on the pooled connection after SIGTERM is answered');
  t.equal(review.socket, before.socket, 'on the same connection');
  t.equal(review.connection, 'close', 'and that answer closes the connection');
  const ready = await get('/readyz');
  t.equal(ready.status, 503, 'readiness fails while draining');
  t.equal(await exited, 0, 'then the injector exits 0');
});
