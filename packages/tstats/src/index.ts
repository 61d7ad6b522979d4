// Public entry of @meshctl/tstats. Explicit named exports only.

export { type RunningTstatsDemo, startTstatsDemo, type TstatsDemoOptions } from "./demo.js";
export {
  buildEnvoyFilterManifest,
  buildTstatsClusterFilters,
  buildTstatsFilterSet,
  buildTstatsHttpFilters,
  buildTstatsNetworkFilters,
  type EncodedEnvoyFilter,
  type EncodedTstatsFilterSet,
  type EnvoyFilterJson,
  type EnvoyFilterManifestOptions,
  encodeFilterTypedConfig,
  encodeTstatsFilterSet,
  istioProtoRoot,
  MX_FILTER_NAME,
  PEER_METADATA_TYPE_URL,
  renderEnvoyFilterManifest,
  STATS_FILTER_NAME,
  STATS_TYPE_URL,
  TCP_MX_TYPE_URL,
  type TrafficDirection,
  type TstatsFilterOptions,
  type TstatsFilterSet,
  TYPED_STRUCT_TYPE_URL,
} from "./envoy-config.js";
export {
  createPrometheusHandler,
  DEFAULT_EXPORTER_PORT,
  DEFAULT_METRICS_PATH,
  type ExporterOptions,
  PROMETHEUS_CONTENT_TYPE,
  type RunningExporter,
  startTstatsExporter,
} from "./exporter.js";
export {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  type TstatsClientInterceptorOptions,
  type TstatsServerInterceptorOptions,
  withMessageSizes,
} from "./grpc-interceptors.js";
export {
  type ConnectionSecurityPolicy,
  ENVOY_DEFAULT_BUCKETS,
  ISTIO_BUILD_METRIC,
  ISTIO_HTTP_LABELS,
  ISTIO_HTTP_METRICS,
  ISTIO_TCP_LABELS,
  ISTIO_TCP_METRICS,
  ISTIO_WORKLOAD_LABELS,
  type IstioHttpLabel,
  type IstioTcpLabel,
  type IstioWorkloadLabel,
  LATEST,
  NO_RESPONSE_FLAGS,
  type Reporter,
  type RequestProtocol,
  UNKNOWN,
} from "./istio-metrics.js";
export {
  type LocalWorkload,
  type LocalWorkloadInput,
  loadLocalWorkloadFromBootstrap,
  localWorkload,
  localWorkloadFromBootstrap,
} from "./local-workload.js";
export {
  escapeLabelValue,
  Histogram,
  HttpSeries,
  MetricRegistry,
  type MetricRegistryOptions,
  renderLabelText,
  TcpSeries,
} from "./metric-registry.js";
export { PeerCache } from "./peer-cache.js";
export {
  CANONICAL_NAME_LABEL,
  CANONICAL_REVISION_LABEL,
  decodeBaggagePeerMetadata,
  decodeMetadataExchangeFrame,
  decodePeerMetadataHeader,
  EMPTY_WORKLOAD,
  encodeMetadataExchangeFrame,
  encodePeerMetadataHeader,
  ISTIO_PEER_EXCHANGE_ALPN,
  METADATA_EXCHANGE_MAGIC,
  type MetadataExchangeFrame,
  PEER_METADATA_HEADER,
  PEER_METADATA_ID_HEADER,
  STRUCT_TYPE_URL,
  structToWorkload,
  type WorkloadMetadata,
  workloadMetadata,
  workloadToStruct,
} from "./peer-metadata.js";
export { decodeStruct, encodeStruct, type StructObject, type StructValue } from "./protobuf-struct.js";
export {
  CallSite,
  type CallSiteOptions,
  type DestinationService,
  destinationServiceFromTarget,
  type ExchangeStats,
  type HttpOutcome,
  namespaceFromPrincipal,
  PENDING_MAX_AGE_MS,
  type PeerCacheStats,
  PeerHandle,
  TstatsRecorder,
  type TstatsRecorderOptions,
  workloadLabelValues,
} from "./recorder.js";
export {
  fnv1a32Hex,
  PEER_CACHE_TOKEN_HEADER,
  peerCacheToken,
  peerCacheTokenMatches,
  type ResponseExchangeMode,
  SentMetadataTracker,
} from "./response-exchange.js";
export {
  DEFAULT_TSTATS_SETTINGS,
  loadTstatsEnvoyFilters,
  meshctlConfigDir,
  readTstatsSettings,
  type TstatsSettings,
  tstatsSettingsPath,
  writeTstatsSettings,
} from "./settings.js";
export { type TcpTrackOptions, trackTcpSocket } from "./tcp-tracker.js";
