import type { Registry } from 'prom-client';

/**
 * Metrics updated on every request, as plain numbers. prom-client hashes a label object on every
 * `inc()`/`observe()`, even through a child resolved with `labels()`: in a profile of the sidecar
 * under load that was a fifth of the pipeline's own CPU (docs/benchmarks.md, "Where the time
 * goes"). Here a series is an object found once per label set, an update is an addition, and
 * prom-client's Registry reads the numbers only when /metrics is scraped (it accepts any object
 * with a name, a type and `get()`). The API is the subset of prom-client's the code uses, so the
 * declarations in metrics.ts read the same.
 */

type Labels = Readonly<Record<string, string | number>>;

interface Value {
  value: number;
  labels: Labels;
  metricName?: string;
}
interface MetricData {
  name: string;
  help: string;
  type: string;
  values: Value[];
  aggregator: string;
}

export interface FastConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  readonly registers?: readonly Registry[];
}

abstract class FastMetric<C, L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly aggregator = 'sum';
  abstract readonly type: string;
  private series = new Map<string, { labels: Labels; child: C }>();

  constructor(cfg: FastConfig<L>) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames ?? [];
    for (const r of cfg.registers ?? []) r.registerMetric(this as never);
  }

  protected abstract create(): C;
  protected abstract values(labels: Labels, child: C): Value[];

  /** The series for a label set, by values in `labelNames` order or as an object. */
  labels(...args: (string | number)[] | [Partial<Record<L, string | number>>]): C {
    const first = args[0];
    const vals =
      typeof first === 'object'
        ? this.labelNames.map((n) => String((first as Record<string, string | number>)[n] ?? ''))
        : args.map(String);
    const key = vals.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = vals[i] ?? '';
      });
      s = { labels, child: this.create() };
      this.series.set(key, s);
    }
    return s.child;
  }

  /** The one series of a metric without labels (created on first use, like the labelled ones). */
  protected unlabelled(): C {
    return this.labels();
  }

  reset(): void {
    this.series = new Map();
  }

  get(): Promise<MetricData> {
    // A metric without labels reads 0 before its first update, as prom-client's do.
    if (this.labelNames.length === 0) this.unlabelled();
    const values: Value[] = [];
    for (const s of this.series.values()) for (const v of this.values(s.labels, s.child)) values.push(v);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}

export class CounterSeries {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class FastCounter<L extends string = string> extends FastMetric<CounterSeries, L> {
  readonly type = 'counter';
  protected create(): CounterSeries {
    return new CounterSeries();
  }
  protected values(labels: Labels, c: CounterSeries): Value[] {
    return [{ value: c.value, labels }];
  }

  inc(labels?: Partial<Record<L, string | number>> | number, n?: number): void {
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

export class FastGauge<L extends string = string> extends FastMetric<GaugeSeries, L> {
  readonly type = 'gauge';
  protected create(): GaugeSeries {
    return new GaugeSeries();
  }
  protected values(labels: Labels, g: GaugeSeries): Value[] {
    return [{ value: g.value, labels }];
  }

  inc(n = 1): void {
    this.unlabelled().inc(n);
  }
  dec(n = 1): void {
    this.unlabelled().dec(n);
  }
  set(v: number): void {
    this.unlabelled().set(v);
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

export class FastHistogram<L extends string = string> extends FastMetric<HistogramSeries, L> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(cfg: FastConfig<L> & { readonly buckets: readonly number[] }) {
    super(cfg);
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.bounds);
  }

  protected values(labels: Labels, h: HistogramSeries): Value[] {
    const name = `${this.name}_bucket`;
    const out: Value[] = [];
    let acc = 0;
    this.bounds.forEach((le, i) => {
      acc += h.counts[i]!;
      out.push({ value: acc, labels: { ...labels, le }, metricName: name });
    });
    out.push({ value: h.count, labels: { ...labels, le: '+Inf' }, metricName: name });
    out.push({ value: h.sum, labels, metricName: `${this.name}_sum` });
    out.push({ value: h.count, labels, metricName: `${this.name}_count` });
    return out;
  }

  observe(labels: Partial<Record<L, string | number>> | number, v?: number): void {
    if (typeof labels === 'object') this.labels(labels).observe(v ?? 0);
    else this.unlabelled().observe(labels);
  }
}
