/**
 * The operator's files in deploy/: the Prometheus alert rules parse as
 * YAML and are well-formed rules, and every metric they and the Grafana
 * dashboard query is one Triage registers (src/ops/metrics.ts) — so an
 * alert can never silently watch a metric that does not exist.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES, OpsMetrics } from '../../src/ops/metrics.ts';

const DEPLOY = new URL('../../deploy/', import.meta.url);
/** Series Prometheus makes itself. */
const PROMETHEUS_OWN = new Set(['up']);
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'by', 'without', 'inf', 'nan']);

/** The metric names a PromQL expression reads. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without)\s*\([^)]*\)/g, ''); // grouping labels
  return [...bare.matchAll(/\b[A-Za-z_:][\w:]*\b(?!\s*\()/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w.toLowerCase()) && !/^\d/.test(w));
}

/** Every series name the code can expose, with histogram suffixes. */
function registered(): Set<string> {
  const m = new OpsMetrics({ role: 'test' });
  try {
    const names = new Set<string>(PROMETHEUS_OWN);
    for (const metric of m.registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
    }
    return names;
  } finally {
    m.close();
  }
}

describe('deploy/prometheus-alerts.yml', () => {
  const rules = parse(readFileSync(new URL('prometheus-alerts.yml', DEPLOY), 'utf8')) as {
    groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
  };
  const all = rules.groups.flatMap((g) => g.rules);

  it('is a rule file Prometheus reads: groups of named alerts, each with an expression, a severity and a summary', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const r of all) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(typeof r.expr).toBe('string');
      expect(['critical', 'warning', 'info']).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      if (r.for) expect(r.for).toMatch(/^\d+[smh]$/);
    }
    expect(new Set(all.map((r) => r.alert)).size).toBe(all.length);
  });

  it('covers what operators page on: errors, latency, stuck work, Redis, SSH and chat delivery', () => {
    const text = all.map((r) => r.expr).join('\n');
    for (const m of ['triage_runs_total', 'triage_step_duration_seconds_bucket', 'triage_queue_oldest_waiting_seconds', 'triage_queue_jobs', 'triage_redis_up', 'triage_ready', 'triage_ssh_connect_failures_total', 'triage_chat_sends_total']) {
      expect(text, m).toContain(m);
    }
  });

  it('queries only metrics the code registers', () => {
    const known = registered();
    const used = all.flatMap((r) => metricsIn(r.expr));
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((m) => !known.has(m))).toEqual([]);
  });
});

describe('deploy/grafana-dashboard.json', () => {
  const dash = JSON.parse(readFileSync(new URL('grafana-dashboard.json', DEPLOY), 'utf8')) as {
    title: string;
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));

  it('queries only metrics the code registers, and shows every one of them', () => {
    const known = registered();
    const used = exprs.flatMap(metricsIn);
    expect(used.filter((m) => !known.has(m))).toEqual([]);
    const base = new Set(used.map((m) => m.replace(/_(bucket|sum|count)$/, '')));
    expect(METRIC_NAMES.filter((m) => !base.has(m))).toEqual([]);
  });

  it('names each panel', () => {
    expect(dash.title).toBe('Triage');
    for (const p of dash.panels) expect(p.title).toBeTruthy();
  });
});

describe('the metric list', () => {
  it('METRIC_NAMES is exactly the triage_* metrics registered', () => {
    const triage = [...registered()].filter((n) => n.startsWith('triage_') && !/_(bucket|sum|count)$/.test(n));
    expect(triage.sort()).toEqual([...METRIC_NAMES].sort());
  });

  it('the checker catches a metric nobody registers', () => {
    expect(metricsIn('sum by (queue) (rate(triage_no_such_total{x="a"}[5m])) / up > 0.1')).toEqual(['triage_no_such_total', 'up']);
  });
});
