import type { Server } from 'node:http';
import { http } from '../sidecar/src/protocol/node-http.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { parseProxyConfig } from '../sidecar/src/config.js';
import { Proxy } from '../sidecar/src/proxy.js';
import type { CliIo } from './io.js';

const { createServer } = http;

/** The demo app: answers JSON saying what it received, so the sidecar's work is visible. */
function startDemoApp(): Promise<Server> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({
      hello: 'from the demo app',
      path: req.url,
      user: req.headers['x-user-id'] ?? null,
      sawAuthorizationHeader: req.headers.authorization !== undefined,
      requestId: req.headers['x-request-id'] ?? null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return listen(server, 0);
}

/** A local identity provider: one ES256 key, served as a JWKS like any IdP's. */
async function startIdp(): Promise<{ server: Server; issuer: string; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'demo-key', alg: 'ES256', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  const server = await listen(
    createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(body);
    }),
    0,
  );
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await new SignJWT({ scope: 'orders.read' })
    .setProtectedHeader({ alg: 'ES256', kid: 'demo-key', typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience('demo')
    .setSubject('demo-user')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return { server, issuer, token };
}

function listen(server: Server, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

async function freeOr0(preferred: number): Promise<number> {
  try {
    const s = await listen(createServer(), preferred);
    await new Promise((r) => s.close(r));
    return preferred;
  } catch {
    return 0;
  }
}

/**
 * `sidegate demo` (behind `npm start`): a demo app, a local identity provider, and the sidecar
 * in front of the app with policies/examples/demo.yaml — no Redis, no cluster. Prints the curl
 * lines that show 200, 401 and 429; Ctrl-C drains and exits.
 */
export async function runDemo(args: string[], io: CliIo): Promise<number> {
  const portArg = args.indexOf('--port');
  const port = await freeOr0(portArg >= 0 ? Number(args[portArg + 1]) : 15006);
  const adminPort = await freeOr0(15090);
  const app = await startDemoApp();
  const idp = await startIdp();
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-demo-'));
  const policyFile = join(dir, 'policy.yaml');
  const example = readFileSync(new URL('../../policies/examples/demo.yaml', import.meta.url), 'utf8');
  writeFileSync(policyFile, example.replaceAll('http://127.0.0.1:15081', idp.issuer).replace('/.well-known/jwks.json', '/jwks.json'));
  const proxy = await Proxy.start(
    parseProxyConfig(
      [
        '--listen',
        `127.0.0.1:${port}`,
        '--admin',
        `127.0.0.1:${adminPort}`,
        '--upstream',
        `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
        '--policy',
        policyFile,
        '--drain-delay',
        '0s',
        '--service',
        'demo',
      ],
      {},
    ),
  );
  const s = `http://127.0.0.1:${proxy.port}`;
  const a = `http://127.0.0.1:${proxy.adminPort}`;
  io.out(
    [
      '',
      'sidegate demo is running (Ctrl-C to stop)',
      `  sidecar  ${s}   (HTTP/1.1 and h2c on one port)`,
      `  admin    ${a}`,
      `  policy   ${policyFile}   (edit it: the sidecar reloads it live)`,
      '',
      'Try:',
      `  curl -i ${s}/public/hello                       # 200: a public route`,
      `  curl -i ${s}/api/orders                         # 401: no token`,
      `  TOKEN=${idp.token}`,
      `  curl -i -H "Authorization: Bearer $TOKEN" ${s}/api/orders   # 200: the app sees x-user-id: demo-user`,
      `  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $TOKEN" ${s}/api/orders; done   # then 429: 5 per 10 s`,
      `  curl -s ${a}/metrics | grep '^sidegate_http_requests_total'`,
      '',
    ].join('\n'),
  );
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void proxy.shutdown(false).then(() => {
        app.close();
        idp.server.close();
        resolve(0);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
