import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProxyConfig } from '../sidecar/src/config.js';
import { Proxy } from '../sidecar/src/proxy.js';
import type { CliIo } from './io.js';

/** The demo app: answers JSON saying what it received, so the sidecar's work is visible. */
function startDemoApp(): Promise<Server> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({
      hello: 'from the demo app',
      path: req.url,
      user: req.headers['x-user-id'] ?? null,
      forwardedFor: req.headers['x-forwarded-for'] ?? null,
      requestId: req.headers['x-request-id'] ?? null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The demo's policy: a public route and a protected API (auth and limits join as they land). */
export function demoPolicy(): string {
  return `apiVersion: sidegate.dev/v1
kind: Policy
metadata: { name: demo }
spec:
  upstream: { timeout: 5s }
  routes:
    - { name: public, match: { paths: [/public/*] } }
    - { name: api, match: { paths: [/api/*] } }
`;
}

async function listenPort(preferred: number): Promise<number> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(0));
    probe.listen(preferred, '127.0.0.1', () => probe.close(() => resolve(preferred)));
  });
}

/**
 * `sidegate demo` (behind `npm start`): a demo app, the sidecar in front of it with an example
 * policy, no Redis and no cluster. Prints the curl lines to try; Ctrl-C drains and exits.
 */
export async function runDemo(args: string[], io: CliIo): Promise<number> {
  const port = await listenPort(Number(args[args.indexOf('--port') + 1] ?? 15006) || 15006);
  const adminPort = await listenPort(15090);
  const app = await startDemoApp();
  const appPort = (app.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-demo-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, demoPolicy());
  const cfg = parseProxyConfig([
    '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--upstream', `http://127.0.0.1:${appPort}`,
    '--policy', policyFile, '--drain-delay', '0s', '--service', 'demo', '--log-level', 'info',
  ], {});
  const proxy = await Proxy.start(cfg);
  const s = `http://127.0.0.1:${proxy.port}`;
  const a = `http://127.0.0.1:${proxy.adminPort}`;
  io.out([
    '',
    'sidegate demo is running (Ctrl-C to stop)',
    `  sidecar  ${s}   (HTTP/1.1 and h2c on one port)`,
    `  admin    ${a}`,
    `  app      http://127.0.0.1:${appPort}   (the demo app, directly)`,
    `  policy   ${policyFile}   (edit it: the sidecar reloads it live)`,
    '',
    'Try:',
    `  curl -i ${s}/public/hello                      # 200 from the app, through the sidecar`,
    `  curl -i --http2-prior-knowledge ${s}/api/orders  # the same over h2c`,
    `  curl -s ${a}/healthz/ready                     # readiness`,
    `  curl -s ${a}/metrics | grep '^sidegate_http'   # Prometheus metrics`,
    '',
  ].join('\n'));
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void proxy.shutdown(false).then(() => { app.close(); resolve(0); });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
