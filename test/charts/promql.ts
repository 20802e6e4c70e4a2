/**
 * Just enough PromQL reading to check alert rules and dashboard queries against real metric names:
 * the metric names an expression selects, the label matchers of each selector, and the labels it
 * groups or joins on. Not a parser; the queries themselves are parsed by promtool and Prometheus.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const CHART = join(process.cwd(), 'charts', 'sidegate');
export const RULES_FILE = join(CHART, 'files', 'prometheus', 'sidegate.rules.yaml');
export const DASHBOARD_FILE = join(CHART, 'files', 'dashboards', 'sidegate.json');
export const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'prometheus');

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly { readonly label: string; readonly op: string; readonly value: string }[];
}

export interface ExprFacts {
  readonly metrics: ReadonlySet<string>;
  readonly selectors: readonly Selector[];
  /** Labels named in by (...), without (...), on (...), ignoring (...), group_left/right (...). */
  readonly groupingLabels: ReadonlySet<string>;
}

export function readExpr(expr: string): ExprFacts {
  const selectors: Selector[] = [];
  for (const m of expr.matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    const matchers = [...m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)]
      .map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }));
    selectors.push({ metric: m[1]!, matchers });
  }
  const groupingLabels = new Set<string>();
  for (const m of expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const l of m[1]!.split(',')) if (l.trim() !== '') groupingLabels.add(l.trim());
  }
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const metrics = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] !== undefined) continue; // a function call
    if (KEYWORDS.has(m[1]!.toLowerCase())) continue;
    metrics.add(m[1]!);
  }
  for (const s of selectors) metrics.add(s.metric);
  return { metrics, selectors, groupingLabels };
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

export interface RulesDoc { readonly groups: { readonly name: string; readonly rules: AlertRule[] }[] }

export function loadRules(): RulesDoc {
  return parse(readFileSync(RULES_FILE, 'utf8')) as RulesDoc;
}

export function allAlerts(doc: RulesDoc = loadRules()): AlertRule[] {
  return doc.groups.flatMap((g) => g.rules);
}

export interface DashboardTarget { readonly panel: string; readonly expr: string }

interface Panel { title: string; type: string; targets?: { expr: string }[]; panels?: Panel[] }
export interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every query of every panel and every template variable, variables left as written. */
export function dashboardQueries(d: Dashboard = loadDashboard()): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push({ panel: p.title, expr: t.expr });
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    // label_values(<selector>, <label>): the selector is PromQL.
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q);
    if (m) out.push({ panel: `variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

/** Grafana variables replaced by values Prometheus accepts ("All" for the selectors). */
export function concreteQuery(expr: string, rateInterval = '1m'): string {
  return expr.replace(/\$__rate_interval/g, rateInterval).replace(/\$(namespace|service|pod)\b/g, '.*');
}

/** `name{a="1",b="2"}` of a promtool input series. */
export function parseSeries(s: string): { name: string; labels: Record<string, string> } {
  const m = /^([a-zA-Z_:][\w:]*)\{(.*)\}$/.exec(s.trim());
  if (!m) return { name: s.trim(), labels: {} };
  const labels: Record<string, string> = {};
  for (const x of m[2]!.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[x[1]!] = x[2]!;
  return { name: m[1]!, labels };
}

/** The metric family a series name belongs to (histogram parts map to the histogram). */
export function family(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, '');
}
