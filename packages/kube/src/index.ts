// Public entry of @meshctl/kube. Explicit named exports only.

export { type KubeConnectionOptions, loadKubeConfig, runningInCluster } from "./config.js";
export { KUBE_ERROR_CODES, KubeError, type KubeErrorCode } from "./errors.js";
