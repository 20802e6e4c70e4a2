/* eslint-disable @typescript-eslint/no-explicit-any -- generated pods are arbitrary JSON */
/**
 * Thousands of generated pod specs (seeded PRNG, so a failure names a reproducible seed): the
 * injector never throws, every patch applies with an independent JSON Patch library and gives
 * exactly the injected pod, every injected pod validates against the Kubernetes schema, and
 * injecting again is a no-op.
 */
import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { DEFAULT_CONFIG, parseInjectorConfig } from '../../injector/src/config.js';
import { injectPod } from '../../injector/src/inject.js';
import { validateK8s } from './helpers/models.js';

const COUNT = Number(process.env.SIDEGATE_GENERATED_PODS ?? 3000);
const SEED = Number(process.env.SIDEGATE_GENERATED_SEED ?? 20240611);

/** mulberry32: small, fast, good enough for test inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ANNOTATION_VALUES: Record<string, string[]> = {
  'sidegate.dev/policy': ['orders-policy', 'Bad_Name', ''],
  'sidegate.dev/jwt-issuer': ['https://id.example.com', 'not a url'],
  'sidegate.dev/jwks-uri': ['https://id.example.com/jwks.json', 'ftp://x'],
  'sidegate.dev/jwt-audiences': ['a,b', ' , '],
  'sidegate.dev/public-paths': ['/healthz,/public/*', '/a/*/b', 'nope'],
  'sidegate.dev/rate-limit': [
    '100/s burst 20 by client-ip',
    '5/m by claim:sub on /api/*',
    '10/10s; 20/h by method,route',
    'x/y',
    '0/s',
    '5/s by cookie:x',
  ],
  'sidegate.dev/maintenance': ['on', 'on retry-after 10m except /healthz,/status', 'off', 'maybe', 'on except healthz'],
  'sidegate.dev/app-port': ['8080', 'http', 'grpc', '0', '15006', 'BAD NAME', '65536'],
  'sidegate.dev/app-protocol': ['http1', 'h2c', 'grpc', 'http3'],
  'sidegate.dev/proxy-cpu': ['100m', '2', 'lots', '-1'],
  'sidegate.dev/proxy-memory': ['64Mi', '1Gi', '1e3', '12XB'],
  'sidegate.dev/proxy-cpu-limit': ['1', '50m'],
  'sidegate.dev/proxy-memory-limit': ['128Mi', '2Gi'],
  'sidegate.dev/inbound-ports': ['*', '8080,9090', '70000'],
  'sidegate.dev/exclude-inbound-ports': ['9102', '9102,abc', '15090'],
  'sidegate.dev/interception': ['redirect', 'none', 'ebpf'],
  'sidegate.dev/native-sidecar': ['true', 'false', 'yes'],
  'sidegate.dev/unknown': ['1'],
  'prometheus.io/scrape': ['true'],
  'prometheus.io/port': ['9102'],
  'sidecar.istio.io/status': ['{}'],
};

