/**
 * The metrics sidegate declares (sidecar and injector registries, prom-client's process metrics),
 * with their types and label names, and the check that a PromQL expression only uses those.
 */
import { InjectorMetrics } from '../../injector/src/metrics.js';
import { Metrics } from '../../sidecar/src/telemetry/metrics.js';
import { family, readExpr } from './promql.js';

export interface MetricInfo { readonly type: string; readonly labels: ReadonlySet<string> }

/** Labels the scrape adds to every series (the chart's PodMonitors; prometheus-operator's own). */
export const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint']);

export async function declaredMetrics(): Promise<Map<string, MetricInfo>> {
  const out = new Map<string, MetricInfo>();
  for (const reg of [new Metrics().registry, new InjectorMetrics().registry]) {
    for (const json of await reg.getMetricsAsJSON()) {
      const labels = (reg.getSingleMetric(json.name) as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
      out.set(json.name, { type: String(json.type), labels: new Set(labels) });
    }
  }
  // Prometheus' own per-target series.
  out.set('up', { type: 'gauge', labels: new Set() });
  return out;
}

/** What is wrong with an expression's metric names and labels, given the known metrics. */
export function exprProblems(expr: string, known: ReadonlyMap<string, MetricInfo>): string[] {
  const facts = readExpr(expr);
  const problems: string[] = [];
  const labelsOf = (name: string): Set<string> | undefined => {
    const direct = known.get(name);
    if (direct) return new Set([...direct.labels, ...TARGET_LABELS]);
    const fam = known.get(family(name));
    if (fam && (fam.type === 'histogram' || fam.type === 'summary')) {
      return new Set([...fam.labels, ...TARGET_LABELS, ...(name.endsWith('_bucket') ? ['le'] : [])]);
    }
    return undefined;
  };
  const usable = new Set<string>();
  for (const m of facts.metrics) {
    const labels = labelsOf(m);
    if (labels === undefined) problems.push(`unknown metric ${m}`);
    else for (const l of labels) usable.add(l);
  }
  for (const s of facts.selectors) {
    const labels = labelsOf(s.metric);
    if (labels === undefined) continue;
    for (const mt of s.matchers) if (!labels.has(mt.label)) problems.push(`${s.metric} has no label ${mt.label}`);
  }
  for (const l of facts.groupingLabels) if (!usable.has(l)) problems.push(`no metric in the expression has label ${l}`);
  return problems;
}
