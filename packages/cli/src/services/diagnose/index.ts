import os from "node:os";
import { errorMessage } from "@meshctl/core";
import { type ClusterGroupOptions, clusterCheckGroup } from "./cluster-checks.js";
import { ebpfCheckGroup } from "./ebpf-checks.js";
import { evaluateHostChecks } from "./host-checks.js";
import { collectHostFacts, type HostFacts } from "./host-facts.js";
import type { Check, CheckGroup, DiagnoseReport } from "./types.js";
import { vppCheckGroup } from "./vpp-checks.js";
import { xdsCheckGroup } from "./xds-checks.js";

/** The host group: kernel, privileges, filesystems, netfilter, data-plane programs, bench facts. */
export function hostCheckGroup(collect: () => Promise<HostFacts> = collectHostFacts): CheckGroup {
  return { name: "host", run: async () => evaluateHostChecks(await collect()) };
}

/**
 * Every check group `meshctl diagnose` runs. Features add their group here (eBPF status, VPP, ...).
 * The cluster group runs only when asked for (`cluster` options: --kubeconfig, --context, ...).
 */
export function defaultCheckGroups(
  options: { readonly vppPid?: number; readonly cluster?: ClusterGroupOptions } = {},
): CheckGroup[] {
  return [
    hostCheckGroup(),
    ebpfCheckGroup(),
    vppCheckGroup(options.vppPid !== undefined ? { pid: options.vppPid } : {}),
    // --control-plane names the control plane to ask; without it, a local one (127.0.0.1:15014).
    xdsCheckGroup(
      options.cluster?.controlPlaneUrl !== undefined ? { debugUrl: options.cluster.controlPlaneUrl } : {},
    ),
    ...(options.cluster ? [clusterCheckGroup(options.cluster)] : []),
  ];
}

export interface DiagnoseOptions {
  readonly groups?: readonly CheckGroup[];
}

/**
 * Runs every check group and returns the report. A group that throws becomes a failing check of
 * its own instead of hiding the rest.
 *
 * @example
 * const report = await runDiagnose();
 * report.checks.filter((c) => c.status === "fail");
 */
export async function runDiagnose(options: DiagnoseOptions = {}): Promise<DiagnoseReport> {
  const groups = options.groups ?? defaultCheckGroups();
  const results = await Promise.all(
    groups.map(async (group): Promise<readonly Check[]> => {
      try {
        return await group.run();
      } catch (error) {
        return [
          {
            id: `${group.name}.error`,
            group: group.name,
            status: "fail",
            summary: `The ${group.name} checks could not run: ${errorMessage(error)}`,
            evidence: [errorMessage(error)],
            recommendation: "Run with --verbose and report this if it persists.",
          },
        ];
      }
    }),
  );
  const checks = results.flat();
  const count = (s: Check["status"]) => checks.filter((c) => c.status === s).length;
  return {
    schemaVersion: 1,
    host: {
      hostname: os.hostname(),
      kernel: os.release(),
      arch: os.arch(),
      cpus: os.cpus().length,
      node: process.version,
    },
    summary: { ok: count("ok"), warn: count("warn"), fail: count("fail") },
    checks,
  };
}

export {
  type ClusterCheckOptions,
  type ClusterGroupOptions,
  clusterCheckGroup,
  DEFAULT_STALE_AFTER_MS,
  evaluateClusterChecks,
} from "./cluster-checks.js";
export { evaluateHostChecks, parseKernelVersion } from "./host-checks.js";
export type { HostFacts } from "./host-facts.js";
export { collectHostFacts } from "./host-facts.js";
export type { Check, CheckGroup, CheckStatus, DiagnoseReport } from "./types.js";
