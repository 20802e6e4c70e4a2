/**
 * Prometheus metrics, as plain numbers, and their text exposition (format 0.0.4).
 *
 * Written here rather than taken from prom-client, for two reasons measured in the sidecar:
 * - CPU: prom-client hashes a label object on every `inc()`/`observe()`, even through a child
 *   resolved with `labels()`; in a profile under load that was a fifth of the pipeline's own CPU
 *   (docs/benchmarks.md, "Where the time goes"). Here a series is an object found once per label
 *   set and an update is an addition; the text is built only when /metrics is scraped.
 * - Start-up: prom-client loads its Summary, Pushgateway, cluster aggregation and their
 *   dependencies for the four metric kinds we use, and its default metrics run a second
 *   event-loop-delay histogram that cannot be switched off. Without it a sidecar is ready ≈ 12 ms
 *   sooner (paired median of 16 starts); its memory at 50 req/s did not change measurably.
 *
 * The API is prom-client's subset the code uses (`inc`, `dec`, `set`, `observe`, `labels`, `remove`,
 * `get`, a Registry with `metrics()`), so declarations read as they did, and the exposition is
 * byte-for-byte what prom-client wrote for the same series (test/sidecar/prometheus.test.ts).
 */

type LabelValue = string | number;
export type Labels = Readonly<Record<string, LabelValue>>;

export interface Value {
  readonly value: number;
  readonly labels: Labels;
  /** For a histogram's `_bucket`, `_sum` and `_count` lines. */
  readonly metricName?: string;
}

export interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: readonly Value[];
}

/** What a Registry holds. */
export interface Collectable {
  readonly name: string;
  readonly help: string;
  readonly type: MetricData['type'];
  readonly labelNames: readonly string[];
  get(): MetricData | Promise<MetricData>;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class Registry {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  private readonly byName = new Map<string, Collectable>();

  registerMetric(m: Collectable): void {
    const had = this.byName.get(m.name);
    if (had !== undefined && had !== m) throw new Error(`A metric with the name ${m.name} has already been registered.`);
    this.byName.set(m.name, m);
  }

  getSingleMetric(name: string): Collectable | undefined {
    return this.byName.get(name);
  }

  removeSingleMetric(name: string): void {
    this.byName.delete(name);
  }

  /** Every metric's series, read in the order the metrics were registered. */
  async getMetricsAsJSON(): Promise<MetricData[]> {
    const out: MetricData[] = [];
    for (const m of this.byName.values()) out.push(await m.get());
    return out;
  }

  /** The text exposition: each metric's HELP, TYPE and series, metrics separated by a blank line. */
  async metrics(): Promise<string> {
    const blocks: string[] = [];
    for (const data of await this.getMetricsAsJSON()) {
      const lines = [`# HELP ${data.name} ${escapeHelp(data.help)}`, `# TYPE ${data.name} ${data.type}`];
      for (const v of data.values) lines.push(`${v.metricName ?? data.name}${formatLabels(v.labels)} ${formatValue(v.value)}`);
      blocks.push(lines.join('\n'));
    }
    return `${blocks.join('\n\n')}\n`;
  }
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels): string {
  const parts: string[] = [];
  for (const k in labels) {
    const v = String(labels[k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
    parts.push(`${k}="${v}"`);
  }
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export interface MetricConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  readonly registers?: readonly Registry[];
  /** Called at each scrape before the series are read (gauges that show a state held elsewhere). */
  readonly collect?: (this: void) => void | Promise<void>;
}

type LabelArgs<L extends string> = LabelValue[] | [Partial<Record<L, LabelValue>>];

abstract class Metric<C, L extends string> implements Collectable {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricData['type'];
  private readonly collect: MetricConfig<L>['collect'];
  private series = new Map<string, { labels: Labels; child: C }>();

  constructor(cfg: MetricConfig<L>) {
    if (!NAME.test(cfg.name)) throw new Error(`Invalid metric name: ${cfg.name}`);
    for (const l of cfg.labelNames ?? []) if (!LABEL.test(l) || l === 'le') throw new Error(`Invalid label name for ${cfg.name}: ${l}`);
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames ?? [];
    this.collect = cfg.collect;
    for (const r of cfg.registers ?? []) r.registerMetric(this);
  }

  protected abstract create(): C;
  protected abstract values(labels: Labels, child: C, out: Value[]): void;

  private key(args: LabelArgs<L>): { key: string; vals: string[] } {
    const first = args[0];
    let vals: string[];
    if (typeof first === 'object') {
      // Label names are checked by the compiler (the declarations' `labelNames` types), not per call.
      const given = first as Record<string, LabelValue | undefined>;
      vals = this.labelNames.map((n) => String(given[n] ?? ''));
    } else {
      if (args.length !== this.labelNames.length) {
        throw new Error(`Invalid number of arguments (${args.length}) for label names (${this.labelNames.length}) of ${this.name}`);
      }
      vals = (args as LabelValue[]).map(String);
    }
    return { key: vals.join('\u0000'), vals };
  }

  /** The series for a label set, by values in `labelNames` order or as an object. */
  labels(...args: LabelArgs<L>): C {
    const { key, vals } = this.key(args);
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = vals[i]!;
      });
      s = { labels, child: this.create() };
      this.series.set(key, s);
    }
    return s.child;
  }

