/** Small pieces: rate-limit and maintenance shorthands, the JSON Patch diff, quantities, config, init-network flags. */
import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { runInitNetwork } from '../../cli/init-network.js';
import { parseAnnotations } from '../../injector/src/annotations.js';
import { ConfigError, DEFAULT_CONFIG, parseInjectorConfig } from '../../injector/src/config.js';
import { diff } from '../../injector/src/diff.js';
import { injectPod } from '../../injector/src/inject.js';
import { serviceIdentity, workloadOf } from '../../injector/src/identity.js';
import { installRules, removeRules, type Runner } from '../../injector/src/network/iptables.js';
import { parseQuantity } from '../../injector/src/quantity.js';
import type { Pod } from '../../injector/src/k8s.js';
import { parseMaintenanceShorthand } from '../../injector/src/maintenance-shorthand.js';
import { parseRateLimitShorthand } from '../../injector/src/ratelimit-shorthand.js';

void t.test('rate-limit shorthand', async (t) => {
  t.same(parseRateLimitShorthand('100/s burst 20 by client-ip'), {
    limits: [{ name: 'annotation', key: [{ clientIp: true }], limit: { requests: 100, per: '1s', burst: 20 } }],
    problems: [],
  });
  t.same(parseRateLimitShorthand('5/10s by header:X-Api-Key,method on /api/*; 7/d').limits, [
    {
      name: 'annotation-1',
      match: { paths: ['/api/*'] },
      key: [{ header: 'x-api-key' }, { method: true }],
      limit: { requests: 5, per: '10s' },
    },
    { name: 'annotation-2', key: [{ constant: 'service' }], limit: { requests: 7, per: '24h' } },
  ]);
  for (const bad of ['', 'fast', '0/s', '5/fortnight', '5/s burst x', '5/s by cookie:a', '5/s on api', '5/s with love', '5/s by']) {
    t.not(parseRateLimitShorthand(bad).problems.length, 0, `refused: "${bad}"`);
  }
  // Found by the annotations fuzz target (test/fuzz/regressions/annotations/): a period count
  // past 2^53 became `per: 1e+30s`, which is no duration.
  t.same(parseRateLimitShorthand(`100/${'9'.repeat(30)}s`).problems, [`"100/${'9'.repeat(30)}s": period "${'9'.repeat(30)}s" is too long`]);
  t.same(parseRateLimitShorthand('100/9007199254740991s').limits[0]?.limit, { requests: 100, per: '9007199254740991s' });
  // Found by the same target: `on ,,,` made a limit on no path, and `by ,` silently became one
  // budget for the whole service.
  t.same(parseRateLimitShorthand('100/s burst 2 by client-ip on ,,,').problems, [
    '"100/s burst 2 by client-ip on ,,,": "on" names no path',
  ]);
  t.same(parseRateLimitShorthand('5/10s by , on /api').problems, ['"5/10s by , on /api": "by" names no key']);
  // Found by the same target: the unit was looked up in a plain object, so `100/constructor`
  // took Object's constructor function for its period.
  t.same(parseRateLimitShorthand('100/constructor').problems, [
    '"100/constructor": unknown period "constructor" (use s, m, h, d or e.g. 10s)',
  ]);
  await Promise.resolve();
});

