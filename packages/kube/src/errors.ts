import { MeshctlError, type MeshctlErrorOptions } from "@meshctl/core";

/**
 * Stable error codes of @meshctl/kube. Part of the public API: the CLI maps them to exit codes and
 * `--json` output carries them verbatim.
 */
export const KUBE_ERROR_CODES = [
  /** No kubeconfig to read, or it does not parse. */
  "KUBE_CONFIG_INVALID",
  /** `--context` names a context the kubeconfig does not have. */
  "KUBE_CONTEXT_UNKNOWN",
  /** The API server did not answer (connection refused, TLS, timeout). */
  "KUBE_UNREACHABLE",
  /** RBAC refused a request (HTTP 403): names the verb and the resource. */
  "KUBE_FORBIDDEN",
  /** Server-side apply met a field owned by another manager (HTTP 409). */
  "KUBE_APPLY_CONFLICT",
  /** The API server rejected an object (HTTP 422 / 400). */
  "KUBE_INVALID_OBJECT",
  /** Waiting for something (a rollout) took longer than the timeout. */
  "KUBE_TIMEOUT",
  /** Any other API failure. */
  "KUBE_API_ERROR",
  /** Install/uninstall options that cannot work (unknown component, tstats without xds). */
  "KUBE_OPTIONS_INVALID",
] as const;
export type KubeErrorCode = (typeof KUBE_ERROR_CODES)[number];

/** A MeshctlError whose code is one of {@link KUBE_ERROR_CODES}. */
export class KubeError extends MeshctlError {
  declare readonly code: KubeErrorCode;
  constructor(code: KubeErrorCode, message: string, options: MeshctlErrorOptions = {}) {
    super(code, message, options);
    this.name = "KubeError";
  }
}
