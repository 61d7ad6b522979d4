/**
 * Locality load balancing of a ClusterLoadAssignment, relative to the proxy that asks, as istiod
 * applies it to EDS (pilot/pkg/xds/endpoints/endpoint_builder.go BuildClusterLoadAssignment and
 * pilot/pkg/networking/core/loadbalancer/loadbalancer.go): DestinationRule `localityLbSetting`
 * `distribute` sets locality weights; with outlier detection, `failover` / `failoverPriority`
 * (or the mesh default, which enables locality failover whenever outlier detection is set) give
 * each locality a priority by how close it is to the proxy.
 *
 * A ClusterLoadAssignment therefore depends on the proxy only when its policy does something
 * here; `localityLbKey` says on what (so proxies in one zone share one encoding, and a cluster
 * without such a policy stays shared by every proxy).
 */
import type {
  Labels,
  Locality,
  LocalityLbSetting,
  MeshEndpoint,
  TrafficPolicyFields,
} from "../model/types.js";
import type { Proto } from "./common.js";
import type { ProxyInfo } from "./proxy.js";

/** Istio's topology labels (pilot/pkg/serviceregistry/util/label), set from a workload's locality. */
const REGION_LABEL = "topology.kubernetes.io/region";
const ZONE_LABEL = "topology.kubernetes.io/zone";
const SUBZONE_LABEL = "topology.istio.io/subzone";
const NETWORK_LABEL = "topology.istio.io/network";

/** MeshConfig `localityLbSetting` default (pkg/config/mesh DefaultMeshConfig): enabled, nothing else. */
const MESH_DEFAULT_SETTING: LocalityLbSetting = { enabled: true };

const EMPTY_LOCALITY: Locality = { region: "", zone: "", subzone: "" };

/** What a cluster's policy asks of its endpoints' localities (absent: nothing, the CLA is shared). */
export type LocalityLbPlan =
  | { readonly kind: "distribute"; readonly rules: NonNullable<LocalityLbSetting["distribute"]> }
  | {
      readonly kind: "failover";
      readonly failover: NonNullable<LocalityLbSetting["failover"]>;
      /** `failoverPriority` labels (`key` or `key=value`), empty for region/zone/subzone failover. */
      readonly priorityLabels: readonly string[];
    };

/**
 * istiod's effective setting for one cluster (GetEffectiveLbSetting + ApplyLocalityLoadBalancer's
 * guards): the DestinationRule's `localityLbSetting` for this port and subset, else the mesh
 * default; `enabled: false` turns it off; `distribute` applies as is; failover only with
 * outlier detection (Envoy would never leave priority 0 without it).
 *
 * @example
 * localityLbPlanOf({ outlierDetection: {} })?.kind; // "failover" (the mesh default)
 * localityLbPlanOf(undefined); // undefined: no DestinationRule, no locality policy
 */
export function localityLbPlanOf(policy: TrafficPolicyFields | undefined): LocalityLbPlan | undefined {
  // istiod reads nothing of the mesh default without a DestinationRule: no outlier detection,
  // no DR load balancer, so no distribute and no failover.
  if (!policy) return undefined;
  const setting = policy.loadBalancer?.localityLbSetting ?? MESH_DEFAULT_SETTING;
  if (setting.enabled === false) return undefined;
  if (setting.distribute && setting.distribute.length > 0)
    return { kind: "distribute", rules: setting.distribute };
  if (!policy.outlierDetection) return undefined;
  return {
    kind: "failover",
    failover: setting.failover ?? [],
    priorityLabels: setting.failoverPriority ?? [],
  };
}

/**
 * The proxy's locality as istiod takes it (xds/ads.go setTopologyLabels): its topology labels
 * first (`topology.kubernetes.io/region`/`zone`, `topology.istio.io/subzone`), else its
 * `topology.istio.io/locality` / `istio-locality` label (`region/zone/subzone`), else the
 * locality in its xDS Node.
 *
 * @example
 * proxyLocality(proxyFromNode({ id: "sidecar~10.0.0.1~a.demo~demo.svc.cluster.local", locality: { region: "r1", zone: "z1" } }));
 * // { region: "r1", zone: "z1", subzone: "" }
 */
export function proxyLocality(proxy: ProxyInfo): Locality {
  const l = proxy.labels;
  if (REGION_LABEL in l || ZONE_LABEL in l || SUBZONE_LABEL in l)
    return { region: l[REGION_LABEL] ?? "", zone: l[ZONE_LABEL] ?? "", subzone: l[SUBZONE_LABEL] ?? "" };
  const label = l["topology.istio.io/locality"] ?? l["istio-locality"];
  if (label) {
    const [region = "", zone = "", subzone = ""] = label.split("/");
    return { region, zone, subzone };
  }
  return proxy.locality ?? EMPTY_LOCALITY;
}

