/**
 * `helm template` of charts/sidegate, parsed into objects, and the Kubernetes rules the tests
 * apply to them (schema validation of built-in kinds, label selectors as the API server reads them).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { unmetRequirement } from '../../cli/check/selector.js';
import { CHART } from './promql.js';
import { helmPath, run } from './tools.js';

export const RELEASE = 'sg';
export const NAMESPACE = 'sidegate-system';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are arbitrary JSON */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

export interface Rendered {
  readonly docs: K8sObject[];
  one(kind: string, name?: string): K8sObject;
  all(kind: string): K8sObject[];
}

/** Renders with the given values files and `--set` pairs; throws with helm's stderr on failure. */
export function render(valuesFiles: readonly string[] = [], sets: Record<string, string> = {}, extra: readonly string[] = []): Rendered {
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...extra];
  for (const f of valuesFiles) args.push('-f', f);
  for (const [k, v] of Object.entries(sets)) args.push('--set', `${k}=${v}`);
  const r = run(helmPath(), args);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  const docs: K8sObject[] = [];
  for (const d of parseAllDocuments(r.stdout, { uniqueKeys: true })) {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors.map((e) => e.message).join('; ')}`);
    const o = d.toJS() as K8sObject | null;
    if (o !== null) docs.push(o);
  }
  return {
    docs,
    all: (kind) => docs.filter((d) => d.kind === kind),
    one(kind, name) {
      const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
      if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
      return found[0]!;
    },
  };
}

/** A values file in a temp dir, for values given as an object. */
export function valuesFile(values: unknown): string {
  const f = join(mkdtempSync(join(tmpdir(), 'sidegate-values-')), 'values.json');
  writeFileSync(f, JSON.stringify(values));
  return f;
}

const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  Deployment, Service, ServiceAccount, ConfigMap, Secret, PodDisruptionBudget,
  MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};

/** Validates a built-in kind against the Kubernetes OpenAPI schema; false for kinds it does not know (CRDs). */
export function validateBuiltIn(o: K8sObject): boolean {
  const C = MODELS[o.kind];
  if (C === undefined) return false;
  new C(o).validate();
  return true;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** Kubernetes label-selector semantics (NotIn and DoesNotExist match a missing label): `sidegate check`'s own. */
export function selects(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  return unmetRequirement(sel, labels) === undefined;
}
