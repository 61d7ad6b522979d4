/**
 * Fetches everything one xDS server sends one proxy identity, over ADS state-of-the-world, as a
 * real client would ask for it: an Envoy sidecar subscribes to every cluster and listener
 * (wildcard) and then to the endpoints and routes those name; a proxyless gRPC client starts
 * from its `xds:///` targets and follows listener → route → cluster → endpoints. Every response
 * is ACKed (version_info + response_nonce of that type), so the server sees a healthy client.
 */
import { MeshctlError } from "@meshctl/core";
import { toProtoStruct } from "../load/proxy-plan.js";
import { TYPE_URLS } from "../protocol/protos.js";
import { type AdsTestClient, connectAdsTestClient, type SotwResponse } from "../testing/ads-client.js";
import type { ConfigSnapshot, ParityProxy, ParityType } from "./types.js";

/** The Istio version the node metadata claims (istiod's own minor: no compatibility paths). */
export const PARITY_ISTIO_VERSION = "1.31.0";

export interface FetchSnapshotOptions {
  /** Bound on the whole fetch (ms). Default 20,000. */
  readonly timeoutMs?: number;
  /** Settled once every asked type answered and nothing new came for this long (ms). Default 1,000. */
  readonly quietMs?: number;
  /**
   * A type asked for but never answered stops blocking after this much silence (ms), and is
   * reported in `unanswered` (a server may say nothing about names it does not know). Default 3,000.
   */
  readonly unansweredGraceMs?: number;
}

export interface FetchedSnapshot {
  readonly snapshot: ConfigSnapshot;
  /** Types asked for (with the names) that got no response after the last request. */
  readonly unanswered: readonly string[];
  /** Responses received (ACKed). */
  readonly responses: number;
}

type Kind = keyof typeof TYPE_URLS;
const TYPE_OF_KIND: Record<Kind, ParityType> = {
  lds: "listeners",
  rds: "routes",
  cds: "clusters",
  eds: "endpoints",
};
const KIND_OF_URL = new Map<string, Kind>(Object.entries(TYPE_URLS).map(([k, url]) => [url, k as Kind]));
const AGGREGATE_CLUSTER_TYPE = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig";

type MetadataValue = string | Readonly<Record<string, string>>;

/** `sidecar~10.1.0.5~productpage-v1-0.default~default.svc.cluster.local` → IP and pod name. */
function nodeIdParts(nodeId: string): { ip: string; podName: string } {
  const [, ip = "", podDotNs = ""] = nodeId.split("~");
  const dot = podDotNs.lastIndexOf(".");
  return { ip, podName: dot > 0 ? podDotNs.slice(0, dot) : podDotNs };
}

/**
 * The node metadata Istio's agent sends for this workload (pkg/model NodeMetadata keys), with
 * `GENERATOR: grpc` for a proxyless gRPC client, as Istio's gRPC bootstrap writes it.
 *
 * @example
 * parityNodeMetadata(proxy).INSTANCE_IPS; // "10.100.0.4"
 */
export function parityNodeMetadata(proxy: ParityProxy): Record<string, MetadataValue> {
  const { ip, podName } = nodeIdParts(proxy.nodeId);
  const workload = proxy.workloadName ?? podName;
  return {
    NAME: podName,
    NAMESPACE: proxy.namespace,
    LABELS: { ...proxy.labels },
    INSTANCE_IPS: ip,
    ISTIO_VERSION: PARITY_ISTIO_VERSION,
    CLUSTER_ID: "Kubernetes",
    MESH_ID: "cluster.local",
    WORKLOAD_NAME: workload,
    SERVICE_ACCOUNT: proxy.serviceAccount ?? "default",
    OWNER: `kubernetes://apis/apps/v1/namespaces/${proxy.namespace}/deployments/${workload}`,
    ...(proxy.kind === "grpc"
      ? { GENERATOR: "grpc" }
      : // ENVOY_STATUS_PORT / ENVOY_PROMETHEUS_PORT are numbers to istiod; nothing compared reads them.
        { INTERCEPTION_MODE: "REDIRECT" }),
  };
}

/**
 * The xDS Node of the proxy. No `extensions`: a fetch must not claim filters stock Envoy lacks.
 */
export function parityNode(proxy: ParityProxy): Record<string, unknown> {
  const grpc = proxy.kind === "grpc";
  const { podName } = nodeIdParts(proxy.nodeId);
  return {
    id: proxy.nodeId,
    cluster: `${proxy.workloadName ?? podName}.${proxy.namespace}`,
    locality: proxy.locality
      ? { region: proxy.locality.region, zone: proxy.locality.zone, sub_zone: proxy.locality.subzone }
      : {},
    metadata: toProtoStruct(parityNodeMetadata(proxy)),
    user_agent_name: grpc ? "gRPC Node" : "envoy",
    user_agent_version: grpc ? "1.14.1" : "1.36.0",
    ...(grpc ? { client_features: ["envoy.lb.does_not_support_overprovisioning"] } : {}),
  };
}

