/**
 * The accelerators and integrations `meshctl enable|disable|status` know about. Each feature that
 * is built has its own `enable:<feature>` / `disable:<feature>` command (with its own flags) and a
 * status provider below; `meshctl enable <feature>` reaches those commands first.
 */
export const FEATURE_NAMES = ["ebpf", "tstats", "vpp"] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

export const FEATURE_DESCRIPTIONS: Record<FeatureName, string> = {
  ebpf: "sockops + sk_msg acceleration of app <-> sidecar traffic on this node",
  tstats: "Istio-compatible telemetry without Wasm in sidecars and proxyless gRPC",
  vpp: "FD.io VPP user-space host stack for sidecars",
};

export type FeatureState = "enabled" | "disabled" | "unavailable";

export interface FeatureStatus {
  readonly feature: FeatureName;
  readonly state: FeatureState;
  readonly summary: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export type FeatureStatusProvider = () => Promise<FeatureStatus>;

/** Status providers of the features that are built; others report "unavailable". */
export const FEATURE_STATUS_PROVIDERS: Partial<Record<FeatureName, FeatureStatusProvider>> = {
  ebpf: async () => (await import("./ebpf-feature.js")).ebpfFeatureStatus(),
  tstats: async () => (await import("./tstats-feature.js")).tstatsFeatureStatus(),
  vpp: async () => (await import("./vpp-feature.js")).vppFeatureStatus(),
};

/**
 * Collects the status of every feature; a provider that fails reports its error, it never hides
 * the others.
 *
 * @example
 * const { features } = await collectFeatureStatus();
 */
export async function collectFeatureStatus(
  providers: Partial<Record<FeatureName, FeatureStatusProvider>> = FEATURE_STATUS_PROVIDERS,
): Promise<{ features: FeatureStatus[] }> {
  const features = await Promise.all(
    FEATURE_NAMES.map(async (feature): Promise<FeatureStatus> => {
      const provider = providers[feature];
      if (!provider) return { feature, state: "unavailable", summary: "not available yet in this version" };
      try {
        return await provider();
      } catch (error) {
        return { feature, state: "unavailable", summary: `status failed: ${(error as Error).message}` };
      }
    }),
  );
  return { features };
}
