import { findProgram } from "@meshctl/core";
import { getVppStatus } from "@meshctl/vpp";
import type { FeatureStatus } from "./features.js";

/**
 * `meshctl status` for VPP: enabled when a VPP answers with its session layer on, disabled when
 * VPP is installed or reachable but not serving VCL apps, unavailable when there is no VPP.
 *
 * @example
 * const s = await vppFeatureStatus();
 */
export async function vppFeatureStatus(): Promise<FeatureStatus> {
  const [status, binary] = await Promise.all([getVppStatus({ timeoutMs: 1500 }), findProgram("vpp")]);
  const details = {
    version: status.version,
    sessionLayer: status.sessionLayer,
    apps: status.apps.map((a) => a.name),
    cliSocket: status.cliSocket.path,
    apiSocket: status.apiSocket.path,
  };
  if (status.running && status.sessionLayer === "enabled") {
    return {
      feature: "vpp",
      state: "enabled",
      summary:
        `VPP ${status.version ?? ""} with the session layer on, ${status.apps.length} app(s) attached`.replace(
          "  ",
          " ",
        ),
      details,
    };
  }
  if (status.running)
    return {
      feature: "vpp",
      state: "disabled",
      summary: `VPP ${status.version ?? ""} runs but its session layer is ${status.sessionLayer}`.replace(
        "  ",
        " ",
      ),
      details,
    };
  if (binary)
    return {
      feature: "vpp",
      state: "disabled",
      summary: `VPP is installed (${binary}) but not reachable: ${status.cliSocket.error?.code ?? "unknown"}`,
      details,
    };
  return {
    feature: "vpp",
    state: "unavailable",
    summary: "VPP is not installed on this host (see `meshctl enable vpp`)",
    details,
  };
}