  /** Drops one label set's series (it is absent from the next scrape). */
  remove(...args: LabelArgs<L>): void {
    this.series.delete(this.key(args).key);
  }

  /** The one series of a metric without labels (created on first use, like the labelled ones). */
  protected unlabelled(): C {
    return this.labels();
  }

  reset(): void {
    this.series = new Map();
  }

  async get(): Promise<MetricData> {
    if (this.collect !== undefined) await this.collect();
    // A metric without labels reads 0 before its first update, as prom-client's did.
    if (this.labelNames.length === 0) this.unlabelled();
    const values: Value[] = [];
    for (const s of this.series.values()) this.values(s.labels, s.child, values);
    return { name: this.name, help: this.help, type: this.type, values };
  }
}

export class CounterSeries {
  value = 0;
  inc(n = 1): void {
    if (!(n >= 0)) throw new Error(`It is not possible to decrease a counter (${n})`);
    this.value += n;
  }
}

export class Counter<L extends string = string> extends Metric<CounterSeries, L> {
  readonly type = 'counter';
  protected create(): CounterSeries {
    return new CounterSeries();
  }
  protected values(labels: Labels, c: CounterSeries, out: Value[]): void {
    out.push({ value: c.value, labels });
  }

  inc(labels?: Partial<Record<L, LabelValue>> | number, n?: number): void {
    if (typeof labels === 'object') this.labels(labels).inc(n ?? 1);
    else this.unlabelled().inc(labels ?? 1);
  }
}

export class GaugeSeries {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
  set(v: number): void {
    this.value = v;
  }
}

export class Gauge<L extends string = string> extends Metric<GaugeSeries, L> {
  readonly type = 'gauge';
  protected create(): GaugeSeries {
    return new GaugeSeries();
  }
  protected values(labels: Labels, g: GaugeSeries, out: Value[]): void {
    out.push({ value: g.value, labels });
  }

  inc(labels?: Partial<Record<L, LabelValue>> | number, n?: number): void {
    if (typeof labels === 'object') this.labels(labels).inc(n ?? 1);
    else this.unlabelled().inc(labels ?? 1);
  }
  dec(labels?: Partial<Record<L, LabelValue>> | number, n?: number): void {
    if (typeof labels === 'object') this.labels(labels).dec(n ?? 1);
    else this.unlabelled().dec(labels ?? 1);
  }
  set(labels: Partial<Record<L, LabelValue>> | number, v?: number): void {
    if (typeof labels === 'object') this.labels(labels).set(v ?? 0);
    else this.unlabelled().set(labels);
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram<L extends string = string> extends Metric<HistogramSeries, L> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(cfg: MetricConfig<L> & { readonly buckets: readonly number[] }) {
    super(cfg);
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.bounds);
  }

  protected values(labels: Labels, h: HistogramSeries, out: Value[]): void {
    const name = `${this.name}_bucket`;
    let acc = 0;
    this.bounds.forEach((le, i) => {
      acc += h.counts[i]!;
      out.push({ value: acc, labels: { le, ...labels }, metricName: name });
    });
    out.push({ value: h.count, labels: { le: '+Inf', ...labels }, metricName: name });
    out.push({ value: h.sum, labels, metricName: `${this.name}_sum` });
    out.push({ value: h.count, labels, metricName: `${this.name}_count` });
  }

  observe(labels: Partial<Record<L, LabelValue>> | number, v?: number): void {
    if (typeof labels === 'object') this.labels(labels).observe(v ?? 0);
    else this.unlabelled().observe(labels);
  }
}
