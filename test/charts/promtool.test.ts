import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { FIXTURES, RULES_FILE, allAlerts, loadRules } from './promql.js';
import { requirePrometheusTools, run } from './tools.js';

requirePrometheusTools();

interface UnitTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; eval_time: string; exp_alerts: unknown[] }[] }[];
}

const unitFiles = readdirSync(FIXTURES).filter((f) => f.endsWith('.test.yaml')).sort();

t.test('promtool check rules accepts the rules file', async (t) => {
  const r = run('promtool', ['check', 'rules', RULES_FILE]);
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.match(r.stdout, new RegExp(`SUCCESS: ${allAlerts().length} rules found`));
});

t.test('promtool test rules: every unit test file passes', async (t) => {
  t.ok(unitFiles.length >= 2, 'sidecar and injector unit tests exist');
  for (const f of unitFiles) {
    const r = run('promtool', ['test', 'rules', f], { cwd: FIXTURES });
    t.equal(r.status, 0, `${f}: ${r.stdout}${r.stderr}`);
    t.match(r.stdout, /SUCCESS/, f);
  }
});

t.test('the unit tests load the chart\'s rules file, not a copy', async (t) => {
  for (const f of unitFiles) {
    const doc = parse(readFileSync(join(FIXTURES, f), 'utf8')) as UnitTests;
    t.same(doc.rule_files.map((p) => join(FIXTURES, p)), [RULES_FILE], f);
  }
});

t.test('every alert has a unit test that sees it fire and one that sees it quiet', async (t) => {
  const firing = new Set<string>();
  const quiet = new Set<string>();
  for (const f of unitFiles) {
    const doc = parse(readFileSync(join(FIXTURES, f), 'utf8')) as UnitTests;
    for (const test of doc.tests) {
      for (const a of test.alert_rule_test ?? []) (a.exp_alerts.length > 0 ? firing : quiet).add(a.alertname);
    }
  }
  for (const a of allAlerts()) {
    t.ok(firing.has(a.alert), `${a.alert} is seen firing`);
    t.ok(quiet.has(a.alert), `${a.alert} is seen not firing`);
  }
});

t.test('rules follow the house style', async (t) => {
  const doc = loadRules();
  const names = new Set<string>();
  const ops = readFileSync(join(process.cwd(), 'docs', 'operations.md'), 'utf8');
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
  const anchors = new Set([...ops.matchAll(/^#{1,4} (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
  for (const g of doc.groups) {
    t.match(g.name, /^sidegate-/, `group ${g.name}`);
    for (const r of g.rules) {
      t.match(r.alert, /^Sidegate[A-Z]\w+$/, `${r.alert} name`);
      t.notOk(names.has(r.alert), `${r.alert} unique`);
      names.add(r.alert);
      t.ok(['critical', 'warning', 'info'].includes(r.labels.severity ?? ''), `${r.alert} severity`);
      t.ok(['sidecar', 'injector'].includes(r.labels.component ?? ''), `${r.alert} component`);
      t.ok(r.annotations.summary && r.annotations.description, `${r.alert} summary and description`);
      const m = /^operations\.md#([\w-]+)$/.exec(r.annotations.runbook ?? '');
      t.ok(m, `${r.alert} names a runbook section`);
      if (m) t.ok(anchors.has(m[1]!), `${r.alert}: docs/operations.md has a section #${m[1]}`);
    }
  }
});

t.test('the runbooks\' alerts are all covered', async (t) => {
  // What the operators' runbooks alert on, and the sidegate alert that answers each.
  const needed = [
    'SidegateSidecarDown', 'SidegateHigh5xxRate', 'SidegateHighLatency', 'SidegateVeryHighLatency', 'SidegateHighTailLatency',
    'SidegateOverheadP95AboveSLO', 'SidegateOverheadP99AboveSLO', 'SidegateRedisErrors', 'SidegateRedisUnavailable',
    'SidegateHighAuthFailureRate', 'SidegateRateLimiterFallback', 'SidegateCircuitBreakerOpen', 'SidegateCrossTenantAttempt',
    'SidegateSecurityViolation', 'SidegateUpstreamErrors', 'SidegateInjectorDown', 'SidegateInjectorErrors',
    // 004's maintenance mode, switched by the policy instead of a restart: left on too long pages.
    'SidegateMaintenanceLeftOn',
    // 004's breach playbook: a pod deciding from a list it cannot read, or one with bad entries.
    'SidegateRevocationListStale', 'SidegateRevocationListProblems',
  ];
  const have = new Set(allAlerts().map((a) => a.alert));
  for (const n of needed) t.ok(have.has(n), n);
});