/** Every `rds.route_config_name` anywhere in a listener (filter chains, api_listener). */
function routeNamesOf(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) routeNamesOf(v, out);
  else if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const rds = record.rds as { route_config_name?: unknown } | undefined;
    if (rds && typeof rds.route_config_name === "string") out.add(rds.route_config_name);
    for (const v of Object.values(record)) routeNamesOf(v, out);
  }
}

/** The clusters a route configuration sends to (gRPC follows them; it has no wildcard CDS). */
function clusterNamesOfRoutes(routeConfig: Record<string, unknown>, out: Set<string>): void {
  for (const vh of (routeConfig.virtual_hosts as Record<string, unknown>[] | undefined) ?? [])
    for (const route of (vh.routes as Record<string, unknown>[] | undefined) ?? []) {
      const action = route.route as Record<string, unknown> | undefined;
      if (!action) continue;
      if (typeof action.cluster === "string") out.add(action.cluster);
      const weighted = action.weighted_clusters as { clusters?: { name?: string }[] } | undefined;
      for (const c of weighted?.clusters ?? []) if (c.name) out.add(c.name);
    }
}

/** Reads protobuf `repeated string` field 1 (aggregate ClusterConfig.clusters) from raw bytes. */
function decodeRepeatedStringField1(bytes: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (let n = 0; n < 10 && i < bytes.length; n++) {
      const b = bytes[i++] as number;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
    return result;
  };
  while (i < bytes.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 2) {
      const len = varint();
      if (tag >>> 3 === 1) out.push(bytes.subarray(i, i + len).toString("utf8"));
      i += len;
    } else if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else break;
  }
  return out;
}

/** EDS names of EDS clusters, and the children of aggregate clusters. */
function followCluster(cluster: Record<string, unknown>, eds: Set<string>, children: Set<string>): void {
  if (cluster.type === "EDS") {
    const config = cluster.eds_cluster_config as { service_name?: string } | undefined;
    eds.add(config?.service_name || String(cluster.name ?? ""));
  }
  const custom = cluster.cluster_type as { typed_config?: Record<string, unknown> } | undefined;
  const typed = custom?.typed_config;
  if (!typed) return;
  if (Array.isArray(typed.clusters)) for (const c of typed.clusters) children.add(String(c));
  else if (typed.type_url === AGGREGATE_CLUSTER_TYPE && typeof typed.value === "string")
    for (const c of decodeRepeatedStringField1(Buffer.from(typed.value, "base64"))) children.add(c);
}

function sortedRecord(map: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of [...map.keys()].sort()) out[name] = map.get(name);
  return out;
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && !("code" in error) && /no ADS response within/.test(error.message);
}

/**
 * Fetches one proxy's config from the ADS server at `address` (SotW), until settled.
 * Throws `XDS_PARITY_FETCH_FAILED` (external) when the stream fails or the bound is reached.
 *
 * @example
 * const { snapshot } = await fetchParitySnapshot("127.0.0.1:15010", proxy);
 * Object.keys(snapshot.clusters); // ["outbound|9080||reviews.default.svc.cluster.local", ...]
 */