/** Labels with the topology labels istiod adds from a workload's locality (labelutil.AugmentLabels). */
function topologyLabel(labels: Labels, locality: Locality, key: string): string {
  if (key === REGION_LABEL && locality.region) return locality.region;
  if (key === ZONE_LABEL && locality.zone) return locality.zone;
  if (key === SUBZONE_LABEL && locality.subzone) return locality.subzone;
  return labels[key] ?? "";
}

function localityString(l: Locality): string {
  return `${l.region}/${l.zone}/${l.subzone}`;
}

/** istiod's util.LocalityMatch: a rule locality (`region/zone/subzone`, `*` wildcards) against a locality. */
function localityMatches(locality: Locality, rule: string): boolean {
  const [region = "", zone = "", subzone = ""] = rule.split("/");
  return (
    (region === "*" || locality.region === region) &&
    (zone === "*" || zone === "" || locality.zone === zone) &&
    (subzone === "*" || subzone === "" || locality.subzone === subzone)
  );
}

/**
 * What of the proxy a ClusterLoadAssignment under `plan` depends on, as a cache key part: the
 * distribute rule its locality selects, its locality (failover), the values of the failover
 * priority labels. Proxies with equal keys get the same ClusterLoadAssignment.
 *
 * @example
 * localityLbKey(plan, proxy); // "loc=us-east/us-east-1a/"
 */
export function localityLbKey(plan: LocalityLbPlan, proxy: ProxyInfo): string {
  const locality = proxyLocality(proxy);
  if (plan.kind === "distribute")
    return `dist=${plan.rules.findIndex((r) => localityMatches(locality, r.from))}`;
  const parts: string[] = [];
  // Without failoverPriority, or with failover rules as well, priorities follow the locality.
  if (plan.priorityLabels.length === 0 || plan.failover.length > 0)
    parts.push(`loc=${localityString(locality)}`);
  if (plan.priorityLabels.length > 0)
    parts.push(
      `prio=${plan.priorityLabels
        .map((p) => {
          const key = p.split("=")[0] ?? "";
          return `${key}:${topologyLabel(proxy.labels, locality, key)}`;
        })
        .join(" ")}`,
    );
  return parts.join("|");
}

/** One `LocalityLbEndpoints` being built: its endpoints (with their model source) and where it stands. */
export interface LocalityGroup {
  readonly locality: Locality;
  readonly lbEndpoints: readonly Proto[];
  /** The model endpoint of each `lbEndpoints` entry (failoverPriority reads their labels). */
  readonly endpoints: readonly MeshEndpoint[];
  readonly weight: number;
  readonly priority: number;
}

/** Priorities 0..N without gaps, keeping their order (Envoy requires contiguous priorities). */
function compactPriorities(groups: LocalityGroup[]): LocalityGroup[] {
  const distinct = [...new Set(groups.map((g) => g.priority))].sort((a, b) => a - b);
  const rank = new Map(distinct.map((p, i) => [p, i]));
  return groups.map((g) => ({ ...g, priority: rank.get(g.priority) ?? 0 }));
}

/**
 * istiod's applyLocalityWeights: the first `distribute` rule whose `from` matches the proxy's
 * locality sets each matched locality's weight to its share of the rule's percentage (split by
 * original weight among the localities one `to` entry matches, rounded up); localities no `to`
 * entry matches keep their place but lose their endpoints.
 */
function applyLocalityWeights(
  groups: LocalityGroup[],
  locality: Locality,
  rules: NonNullable<LocalityLbSetting["distribute"]>,
): LocalityGroup[] {
  const rule = rules.find((r) => localityMatches(locality, r.from));
  if (!rule) return groups;
  const out = [...groups];
  const unmatched = new Set(groups.map((_, i) => i));
  for (const [target, percent] of Object.entries(rule.to)) {
    const matched = [...unmatched].filter((i) =>
      localityMatches(groups[i]?.locality ?? EMPTY_LOCALITY, target),
    );
    let total = 0;
    for (const i of matched) {
      unmatched.delete(i);
      total += groups[i]?.weight ?? 0;
    }
    for (const i of matched) {
      const g = out[i] as LocalityGroup;
      const weight = (g.weight * percent) / total;
      // istiod keeps the original weight when the share is 0 (a `to` entry of 0 percent).
      if (weight > 0) out[i] = { ...g, weight: Math.ceil(weight) };
    }
  }
  for (const i of unmatched) out[i] = { ...(out[i] as LocalityGroup), lbEndpoints: [], endpoints: [] };
  return out;
}

