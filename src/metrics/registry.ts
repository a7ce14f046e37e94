/**
 * A minimal Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format (version 0.0.4). No dependencies.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Keys of label objects already seen: callers that reuse one object per series skip the sort and JSON. */
const keyCache = new WeakMap<Labels, string>();

function key(labels: Labels): string {
  let k = keyCache.get(labels);
  if (k === undefined) {
    k = JSON.stringify(Object.entries(labels).sort());
    keyCache.set(labels, k);
  }
  return k;
}

abstract class Metric {
  protected readonly series = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly type: "counter" | "gauge") {}

  protected add(labels: Labels, delta: number): void {
    const k = key(labels);
    const s = this.series.get(k);
    if (s) s.value += delta;
    else this.series.set(k, { labels, value: delta });
  }

  value(labels: Labels = {}): number {
    return this.series.get(key(labels))?.value ?? 0;
  }

  /** Every series as {labels, value}, for /status. */
  all(): Array<{ labels: Labels; value: number }> {
    return [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value }));
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const s of this.series.values()) out += `${this.name}${labelText(s.labels)} ${s.value}\n`;
    return out;
  }
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels: Labels = {}, by = 1): void {
    this.add(labels, by);
  }
}

export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }
  inc(labels: Labels = {}, by = 1): void {
    this.add(labels, by);
  }
  dec(labels: Labels = {}, by = 1): void {
    this.add(labels, -by);
  }
}

/** Buckets in seconds, cumulative as Prometheus wants them. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}

  observe(labels: Labels, seconds: number): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 });
    // a loop, not forEach: no closure per observation (two per login)
    const buckets = this.buckets;
    const counts = s.counts;
    for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]!) counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  count(labels: Labels = {}): number {
    return this.series.get(key(labels))?.count ?? 0;
  }

  all(): Array<{ labels: Labels; count: number; sum: number }> {
    return [...this.series.values()].map((s) => ({ labels: { ...s.labels }, count: s.count, sum: s.sum }));
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        out += `${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${s.sum}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}
