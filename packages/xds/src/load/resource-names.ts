/**
 * What a simulated proxy reads from resources: only what its subscriptions need. Clusters,
 * listeners and (for proxyless gRPC) route configurations are decoded with the real protos;
 * ClusterLoadAssignments never are (their name is read from field 1, markers are found in the
 * raw bytes). Identical bytes sent to many proxies are decoded once.
 */
import { createHash } from "node:crypto";
import protobuf from "protobufjs";
import { loadXdsProtos } from "../protocol/protos.js";

const HCM_TYPE_URL =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
/** envoy.config.cluster.v3.Cluster.DiscoveryType.EDS */
const CLUSTER_TYPE_EDS = 3;

export interface ClusterInfo {
  readonly name: string;
  /** The name to subscribe to in EDS, or undefined when the cluster is not an EDS cluster. */
  readonly edsName: string | undefined;
}

export interface ListenerInfo {
  readonly name: string;
  /** Every `rds.route_config_name` of its HttpConnectionManagers (filter chains and api_listener). */
  readonly routeNames: readonly string[];
}

export interface RouteInfo {
  readonly name: string;
  /** Clusters referenced by routes (`cluster` and `weighted_clusters`). */
  readonly clusters: readonly string[];
}

/**
 * Reads field 1 (a string: `name` of Cluster/Listener/RouteConfiguration, `cluster_name` of
 * ClusterLoadAssignment) without decoding the rest.
 *
 * @example
 * readResourceName(claBytes); // "outbound|8080||svc-1.ns-01.svc.cluster.local"
 */
export function readResourceName(bytes: Uint8Array): string | undefined {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) return reader.string();
    reader.skipType(tag & 7);
  }
  return undefined;
}

interface AnyLike {
  type_url?: string;
  value?: Uint8Array;
}

/** A decoder with a cache shared by every simulated proxy of a run. */
export class ResourceDecoder {
  private readonly cache = new Map<string, unknown>();
  private readonly types: {
    cluster: protobuf.Type;
    listener: protobuf.Type;
    route: protobuf.Type;
    hcm: protobuf.Type;
  };
  /** Resources decoded (cache misses) and served from the cache, for the report. */
  decoded = 0;
  reused = 0;

  constructor(private readonly maxEntries = 200_000) {
    const { root } = loadXdsProtos();
    this.types = {
      cluster: root.lookupType("envoy.config.cluster.v3.Cluster"),
      listener: root.lookupType("envoy.config.listener.v3.Listener"),
      route: root.lookupType("envoy.config.route.v3.RouteConfiguration"),
      hcm: root.lookupType(HCM_TYPE_URL.slice(HCM_TYPE_URL.indexOf("/") + 1)),
    };
  }

  private memo<T>(kind: string, bytes: Uint8Array, build: () => T): T {
    const key = kind + createHash("md5").update(bytes).digest("base64");
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.reused++;
      return hit as T;
    }
    const value = build();
    this.decoded++;
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(key, value);
    return value;
  }

  cluster(bytes: Uint8Array): ClusterInfo {
    return this.memo("c", bytes, () => {
      const m = this.types.cluster.decode(bytes) as unknown as {
        name: string;
        type?: number;
        eds_cluster_config?: { service_name?: string } | null;
      };
      const eds = m.type === CLUSTER_TYPE_EDS;
      return { name: m.name, edsName: eds ? m.eds_cluster_config?.service_name || m.name : undefined };
    });
  }

  listener(bytes: Uint8Array): ListenerInfo {
    return this.memo("l", bytes, () => {
      const m = this.types.listener.decode(bytes) as unknown as {
        name: string;
        filter_chains?: { filters?: { typed_config?: AnyLike | null }[] }[];
        default_filter_chain?: { filters?: { typed_config?: AnyLike | null }[] } | null;
        api_listener?: { api_listener?: AnyLike | null } | null;
      };
      const anys: (AnyLike | null | undefined)[] = [m.api_listener?.api_listener];
      for (const chain of [
        ...(m.filter_chains ?? []),
        ...(m.default_filter_chain ? [m.default_filter_chain] : []),
      ])
        for (const f of chain.filters ?? []) anys.push(f.typed_config);
      const routeNames = new Set<string>();
      for (const any of anys) {
        if (any?.type_url !== HCM_TYPE_URL || !any.value) continue;
        const hcm = this.types.hcm.decode(any.value) as unknown as {
          rds?: { route_config_name?: string } | null;
        };
        const name = hcm.rds?.route_config_name;
        if (name) routeNames.add(name);
      }
      return { name: m.name, routeNames: [...routeNames] };
    });
  }

  route(bytes: Uint8Array): RouteInfo {
    return this.memo("r", bytes, () => {
      const m = this.types.route.decode(bytes) as unknown as {
        name: string;
        virtual_hosts?: {
          routes?: {
            route?: {
              cluster?: string;
              weighted_clusters?: { clusters?: { name?: string }[] } | null;
            } | null;
          }[];
        }[];
      };
      const clusters = new Set<string>();
      for (const vh of m.virtual_hosts ?? [])
        for (const r of vh.routes ?? []) {
          if (r.route?.cluster) clusters.add(r.route.cluster);
          for (const w of r.route?.weighted_clusters?.clusters ?? []) if (w.name) clusters.add(w.name);
        }
      return { name: m.name, clusters: [...clusters] };
    });
  }
}