export async function fetchParitySnapshot(
  address: string,
  proxy: ParityProxy,
  options: FetchSnapshotOptions = {},
): Promise<FetchedSnapshot> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const quietMs = options.quietMs ?? 1000;
  const graceMs = options.unansweredGraceMs ?? 3000;
  const started = Date.now();
  const deadline = started + timeoutMs;
  const fail = (message: string, cause?: unknown) =>
    new MeshctlError("XDS_PARITY_FETCH_FAILED", `${proxy.id} from ${address}: ${message}`, {
      kind: "external",
      ...(cause === undefined ? {} : { cause }),
    });

  let client: AdsTestClient<SotwResponse>;
  try {
    client = await connectAdsTestClient({
      address,
      protocol: "sotw",
      nodeId: proxy.nodeId,
      node: parityNode(proxy),
    });
  } catch (cause) {
    throw fail(`could not open an ADS stream: ${String(cause)}`, cause);
  }

  const resources: Record<Kind, Map<string, unknown>> = {
    lds: new Map(),
    rds: new Map(),
    cds: new Map(),
    eds: new Map(),
  };
  /** Subscribed names per type; undefined: not asked; "*": wildcard. */
  const subscribed: Partial<Record<Kind, "*" | Set<string>>> = {};
  const lastNonce: Partial<Record<Kind, string>> = {};
  const lastVersion: Partial<Record<Kind, string>> = {};
  const awaiting = new Set<Kind>();
  let responses = 0;

  const namesOf = (kind: Kind): string[] => {
    const s = subscribed[kind];
    return s === undefined || s === "*" ? [] : [...s].sort();
  };
  const request = (kind: Kind) => {
    client.send({
      type_url: TYPE_URLS[kind],
      resource_names: namesOf(kind),
      version_info: lastVersion[kind] ?? "",
      response_nonce: lastNonce[kind] ?? "",
    });
  };
  /** Adds names to a type's subscription; true when it grew (a new request is due). */
  const subscribe = (kind: Kind, names: Iterable<string>): boolean => {
    const current = subscribed[kind];
    if (current === "*") return false;
    const next = new Set(current ?? []);
    for (const n of names) if (n) next.add(n);
    if (current && next.size === current.size) return false;
    if (!current && next.size === 0) return false;
    subscribed[kind] = next;
    return true;
  };

  const onResponse = (r: SotwResponse) => {
    const kind = KIND_OF_URL.get(r.type_url);
    if (!kind) return;
    responses++;
    awaiting.delete(kind);
    lastNonce[kind] = r.nonce;
    lastVersion[kind] = r.version_info;
    const map = resources[kind];
    // SotW: a listener or cluster response is the complete set; routes and endpoints come by name.
    if (kind === "lds" || kind === "cds") map.clear();
    for (const res of r.resources) map.set(res.name, res.value);

    const due = new Set<Kind>();
    if (kind === "lds") {
      const routes = new Set<string>();
      for (const l of map.values()) routeNamesOf(l, routes);
      if (subscribe("rds", routes)) due.add("rds");
    } else if (kind === "rds" && proxy.kind === "grpc") {
      const clusters = new Set<string>();
      for (const rc of map.values()) clusterNamesOfRoutes(rc as Record<string, unknown>, clusters);
      if (subscribe("cds", clusters)) due.add("cds");
    } else if (kind === "cds") {
      const eds = new Set<string>();
      const children = new Set<string>();
      for (const c of map.values()) followCluster(c as Record<string, unknown>, eds, children);
      if (proxy.kind === "grpc" && subscribe("cds", children)) due.add("cds");
      if (subscribe("eds", eds)) due.add("eds");
    }
    // The ACK of this type carries its (possibly grown) subscription; other types get a request.
    request(kind);
    if (due.has(kind)) awaiting.add(kind);
    for (const other of due) {
      if (other === kind) continue;
      request(other);
      awaiting.add(other);
    }
  };

  try {
    if (proxy.kind === "envoy") {
      subscribed.cds = "*";
      subscribed.lds = "*";
      request("cds");
      request("lds");
      awaiting.add("cds");
      awaiting.add("lds");
    } else {
      const targets = proxy.targets ?? [];
      if (targets.length === 0) throw fail("a proxyless gRPC proxy needs targets (host:port)");
      subscribe("lds", targets);
      request("lds");
      awaiting.add("lds");
    }
    let lastResponseAt = Date.now();
    for (;;) {
      const now = Date.now();
      if (now >= deadline)
        throw fail(
          `not settled within ${timeoutMs} ms (${responses} responses; waiting for ${[...awaiting].join(", ") || "quiet"})`,
        );
      const silentFor = now - lastResponseAt;
      if (awaiting.size === 0 && silentFor >= quietMs) break;
      if (awaiting.size > 0 && silentFor >= graceMs) break;
      const wait = Math.max(
        1,
        Math.min((awaiting.size === 0 ? quietMs : graceMs) - silentFor, deadline - now),
      );
      let response: SotwResponse;
      try {
        response = await client.next(wait);
      } catch (error) {
        if (isTimeout(error)) continue;
        throw fail(`the ADS stream failed: ${error instanceof Error ? error.message : String(error)}`, error);
      }
      lastResponseAt = Date.now();
      onResponse(response);
    }
  } finally {
    client.close();
  }

  // Routes and endpoints no longer subscribed are not part of what the proxy holds.
  for (const kind of ["rds", "eds"] as const) {
    const names = subscribed[kind];
    if (names instanceof Set)
      for (const name of [...resources[kind].keys()]) if (!names.has(name)) resources[kind].delete(name);
  }
  const snapshot = Object.fromEntries(
    (Object.keys(TYPE_OF_KIND) as Kind[]).map((kind) => [TYPE_OF_KIND[kind], sortedRecord(resources[kind])]),
  ) as unknown as ConfigSnapshot;
  return {
    snapshot,
    unanswered: [...awaiting].map((k) => `${TYPE_OF_KIND[k]} (${namesOf(k).join(", ") || "*"})`),
    responses,
  };
}