void t.test('problems quote the values they echo: one line, no control characters', async (t) => {
  // Found by the annotations fuzz target (test/fuzz/regressions/annotations/): values were echoed
  // raw, so a newline split a warning kubectl prints on one line, and `sidegate inject` wrote
  // control characters (a terminal escape) from a manifest straight to the terminal.
  const { problems } = parseAnnotations({
    'sidegate.dev/native-sidecar': 'maybe\nnot',
    'sidegate.dev/app-port': 'x\u001b[2Jy',
    'sidegate.dev/public-paths': 'a\u2028b',
    'sidegate.dev/rate-limit': '5/s\non x\u0085y',
  });
  t.same(problems.warnings, ['sidegate.dev/native-sidecar: "maybe\\nnot" is not true or false; using the default']);
  t.same(problems.errors, [
    'sidegate.dev/app-port: "x\\u001b[2Jy" is neither a port number nor a port name',
    'sidegate.dev/public-paths: paths must start with / ("a\\u2028b")',
    'sidegate.dev/rate-limit: "5/s\\non x\\u0085y": path "x\\u0085y" must start with /',
  ]);
  t.same(
    parseAnnotations({ 'sidegate.dev/native-sidecar': 'maybe' }).problems.warnings,
    ['sidegate.dev/native-sidecar: "maybe" is not true or false; using the default'],
    'plain values read as before',
  );
  const pod = {
    metadata: { name: 'p', annotations: { 'prometheus.io/port': '91\n02' } },
    spec: { containers: [{ name: 'app', image: 'app:1' }] },
  };
  const r = injectPod(pod, { name: 'shop', labels: { 'sidegate.dev/injection': 'enabled' } }, parseInjectorConfig(undefined));
  t.ok(
    r.warnings.includes('prometheus.io/port="91\\n02" replaced: Prometheus now scrapes the sidecar\'s admin port'),
    'a replaced annotation, quoted',
  );
});

void t.test('diff produces patches fast-json-patch applies exactly', async (t) => {
  const a = { metadata: { annotations: { 'a/b': '1', 'x~y': '2' } }, spec: { containers: [{ name: 'a' }], keep: [1, 2] } };
  const b = {
    metadata: { annotations: { 'a/b': '3', 'sidegate.dev/status': '{}' } },
    spec: { containers: [{ name: 's' }, { name: 'a' }], keep: [1, 3], added: true },
  };
  const ops = diff(a, b);
  t.ok(
    ops.some((o) => o.path === '/metadata/annotations/x~0y' && o.op === 'remove'),
    '~ escaped',
  );
  t.ok(
    ops.some((o) => o.path === '/metadata/annotations/sidegate.dev~1status' && o.op === 'add'),
    '/ escaped',
  );
  t.same(jsonpatch.applyPatch(structuredClone(a), ops as jsonpatch.Operation[], true, false).newDocument, b);
  t.same(diff(b, structuredClone(b)), [], 'equal documents give an empty patch');
  await Promise.resolve();
});

void t.test('quantities', async (t) => {
  t.equal(parseQuantity('250m'), 0.25);
  t.equal(parseQuantity('64Mi'), 64 * 2 ** 20);
  t.equal(parseQuantity('1e3'), 1000);
  t.equal(parseQuantity('1.5G'), 1.5e9);
  for (const bad of ['', 'lots', '-1', '12XB', '1 Gi', 'Mi']) t.equal(parseQuantity(bad), undefined, bad);
  // Found by the annotations fuzz target (test/fuzz/regressions/annotations/): `0e919` was NaN,
  // which passed both "above zero" and "limit not below the request".
  for (const bad of ['0e919', '1e400', '1e309']) t.equal(parseQuantity(bad), undefined, bad);
  t.same(parseAnnotations({ 'sidegate.dev/proxy-memory': '0e919' }).problems.errors, [
    'sidegate.dev/proxy-memory: "0e919" is not a valid resource quantity (e.g. 100m, 128Mi)',
  ]);
  await Promise.resolve();
});

void t.test('injector config', async (t) => {
  t.equal(parseInjectorConfig({ interception: 'none' }).interception, 'none');
  t.throws(() => parseInjectorConfig({ interceptoin: 'none' }), ConfigError, 'typos are refused');
  t.throws(() => parseInjectorConfig({ redis: {} }), ConfigError);
  t.throws(() => parseInjectorConfig({ nativeSidecar: 'yes' }), ConfigError);
  t.equal(parseInjectorConfig({ resources: { memoryLimit: null } }).resources.memoryLimit, undefined, 'null removes a default limit');
  await Promise.resolve();
});

