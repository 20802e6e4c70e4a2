/**
 * `sidegate inject` on text: multi-document YAML (or JSON) in, injected YAML out, plus what
 * happened to each workload. Refusals make the whole run fail, with the webhook's own message.
 */
import { parseAllDocuments, stringify } from 'yaml';
import type { InjectorConfig } from './config.js';
import { injectObject, type OfflineOptions, type Outcome } from './workloads.js';

export interface OfflineResult {
  readonly output: string;
  readonly outcomes: readonly Outcome[];
  /** Refusal messages (`Kind/name: message`); non-empty means exit non-zero. */
  readonly errors: readonly string[];
}

export class ManifestSyntaxError extends Error {
  override readonly name = 'ManifestSyntaxError';
}

const YAML_OPTS = { lineWidth: 0, aliasDuplicateObjects: false } as const;

export function injectManifests(text: string, config: InjectorConfig, opts: OfflineOptions): OfflineResult {
  const docs = parseAllDocuments(text);
  const outcomes: Outcome[] = [];
  const rendered: string[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new ManifestSyntaxError(doc.errors.map((e) => e.message).join('; '));
    const obj: unknown = doc.toJS({ maxAliasCount: 100 });
    if (obj === null || obj === undefined) continue;
    injectObject(obj, config, opts, outcomes);
    rendered.push(stringify(obj, YAML_OPTS));
  }
  const errors = outcomes.filter((o) => o.kind === 'refused').map((o) => `${o.object}: ${o.detail}`);
  return { output: rendered.join('---\n'), outcomes, errors };
}