/** istiod's LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
function lbPriority(proxy: Locality, endpoint: Locality): number {
  if (proxy.region !== endpoint.region) return 3;
  if (proxy.zone !== endpoint.zone) return 2;
  return proxy.subzone === endpoint.subzone ? 0 : 1;
}

/**
 * istiod's applyLocalityFailover: priority by how much of region/zone/subzone matches the proxy's;
 * another region is 3 when a `failover` rule from the proxy's region names it, else 4 (only when
 * a rule from the proxy's region exists). Composes with priorities already set (×5).
 */
function applyLocalityFailover(
  groups: LocalityGroup[],
  locality: Locality,
  failover: NonNullable<LocalityLbSetting["failover"]>,
): LocalityGroup[] {
  const rule = failover.find((f) => f.from === locality.region);
  return compactPriorities(
    groups.map((g) => {
      let p = lbPriority(locality, g.locality);
      if (p === 3 && rule && g.locality.region !== rule.to) p = 4;
      return { ...g, priority: g.priority * 5 + p };
    }),
  );
}

/**
 * istiod's applyFailoverPriorities: each locality splits by how many of the priority labels
 * (in order) its endpoints share with the proxy (`key=value` compares with `value` instead);
 * a mismatched network label as the first key only lowers the endpoint below all others.
 */
function applyFailoverPriorities(
  groups: LocalityGroup[],
  proxy: ProxyInfo,
  locality: Locality,
  priorityLabels: readonly string[],
  weightOf: (endpoints: readonly MeshEndpoint[]) => number,
): LocalityGroup[] {
  const lowest = priorityLabels.length;
  const includesNetwork = priorityLabels[0] === NETWORK_LABEL;
  const keys = priorityLabels.map((p) => p.split("=")[0] ?? "");
  const overrides = new Map<string, string>();
  for (const p of priorityLabels) {
    const parts = p.split("=");
    if (parts.length === 2) overrides.set(parts[0] ?? "", parts[1] ?? "");
  }
  const split: LocalityGroup[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, number[]>();
    g.endpoints.forEach((ep, i) => {
      let priority = 0;
      let adjust = 0;
      for (const [j, key] of keys.entries()) {
        const wanted = overrides.get(key) ?? topologyLabel(proxy.labels, locality, key);
        if (wanted !== topologyLabel(ep.labels, ep.locality, key)) {
          if (j === 0 && includesNetwork) {
            adjust = lowest;
            continue;
          }
          priority = lowest - j;
          break;
        }
      }
      priority += adjust;
      const list = byPriority.get(priority);
      if (list) list.push(i);
      else byPriority.set(priority, [i]);
    });
    for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
      const idx = byPriority.get(priority) as number[];
      const lbEndpoints = idx.map((i) => g.lbEndpoints[i] as Proto);
      const endpoints = idx.map((i) => g.endpoints[i] as MeshEndpoint);
      split.push({ locality: g.locality, lbEndpoints, endpoints, weight: weightOf(endpoints), priority });
    }
  }
  return compactPriorities(split);
}

/**
 * The localities of a ClusterLoadAssignment with the plan applied for this proxy (istiod's
 * ApplyLocalityLoadBalancer): distribute weights, or failover priorities (failoverPriority
 * labels first, then region failover when both are set). `weightOf` is a locality's weight for
 * the endpoints given (used when failoverPriority splits one).
 *
 * @example
 * applyLocalityLb(groups, localityLbPlanOf(spec.policy), proxy, weightOf).map((g) => g.priority);
 */
export function applyLocalityLb(
  groups: readonly LocalityGroup[],
  plan: LocalityLbPlan,
  proxy: ProxyInfo,
  weightOf: (endpoints: readonly MeshEndpoint[]) => number,
): LocalityGroup[] {
  const locality = proxyLocality(proxy);
  if (plan.kind === "distribute") return applyLocalityWeights([...groups], locality, plan.rules);
  if (plan.priorityLabels.length === 0) return applyLocalityFailover([...groups], locality, plan.failover);
  const prioritized = applyFailoverPriorities([...groups], proxy, locality, plan.priorityLabels, weightOf);
  return plan.failover.length > 0 ? applyLocalityFailover(prioritized, locality, plan.failover) : prioritized;
}