void t.test('identity', async (t) => {
  const pod = (meta: Record<string, unknown>): { metadata: Record<string, unknown>; spec: { containers: [] } } => ({
    metadata: meta,
    spec: { containers: [] },
  });
  const rs = pod({
    labels: { 'pod-template-hash': 'abc12' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-abc12', controller: true }],
  });
  t.same(workloadOf(rs), { kind: 'Deployment', name: 'orders' });
  t.equal(serviceIdentity(rs, workloadOf(rs)), 'orders');
  const cron = pod({ ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'report-29000000' }] });
  t.same(workloadOf(cron), { kind: 'CronJob', name: 'report' });
  t.equal(serviceIdentity(pod({ generateName: 'worker-', labels: { app: 'w' } }), undefined), 'w');
  t.equal(serviceIdentity(pod({ generateName: 'worker-' }), undefined), 'worker');
  await Promise.resolve();
});

/** A fake iptables with state: enough to check the idempotency logic without root. */
function fakeIptables(): { run: Runner; rules: () => string[] } {
  const chains = new Map<string, string[]>([
    ['PREROUTING', []],
    ['OUTPUT', []],
  ]);
  const run: Runner = (_cmd, argv) => {
    const args = argv.slice(4); // -w 5 -t nat
    const [op, chain = '', ...rule] = args;
    const r = rule.join(' ');
    const list = chains.get(chain);
    const ok = { code: 0, stdout: '', stderr: '' };
    const fail = { code: 1, stdout: '', stderr: 'no' };
    switch (op) {
      case '-L':
        return Promise.resolve(list ? ok : fail);
      case '-N':
        if (list) return Promise.resolve(fail);
        chains.set(chain, []);
        return Promise.resolve(ok);
      case '-F':
        if (!list) return Promise.resolve(fail);
        list.length = 0;
        return Promise.resolve(ok);
      case '-X':
        if (!list || list.length > 0) return Promise.resolve(fail);
        chains.delete(chain);
        return Promise.resolve(ok);
      case '-A':
        list?.push(r);
        return Promise.resolve(list ? ok : fail);
      case '-C':
        return Promise.resolve(list?.includes(r) ? ok : fail);
      case '-D': {
        const i = list?.indexOf(r) ?? -1;
        if (i < 0) return Promise.resolve(fail);
        list?.splice(i, 1);
        return Promise.resolve(ok);
      }
      default:
        return Promise.resolve(fail);
    }
  };
  return { run, rules: () => [...chains].flatMap(([c, rs]) => rs.map((x) => `${c} ${x}`)) };
}

void t.test('iptables install is idempotent and cleanup complete (fake iptables)', async (t) => {
  const f = fakeIptables();
  const o = { proxyPort: 15006, adminPort: 15090, proxyUid: 10101, inboundPorts: [8080], excludeInboundPorts: [9102] };
  await installRules(o, 4, f.run);
  const once = f.rules();
  await installRules(o, 4, f.run);
  t.same(f.rules(), once, 'second install leaves one copy of each rule');
  t.equal(once.filter((r) => r.startsWith('PREROUTING')).length, 1);
  await removeRules(4, f.run);
  t.same(f.rules(), [], 'cleanup removes everything');
});

void t.test('init-network flags', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
  t.equal(await runInitNetwork(['--inbound-ports', '80,x'], io), 2);
  t.match(err.join('\n'), /--inbound-ports/);
  t.equal(await runInitNetwork(['--bogus'], io), 2);
  t.equal(await runInitNetwork(['--dry-run', '--inbound-ports', '8080', '--ipv6', 'off'], io), 0);
  t.ok(out.some((l) => l.includes('-A SIDEGATE_INBOUND -p tcp --dport 8080') && l.includes('REDIRECT --to-ports 15006')));
  t.ok(
    out.some((l) => l.includes('-A PREROUTING -p tcp')),
    'jump printed',
  );
  t.notOk(
    out.some((l) => l.startsWith('ip6tables')),
    '--ipv6 off',
  );
});

