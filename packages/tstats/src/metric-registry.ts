/**
 * The metric store and its Prometheus text exposition. A series is created once per distinct
 * label set, with its label text pre-rendered (escaped) at creation, so recording is a few number
 * updates and rendering is string concatenation without per-sample formatting of labels.
 */
import {
  ENVOY_DEFAULT_BUCKETS,
  ISTIO_BUILD_METRIC,
  ISTIO_HTTP_METRICS,
  ISTIO_TCP_METRICS,
} from "./istio-metrics.js";

/** A fixed-bucket histogram; counts are per bucket (not cumulative) until rendered. */
export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // Linear scan: 19 bounds and small values dominate, so this beats a binary search here.
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** One label set of the HTTP/gRPC family: every metric Istio records at stream end. */
export class HttpSeries {
  requests = 0;
  requestMessages = 0;
  responseMessages = 0;
  readonly duration: Histogram;
  readonly requestBytes: Histogram;
  readonly responseBytes: Histogram;

  constructor(
    /** Rendered label text without braces, e.g. `reporter="source",...`. */
    readonly labelText: string,
    /** Message counters exist only for gRPC series, as in Istio. */
    readonly grpc: boolean,
    buckets: readonly number[],
  ) {
    this.duration = new Histogram(buckets);
    this.requestBytes = new Histogram(buckets);
    this.responseBytes = new Histogram(buckets);
  }
}

/** One label set of the TCP family. */
export class TcpSeries {
  opened = 0;
  closed = 0;
  sentBytes = 0;
  receivedBytes = 0;
  constructor(readonly labelText: string) {}
}

export interface MetricRegistryOptions {
  /** Histogram bucket bounds (default: Envoy's defaults, as Istio uses). */
  readonly buckets?: readonly number[];
  /**
   * Upper bound on label sets per family. Peer metadata comes from the network, so a misbehaving
   * peer could otherwise grow memory without limit; extra samples are counted, not stored.
   */
  readonly maxSeries?: number;
  /** `istio_build{component="proxy",tag=...}`; omitted when undefined. */
  readonly istioVersion?: string;
}

/** Escapes a label value for the Prometheus text format. */
export function escapeLabelValue(value: string): string {
  // Fast path: almost every value needs no escaping.
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * Renders `name="value"` pairs in the given order.
 *
 * @example
 * renderLabelText(["reporter", "response_code"], ["source", "200"]); // 'reporter="source",response_code="200"'
 */
export function renderLabelText(names: readonly string[], values: readonly string[]): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    out += `${names[i]}="${escapeLabelValue(values[i] ?? "")}"`;
  }
  return out;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? n.toString() : String(n);
}

/**
 * Holds every series of the Istio families and renders them as Prometheus text.
 *
 * @example
 * const registry = new MetricRegistry();
 * registry.httpSeries('reporter="source",...', true).requests++;
 * const text = registry.renderPrometheus();
 */
export class MetricRegistry {
  readonly buckets: readonly number[];
  readonly maxSeries: number;
  readonly istioVersion: string | undefined;
  private readonly http = new Map<string, HttpSeries>();
  private readonly tcp = new Map<string, TcpSeries>();
  private readonly leSuffixes: readonly string[];
  /** Samples that did not fit under `maxSeries`. */
  overflowSamples = 0;
  private readonly overflowHttp: HttpSeries;
  private readonly overflowTcp: TcpSeries;

  constructor(options: MetricRegistryOptions = {}) {
    this.buckets = options.buckets ?? ENVOY_DEFAULT_BUCKETS;
    this.maxSeries = options.maxSeries ?? 50_000;
    this.istioVersion = options.istioVersion;
    this.leSuffixes = [...this.buckets.map((b) => `,le="${b}"} `), ',le="+Inf"} '];
    this.overflowHttp = new HttpSeries("", false, this.buckets);
    this.overflowTcp = new TcpSeries("");
  }

  /** The series for a label set, created on first use. */
  httpSeries(labelText: string, grpc: boolean): HttpSeries {
    const key = grpc ? `g${labelText}` : `h${labelText}`;
    let series = this.http.get(key);
    if (series === undefined) {
      if (this.http.size >= this.maxSeries) {
        this.overflowSamples++;
        return this.overflowHttp;
      }
      series = new HttpSeries(labelText, grpc, this.buckets);
      this.http.set(key, series);
    }
    return series;
  }

