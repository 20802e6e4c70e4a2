/**
 * The one entry point from untrusted policy documents to the compiled policy every stage reads.
 * The sidecar (start and reload), the injector (defaults + annotation overlay) and
 * `sidegate validate` all call compilePolicy, so they agree on what a valid policy is.
 */
import type { CompiledPolicy, PolicyProblem } from './types.js';
import type { PolicyDoc } from './document.js';
import { validatePolicyDocument } from './generated/validate-policy.js';
import { mergePolicyDocuments } from './merge.js';
import { orderProblems, schemaProblems } from './problems.js';
import { semanticProblems } from './checks.js';
import { buildPolicy } from './build.js';

export type CompileResult =
  { readonly ok: true; readonly policy: CompiledPolicy } | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

/**
 * Merges `overlay` over `base` (see mergePolicyDocuments), validates the result against
 * policy.v1.schema.json with defaults filled in, runs the semantic checks and, when nothing is
 * wrong, returns the deep-frozen compiled policy. Otherwise returns every problem found, in
 * document order, each with a JSON pointer into the merged document. Inputs are never modified.
 */
export function compilePolicy(base: unknown, overlay?: unknown): CompileResult {
  // A fresh deep copy: the validator writes defaults into it.
  const doc = mergePolicyDocuments(base, overlay);
  const problems = validatePolicyDocument(doc) ? [] : schemaProblems(validatePolicyDocument.errors ?? []);
  problems.push(...semanticProblems(doc));
  if (problems.length > 0) return { ok: false, problems: Object.freeze(orderProblems(problems, doc)) };
  return { ok: true, policy: buildPolicy(doc as PolicyDoc) };
}
