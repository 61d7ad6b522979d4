/**
 * The lab's use of @meshctl/ebpf: sockops/sk_msg acceleration attached to the sidecar-ebpf
 * scenario's cgroup only, with maps and programs pinned under the lab's own bpffs directory, so the
 * other scenarios and the rest of the machine are untouched.
 */

import { existsSync } from "node:fs";
import { errorMessage } from "@meshctl/core";
import type { LabEbpfCounters } from "./types.js";

/** Acceleration attached to one cgroup. */
export interface EbpfAcceleration {
  /** Human description for the report (programs, attach point). */
  readonly description: string;
  /** What the programs did so far (redirected vs passed to TCP), or undefined if unreadable. */
  counters(): Promise<LabEbpfCounters | undefined>;
  disable(): Promise<void>;
}

/** Whether the lab can accelerate, and how. */
export type EbpfIntegration =
  | { readonly available: false; readonly reason: string }
  | {
      readonly available: true;
      enable(input: { cgroupPath: string; pinDir: string }): Promise<EbpfAcceleration>;
    };

/**
 * Probes the kernel and @meshctl/ebpf's compiled programs, and reports whether the lab can
 * accelerate here (a reason otherwise, shown as a skipped scenario).
 *
 * @example
 * const ebpf = await loadEbpfIntegration();
 * if (ebpf.available) await ebpf.enable({ cgroupPath, pinDir });
 */
export async function loadEbpfIntegration(): Promise<EbpfIntegration> {
  // Loaded on use, so runs without sidecar-ebpf never need @meshctl/ebpf's build.
  let ebpf: typeof import("@meshctl/ebpf");
  try {
    ebpf = await import("@meshctl/ebpf");
  } catch (error) {
    return { available: false, reason: `@meshctl/ebpf cannot be loaded: ${errorMessage(error)}` };
  }
  const {
    defaultObjectPath,
    disableEbpfAcceleration,
    enableEbpfAcceleration,
    getEbpfStatus,
    probeEbpfSupport,
  } = ebpf;
  if (!existsSync(defaultObjectPath())) {
    return {
      available: false,
      reason: `the BPF object ${defaultObjectPath()} is not built (build @meshctl/ebpf)`,
    };
  }
  try {
    const support = await probeEbpfSupport();
    if (!support.supported) {
      return {
        available: false,
        reason: `the kernel lacks ${support.missing.join(", ")} (Linux ${support.kernelRelease})`,
      };
    }
  } catch (error) {
    return { available: false, reason: `cannot probe eBPF support: ${errorMessage(error)}` };
  }
  return {
    available: true,
    async enable({ cgroupPath, pinDir }) {
      const result = await enableEbpfAcceleration({ cgroupPath, pinDir });
      return {
        description: `sockops #${result.programs.sockops.id} + sk_msg #${result.programs.skMsg.id} on ${cgroupPath}`,
        async counters() {
          const c = (await getEbpfStatus({ pinDir })).counters;
          if (!c) return undefined;
          return {
            redirectedMessages: c.ingress.messages + c.egress.messages,
            redirectedBytes: c.ingress.bytes + c.egress.bytes,
            egressMessages: c.egress.messages,
            ingressMessages: c.ingress.messages,
            passedMessages: c.passedMessages,
            pairsCreated: c.pairsCreated,
            misses: c.ingress.misses + c.egress.misses,
          };
        },
        async disable() {
          // force: the lab's connections are gone or about to be; nothing must outlive the run.
          await disableEbpfAcceleration({ pinDir, cgroupPath, force: true, drainTimeoutMs: 1_000 });
        },
      };
    },
  };
}