  tcpSeries(labelText: string): TcpSeries {
    let series = this.tcp.get(labelText);
    if (series === undefined) {
      if (this.tcp.size >= this.maxSeries) {
        this.overflowSamples++;
        return this.overflowTcp;
      }
      series = new TcpSeries(labelText);
      this.tcp.set(labelText, series);
    }
    return series;
  }

  get seriesCount(): number {
    return this.http.size + this.tcp.size;
  }

  /** Drops every series (tests, or a process that wants a fresh start). */
  clear(): void {
    this.http.clear();
    this.tcp.clear();
    this.overflowSamples = 0;
  }

  private renderHistogram(parts: string[], name: string, pick: (s: HttpSeries) => Histogram): void {
    const bucketPrefix = `${name}_bucket{`;
    const sumPrefix = `${name}_sum{`;
    const countPrefix = `${name}_count{`;
    const le = this.leSuffixes;
    let body = "";
    for (const series of this.http.values()) {
      const h = pick(series);
      if (h.count === 0) continue;
      const labels = series.labelText;
      let cumulative = 0;
      for (let i = 0; i < le.length; i++) {
        cumulative += h.counts[i]!;
        body += `${bucketPrefix}${labels}${le[i]}${cumulative}\n`;
      }
      body += `${sumPrefix}${labels}} ${formatNumber(h.sum)}\n${countPrefix}${labels}} ${h.count}\n`;
    }
    if (body) parts.push(`# TYPE ${name} histogram\n`, body);
  }

  private renderCounter<S extends { labelText: string }>(
    parts: string[],
    name: string,
    series: Iterable<S>,
    value: (s: S) => number,
    include?: (s: S) => boolean,
  ): void {
    const prefix = `${name}{`;
    let body = "";
    for (const s of series) {
      if (include && !include(s)) continue;
      body += `${prefix}${s.labelText}} ${formatNumber(value(s))}\n`;
    }
    if (body) parts.push(`# TYPE ${name} counter\n`, body);
  }

  /**
   * The Prometheus text exposition (format 0.0.4) of every series, grouped by family like Envoy's
   * `/stats/prometheus`.
   */
  renderPrometheus(): string {
    const parts: string[] = [];
    const http = this.http;
    const tcp = this.tcp;
    this.renderCounter(parts, ISTIO_HTTP_METRICS.requestsTotal, http.values(), (s) => s.requests);
    this.renderHistogram(parts, ISTIO_HTTP_METRICS.requestDuration, (s) => s.duration);
    this.renderHistogram(parts, ISTIO_HTTP_METRICS.requestBytes, (s) => s.requestBytes);
    this.renderHistogram(parts, ISTIO_HTTP_METRICS.responseBytes, (s) => s.responseBytes);
    this.renderCounter(
      parts,
      ISTIO_HTTP_METRICS.requestMessages,
      http.values(),
      (s) => s.requestMessages,
      (s) => s.grpc,
    );
    this.renderCounter(
      parts,
      ISTIO_HTTP_METRICS.responseMessages,
      http.values(),
      (s) => s.responseMessages,
      (s) => s.grpc,
    );
    this.renderCounter(parts, ISTIO_TCP_METRICS.connectionsOpened, tcp.values(), (s) => s.opened);
    this.renderCounter(parts, ISTIO_TCP_METRICS.connectionsClosed, tcp.values(), (s) => s.closed);
    this.renderCounter(parts, ISTIO_TCP_METRICS.sentBytes, tcp.values(), (s) => s.sentBytes);
    this.renderCounter(parts, ISTIO_TCP_METRICS.receivedBytes, tcp.values(), (s) => s.receivedBytes);
    if (this.istioVersion !== undefined) {
      parts.push(
        `# TYPE ${ISTIO_BUILD_METRIC} gauge\n${ISTIO_BUILD_METRIC}{component="proxy",tag="${escapeLabelValue(this.istioVersion || "unknown")}"} 1\n`,
      );
    }
    if (this.overflowSamples > 0) {
      parts.push(
        `# TYPE tstats_series_overflow_total counter\ntstats_series_overflow_total ${this.overflowSamples}\n`,
      );
    }
    return parts.join("");
  }
}
