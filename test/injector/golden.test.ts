/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- Kubernetes objects are arbitrary JSON in these tests */
/**
 * Golden files, Istio style. Every `test/fixtures/injector/<case>.yaml` is injected through the CLI
 * (`sidegate inject`) and compared with exactly one of `<case>.injected.yaml` (warnings as leading
 * `# ` comments, then stdout), `<case>.skip.txt` or `<case>.error.txt` (stderr). The same pods then
 * go through the webhook over HTTPS: the JSON Patch, applied with fast-json-patch, must give the
 * rendered pod, the result must validate against the Kubernetes schemas, and injecting it again
 * must change nothing. Stale and orphaned goldens fail.
 *
 * Refresh: npx tsc -p . && SIDEGATE_UPDATE_GOLDENS=1 npx tap dist/test/injector/golden.test.js
 */
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsonpatch from 'fast-json-patch';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { runInject } from '../../cli/inject.js';
import { loadInjectorConfig } from '../../injector/src/config-file.js';
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { injectManifests } from '../../injector/src/offline.js';
import { startWebhook } from '../../injector/src/webhook.js';
import { validateK8s } from './helpers/models.js';
import { admissionReview, postReview } from './helpers/review.js';
import { makeCert } from './helpers/tls.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/injector/', import.meta.url));
const CONFIG = join(DIR, '_config.yaml');
const UPDATE = process.env.SIDEGATE_UPDATE_GOLDENS === '1';
const GOLDEN_SUFFIXES = ['.injected.yaml', '.skip.txt', '.error.txt'] as const;

const isGolden = (f: string): boolean => GOLDEN_SUFFIXES.some((s) => f.endsWith(s));
const files = readdirSync(DIR);
const cases = files
  .filter((f) => f.endsWith('.yaml') && !isGolden(f) && !f.startsWith('_'))
  .map((f) => f.slice(0, -5))
  .sort();

t.ok(cases.length >= 25, `at least 25 golden inputs (${cases.length})`);

for (const f of files.filter(isGolden)) {
  const base = f.slice(0, -(GOLDEN_SUFFIXES.find((s) => f.endsWith(s)) ?? '').length);
  t.ok(cases.includes(base), `no orphaned golden: ${f} has an input ${base}.yaml`);
}

async function cli(file: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runInject(['-f', file, '--config', CONFIG], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out, err };
}

const CONTROLLER_LABELS = [
  'pod-template-hash',
  'controller-revision-hash',
  'statefulset.kubernetes.io/pod-name',
  'job-name',
  'batch.kubernetes.io/job-name',
];

