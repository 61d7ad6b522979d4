// Public entry of @meshctl/pod: network-namespace "pods" on this machine (namespaces, bridge,
// istio-init capture rules, cgroups, sidecar processes, cleanup). Explicit named exports only.
export {
  type CgroupCpu,
  createCgroup,
  findCgroup2Root,
  moveToCgroup,
  parseCgroup2Mount,
  parseCpuStat,
  readCgroupCpu,
  removeCgroupTree,
} from "./cgroup.js";
export { renderStaticSidecarBootstrap, type StaticSidecarBootstrapOptions } from "./envoy-static.js";
export { renderHaproxyConfig, type SidecarInboundPort, type SidecarModel } from "./haproxy.js";
export { type CaptureRulesOptions, captureChainNames, renderCaptureRules } from "./iptables.js";
export { buildPodNetwork, deleteNetns, destroyPodNetwork, listNetns, netnsPids } from "./netns.js";
export { type NodeRoutes, routePodsViaNode } from "./node-routes.js";
export { podCommand, spawnInPod, waitForListening } from "./process.js";
export {
  ENVOY_ADMIN_PORT,
  ENVOY_PINNED_VERSION,
  envoyArgv,
  parseEnvoyVersion,
  type RunningSidecar,
  type SidecarReadiness,
  spawnSidecar,
  startEnvoySidecar,
  startHaproxySidecar,
} from "./sidecar.js";
export { type PodNetwork, type PodSpec, SIDECAR_UID } from "./types.js";
