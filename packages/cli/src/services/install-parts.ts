/**
 * The parts of `meshctl install` that other packages render: the eBPF DaemonSet (@meshctl/ebpf),
 * VPP's ConfigMap + DaemonSet (@meshctl/vpp) and the tstats setting's file name (@meshctl/tstats).
 * @meshctl/kube takes them as an argument so it depends on core only.
 */
import { renderEbpfDaemonSet } from "@meshctl/ebpf";
import type { InstallComponentParts } from "@meshctl/kube";
import { tstatsSettingsPath } from "@meshctl/tstats";
import { renderVppKubernetesManifests } from "@meshctl/vpp";

export const installComponentParts: InstallComponentParts = {
  ebpfDaemonSet: (options) => renderEbpfDaemonSet(options),
  vppObjects: (options) => renderVppKubernetesManifests(options).daemonSet,
  tstatsSettingsFile: tstatsSettingsPath("/"),
};
