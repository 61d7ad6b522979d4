// Public entry of @meshctl/vpp. Explicit named exports only.

export {
  DEFAULT_API_SOCKET,
  VppApiClient,
  type VppApiClientOptions,
  type VppCliInbandResult,
  type VppInterface,
  type VppVersion,
} from "./client/api-client.js";
export {
  type ApiFieldType,
  type ApiMessageSpec,
  CLI_INBAND,
  CLI_INBAND_REPLY,
  CONTROL_PING,
  CONTROL_PING_REPLY,
  decodeApiMessage,
  encodeApiMessage,
  frameApiMessage,
  SHOW_VERSION,
  SHOW_VERSION_REPLY,
  SW_INTERFACE_DETAILS,
  SW_INTERFACE_DUMP,
} from "./client/api-codec.js";
// Clients
export {
  DEFAULT_CLI_SOCKET,
  decodeCliOutput,
  defaultCliSocketCandidates,
  stripAnsi,
  TelnetDecoder,
  VppCliClient,
  type VppCliClientOptions,
  type VppCliResult,
} from "./client/cli-client.js";
export { type VppConfigIssue, type VppSize, vppSizeToBytes } from "./config/engine.js";
export {
  DEFAULT_LDPRELOAD_PATH,
  type EnvoyVclBootstrap,
  ldpSidBitFor,
  type ProfileExplanation,
  renderSidecarProfile,
  type SidecarProfile,
  type SidecarProfileOptions,
} from "./config/sidecar-profile.js";
export type {
  ApiSegmentSection,
  ApiTraceSection,
  BuffersSection,
  CpuSection,
  DpdkSection,
  MemorySection,
  ParseOptions,
  PluginsSection,
  RawSection,
  SessionSection,
  SocksvrSection,
  StartupConf,
  StartupConfParseResult,
  StatsegSection,
  TcpSection,
  UnixSection,
} from "./config/startup-conf.js";
// Configuration: startup.conf, vcl.conf, the sidecar profile
export {
  expandCoreList,
  formatConfigIssue,
  parseStartupConf,
  renderStartupConf,
  validateStartupConf,
} from "./config/startup-conf.js";
export {
  parseVclConf,
  renderVclConf,
  VCL_DEFAULTS,
  type VclConf,
  type VclConfParseResult,
  validateVclConf,
} from "./config/vcl-conf.js";
// Errors
export { socketConnectError, VPP_ERROR_CODES, VppError, type VppErrorCode } from "./errors.js";
export {
  adviseVppBenefit,
  collectVppHostFacts,
  type HostNic,
  MEASURED_TWO_CORE_CAUTION,
  type VppBenefitAdvice,
  type VppHostFacts,
} from "./host/advice.js";
// Host: processes on VCL, advice, installing the config
export {
  type FindingStatus,
  type InspectVclProcessOptions,
  inspectVclProcess,
  type VclProcessFinding,
  type VclProcessReport,
} from "./host/inspect-process.js";
export {
  type InstallVppHostConfigOptions,
  installVppHostConfig,
  type VppHostInstallResult,
} from "./host/install.js";
// Kubernetes
export { defaultVppManifestDir, type VppManifestDirContext } from "./k8s/manifest-dir.js";
export {
  renderVppKubernetesManifests,
  type VppKubernetesManifests,
  type VppKubernetesOptions,
} from "./k8s/manifests.js";
// Status of a running VPP
export {
  getVppStatus,
  runVppCommand,
  type VppCommandResult,
  type VppSocketProbe,
  type VppStatus,
  type VppStatusOptions,
} from "./status/get-status.js";
export {
  parseShowApp,
  parseShowAppNs,
  parseShowErrors,
  parseShowSession,
  parseShowVersion,
  type VppApp,
  type VppAppNamespace,
  type VppErrorCounter,
  type VppSessionRow,
  type VppSessions,
} from "./status/parse-show.js";
