import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { declaredMetrics, exprProblems } from './declared.js';
import { DASHBOARD_FILE, allAlerts, concreteQuery, dashboardQueries, loadDashboard, readExpr } from './promql.js';
import { requirePrometheusTools, run } from './tools.js';

requirePrometheusTools();

interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string }; targets?: { refId: string; expr: string }[] }

t.test('the dashboard JSON parses and is laid out', async (t) => {
  const raw = readFileSync(DASHBOARD_FILE, 'utf8');
  t.doesNotThrow(() => { JSON.parse(raw); });
  const d = loadDashboard() as unknown as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string }[] } };
  t.equal(d.uid, 'sidegate-overview');
  t.same(d.templating.list.map((v) => v.name), ['datasource', 'namespace', 'service', 'pod']);
  const ids = new Set<number>();
  const cells = new Map<string, string>();
  const overlaps: string[] = [];
  for (const p of d.panels) {
    t.notOk(ids.has(p.id), `panel id ${p.id} unique`);
    ids.add(p.id);
    t.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24-column grid`);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        const other = cells.get(`${x},${y}`);
        if (other !== undefined) overlaps.push(`${p.title} overlaps ${other} at ${x},${y}`);
        cells.set(`${x},${y}`, p.title);
      }
    }
    if (p.type === 'row') continue;
    t.equal(p.datasource?.uid, '${datasource}', `${p.title} uses the data source variable`);
    t.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
    t.equal(new Set((p.targets ?? []).map((x) => x.refId)).size, (p.targets ?? []).length, `${p.title} refIds unique`);
  }
  t.same(overlaps, [], 'no panels overlap');
});

t.test('the dashboard shows what the issue asks for', async (t) => {
  const metrics = new Set(dashboardQueries().flatMap((q) => [...readExpr(q.expr).metrics]));
  for (const m of [
    'sidegate_http_requests_total', 'sidegate_http_request_duration_seconds_bucket', 'sidegate_upstream_request_duration_seconds_bucket',
    'sidegate_auth_attempts_total', 'sidegate_ratelimit_decisions_total', 'sidegate_redis_errors_total', 'sidegate_redis_duration_seconds_bucket',
    'sidegate_circuit_breaker_state', 'sidegate_policy_reloads_total', 'sidegate_policy_reload_failures_total', 'sidegate_security_violations_total',
    'sidegate_maintenance_active',
    'sidegate_injector_reviews_total',
  ]) t.ok(metrics.has(m), `a panel shows ${m}`);
});

t.test('every dashboard and alert query is valid PromQL (promtool)', async (t) => {
  // promtool parses every expression of a rules file: wrap each query as a recording rule.
  const queries = dashboardQueries();
  const rules = queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: concreteQuery(q.expr) }));
  const dir = mkdtempSync(join(tmpdir(), 'sidegate-dash-'));
  const file = join(dir, 'queries.rules.yaml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  const r = run('promtool', ['check', 'rules', file]);
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  // The checker itself: a broken query is caught.
  writeFileSync(file, stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum by (le (rate(x[5m]))' }] }] }));
  t.not(run('promtool', ['check', 'rules', file]).status, 0, 'promtool refuses a broken query');
});

t.test('dashboard and alert queries name only declared metrics and their labels', async (t) => {
  const known = await declaredMetrics();
  for (const q of dashboardQueries()) t.same(exprProblems(concreteQuery(q.expr), known), [], `${q.panel}: ${q.expr}`);
  for (const a of allAlerts()) t.same(exprProblems(a.expr, known), [], a.alert);
  // The checker itself: a wrong metric, a wrong label and a wrong grouping label are caught.
  t.same(exprProblems('rate(sidegate_http_request_total[5m])', known), ['unknown metric sidegate_http_request_total']);
  t.same(exprProblems('sidegate_http_requests_total{status_code="500"}', known), ['sidegate_http_requests_total has no label status_code']);
  t.same(exprProblems('sum by (tenant) (sidegate_ready)', known), ['no metric in the expression has label tenant']);
});
