import type { XdsCacheStats } from "../generate/xds-cache.js";
import { parseWorkerHeapBytes } from "../model/mesh-parse-worker.js";

/** A minimal Prometheus text-format registry (counters, gauges, histograms with labels). */

type LabelValues = Readonly<Record<string, string>>;

const simpleKeys = new Map<string, string>();

function labelKey(labels: LabelValues): string {
  // Hot path: one label with a plain value ({type: "eds"}), formatted once.
  let only: string | undefined;
  for (const k in labels) {
    if (only !== undefined) return fullLabelKey(labels);
    only = k;
  }
  if (only === undefined) return "";
  const value = labels[only] as string;
  const id = `${only}\0${value}`;
  let key = simpleKeys.get(id);
  if (key === undefined) {
    key = fullLabelKey(labels);
    if (simpleKeys.size < 1000) simpleKeys.set(id, key);
  }
  return key;
}

function fullLabelKey(labels: LabelValues): string {
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

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3, 5, 10, 30];

/** The process-memory gauges every /metrics ends with (Prometheus' process collector names). */
export const MEMORY_METRICS = {
  rss: "process_resident_memory_bytes",
  heapUsed: "nodejs_heap_size_used_bytes",
  heapTotal: "nodejs_heap_size_total_bytes",
  external: "nodejs_external_memory_bytes",
  arrayBuffers: "nodejs_array_buffers_bytes",
  parseWorkerHeap: "meshctl_xds_parse_worker_heap_bytes",
} as const;

/**
 * The metrics the control plane exports on `/metrics`, with Istio's meanings (pilot_* names in
 * brackets). Cache figures are read from the cache when rendered.
 */
export class XdsMetrics {
  readonly connectedClients = new Gauge(
    "meshctl_xds_connected_clients",
    "ADS streams currently open (pilot_xds).",
  );
  readonly rejectedStreams = new Counter(
    "meshctl_xds_rejected_streams_total",
    "ADS streams refused or closed by a limit: the new-stream rate, streams per client, resource names per stream, a slow consumer.",
  );
  readonly slowConsumers = new Counter(
    "meshctl_xds_slow_consumers_total",
    "Connections closed because a stream read nothing for the write timeout.",
  );
  readonly connections = new Gauge("meshctl_xds_connections", "Open TCP connections to the ADS port.");
  readonly rejectedConnections = new Counter(
    "meshctl_xds_rejected_connections_total",
    "Connections closed at once by the connection cap (--max-connections).",
  );
  readonly handshakeTimeouts = new Counter(
    "meshctl_xds_handshake_timeouts_total",
    "Connections closed because they opened no stream within the handshake timeout.",
  );
  readonly pushes = new Counter(
    "meshctl_xds_pushes_total",
    "xDS responses sent, by type (pilot_xds_pushes).",
  );
  readonly pushBytes = new Counter("meshctl_xds_push_bytes_total", "Encoded resource bytes sent, by type.");
  readonly pushSize = new Histogram(
    "meshctl_xds_push_size_bytes",
    "Resource bytes per response, by type (pilot_xds_config_size_bytes).",
    [100, 1_000, 10_000, 100_000, 1_000_000, 4_000_000],
  );
  readonly pushLatency = new Histogram(
    "meshctl_xds_push_duration_seconds",
    "Time from a change (or request) to the response being written, by type.",
    LATENCY_BUCKETS,
  );
  readonly convergence = new Histogram(
    "meshctl_xds_proxy_convergence_time_seconds",
    "Time from a mesh change to the proxy's ACK of the push carrying it (pilot_proxy_convergence_time).",
    LATENCY_BUCKETS,
  );
  readonly queueTime = new Histogram(
    "meshctl_xds_proxy_queue_time_seconds",
    "Time a proxy waited in the push queue (pilot_proxy_queue_time).",
    LATENCY_BUCKETS,
  );
  readonly pushTime = new Histogram(
    "meshctl_xds_proxy_push_time_seconds",
    "Time to generate and write one proxy's push, by kind full|eds (pilot_xds_push_time).",
    LATENCY_BUCKETS,
  );
  readonly debounceTime = new Histogram(
    "meshctl_xds_debounce_time_seconds",
    "Time from the first change of a debounce window to its push (pilot_debounce_time).",
    [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30],
  );
  readonly debounceMerged = new Counter(
    "meshctl_xds_debounce_merged_total",
    "Source events merged into an open debounce window (pushes saved).",
  );
  readonly pushTriggers = new Counter(
    "meshctl_xds_push_triggers_total",
    "Debounced pushes, by kind full|eds (pilot_push_triggers).",
  );
  readonly proxyPushes = new Counter("meshctl_xds_proxy_pushes_total", "Per-proxy pushes, by kind full|eds.");
  readonly proxiesPerPush = new Histogram(
    "meshctl_xds_proxies_per_push",
    "Proxies a debounced push concerned (scoping decides who is pushed).",
    [0, 1, 10, 50, 100, 500, 1000, 2000, 5000],
  );
  readonly proxiesSkipped = new Counter(
    "meshctl_xds_proxies_skipped_total",
    "Proxies not pushed because the change is outside their scope.",
  );
  readonly queueLength = new Gauge("meshctl_xds_push_queue_length", "Proxies waiting in the push queue.");
  readonly acks = new Counter("meshctl_xds_acks_total", "ACKs received, by type.");
  readonly nacks = new Counter(
    "meshctl_xds_nacks_total",
    "NACKs (requests with error_detail) received, by type (pilot_xds_push_context_errors).",
  );
  readonly staleNonces = new Counter(
    "meshctl_xds_stale_nonce_total",
    "SotW requests ignored because their nonce was stale.",
  );
  readonly modelUpdates = new Counter("meshctl_xds_model_updates_total", "Accepted mesh model changes.");
  readonly configErrors = new Gauge(
    "meshctl_xds_config_rejected_files",
    "Files or objects currently rejected (last good version in use).",
  );
  readonly services = new Gauge("meshctl_xds_services", "Services in the mesh model.");
  /** Set by the server: reads the resource cache when rendering. */
  cacheStats: (() => XdsCacheStats) | undefined;

