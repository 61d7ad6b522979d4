// Public entry of @meshctl/kube. Explicit named exports only.

export { type KubeConnectionOptions, loadKubeConfig, runningInCluster } from "./config.js";
// cluster diagnose (meshctl diagnose --kubeconfig)
export { clusterFactError, makeDeadlineApiClient } from "./diagnose/api-client.js";
export {
  CONTROL_PLANE_DEBUG_PORT,
  fetchControlPlaneSync,
  findControlPlaneService,
  parseDebugClients,
} from "./diagnose/control-plane.js";
export {
  type ClusterDiagnoseOptions,
  DEFAULT_MESHCTL_NAMESPACE,
  DEFAULT_ROOT_NAMESPACE,
  gatherClusterFacts,
  ISTIO_CRDS,
  MESHCTL_PART_OF_SELECTOR,
} from "./diagnose/gather.js";
export { ISTIO_PROXY_CONTAINER, parseIstioIptablesArgs, podFactOf } from "./diagnose/pod-facts.js";
export type {
  ApiServerFacts,
  CaptureSettings,
  ClusterFactError,
  ClusterFacts,
  ClusterTarget,
  ControlPlaneFacts,
  ControlPlaneSync,
  Gathered,
  IstioCrdFact,
  MeshctlComponentsFacts,
  NamespaceFact,
  PodFact,
  ProxySyncFact,
  ServiceFact,
  ServicePortFact,
  SidecarResourceFact,
  TypeSyncFact,
  WorkloadCondition,
  WorkloadFact,
} from "./diagnose/types.js";
export { KUBE_ERROR_CODES, KubeError, type KubeErrorCode } from "./errors.js";
// install / uninstall (meshctl install, meshctl uninstall)
export { ISTIO_NETWORKING_KINDS, renderIstioNetworkingCrds } from "./install/crds.js";
export {
  type ApplyAction,
  DEFAULT_ROLLOUT_TIMEOUT_MS,
  type InstalledObject,
  type InstallOptions,
  type InstallProgressEvent,
  type InstallResult,
  installMeshctl,
  isMeshctlOwned,
} from "./install/install.js";
export { FIELD_MANAGER } from "./install/labels.js";
export {
  DEFAULT_IMAGE_REGISTRY,
  DEFAULT_INSTALL_COMPONENTS,
  DEFAULT_INSTALL_NAMESPACE,
  INSTALL_COMPONENTS,
  type InstallComponent,
  type InstallComponentParts,
  type InstallManifest,
  type InstallManifestOptions,
  type InstallPart,
  meshctlImage,
  parseInstallComponents,
  renderInstallManifests,
  renderManifestsYaml,
  XDS_DEBUG_PORT,
  XDS_GRPC_PORT,
} from "./install/manifests.js";
export {
  type FieldConflict,
  formatObjectRef,
  type KubeObject,
  type KubeObjectRef,
} from "./install/rest-client.js";
export {
  describeWorkloadRollout,
  formatRolloutPending,
  type RolloutReport,
  type WorkloadRollout,
} from "./install/rollout.js";
export {
  type UninstallAction,
  type UninstalledObject,
  type UninstallOptions,
  type UninstallProgressEvent,
  type UninstallResult,
  uninstallMeshctl,
} from "./install/uninstall.js";
