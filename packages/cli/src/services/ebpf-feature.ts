import { isMeshctlError } from "@meshctl/core";
import { getEbpfStatus } from "@meshctl/ebpf";
import type { FeatureStatus } from "./features.js";

/**
 * `meshctl status` for eBPF acceleration: enabled when meshctl's programs are attached and
 * redirecting, disabled otherwise; unavailable when this user cannot read BPF state.
 *
 * @example
 * const s = await ebpfFeatureStatus();
 */
export async function ebpfFeatureStatus(pinDir?: string): Promise<FeatureStatus> {
  try {
    const status = await getEbpfStatus(pinDir ? { pinDir } : {});
    const details = {
      state: status.state,
      pinDir: status.pinDir,
      attachedTo: status.attachments.map((a) => a.cgroupPath),
      ...(status.counters ? { counters: status.counters } : {}),
    };
    if (status.enabled) {
      const c = status.counters;
      return {
        feature: "ebpf",
        state: "enabled",
        summary: `attached to ${details.attachedTo.join(", ")}${c ? `; ${c.ingress.messages + c.egress.messages} messages redirected` : ""}`,
        details,
      };
    }
    return {
      feature: "ebpf",
      state: "disabled",
      summary:
        status.state === "disabled" ? "not enabled (`meshctl enable ebpf`)" : `loaded but ${status.state}`,
      details,
    };
  } catch (error) {
    if (isMeshctlError(error) && error.code === "EBPF_PERMISSION_DENIED") {
      return { feature: "ebpf", state: "unavailable", summary: "run as root to read the eBPF state" };
    }
    throw error;
  }
}
