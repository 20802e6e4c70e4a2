/**
 * A real Prometheus scrapes a real `sidegate proxy` (real Redis, JWKS server, app, traffic) and a
 * real `sidegate injector`. The alerts and the dashboard must use only metric names and labels that
 * appear in what it scraped, every query must evaluate on it, and the promtool unit-test series must
 * look like the real ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { startHttpApp } from '../helpers/apps.js';
import { JwksServer, mint, testKey } from '../helpers/jwks.js';
import { freePort } from '../helpers/ports.js';
import { RedisProcess } from '../helpers/redis.js';
import { CLI, spawnProxy } from '../helpers/spawn.js';
import { selfSigned } from '../helpers/tls.js';
import { TARGET_LABELS } from './declared.js';
import { FIXTURES, allAlerts, concreteQuery, dashboardQueries, family, parseSeries, readExpr } from './promql.js';
import { requirePrometheusTools } from './tools.js';

requirePrometheusTools();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function spawnLogged(cmd: string, args: string[]): { proc: ChildProcess; out: () => string } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += String(d); });
  proc.stderr?.on('data', (d: Buffer) => { out += String(d); });
  return { proc, out: () => out };
}

interface PromResult { metric: Record<string, string>; value: [number, string] }

t.test('a real Prometheus scraping a real sidecar and injector', async (t) => {
  const redis = await RedisProcess.start();
  t.teardown(() => redis.stop());
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const key = testKey('ES256');
  const jwks = await JwksServer.start([key.jwk]);
  t.teardown(() => jwks.stop());

  const dir = mkdtempSync(join(tmpdir(), 'sidegate-scrape-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, stringify({
    apiVersion: 'sidegate.dev/v1', kind: 'Policy', metadata: { name: 'orders' },
    spec: {
      routes: [{ name: 'api', match: { paths: ['/api/*'] } }, { name: 'tenants', match: { paths: ['/tenants/*'] } }],
      auth: {
        providers: [{ name: 'corp', issuer: jwks.issuer, audiences: ['orders'], algorithms: ['ES256'], jwks: { uri: jwks.jwksUri } }],
        rules: [
          { match: { paths: ['/status/*'] }, require: 'none' },
          { match: { paths: ['/tenants/*'] }, require: { providers: ['corp'], tenant: { claim: 'tenant', pathSegment: 1 } } },
        ],
        default: { require: 'any' },
      },
      rateLimits: [{ name: 'per-user', match: { paths: ['/api/*'] }, key: [{ claim: 'sub' }], limit: { requests: 3, per: '1h' }, onRedisError: 'local' }],
      breaker: { consecutiveFailures: 3, openFor: '5m', failureStatuses: [503] },
    },
  }));
  const proxy = await spawnProxy(app.url, ['--policy', policyFile, '--redis', redis.url, '--service', 'orders']);
  t.teardown(() => { proxy.proc.kill('SIGKILL'); });

  const tls = selfSigned();
  const injPort = await freePort();
  const injector = spawnLogged(process.execPath, [CLI, 'injector', '--cert', tls.certFile, '--key', tls.keyFile, '--listen', `127.0.0.1:${injPort}`]);
  t.teardown(() => { injector.proc.kill('SIGKILL'); });
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  t.teardown(() => insecure.close());
  await until('injector /healthz', async () => {
    const r = await request(`https://127.0.0.1:${injPort}/healthz`, { dispatcher: insecure });
    await r.body.dump();
    return r.statusCode === 200 ? true : undefined;
  });

  const promPort = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      { job_name: 'sidegate-proxy', static_configs: [{ targets: [`127.0.0.1:${proxy.adminPort}`], labels: { namespace: 'shop', pod: 'orders-5d8c7b9f6-x2k4q', service: 'orders' } }] },
      { job_name: 'sidegate-injector', scheme: 'https', tls_config: { insecure_skip_verify: true }, static_configs: [{ targets: [`127.0.0.1:${injPort}`], labels: { namespace: 'sidegate-system', pod: 'sidegate-injector-6b7c8d9e0-a1b2c' } }] },
    ],
  }));
  const prom = spawnLogged('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
  ]);
  t.teardown(() => { prom.proc.kill('SIGKILL'); });
  const api = async <T>(path: string): Promise<T> => {
    const r = await request(`http://127.0.0.1:${promPort}${path}`);
    const body = await r.body.json() as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? r.statusCode}`);
    return body.data;
  };
  const query = (q: string): Promise<PromResult[]> => api<{ result: PromResult[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`).then((d) => d.result);
  const scrapesOf = async (job: string): Promise<number> => {
    const r = await query(`count_over_time(up{job="${job}"}[5m])`);
    return Number(r[0]?.value[1] ?? 0);
  };
  const waitScrapes = async (n: number): Promise<void> => {
    const target = Math.min(await scrapesOf('sidegate-proxy'), await scrapesOf('sidegate-injector')) + n;
    await until(`${n} more scrapes (${prom.out()})`, async () => (Math.min(await scrapesOf('sidegate-proxy'), await scrapesOf('sidegate-injector')) >= target ? true : undefined));
  };
  await until(`Prometheus ready (${prom.out()})`, async () => {
    const r = await request(`http://127.0.0.1:${promPort}/-/ready`);
    await r.body.dump();
    return r.statusCode === 200 ? true : undefined;
  });
  await until('both targets up', async () => ((await query('sum(up)'))[0]?.value[1] === '2' ? true : undefined));

  // Traffic twice, with scrapes in between: a labelled counter first appears at its first value,
  // so only the second round is an increase that rate() and increase() can see.
  const alice = await mint(key, { iss: jwks.issuer, aud: 'orders', sub: 'alice', tenant: 'globex', exp: Math.floor(Date.now() / 1000) + 3600 });
  const expired = await mint(key, { iss: jwks.issuer, aud: 'orders', sub: 'bob', tenant: 'globex', exp: Math.floor(Date.now() / 1000) - 3600 });
  const seen = new Map<number, number>();
  const send = async (path: string, token?: string): Promise<void> => {
    const r = await request(`${proxy.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    await r.body.dump();
    seen.set(r.statusCode, (seen.get(r.statusCode) ?? 0) + 1);
  };
  const review = (uid: string): string => JSON.stringify({
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: { metadata: { name: uid, labels: { app: 'orders' } }, spec: { containers: [{ name: 'app', image: 'orders:1' }] } } },
  });
  const round = async (n: number): Promise<void> => {
    for (let i = 0; i < 3; i++) await send('/api/orders', alice);             // 200 until the limit, then 429
    await send('/api/orders');                                                  // 401, no token
    await send('/api/orders', expired);                                         // 401, expired
    await send('/tenants/acme/orders', alice);                                  // 403, cross-tenant
    for (let i = 0; i < 4; i++) await send('/status/503');                      // 503s open the breaker, then refusals
    for (const body of [review(`r-${n}`), '']) {
      const r = await request(`https://127.0.0.1:${injPort}/inject`, { dispatcher: insecure, method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await r.body.dump();
    }
  };
  await waitScrapes(2);
  await round(1);
  await waitScrapes(2);
  await round(2);
  await waitScrapes(3);
  for (const s of [200, 401, 403, 429, 503]) t.ok(seen.has(s), `traffic produced ${s}`);

  // What Prometheus has: names with samples, names from HELP/TYPE metadata (declared but never
  // observed), and the label names of every sidegate series.
  const withSamples = new Set(await api<string[]>('/api/v1/label/__name__/values'));
  const metadata = await api<Record<string, { type: string }[]>>('/api/v1/metadata');
  const scraped = new Set(withSamples);
  for (const [name, m] of Object.entries(metadata)) {
    scraped.add(name);
    if (m[0]?.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) scraped.add(name + s);
  }
  const series = await api<Record<string, string>[]>(`/api/v1/series?match[]=${encodeURIComponent('{__name__=~"sidegate_.+|up|process_.+|nodejs_.+"}')}`);
  const labelsOf = new Map<string, Set<string>>();
  const leOf = new Map<string, Set<string>>();
  for (const s of series) {
    const name = s.__name__!;
    const set = labelsOf.get(name) ?? new Set<string>();
    for (const l of Object.keys(s)) if (l !== '__name__') set.add(l);
    labelsOf.set(name, set);
    if (s.le !== undefined) leOf.set(name, (leOf.get(name) ?? new Set()).add(s.le));
  }
  t.ok(withSamples.has('sidegate_http_requests_total') && withSamples.has('sidegate_injector_reviews_total'), 'both targets were scraped');
  t.ok(withSamples.has('sidegate_redis_duration_seconds_bucket'), 'Redis was used');

  const queries = [
    ...allAlerts().map((a) => ({ where: `alert ${a.alert}`, expr: a.expr })),
    ...dashboardQueries().map((q) => ({ where: `dashboard ${q.panel}`, expr: concreteQuery(q.expr) })),
  ];
  t.test('every metric and label the alerts and the dashboard use was scraped', async (t) => {
    for (const q of queries) {
      const facts = readExpr(q.expr);
      for (const m of facts.metrics) t.ok(scraped.has(m), `${q.where}: ${m} was scraped`);
      for (const s of facts.selectors) {
        const labels = labelsOf.get(s.metric);
        if (labels === undefined) continue; // declared but never observed: names and labels checked in dashboard.test.ts
        for (const mt of s.matchers) t.ok(labels.has(mt.label), `${q.where}: ${s.metric} carries ${mt.label}`);
      }
      const all = [...facts.metrics].map((m) => labelsOf.get(m));
      if (all.every((x) => x !== undefined)) {
        const usable = new Set(all.flatMap((x) => [...x]));
        for (const l of facts.groupingLabels) t.ok(usable.has(l), `${q.where}: groups by ${l}, which the series carry`);
      }
    }
  });

  t.test('every alert and dashboard query evaluates on the scraped data', async (t) => {
    for (const q of queries) await t.resolves(query(q.expr), q.where);
  });

  t.test('alert expressions see what the traffic did', async (t) => {
    // Conditions only ("for" is promtool's business): each of these happened above.
    for (const name of ['SidegateCircuitBreakerOpen', 'SidegateHigh5xxRate', 'SidegateInjectorErrors', 'SidegateCrossTenantAttempt', 'SidegateHighAuthFailureRate']) {
      const a = allAlerts().find((x) => x.alert === name)!;
      const r = await query(a.expr);
      t.ok(r.length > 0, `${name} condition holds on real data`);
    }
    const quiet = allAlerts().find((x) => x.alert === 'SidegateSidecarDown')!;
    t.same(await query(quiet.expr), [], 'SidegateSidecarDown is quiet while the sidecar answers');
    const byStatus = await query(concreteQuery(dashboardQueries().find((q) => q.panel === 'Requests per second by status')!.expr));
    for (const s of ['200', '401', '403', '429', '503']) t.ok(byStatus.some((x) => x.metric.status === s), `dashboard shows status ${s}`);
  });

  t.test('promtool unit-test series are shaped like the scraped ones', async (t) => {
    const targets = TARGET_LABELS;
    for (const f of readdirSync(FIXTURES).filter((x) => x.endsWith('.test.yaml'))) {
      const doc = parse(readFileSync(join(FIXTURES, f), 'utf8')) as { tests: { input_series: { series: string }[] }[] };
      for (const s of doc.tests.flatMap((x) => x.input_series)) {
        const { name, labels } = parseSeries(s.series);
        t.ok(scraped.has(name) || scraped.has(family(name)), `${f}: ${name} is a real metric`);
        const real = labelsOf.get(name);
        if (real === undefined) continue;
        const own = (ls: Iterable<string>): string[] => [...ls].filter((l) => !targets.has(l)).sort();
        t.same(own(Object.keys(labels)), own(real), `${f}: ${name} has the real label names`);
        if (labels.le !== undefined) t.ok(leOf.get(name)?.has(labels.le), `${f}: ${name} bucket le="${labels.le}" is a real bucket`);
      }
    }
  });
});
