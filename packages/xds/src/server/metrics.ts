/** A minimal Prometheus text-format registry (counters, gauges, histograms with labels). */

type LabelValues = Readonly<Record<string, string>>;

function labelKey(labels: LabelValues): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join(
      "\n",
    );
  }
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels: LabelValues = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: LabelValues = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.values.entries()].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }
  set(value: number, labels: LabelValues = {}): void {
    this.values.set(labelKey(labels), value);
  }
  lines(): string[] {
    return [...this.values.entries()].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
  }
}

export class Histogram extends Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, "histogram");
  }
  observe(value: number, labels: LabelValues = {}): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    this.buckets.forEach((b, i) => {
      if (value <= b)
        (s as { counts: number[] }).counts[i] = ((s as { counts: number[] }).counts[i] ?? 0) + 1;
    });
    s.sum += value;
    s.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : "";
      for (const [i, b] of this.buckets.entries())
        out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`);
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ""} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
    }
    return out;
  }
}

/** The metrics the control plane exports on `/metrics` (names modelled on Istio's pilot_* set). */
export class XdsMetrics {
  readonly connectedClients = new Gauge("meshctl_xds_connected_clients", "ADS streams currently open.");
  readonly pushes = new Counter("meshctl_xds_pushes_total", "xDS responses sent, by type.");
  readonly pushBytes = new Counter("meshctl_xds_push_bytes_total", "Encoded resource bytes sent, by type.");
  readonly pushLatency = new Histogram(
    "meshctl_xds_push_duration_seconds",
    "Time from a mesh change (or request) to the response being written, by type.",
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3, 5],
  );
  readonly acks = new Counter("meshctl_xds_acks_total", "ACKs received, by type.");
  readonly nacks = new Counter(
    "meshctl_xds_nacks_total",
    "NACKs (requests with error_detail) received, by type.",
  );
  readonly staleNonces = new Counter(
    "meshctl_xds_stale_nonce_total",
    "SotW requests ignored because their nonce was stale.",
  );
  readonly modelUpdates = new Counter("meshctl_xds_model_updates_total", "Accepted mesh model changes.");
  readonly configErrors = new Gauge(
    "meshctl_xds_config_rejected_files",
    "YAML files currently rejected (last good version in use).",
  );
  readonly services = new Gauge("meshctl_xds_services", "Services in the mesh model.");

  render(): string {
    const all = [
      this.connectedClients,
      this.pushes,
      this.pushBytes,
      this.pushLatency,
      this.acks,
      this.nacks,
      this.staleNonces,
      this.modelUpdates,
      this.configErrors,
      this.services,
    ];
    return `${all.map((m) => m.render()).join("\n")}\n`;
  }
}
