/**
 * Istio's standard metrics, exactly as the native `istio.stats` filter emits them (see
 * docs/tstats.md and the reference facts in part B6): names, the 25 HTTP labels in Envoy's output
 * order, the 23 TCP labels, and Envoy's default histogram buckets.
 */

export const ISTIO_HTTP_METRICS = {
  requestsTotal: "istio_requests_total",
  requestDuration: "istio_request_duration_milliseconds",
  requestBytes: "istio_request_bytes",
  responseBytes: "istio_response_bytes",
  requestMessages: "istio_request_messages_total",
  responseMessages: "istio_response_messages_total",
} as const;

export const ISTIO_TCP_METRICS = {
  sentBytes: "istio_tcp_sent_bytes_total",
  receivedBytes: "istio_tcp_received_bytes_total",
  connectionsOpened: "istio_tcp_connections_opened_total",
  connectionsClosed: "istio_tcp_connections_closed_total",
} as const;

export const ISTIO_BUILD_METRIC = "istio_build";

/** The peer- and local-dependent labels shared by HTTP and TCP metrics, in output order. */
export const ISTIO_WORKLOAD_LABELS = [
  "reporter",
  "source_workload",
  "source_canonical_service",
  "source_canonical_revision",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_cluster",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_service_name",
  "destination_service_namespace",
  "destination_cluster",
] as const;

/** The 25 labels of the HTTP/gRPC metrics, in the order Envoy's Prometheus output shows them. */
export const ISTIO_HTTP_LABELS = [
  ...ISTIO_WORKLOAD_LABELS,
  "request_protocol",
  "response_code",
  "grpc_response_status",
  "response_flags",
  "connection_security_policy",
] as const;

/** The 23 labels of the TCP metrics: the HTTP set without `response_code` and `grpc_response_status`. */
export const ISTIO_TCP_LABELS = [
  ...ISTIO_WORKLOAD_LABELS,
  "request_protocol",
  "response_flags",
  "connection_security_policy",
] as const;

export type IstioWorkloadLabel = (typeof ISTIO_WORKLOAD_LABELS)[number];
export type IstioHttpLabel = (typeof ISTIO_HTTP_LABELS)[number];
export type IstioTcpLabel = (typeof ISTIO_TCP_LABELS)[number];

/** Envoy's `HistogramSettingsImpl::defaultBuckets`, used by Istio for durations (ms) and sizes (bytes). */
export const ENVOY_DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

export const UNKNOWN = "unknown";
export const LATEST = "latest";
/** Envoy's short response-flags string when no flag is set. */
export const NO_RESPONSE_FLAGS = "-";

export type Reporter = "source" | "destination" | "waypoint";
export type RequestProtocol = "http" | "grpc" | "tcp";
export type ConnectionSecurityPolicy = "mutual_tls" | "none" | "unknown";
