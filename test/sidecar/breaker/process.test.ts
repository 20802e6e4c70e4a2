import { spawn, type ChildProcess } from 'node:child_process';
import t from 'tap';
import { request } from 'undici';
import { ManualClock } from '../../../sidecar/src/clock.js';
import { freePort } from '../../helpers/ports.js';
import { miniSidecar, policyOf, sample, UPSTREAM } from './rig.js';

/**
 * The app, run as its own process so "the app crashed" is a real SIGKILL and "the app came back"
 * a real new process on the same port. Prints `ready` once listening and `hit <path>` per request.
 */
const APP = `
const server = require('node:http').createServer((req, res) => {
  process.stdout.write('hit ' + req.url + '\\n');
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('app ok');
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

interface AppProcess {
  readonly proc: ChildProcess;
  readonly hits: string[];
  readonly exited: Promise<unknown>;
}

/** Start the app as its own process on `port`; resolves once it listens. */
async function startApp(port: number): Promise<AppProcess> {
  const proc = spawn(process.execPath, ['-e', APP], {
    env: { PATH: process.env.PATH, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const hits: string[] = [];
  const exited = new Promise((r) => proc.once('exit', r));
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d: Buffer) => {
      buf += String(d);
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready') resolve();
        else if (line.startsWith('hit ')) hits.push(line.slice(4));
      }
    });
    proc.once('exit', (code) => reject(new Error(`app exited with ${code} before listening`)));
  });
  return { proc, hits, exited };
}

async function call(url: string): Promise<{ status: number; error: string | undefined }> {
  const r = await request(url);
  const text = await r.body.text();
  return {
    status: r.statusCode,
    error: r.headers['content-type'] === 'application/json' ? (JSON.parse(text) as { error?: string }).error : undefined,
  };
}

void t.test('a killed app process opens the breaker through connection errors; the restarted app closes it', async (t) => {
  const port = await freePort();
  let app = await startApp(port);
  const clock = new ManualClock();
  const s = await miniSidecar(
    `http://127.0.0.1:${port}`,
    policyOf({
      breaker: { consecutiveFailures: 3, openFor: '30s', halfOpenRequests: 2 },
    }),
    { clock },
  );
  t.teardown(async () => {
    app.proc.kill('SIGKILL');
    await s.close();
  });

  for (let i = 0; i < 3; i++) t.equal((await call(`${s.url}/before/${i}`)).status, 200);
  t.same(app.hits, ['/before/0', '/before/1', '/before/2']);

  app.proc.kill('SIGKILL');
  await app.exited;
  const failures: string[] = [];
  let r = await call(`${s.url}/while-down`);
  while (r.error !== 'SIDEGATE_ERR_BREAKER_OPEN' && failures.length < 10) {
    failures.push(String(r.error));
    r = await call(`${s.url}/while-down`);
  }
  t.equal(failures.length, 3, 'opened after exactly 3 failures');
  t.ok(
    failures.every((e) => e === 'SIDEGATE_ERR_UPSTREAM_UNAVAILABLE' || e === 'SIDEGATE_ERR_UPSTREAM_RESET'),
    `connection errors: ${failures.join(', ')}`,
  );
  t.ok(failures.includes('SIDEGATE_ERR_UPSTREAM_UNAVAILABLE'), 'connection refused counted');
  t.equal(r.error, 'SIDEGATE_ERR_BREAKER_OPEN');

  app = await startApp(port);
  for (let i = 0; i < 10; i++) t.equal((await call(`${s.url}/too-soon/${i}`)).error, 'SIDEGATE_ERR_BREAKER_OPEN');
  t.same(app.hits, [], 'while open, nothing reaches the restarted app');

  clock.advance(30_000);
  t.equal((await call(`${s.url}/probe/1`)).status, 200);
  t.equal((await call(`${s.url}/probe/2`)).status, 200);
  t.equal(s.registry.guard(UPSTREAM).breaker?.state, 'closed', 'recovery closed it');
  t.equal((await call(`${s.url}/after`)).status, 200);
  t.same(app.hits, ['/probe/1', '/probe/2', '/after']);

  const m = await s.metricsText();
  t.equal(
    sample(m, 'sidegate_circuit_breaker_transitions_total', {
      upstream: UPSTREAM,
      from: 'closed',
      to: 'open',
      reason: 'consecutive_failures',
    }),
    1,
  );
  t.equal(
    sample(m, 'sidegate_circuit_breaker_transitions_total', {
      upstream: UPSTREAM,
      from: 'half_open',
      to: 'closed',
      reason: 'probes_succeeded',
    }),
    1,
  );
  t.equal(sample(m, 'sidegate_circuit_breaker_rejected_total', { upstream: UPSTREAM, reason: 'open' }), 11);
  t.equal(sample(m, 'sidegate_circuit_breaker_state', { upstream: UPSTREAM }), 0);
});
