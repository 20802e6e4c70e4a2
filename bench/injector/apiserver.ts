/**
 * Admission latency through a real apiserver (issue 23, item 4): pods created at a fixed rate in a
 * namespace the chart's webhook selects and in one it does not, on the test control plane
 * (test/cluster/: Kubernetes v1.37.2, etcd, controllers, scheduler, kwok). The chart is installed
 * with helm (clientConfig pointed at 127.0.0.1) and the injector is the real `sidegate injector`
 * command in its own process, with the config the chart installed. The two arms alternate in
 * blocks, so drift on the shared machine hits both; "added" is webhook minus no-webhook.
 *
 *   npx tsc -p . && node dist/scripts/bundle.js && node dist/bench/injector/apiserver.js [--rate 20] [--blocks 3] [--block-seconds 5]
 *
 * Latency is the client's: POST of a Pod (the realistic one of admission.ts, with annotations) to
 * the apiserver's 201, over one keep-alive HTTPS connection pool as the admin.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../../test/cluster/control-plane.js';
import { Helm } from '../../test/cluster/helm.js';
import { freePort } from '../../test/helpers/ports.js';
import { makeCert } from '../../test/helpers/tls.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const RATE = arg('rate', 20);
const BLOCKS = arg('blocks', 3);
const BLOCK_SECONDS = arg('block-seconds', 5);
const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

let seq = 0;
const pod = (): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: `orders-${++seq}`,
    labels: { 'app.kubernetes.io/name': 'orders' },
    annotations: {
      'sidegate.dev/jwt-issuer': 'https://id.example.com',
      'sidegate.dev/jwt-audiences': 'orders',
      'sidegate.dev/public-paths': '/healthz,/public/*',
      'sidegate.dev/rate-limit': '100/s burst 20 by client-ip; 1000/m by claim:sub on /api/*',
    },
  },
  spec: {
    containers: [
      {
        name: 'orders',
        image: 'example.invalid/orders:2',
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
        livenessProbe: { httpGet: { path: '/alive', port: 'http' } },
        startupProbe: { tcpSocket: { port: 8080 } },
      },
    ],
  },
});

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const round = (x: number): number => Number(x.toFixed(2));

async function main(): Promise<void> {
  const t0 = performance.now();
  const plane = await startControlPlane();
  const { api } = plane;
  const injectorProc: { kill?: () => void } = {};
  try {
    log(`control plane ready in ${plane.startup.total} ms`);
    const tls = makeCert();
    const port = await freePort();
    await new Helm(plane).install('sg', 'sidegate-system', `https://127.0.0.1:${port}`, tls.certFile);
    const cm = ((await api.get('/api/v1/namespaces/sidegate-system/configmaps')).body.items as { data?: Record<string, string> }[]).find(
      (c) => c.data?.['config.yaml'] !== undefined,
    );
    const config = join(mkdtempSync(join(tmpdir(), 'sidegate-bench-')), 'config.yaml');
    writeFileSync(config, cm?.data?.['config.yaml'] ?? '');

    const cli = fileURLToPath(new URL('../../bin/sidegate.js', import.meta.url));
    const proc = spawn(
      process.execPath,
      [cli, 'injector', '--cert', tls.certFile, '--key', tls.keyFile, '--listen', `127.0.0.1:${port}`, '--config', config],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    injectorProc.kill = () => proc.kill('SIGTERM');
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('listening on')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`injector exited with ${code}`)));
    });

    await api.create('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'hooked', labels: { 'sidegate.dev/injection': 'enabled' } },
    });
    await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'direct' } });
    const create = async (ns: string): Promise<{ ms: number; ok: boolean }> => {
      const start = performance.now();
      const r = await api.call('POST', `/api/v1/namespaces/${ns}/pods`, pod());
      const injected = JSON.stringify(r.body).includes('sidegate-proxy');
      return { ms: performance.now() - start, ok: r.status === 201 && injected === (ns === 'hooked') };
    };
    // The default ServiceAccount must exist before pods are admitted (ServiceAccount plugin).
    for (const ns of ['hooked', 'direct']) {
      await api.waitFor(`${ns}/default ServiceAccount`, async () =>
        (await api.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200 ? true : undefined,
      );
    }
    // Open loop: one pod every 1000/RATE ms, whatever the previous one is doing.
    const block = async (ns: string, seconds: number): Promise<{ ms: number; ok: boolean }[]> => {
      const n = Math.round(seconds * RATE);
      const started = performance.now();
      const pending: Promise<{ ms: number; ok: boolean }>[] = [];
      for (let i = 0; i < n; i++) {
        const due = started + (i * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        pending.push(create(ns));
      }
      return Promise.all(pending);
    };
    log('warm-up');
    await block('hooked', 2);
    await block('direct', 2);
    const results: Record<string, { ms: number; ok: boolean }[]> = { hooked: [], direct: [] };
    const load: number[] = [];
    for (let b = 0; b < BLOCKS; b++) {
      for (const ns of b % 2 === 0 ? ['hooked', 'direct'] : ['direct', 'hooked']) {
        results[ns]!.push(...(await block(ns, BLOCK_SECONDS)));
        load.push(loadavg()[0]!);
      }
      log(`block ${b + 1}/${BLOCKS}`);
    }
    const stats = (
      rs: { ms: number; ok: boolean }[],
    ): { pods: number; errors: number; mean: number; p50: number; p90: number; p99: number; max: number } => {
      const sorted = rs.map((r) => r.ms).sort((a, b) => a - b);
      return {
        pods: rs.length,
        errors: rs.filter((r) => !r.ok).length,
        mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
        p50: round(percentile(sorted, 0.5)),
        p90: round(percentile(sorted, 0.9)),
        p99: round(percentile(sorted, 0.99)),
        max: round(sorted.at(-1) ?? NaN),
      };
    };
    // The injector's own view (its review-duration histogram): how much of "added" is sidegate's
    // code, the rest being the apiserver's webhook call (TLS, JSON both ways, patch, re-validation)
    // and scheduling on the shared cores.
    const metrics = await new Promise<string>((resolve, reject) => {
      const req = httpsGet({ host: '127.0.0.1', port, path: '/metrics', ca: tls.cert, servername: 'localhost' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve(body));
      });
      req.once('error', reject);
    });
    const buckets = [...metrics.matchAll(/^sidegate_injector_review_duration_seconds_bucket\{([^}]*)\} (\d+)/gm)]
      .filter((m) => m[1]!.includes('endpoint="inject"'))
      .map((m) => {
        const le = /le="([^"]+)"/.exec(m[1]!)?.[1] ?? '+Inf';
        return { le: le === '+Inf' ? Infinity : Number(le), count: Number(m[2]) };
      });
    const total = buckets.at(-1)?.count ?? 0;
    /** The upper bound of the bucket holding the p-quantile (a histogram cannot say more). */
    const bucketBound = (p: number): string => {
      const b = buckets.find((x) => x.count >= p * total);
      return b === undefined ? 'n/a' : b.le === Infinity ? '> 1 s' : `<= ${b.le * 1000} ms`;
    };
    const sumCount = (text: string, name: string, labels: string): { count: number; meanMs: number } => {
      const pick = (suffix: string): number =>
        [...text.matchAll(new RegExp(`^${name}_${suffix}\\{([^}]*)\\} ([0-9.e+-]+)$`, 'gm'))]
          .filter((m) => m[1]!.includes(labels))
          .reduce((n, m) => n + Number(m[2]), 0);
      const count = pick('count');
      return { count, meanMs: count === 0 ? NaN : round((pick('sum') / count) * 1000) };
    };
    // The apiserver's own timing of the webhook call (TLS, the AdmissionReview both ways, the
    // injector's work): its buckets are too coarse for percentiles here, so the mean.
    const apiserverMetrics = String((await api.get('/metrics')).body);
    const webhookCall = sumCount(apiserverMetrics, 'apiserver_admission_webhook_admission_duration_seconds', 'name="inject.sidegate.dev"');
    const injector = {
      reviews: total,
      p50: bucketBound(0.5),
      p99: bucketBound(0.99),
      ...sumCount(metrics, 'sidegate_injector_review_duration_seconds', 'endpoint="inject"'),
    };
    const hooked = stats(results.hooked!);
    const direct = stats(results.direct!);
    const out = {
      kubernetes: plane.kubernetesVersion,
      ratePerSecond: RATE,
      blocks: BLOCKS,
      blockSeconds: BLOCK_SECONDS,
      withWebhook: hooked,
      withoutWebhook: direct,
      injectorReviewTime: injector,
      webhookCallAsTheApiserverTimedIt: webhookCall,
      addedMeanMs: round(hooked.mean - direct.mean),
      addedP50ms: round(hooked.p50 - direct.p50),
      addedP99ms: round(hooked.p99 - direct.p99),
      loadAverage1m: load.map(round),
      wallSeconds: round((performance.now() - t0) / 1000),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    injectorProc.kill?.();
    await plane.stop();
  }
}

await main();
