/**
 * AdmissionReview v1 in and out, as pure functions: decoding (the only place that sees the raw
 * request), the pod mutation and the policy ConfigMap validation. The HTTPS server only moves bytes.
 */
import { parse as parseYaml } from 'yaml';
import { compilePolicy } from '../../policies/src/index.js';
import type { InjectorConfig } from './config.js';
import type { SkipCode } from './decide.js';
import { injectPod, refusalMessage } from './inject.js';
import type { Pod } from './k8s.js';

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  readonly namespace: string | undefined;
  readonly operation: string;
  readonly object: unknown;
  readonly dryRun: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

export interface Review {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

/** What happened, for metrics: bounded values only. */
export type Outcome =
  { readonly result: 'injected' | 'refused' | 'ignored' | 'valid' | 'invalid' } | { readonly result: 'skipped'; readonly reason: SkipCode };

export class BadReviewError extends Error {
  override readonly name = 'BadReviewError';
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

export function decodeReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw new BadReviewError('expected an AdmissionReview object');
  if (body.kind !== 'AdmissionReview') throw new BadReviewError('kind must be AdmissionReview');
  if (body.apiVersion !== 'admission.k8s.io/v1') throw new BadReviewError('apiVersion must be admission.k8s.io/v1');
  const r = body.request;
  if (!isRecord(r)) throw new BadReviewError('request missing');
  if (typeof r.uid !== 'string' || r.uid === '') throw new BadReviewError('request.uid missing');
  const k = isRecord(r.kind) ? r.kind : {};
  return {
    uid: r.uid,
    kind: { group: text(k.group), version: text(k.version), kind: text(k.kind) },
    namespace: typeof r.namespace === 'string' && r.namespace !== '' ? r.namespace : undefined,
    operation: text(r.operation),
    object: r.object,
    dryRun: r.dryRun === true,
  };
}

export function review(response: AdmissionResponse): Review {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** kubectl prints each warning on one line; the API server truncates long ones anyway. */
const MAX_WARNING = 120;
function shortWarnings(ws: readonly string[]): string[] | undefined {
  if (ws.length === 0) return undefined;
  return ws.map((w) => (w.length > MAX_WARNING ? `${w.slice(0, MAX_WARNING - 1)}…` : w));
}

function allow(uid: string, warnings: readonly string[] = []): AdmissionResponse {
  const w = shortWarnings(warnings);
  return w === undefined ? { uid, allowed: true } : { uid, allowed: true, warnings: w };
}

function deny(uid: string, message: string, warnings: readonly string[] = []): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } };
  const w = shortWarnings(warnings);
  if (w !== undefined) res.warnings = w;
  return res;
}

function isPod(o: unknown): o is Pod {
  return (
    isRecord(o) &&
    isRecord(o.spec) &&
    Array.isArray(o.spec.containers) &&
    o.spec.containers.every((c) => isRecord(c) && typeof c.name === 'string')
  );
}

/** `/inject`: only pod creations are mutated; everything else is allowed unchanged. */
export function admitPod(req: AdmissionRequest, config: InjectorConfig): { response: AdmissionResponse; outcome: Outcome } {
  if (req.kind.kind !== 'Pod' || req.kind.group !== '' || req.operation !== 'CREATE') {
    return { response: allow(req.uid), outcome: { result: 'ignored' } };
  }
  if (!isPod(req.object)) {
    return {
      response: deny(req.uid, 'sidegate refused the pod: not a valid Pod object (spec.containers missing)'),
      outcome: { result: 'refused' },
    };
  }
  const nsName = req.namespace ?? (typeof req.object.metadata?.namespace === 'string' ? req.object.metadata.namespace : 'default');
  // Namespace labels were already matched by the webhook's namespaceSelector.
  const r = injectPod(req.object, { name: nsName }, config);
  switch (r.kind) {
    case 'skip':
      return { response: allow(req.uid, r.warnings), outcome: { result: 'skipped', reason: r.reasons[0]?.code ?? 'not-enabled' } };
    case 'refuse':
      return { response: deny(req.uid, refusalMessage(r.errors), r.warnings), outcome: { result: 'refused' } };
    case 'inject': {
      const res = allow(req.uid, r.warnings);
      if (r.patch.length > 0) {
        res.patchType = 'JSONPatch';
        res.patch = Buffer.from(JSON.stringify(r.patch)).toString('base64');
      }
      return { response: res, outcome: { result: 'injected' } };
    }
  }
}

export const POLICY_LABEL = 'sidegate.dev/policy';
export const POLICY_KEY = 'policy.yaml';

/**
 * `/validate`: ConfigMaps labelled `sidegate.dev/policy=true` must hold a valid policy, judged as
 * the sidecar will see it: merged over the chart defaults.
 */
export function validatePolicyConfigMap(req: AdmissionRequest, config?: InjectorConfig): { response: AdmissionResponse; outcome: Outcome } {
  const cm = req.object;
  if (req.kind.kind !== 'ConfigMap' || (req.operation !== 'CREATE' && req.operation !== 'UPDATE') || !isRecord(cm)) {
    return { response: allow(req.uid), outcome: { result: 'ignored' } };
  }
  const meta = isRecord(cm.metadata) ? cm.metadata : {};
  const labels = isRecord(meta.labels) ? meta.labels : {};
  if (labels[POLICY_LABEL] !== 'true') return { response: allow(req.uid), outcome: { result: 'ignored' } };
  const name = typeof meta.name === 'string' ? meta.name : '?';
  const data = isRecord(cm.data) ? cm.data : {};
  const text = data[POLICY_KEY];
  const fail = (msg: string): { response: AdmissionResponse; outcome: Outcome } => ({
    response: deny(req.uid, `sidegate: ConfigMap ${name} holds an invalid policy: ${msg}`),
    outcome: { result: 'invalid' },
  });
  if (typeof text !== 'string') return fail(`no "${POLICY_KEY}" key`);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return fail(`${POLICY_KEY} is not YAML (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  const r = config?.defaultPolicy === undefined ? compilePolicy(doc) : compilePolicy(config.defaultPolicy, doc);
  if (!r.ok) return fail(r.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return { response: allow(req.uid), outcome: { result: 'valid' } };
}
