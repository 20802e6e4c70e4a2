/**
 * Admission latency and throughput of `sidegate injector`: the real command in its own process
 * (HTTPS, self-signed certificate from openssl), keep-alive clients in this process posting a realistic AdmissionReview (a Deployment
 * pod with JWT, public paths, two rate limits and three probes).
 *
 *   npx tsc -p . && node dist/bench/injector/admission.js [--seconds 10] [--concurrency 16]
 *
 * Add --vary to give every review a different overlay (no reuse of cached verdicts, the cost of
 * a first pod of a new workload). Prints p50/p90/p99 latency (client-measured, request sent to response read) and reviews/s.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { makeCert } from '../../test/helpers/tls.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 10);
const CONCURRENCY = arg('concurrency', 16);
/** --vary: every review carries a different rate limit, so no overlay verdict is reused. */
const VARY = process.argv.includes('--vary');

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'orders-5d8f9c7b6-',
    namespace: 'shop',
    labels: { 'app.kubernetes.io/name': 'orders', 'pod-template-hash': '5d8f9c7b6' },
    annotations: {
      'sidegate.dev/jwt-issuer': 'https://id.example.com',
      'sidegate.dev/jwt-audiences': 'orders',
      'sidegate.dev/public-paths': '/healthz,/public/*',
      'sidegate.dev/rate-limit': '100/s burst 20 by client-ip; 1000/m by claim:sub on /api/*',
    },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-5d8f9c7b6', uid: 'u', controller: true }],
  },
  spec: {
    containers: [
      {
        name: 'orders',
        image: 'orders:2',
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
        livenessProbe: { httpGet: { path: '/alive', port: 'http' } },
        startupProbe: { tcpSocket: { port: 8080 } },
      },
    ],
  },
};
let seq = 0;
const makeBody = (): string => {
  if (VARY) pod.metadata.annotations['sidegate.dev/rate-limit'] = `${1 + (seq++ % 1_000_000)}/s burst 20 by client-ip`;
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: `bench-${seq}`, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: pod },
  });
};
const BODY = makeBody();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

async function main(): Promise<void> {
  const tls = makeCert();
  // The server gets its own process (and core), as in a cluster; clients run here.
  const main = fileURLToPath(new URL('../bin/sidegate.js', import.meta.url));
  const server = spawn(process.execPath, [main, 'injector', '--cert', tls.certFile, '--key', tls.keyFile, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on [^"]*:(\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    server.once('exit', (code) => reject(new Error(`injector exited with ${code}`)));
  });
  const hook = { port };
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: tls.cert });
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const body = VARY ? makeBody() : BODY;
      const req = request(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: hook.port,
          path: '/inject',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const latencies: number[] = [];
  const run = async (until: number, record: boolean): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now();
      await once();
      if (record) latencies.push(performance.now() - t0);
    }
  };
  const warm = performance.now() + 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, () => run(warm, false)));
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, () => run(start + SECONDS * 1000, true)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const result = {
    reviews: latencies.length,
    seconds: Number(elapsed.toFixed(2)),
    concurrency: CONCURRENCY,
    reviewsPerSecond: Math.round(latencies.length / elapsed),
    p50ms: Number(percentile(latencies, 0.5).toFixed(2)),
    p90ms: Number(percentile(latencies, 0.9).toFixed(2)),
    p99ms: Number(percentile(latencies, 0.99).toFixed(2)),
    bodyBytes: Buffer.byteLength(BODY),
    vary: VARY,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  agent.destroy();
  server.kill('SIGTERM');
}

await main();
