/**
 * What the tstats Envoy modules (native `libtstats.so`, Wasm `tstats.wasm`; C sources in
 * native/) need from the outside, and what their output needs to look like Istio's:
 * - the filter configuration text each module parses (native/src/tstats_core.h);
 * - Istio's histogram buckets for the module's histograms (bootstrap `stats_config`);
 * - the Prometheus relabelling that turns Envoy's `envoy_istio_*` names into Istio's `istio_*`.
 */
import { ENVOY_DEFAULT_BUCKETS, ISTIO_HTTP_LABELS, ISTIO_HTTP_METRICS } from "./istio-metrics.js";
import type { LocalWorkload } from "./local-workload.js";
import { localPeerMetadataHeader } from "./local-workload.js";

/** The stats namespace the module's metrics live in (`DynamicModuleConfig.metrics_namespace`). */
export const TSTATS_METRICS_NAMESPACE = "istio";

/**
 * The module's filter configuration: which reporter this listener is and what it sends as
 * `x-envoy-peer-metadata-id` / `x-envoy-peer-metadata` (the TS encoder's bytes, so every meshctl
 * component sends the same header for the same workload).
 *
 * @example
 * tstatsModuleFilterConfigText(local, "destination");
 * // "reporter=destination\nid=sidecar~...\nmetadata=ChoKCkNMVVNURVJfSUQ...\n"
 */
export function tstatsModuleFilterConfigText(
  local: LocalWorkload,
  reporter: "source" | "destination",
): string {
  const clean = (v: string) => v.replace(/[\r\n]/g, "");
  return `reporter=${reporter}\nid=${clean(local.nodeId)}\nmetadata=${localPeerMetadataHeader(local)}\n`;
}

/**
 * The bootstrap `stats_config` both builds need:
 * - Istio's buckets (Envoy's defaults, which Istio uses for durations in ms and sizes in bytes)
 *   for the histograms: the native module's are `istio.<metric>`, the Wasm filter's end in
 *   `;.;istio_<metric>`;
 * - Istio's `stats_tags` regexes, which turn the `<label>=.=<value>;.;` parts of the Wasm
 *   filter's metric names into labels (proxy-wasm metrics have no labels of their own; this is
 *   how Istio's Wasm-era stats plugin did it). They only touch names that contain them.
 *
 * @example
 * bootstrap.stats_config = tstatsEnvoyStatsConfig();
 */
export function tstatsEnvoyStatsConfig(): Record<string, unknown> {
  const histograms = [
    ISTIO_HTTP_METRICS.requestDuration,
    ISTIO_HTTP_METRICS.requestBytes,
    ISTIO_HTTP_METRICS.responseBytes,
  ]
    .map((m) => m.replace(/^istio_/, ""))
    .join("|");
  return {
    stats_tags: ISTIO_HTTP_LABELS.map((label) => ({ tag_name: label, regex: `(${label}=\\.=(.*?);\\.;)` })),
    histogram_bucket_settings: [
      {
        match: { safe_regex: { regex: `^(${TSTATS_METRICS_NAMESPACE}\\.|.*;\\.;istio_)(${histograms})$` } },
        buckets: [...ENVOY_DEFAULT_BUCKETS],
      },
    ],
  };
}

/**
 * Prometheus `metric_relabel_configs` for a job scraping Envoy's `/stats/prometheus`: Envoy prints
 * a module's stats as `envoy_<namespace>_<name>` (only Istio's proxy strips the `envoy_` prefix
 * for its own namespace), so `envoy_istio_requests_total` becomes Istio's `istio_requests_total`
 * and dashboards, Kiali and recording rules work unchanged.
 *
 * @example
 * scrapeConfig.metric_relabel_configs = tstatsPrometheusRelabelConfigs();
 */
export function tstatsPrometheusRelabelConfigs(): Array<Record<string, unknown>> {
  return [
    {
      source_labels: ["__name__"],
      regex: `envoy_${TSTATS_METRICS_NAMESPACE}_(.+)`,
      target_label: "__name__",
      replacement: "istio_$1",
    },
  ];
}

/** The metric names the modules record (Istio's HTTP metrics; message counts are gRPC-streaming only). */
export const TSTATS_MODULE_METRICS = [
  ISTIO_HTTP_METRICS.requestsTotal,
  ISTIO_HTTP_METRICS.requestDuration,
  ISTIO_HTTP_METRICS.requestBytes,
  ISTIO_HTTP_METRICS.responseBytes,
] as const;