  private renderCache(): string {
    const stats = this.cacheStats?.();
    if (!stats) return "";
    const hits = new Counter(
      "meshctl_xds_cache_hits_total",
      "Resource cache hits, by type (cds, eds, view = outbound listeners+routes, inbound).",
    );
    const misses = new Counter(
      "meshctl_xds_cache_misses_total",
      "Resource cache misses, by type: each one generated and serialized resources.",
    );
    for (const [t, n] of Object.entries(stats.hits)) hits.inc({ type: t }, n);
    for (const [t, n] of Object.entries(stats.misses)) misses.inc({ type: t }, n);
    const inv = new Counter(
      "meshctl_xds_cache_invalidations_total",
      "Cache entries cleared because an input changed.",
    );
    inv.inc({}, stats.invalidations);
    const ev = new Counter("meshctl_xds_cache_evictions_total", "Cache entries evicted by the size limit.");
    ev.inc({}, stats.evictions);
    const entries = new Gauge("meshctl_xds_cache_entries", "Entries in the resource cache.");
    entries.set(stats.entries);
    const bytes = new Gauge("meshctl_xds_cache_bytes", "Serialized bytes held by the resource cache.");
    bytes.set(stats.bytes);
    return [hits, misses, inv, ev, entries, bytes].map((m) => m.render()).join("\n");
  }

  render(): string {
    const all = [
      this.connectedClients,
      this.rejectedStreams,
      this.slowConsumers,
      this.connections,
      this.rejectedConnections,
      this.handshakeTimeouts,
      this.pushes,
      this.pushBytes,
      this.pushSize,
      this.pushLatency,
      this.convergence,
      this.queueTime,
      this.pushTime,
      this.debounceTime,
      this.debounceMerged,
      this.pushTriggers,
      this.proxyPushes,
      this.proxiesPerPush,
      this.proxiesSkipped,
      this.queueLength,
      this.acks,
      this.nacks,
      this.staleNonces,
      this.modelUpdates,
      this.configErrors,
      this.services,
    ];
    const cache = this.renderCache();
    // Process memory, so a load harness or a fault test can bound it from outside (Prometheus'
    // process collector names).
    const mem = process.memoryUsage();
    const rss = new Gauge(MEMORY_METRICS.rss, "Resident memory of the control plane.");
    rss.set(mem.rss);
    const heap = new Gauge(MEMORY_METRICS.heapUsed, "V8 heap in use.");
    heap.set(mem.heapUsed);
    const heapTotal = new Gauge(MEMORY_METRICS.heapTotal, "V8 heap committed (in use and free pages).");
    heapTotal.set(mem.heapTotal);
    const external = new Gauge(
      MEMORY_METRICS.external,
      "Memory of C++ objects bound to JavaScript, Buffers included.",
    );
    external.set(mem.external);
    const arrayBuffers = new Gauge(
      MEMORY_METRICS.arrayBuffers,
      "ArrayBuffers and Buffers (part of external memory).",
    );
    arrayBuffers.set(mem.arrayBuffers);
    const worker = new Gauge(
      MEMORY_METRICS.parseWorkerHeap,
      "V8 heap committed by the YAML parse worker(s), as each last reported; 0 when none runs.",
    );
    worker.set(parseWorkerHeapBytes());
    const process_ = [rss, heap, heapTotal, external, arrayBuffers, worker].map((g) => g.render()).join("\n");
    return `${all.map((m) => m.render()).join("\n")}\n${process_}${cache ? `\n${cache}` : ""}\n`;
  }
}
