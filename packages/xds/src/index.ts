// Public entry of @meshctl/xds. Explicit named exports only.
export {
  type BootstrapOptions,
  DEFAULT_ENVOY_ADMIN_PORT,
  nodeIdFor,
  renderBootstrap,
} from "./bootstrap.js";
export {
  type ConfigDump,
  type ConfigDumpResource,
  configDumpOf,
  type RenderConfigDumpOptions,
  renderConfigDump,
} from "./config-dump.js";
export { defaultMeshDirectory } from "./default-mesh.js";
export {
  type AccessLogEncoding,
  type AccessLogOptions,
  buildFileAccessLog,
  ISTIO_JSON_ACCESS_LOG_FORMAT,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
} from "./generate/access-log.js";
export { capabilitiesFromNode, type ProxyCapabilities } from "./generate/capabilities.js";
export {
  type EncodedFilter,
  type EnvoyFilterAlternative,
  type EnvoyFilterExtensions,
  type EnvoyFilterSelection,
  EnvoyFilterSelector,
  type EnvoyFilterSet,
  filterConfigType,
  type PerProxyFilters,
  type SkippedFilter,
  selectEnvoyFilters,
} from "./generate/filter-extensions.js";
export { type ProxyInfo, type ProxyNodeInfo, type ProxyType, proxyFromNode } from "./generate/proxy.js";
export {
  type EncodedResource,
  encodeResource,
  generateProxyConfig,
  type ProxyConfig,
  type ResourceTransform,
} from "./generate/proxy-config.js";
export { PushContext } from "./generate/push-context.js";
// load harness
export { CHURN_KINDS, type ChurnChange, type ChurnKind, ChurnPlanner } from "./load/churn.js";
export type { ChurnKindResult } from "./load/churn-tracker.js";
export {
  type TrafficSummary,
  XDS_LOAD_TARGETS,
  type XdsLoadOptions,
  type XdsLoadPhase,
  type XdsLoadProgress,
  type XdsLoadReport,
  type XdsLoadTarget,
} from "./load/load-types.js";
export type { ProcessUsage } from "./load/process-sampler.js";
export { type ProxyIdentity, planProxies, proxyNodeMetadata } from "./load/proxy-plan.js";
export { runXdsLoad } from "./load/run-xds-load.js";
export { generateScopeResources, type ScopeResources, type ScopeSpec } from "./load/scope-resources.js";
export { parseServerOptions } from "./load/server-options.js";
export { runXdsSoak } from "./load/soak.js";
export { BAD_EDIT_KINDS, type BadEditKind } from "./load/soak-bad-edits.js";
export { type RssGrowth, type RssGrowthVerdict, type RssSample, rssGrowth } from "./load/soak-growth.js";
export { formatXdsSoakReport } from "./load/soak-report.js";
export type {
  BadEditKindResult,
  RestartResult,
  XdsSoakOptions,
  XdsSoakPhase,
  XdsSoakProgress,
  XdsSoakReport,
} from "./load/soak-types.js";
export type { PercentileSummary } from "./load/stats.js";
export {
  formatXdsStormReport,
  runXdsStorm,
  type XdsStormMemoryFigure,
  type XdsStormOptions,
  type XdsStormPhase,
  type XdsStormProbeSummary,
  type XdsStormProgress,
  type XdsStormReport,
  type XdsStormWindow,
} from "./load/storm.js";
export {
  generateSyntheticMesh,
  type SyntheticMesh,
  type SyntheticMeshDescription,
  type SyntheticMeshOptions,
  type SyntheticService,
} from "./load/synthetic-mesh.js";
export type { ServerOptionValue } from "./load/target.js";
export { goControlPlanePeerPath } from "./load/target-go-control-plane.js";
export { istiodLauncherPath } from "./load/target-istiod.js";
export { diffMeshModels, type MeshChange } from "./model/diff.js";
export {
  DEFAULT_MAX_FILE_BYTES,
  DEFAULT_PARSE_MEMORY_MB,
  DEFAULT_PARSE_TIMEOUT_MS,
  DEFAULT_STATE_DIR_NAME,
  type DirectoryLoaderOptions,
  type DirectorySourceOptions,
  directoryMeshSource,
  loadMeshDirectory,
  MeshDirectoryLoader,
} from "./model/directory-source.js";
export { parseDurationMs } from "./model/field-reader.js";
export { parseMeshFileFiltered, prefilterMeshYaml } from "./model/file-prefilter.js";
export {
  type KubernetesKindStatus,
  type KubernetesMeshSource,
  type KubernetesSourceOptions,
  type KubernetesSourceStatus,
  kubernetesMeshSource,
} from "./model/kubernetes-source.js";
export { parseMeshFile, parseMeshObject, resolveHost } from "./model/parse-documents.js";
export type { MeshSnapshot, MeshSource, MeshSourceEvent } from "./model/source.js";
export { type StaticMeshInput, type StaticMeshSource, staticMeshSource } from "./model/static-source.js";
export {
  type ConfigDiagnostic,
  type ConfigKey,
  configKeyString,
  type DestinationRuleModel,
  type HttpRoute,
  type MeshEndpoint,
  type MeshModel,
  type MeshService,
  type ServicePort,
  type SidecarEgressListener,
  type SidecarIngressListener,
  type SidecarModel,
  type SidecarPort,
  type VirtualServiceModel,
} from "./model/types.js";
export {
  decodeAnyDeep,
  type EncodedAny,
  loadXdsProtos,
  PUSH_ORDER,
  packAny,
  type ResourceKind,
  TYPE_URLS,
} from "./protocol/protos.js";
export type { XdsEvent } from "./server/ads-server.js";
export type { ClientStatus } from "./server/connection.js";
export { formatDiagnostic, formatXdsEvent } from "./server/format-event.js";
export { probeXdsControlPlane, type XdsProbeResult } from "./server/probe.js";
export {
  DEFAULT_DEBUG_PORT,
  DEFAULT_XDS_PORT,
  startXdsServer,
  type XdsServerEvent,
  type XdsServerHandle,
  type XdsServerOptions,
  type XdsTlsOptions,
} from "./server/start.js";
