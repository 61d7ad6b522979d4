import { readTstatsSettings, tstatsSettingsPath } from "@meshctl/tstats";
import type { FeatureStatus } from "./features.js";

/**
 * `meshctl status` for tstats: whether the xDS control plane is told to insert the telemetry
 * filters (the persisted `enable tstats` setting).
 *
 * @example
 * const status = await tstatsFeatureStatus();
 */
export async function tstatsFeatureStatus(configDir?: string): Promise<FeatureStatus> {
  const settings = await readTstatsSettings(configDir);
  const path = tstatsSettingsPath(configDir);
  return {
    feature: "tstats",
    state: settings.enabled ? "enabled" : "disabled",
    summary: !settings.enabled
      ? "telemetry filters are not inserted (meshctl enable tstats)"
      : settings.module === "native"
        ? "sidecars get Istio's native filters if they have them, else the tstats dynamic module, from meshctl's xDS"
        : settings.module === "wasm"
          ? "sidecars get the tstats Wasm module from meshctl's xDS"
          : "sidecars get Istio's native stats + metadata-exchange filters from meshctl's xDS",
    details: {
      path,
      module: settings.module,
      modulePath: settings.modulePath ?? null,
      filters: settings.filters,
      updatedAt: settings.updatedAt || null,
    },
  };
}
