/**
 * The shorthand annotations compiled into a partial Policy document (the overlay the sidecar merges
 * last, as SIDEGATE_POLICY_OVERLAY), validated with the one policy compiler so that a pod whose
 * overlay the sidecar would refuse at start is refused at admission instead.
 */
import { compilePolicy } from '../../policies/src/index.js';
import type { PolicyProblem } from '../../policies/src/types.js';
import type { AnnotationSettings, Problems } from './annotations.js';

export type PolicyDoc = Record<string, unknown>;

/** Name of the provider the annotations declare (visible in metrics and logs). */
export const ANNOTATION_PROVIDER = 'annotations';

export function buildOverlay(s: AnnotationSettings): PolicyDoc | undefined {
  const spec: Record<string, unknown> = {};
  const auth: Record<string, unknown> = {};
  if (s.jwtIssuer !== undefined) {
    auth.providers = [
      {
        name: ANNOTATION_PROVIDER,
        issuer: s.jwtIssuer,
        ...(s.jwtAudiences === undefined ? {} : { audiences: s.jwtAudiences }),
        jwks: s.jwksUri === undefined ? { discovery: true } : { uri: s.jwksUri },
      },
    ];
    auth.default = { require: 'any' };
  }
  if (s.publicPaths !== undefined) auth.rules = [{ match: { paths: s.publicPaths }, require: 'none' }];
  if (Object.keys(auth).length > 0) spec.auth = auth;
  if (s.rateLimits !== undefined) spec.rateLimits = s.rateLimits;
  if (s.maintenance !== undefined) spec.maintenance = s.maintenance;
  if (s.appProtocol !== undefined) spec.upstream = { protocol: s.appProtocol === 'http1' ? 'http1' : 'h2c' };
  return Object.keys(spec).length === 0 ? undefined : { spec };
}

/** A base document for validation: the chart defaults, or the smallest valid policy. */
function baseDoc(defaults: Readonly<Record<string, unknown>> | undefined, service: string): PolicyDoc {
  const base: PolicyDoc = defaults === undefined ? {} : structuredClone(defaults);
  base.apiVersion ??= 'sidegate.dev/v1';
  base.kind ??= 'Policy';
  base.metadata ??= { name: service };
  base.spec ??= {};
  return base;
}

/**
 * Replicas of one workload carry the same annotations, so the webhook compiles the same overlay
 * again and again: remember the last few verdicts (a pure function of the two documents).
 */
const verdicts = new Map<string, readonly PolicyProblem[]>();
const MAX_VERDICTS = 256;

function compileProblems(base: PolicyDoc, overlay: PolicyDoc): readonly PolicyProblem[] {
  const key = JSON.stringify([base, overlay]);
  const hit = verdicts.get(key);
  if (hit !== undefined) return hit;
  const r = compilePolicy(base, overlay);
  const problems = r.ok ? [] : r.problems;
  if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value as string);
  verdicts.set(key, problems);
  return problems;
}

/**
 * Validates the overlay against the defaults. When a policy ConfigMap is referenced its content is
 * unknown here (the webhook has no API access), so problems that only say "no JWT provider" are
 * downgraded to a warning: the ConfigMap may well declare the provider.
 */
export function checkOverlay(
  overlay: PolicyDoc | undefined,
  defaults: Readonly<Record<string, unknown>> | undefined,
  service: string,
  hasConfigMap: boolean,
  p: Problems,
): void {
  if (overlay === undefined) return;
  if (hasConfigMap) {
    // Lists replace lists when the overlay merges (policies/src/merge.ts): say so where it bites.
    const spec = (overlay.spec ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const replaced = [
      ...(spec.auth?.providers !== undefined ? ['spec.auth.providers'] : []),
      ...(spec.auth?.rules !== undefined ? ['spec.auth.rules'] : []),
      ...(spec.rateLimits !== undefined ? ['spec.rateLimits'] : []),
    ];
    if (replaced.length > 0) p.warnings.push(`annotations replace ${replaced.join(', ')} of the policy ConfigMap`);
    if (spec.maintenance !== undefined) {
      p.warnings.push(
        'sidegate.dev/maintenance overrides spec.maintenance.enabled of the policy ConfigMap: switching it there has no effect until the annotation is removed',
      );
    }
  }
  const problems = compileProblems(baseDoc(defaults, service), overlay);
  if (problems.length === 0) return;
  const soft = (x: PolicyProblem): boolean => hasConfigMap && /provider/i.test(x.message);
  const hard = problems.filter((x) => !soft(x));
  for (const x of problems.filter(soft)) {
    p.warnings.push(`overlay ${x.path} ${x.message}: the policy ConfigMap must declare the JWT provider`);
  }
  for (const x of hard) p.errors.push(`invalid policy overlay at ${x.path}: ${x.message}`);
}
