import type { TstatsFilterOptions } from "@meshctl/tstats";
import { Flags } from "@oclif/core";

/** Filter options shared by `tstats render` and `enable tstats`. */
export const tstatsFilterFlags = {
  "tcp-reporting-seconds": Flags.integer({
    description: "TCP metrics reporting interval.",
    default: 5,
    min: 1,
  }),
  "workload-discovery": Flags.boolean({
    description: "Fall back to Istio's workload discovery when no exchange headers arrive.",
  }),
  "additional-labels": Flags.string({
    description: "Extra peer labels to exchange (comma-separated).",
    helpValue: "LABEL,...",
  }),
  "disable-host-header-fallback": Flags.boolean({
    description: "Never use the Host header as destination_service.",
  }),
};

export function tstatsFilterOptionsFromFlags(flags: {
  "tcp-reporting-seconds": number;
  "workload-discovery": boolean;
  "additional-labels"?: string | undefined;
  "disable-host-header-fallback": boolean;
}): Omit<TstatsFilterOptions, "encoding"> {
  const labels = (flags["additional-labels"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    tcpReportingSeconds: flags["tcp-reporting-seconds"],
    ...(flags["workload-discovery"] ? { workloadDiscovery: true } : {}),
    ...(labels.length ? { additionalLabels: labels } : {}),
    ...(flags["disable-host-header-fallback"] ? { disableHostHeaderFallback: true } : {}),
  };
}