void t.test('maintenance shorthand', async (t) => {
  t.same(parseMaintenanceShorthand('on'), { maintenance: { enabled: true }, problems: [] });
  t.same(parseMaintenanceShorthand(' TRUE '), { maintenance: { enabled: true }, problems: [] });
  t.same(parseMaintenanceShorthand('off'), { maintenance: { enabled: false }, problems: [] });
  t.same(parseMaintenanceShorthand('on retry-after 10m except /healthz, /status/*').maintenance, {
    enabled: true,
    retryAfter: '10m',
    except: [{ paths: ['/healthz', '/status/*'] }],
  });
  const refused: [string, RegExp][] = [
    ['maybe', /is not on \[retry-after/],
    ['off except /healthz', /options only apply to "on"/],
    ['on retry-after', /needs a duration/],
    ['on retry-after 0s', /not a duration greater than zero/],
    ['on retry-after soon', /not a duration/],
    ['on except', /except needs paths/],
    ['on except healthz', /paths must start with \//],
    ['on until 3am', /unknown word "until"/],
  ];
  for (const [bad, why] of refused) {
    const r = parseMaintenanceShorthand(bad);
    t.equal(r.maintenance, undefined, `refused: "${bad}"`);
    t.match(r.problems.join('\n'), why, `refused: "${bad}" says why`);
  }
  await Promise.resolve();
});

void t.test('maintenance reaches the sidecar: the annotation as overlay, the injector config as defaults', async (t) => {
  const pod = (annotations: Record<string, string>): Pod => ({
    metadata: { name: 'orders-1', namespace: 'shop', labels: { app: 'orders' }, annotations },
    spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }] },
  });
  const ns = { name: 'shop', labels: { 'sidegate.dev/injection': 'enabled' } };
  const envOf = (r: ReturnType<typeof injectPod>, name: string): unknown => {
    if (r.kind !== 'inject') throw new Error(`not injected: ${JSON.stringify(r)}`);
    const proxy = [...(r.pod.spec?.initContainers ?? []), ...(r.pod.spec?.containers ?? [])].find((c) => c.name === 'sidegate-proxy');
    const v = proxy?.env?.find((e) => e.name === name)?.value;
    return v === undefined ? undefined : JSON.parse(v);
  };
  const annotated = injectPod(pod({ 'sidegate.dev/maintenance': 'on retry-after 10m except /healthz' }), ns, DEFAULT_CONFIG);
  t.same(envOf(annotated, 'SIDEGATE_POLICY_OVERLAY'), {
    spec: { maintenance: { enabled: true, retryAfter: '10m', except: [{ paths: ['/healthz'] }] } },
  });

  const cluster = parseInjectorConfig({
    defaultPolicy: { spec: { maintenance: { enabled: true, message: 'cluster upgrade until 04:00 UTC' } } },
  });
  t.same(envOf(injectPod(pod({}), ns, cluster), 'SIDEGATE_POLICY_DEFAULTS'), {
    spec: { maintenance: { enabled: true, message: 'cluster upgrade until 04:00 UTC' } },
  });
  t.same(
    envOf(injectPod(pod({ 'sidegate.dev/maintenance': 'off' }), ns, cluster), 'SIDEGATE_POLICY_OVERLAY'),
    { spec: { maintenance: { enabled: false } } },
    'one workload opts out',
  );

  const both = injectPod(pod({ 'sidegate.dev/maintenance': 'on', 'sidegate.dev/policy': 'orders-policy' }), ns, DEFAULT_CONFIG);
  t.match(both.warnings.join('\n'), /sidegate\.dev\/maintenance overrides spec\.maintenance\.enabled of the policy ConfigMap/);
  const broken = injectPod(pod({ 'sidegate.dev/maintenance': 'on except /a/*/b' }), ns, DEFAULT_CONFIG);
  t.equal(broken.kind, 'refuse', 'a path the policy compiler refuses refuses the pod');
  t.match(broken.kind === 'refuse' ? broken.errors.join('\n') : '', /invalid policy overlay at \/spec\/maintenance\/except\/0\/paths\/0/);
});