/** The pod the API server would send for a workload's template, with the controller's additions. */
function apiServerPod(obj: any): { pod: any; namespace: string } | undefined {
  const namespace: string = obj.metadata?.namespace ?? 'default';
  if (obj.kind === 'Pod') return { pod: structuredClone(obj), namespace };
  const name: string = obj.metadata?.name;
  const template = obj.kind === 'CronJob' ? obj.spec?.jobTemplate?.spec?.template : obj.spec?.template;
  if (template?.spec?.containers === undefined) return undefined;
  const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
  let owner = { apiVersion: 'apps/v1', kind: obj.kind, name };
  switch (obj.kind) {
    case 'Deployment':
      labels['pod-template-hash'] = '5d8f9c7b6';
      owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-5d8f9c7b6` };
      break;
    case 'StatefulSet':
      labels['controller-revision-hash'] = `${name}-6b5d9`;
      labels['statefulset.kubernetes.io/pod-name'] = `${name}-0`;
      break;
    case 'DaemonSet':
      labels['controller-revision-hash'] = '7f4b6';
      break;
    case 'Job':
      labels['job-name'] = name;
      owner = { apiVersion: 'batch/v1', kind: 'Job', name };
      break;
    case 'CronJob':
      labels['job-name'] = `${name}-29000000`;
      owner = { apiVersion: 'batch/v1', kind: 'Job', name: `${name}-29000000` };
      break;
  }
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...structuredClone(template.metadata ?? {}),
      generateName: `${name}-`,
      namespace,
      labels,
      ownerReferences: [{ ...owner, uid: '1b2c3d4e-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }],
    },
    spec: structuredClone(template.spec),
  };
  return { pod, namespace };
}

/** The injected pod with the API server's and controllers' additions removed again. */
function asTemplate(pod: any, original: any): any {
  const meta = { ...pod.metadata };
  for (const k of ['generateName', 'namespace', 'ownerReferences']) delete meta[k];
  const labels = { ...(meta.labels ?? {}) };
  for (const l of CONTROLLER_LABELS) if (!(l in (original.metadata?.labels ?? {}))) delete labels[l];
  if (Object.keys(labels).length === 0) delete meta.labels;
  else meta.labels = labels;
  return { metadata: meta, spec: pod.spec };
}

function flatten(docs: unknown[]): any[] {
  return docs.flatMap((d: any) => (d?.kind === 'List' && Array.isArray(d.items) ? flatten(d.items) : d === null ? [] : [d]));
}

const parse = (text: string): any[] => flatten(parseAllDocuments(text).map((d) => d.toJS()));

void t.test('goldens', async (t) => {
  const config = await loadInjectorConfig(CONFIG);
  const tls = makeCert();
  const hook = await startWebhook({
    config,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    host: '127.0.0.1',
    port: 0,
    metrics: new InjectorMetrics({ processMetrics: false }),
  });
  t.teardown(() => hook.close());

  for (const name of cases) {
    await t.test(name, async (t) => {
      const input = join(DIR, `${name}.yaml`);
      const inputText = readFileSync(input, 'utf8');
      const r = await cli(input);
      const offline = injectManifests(inputText, config, { namespace: 'default' });
      const kind = r.code === 1 ? 'error' : offline.outcomes.some((o) => o.kind === 'injected') ? 'injected' : 'skip';
      t.not(r.code, 2, `usage or syntax error: ${r.err.join('\n')}`);
      const suffix = kind === 'injected' ? '.injected.yaml' : kind === 'skip' ? '.skip.txt' : '.error.txt';
      const actual = kind === 'injected' ? `${r.err.map((l) => `# ${l}\n`).join('')}${r.out.join('\n')}\n` : `${r.err.join('\n')}\n`;
      const goldenPath = join(DIR, name + suffix);
      if (UPDATE) {
        writeFileSync(goldenPath, actual);
        for (const s of GOLDEN_SUFFIXES) if (s !== suffix && existsSync(join(DIR, name + s))) unlinkSync(join(DIR, name + s));
      } else {
        t.ok(existsSync(goldenPath), `${name}${suffix} exists (refresh with SIDEGATE_UPDATE_GOLDENS=1)`);
        if (existsSync(goldenPath)) t.equal(actual, readFileSync(goldenPath, 'utf8'), `${name}${suffix} is up to date`);
        for (const s of GOLDEN_SUFFIXES) if (s !== suffix) t.notOk(existsSync(join(DIR, name + s)), `no stale ${name}${s}`);
      }

      const rendered = kind === 'injected' ? parse(r.out.join('\n')) : [];
      if (kind === 'injected') {
        for (const obj of rendered) t.doesNotThrow(() => validateK8s(obj), `${obj.kind}/${obj.metadata?.name} validates`);
        const again = injectManifests(r.out.join('\n'), config, { namespace: 'default' });
        t.equal(again.output, offline.output, 'injecting the output again changes nothing');
      }

      // The webhook path: every pod-bearing object, as the API server would send its pods.
      const inputs = parse(inputText);
      const outcomes = offline.outcomes.filter((o) => o.kind !== 'unchanged');
      let n = 0;
      for (const [i, obj] of inputs.entries()) {
        const made = apiServerPod(obj);
        if (made === undefined) continue;
        const outcome = outcomes[n++];
        const res = (
          await postReview(
            hook.port,
            '/inject',
            admissionReview(made.pod, { namespace: made.namespace, uid: `uid-${name}-${i}` }),
            tls.cert,
          )
        ).response;
        t.equal(res.uid, `uid-${name}-${i}`, 'uid echoed');
        if (outcome?.kind === 'refused') {
          t.equal(res.allowed, false, `${outcome.object} refused by the webhook`);
          t.equal(res.status.message, outcome.detail, 'same message as the CLI');
          continue;
        }
        t.equal(res.allowed, true, 'allowed');
        if (outcome?.kind === 'skipped') {
          t.equal(res.patch, undefined, `${outcome.object} skipped by the webhook too`);
          continue;
        }
        // An already injected pod needs no patch at all.
        if (res.patch !== undefined) t.equal(res.patchType, 'JSONPatch');
        const patch = res.patch === undefined ? [] : JSON.parse(Buffer.from(res.patch, 'base64').toString('utf8'));
        const patched = jsonpatch.applyPatch(structuredClone(made.pod), patch, true, false).newDocument;
        t.doesNotThrow(() => validateK8s(patched), 'patched pod validates');
        const expected = rendered[i];
        if (obj.kind === 'Pod') t.same(patched, expected, 'patch gives the rendered pod');
        else {
          const template = expected.kind === 'CronJob' ? expected.spec.jobTemplate.spec.template : expected.spec.template;
          const orig = obj.kind === 'CronJob' ? obj.spec.jobTemplate.spec.template : obj.spec.template;
          t.same(asTemplate(patched, orig), { metadata: template.metadata, spec: template.spec }, 'patch gives the rendered template');
        }
        const second = (await postReview(hook.port, '/inject', admissionReview(patched, { namespace: made.namespace }), tls.cert)).response;
        t.equal(second.allowed, true);
        t.equal(second.patch, undefined, 're-injection through the webhook is a no-op');
      }
      t.equal(n, outcomes.length, 'every workload went through the webhook');
    });
  }
});