function generatePod(r: () => number): { pod: any; namespace: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const chance = (p: number): boolean => r() < p;
  const portNames = ['http', 'grpc', 'metrics', 'admin', 'web'];
  const containers: any[] = [];
  const nContainers = 1 + Math.floor(r() * 4);
  for (let i = 0; i < nContainers; i++) {
    const c: any = { name: chance(0.02) ? pick(['istio-proxy', 'sidegate-proxy']) : `c${i}`, image: `img${i}:1` };
    if (chance(0.8)) {
      const ports: any[] = [];
      for (let j = 0; j < 1 + Math.floor(r() * 3); j++) {
        const port: any = { containerPort: chance(0.03) ? pick([15006, 15090]) : pick([80, 8080, 9090, 9102, 3000 + i * 10 + j]) };
        if (chance(0.6)) port.name = `${pick(portNames)}${j === 0 ? '' : j}`;
        if (chance(0.1)) port.protocol = pick(['UDP', 'TCP', 'SCTP']);
        ports.push(port);
      }
      c.ports = ports;
    }
    for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (!chance(0.4)) continue;
      const port = chance(0.5) ? pick([8080, 9090, 3000]) : pick([...portNames, 'missing']);
      const handler = pick([
        {
          httpGet: {
            path: '/h',
            port,
            ...(chance(0.2) ? { httpHeaders: [{ name: 'X-A', value: 'b' }] } : {}),
            ...(chance(0.1) ? { scheme: 'HTTPS' } : {}),
          },
        },
        { httpGet: { port, host: '10.0.0.1' } },
        { tcpSocket: { port } },
        { grpc: { port: 9090, ...(chance(0.5) ? { service: 'svc' } : {}) } },
        { exec: { command: ['true'] } },
      ]);
      c[kind] = {
        ...handler,
        ...(chance(0.5) ? { periodSeconds: 1 + Math.floor(r() * 10) } : {}),
        ...(chance(0.3) ? { timeoutSeconds: 2 } : {}),
      };
    }
    if (chance(0.2)) c.env = [{ name: 'A', value: 'b' }];
    containers.push(c);
  }
  const spec: any = { containers };
  if (chance(0.3)) {
    spec.initContainers = [{ name: 'init0', image: 'busybox', command: ['true'] }];
    if (chance(0.5)) spec.initContainers.push({ name: 'native0', image: 'fluent', restartPolicy: 'Always' });
  }
  if (chance(0.2)) spec.volumes = [{ name: 'data', emptyDir: {} }];
  if (chance(0.05)) spec.hostNetwork = true;
  if (chance(0.2)) spec.restartPolicy = pick(['Always', 'Never', 'OnFailure']);
  const annotations: Record<string, string> = {};
  for (const [k, values] of Object.entries(ANNOTATION_VALUES)) {
    if (chance(k.startsWith('sidegate.dev/') ? 0.06 : 0.02)) annotations[k] = pick(values);
  }
  const labels: Record<string, string> = {};
  if (chance(0.5)) labels[pick(['app', 'app.kubernetes.io/name'])] = pick(['orders', 'cart']);
  if (chance(0.05)) labels['sidegate.dev/inject'] = pick(['true', 'false']);
  const metadata: any = chance(0.5) ? { name: 'p' } : { generateName: 'orders-5d8f9c7b6-' };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  if (chance(0.5)) {
    metadata.ownerReferences = [
      {
        apiVersion: 'apps/v1',
        kind: pick(['ReplicaSet', 'StatefulSet', 'Job', 'DaemonSet']),
        name: pick(['orders-5d8f9c7b6', 'report-29000000', 'db']),
        uid: 'u',
        controller: true,
      },
    ];
  }
  return {
    pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec },
    namespace: chance(0.9) ? 'shop' : pick(['kube-system', 'sidegate-system']),
  };
}

void t.test(`${COUNT} generated pods (seed ${SEED})`, async (t) => {
  const configs = [
    DEFAULT_CONFIG,
    parseInjectorConfig({
      nativeSidecar: false,
      interception: 'none',
      redis: { url: 'redis://r:6379' },
      defaultPolicy: { spec: { upstream: { timeout: '5s' } } },
    }),
  ];
  const r = prng(SEED);
  const counts: Record<string, number> = { inject: 0, skip: 0, refuse: 0 };
  let failures = 0;
  for (let i = 0; i < COUNT && failures < 5; i++) {
    const { pod, namespace } = generatePod(r);
    const config = configs[i % configs.length] ?? DEFAULT_CONFIG;
    const input = JSON.stringify(pod);
    try {
      const res = injectPod(pod, { name: namespace }, config);
      if (JSON.stringify(pod) !== input) throw new Error('input pod was modified');
      counts[res.kind] = (counts[res.kind] ?? 0) + 1;
      if (res.kind !== 'inject') continue;
      const patched = jsonpatch.applyPatch(structuredClone(pod), structuredClone(res.patch) as any, true, false).newDocument;
      if (JSON.stringify(patched) !== JSON.stringify(res.pod) && !t.same(patched, res.pod))
        throw new Error('patch does not give the injected pod');
      validateK8s(patched);
      const again = injectPod(res.pod, { name: namespace }, config);
      if (again.kind !== 'inject' || again.patch.length !== 0)
        throw new Error(`re-injection not a no-op: ${JSON.stringify(again.kind === 'inject' ? again.patch : again)}`);
    } catch (e) {
      failures++;
      t.fail(`pod #${i} (seed ${SEED}): ${e instanceof Error ? e.message : String(e)}\n${input}`);
    }
  }
  t.equal(failures, 0, 'no generated pod broke the injector');
  t.ok(
    (counts.inject ?? 0) > COUNT / 4 && (counts.skip ?? 0) > 0 && (counts.refuse ?? 0) > 0,
    `all three outcomes exercised: ${JSON.stringify(counts)}`,
  );
});
