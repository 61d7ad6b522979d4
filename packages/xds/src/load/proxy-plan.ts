/** Who the simulated proxies are: shape, namespace, IP, node id and node metadata. */
import { seededRandom } from "./churn.js";
import type { ProxyShape } from "./proxy-subscriptions.js";
import { meshVisible, SERVICE_PORT, type SyntheticMeshDescription } from "./synthetic-mesh.js";

export interface ProxyIdentity {
  readonly index: number;
  readonly shape: ProxyShape;
  readonly namespace: string;
  /** Pod name. */
  readonly name: string;
  readonly app: string;
  readonly version: string;
  /** One endpoint address of a service in its namespace, so inbound listeners exist. */
  readonly ip: string;
  readonly nodeId: string;
  /** Listener names a proxyless gRPC client dials (empty for Envoy). */
  readonly targets: readonly string[];
}

export interface ProxyPlanOptions {
  readonly proxies: number;
  /** Default 0.25. */
  readonly grpcFraction?: number;
  /** Fraction of the Envoy proxies speaking Delta, default 0.5. */
  readonly deltaFraction?: number;
  /** Targets per proxyless gRPC client, default 3. */
  readonly grpcTargets?: number;
  readonly seed?: number;
}

type MetadataValue = string | Readonly<Record<string, string>>;

/**
 * The node metadata of a simulated proxy: everything a control plane may read, in one place
 * (meshctl reads NAMESPACE, NAME, INSTANCE_IPS, LABELS, GENERATOR; go-control-plane's peer
 * maps MESHCTL_SCOPE to a snapshot; istiod reads the Istio keys).
 *
 * @example
 * proxyNodeMetadata(identity).MESHCTL_SCOPE; // "sidecar/ns-03"
 */
export function proxyNodeMetadata(p: ProxyIdentity): Record<string, MetadataValue> {
  const grpc = p.shape === "grpc";
  return {
    NAMESPACE: p.namespace,
    NAME: p.name,
    INSTANCE_IPS: p.ip,
    ISTIO_VERSION: "1.30.0",
    CLUSTER_ID: "Kubernetes",
    MESHCTL_SCOPE: `${grpc ? "grpc" : "sidecar"}/${p.namespace}`,
    LABELS: { app: p.app, version: p.version },
    ...(grpc ? { GENERATOR: "grpc" } : {}),
  };
}

/** The scope (go-control-plane snapshot key) of a proxy. */
export function proxyScope(p: ProxyIdentity): string {
  return proxyNodeMetadata(p).MESHCTL_SCOPE as string;
}

/** A google.protobuf.Struct in proto-loader's object form. */
export function toProtoStruct(value: Readonly<Record<string, MetadataValue>>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  // protobufjs's bundled Struct/Value types use camelCase names; snake_case is silently dropped.
  for (const [k, v] of Object.entries(value))
    fields[k] = typeof v === "string" ? { stringValue: v } : { structValue: toProtoStruct(v) };
  return { fields };
}

/** The xDS Node a simulated proxy sends on the first request of each stream. */
export function proxyNode(p: ProxyIdentity): Record<string, unknown> {
  const grpc = p.shape === "grpc";
  return {
    id: p.nodeId,
    cluster: `${p.app}.${p.namespace}`,
    locality: {},
    metadata: toProtoStruct(proxyNodeMetadata(p)),
    user_agent_name: grpc ? "gRPC Node" : "envoy",
    user_agent_version: grpc ? "1.14.1" : "1.36.0",
    ...(grpc ? { client_features: ["envoy.lb.does_not_support_overprovisioning"] } : {}),
  };
}

/** Spread `fraction` of n items evenly: true for exactly floor(n * fraction) of 0..n-1. */
function spread(i: number, fraction: number): boolean {
  return Math.floor((i + 1) * fraction) > Math.floor(i * fraction);
}

/**
 * Plans N proxies across the namespaces (round robin), each shape spread evenly.
 *
 * @example
 * const proxies = planProxies(mesh.description, { proxies: 200 });
 * proxies.filter((p) => p.shape === "grpc").length; // 50
 */
export function planProxies(description: SyntheticMeshDescription, opts: ProxyPlanOptions): ProxyIdentity[] {
  const grpcFraction = opts.grpcFraction ?? 0.25;
  const deltaFraction = opts.deltaFraction ?? 0.5;
  const targetsPerClient = opts.grpcTargets ?? 3;
  const random = seededRandom((opts.seed ?? 1) * 7919);
  const byNs = new Map<string, typeof description.services>();
  for (const ns of description.namespaces) byNs.set(ns, []);
  for (const s of description.services) (byNs.get(s.namespace) as (typeof s)[]).push(s);
  const perNsCount = new Map<string, number>();
  const out: ProxyIdentity[] = [];
  let envoys = 0;
  for (let j = 0; j < opts.proxies; j++) {
    const shape: ProxyShape = spread(j, grpcFraction)
      ? "grpc"
      : spread(envoys++, deltaFraction)
        ? "envoy-delta"
        : "envoy-sotw";
    const ns = description.namespaces[j % description.namespaces.length] as string;
    const local = perNsCount.get(ns) ?? 0;
    perNsCount.set(ns, local + 1);
    const nsServices = byNs.get(ns) ?? [];
    let ip: string;
    let app: string;
    let version = "v1";
    if (nsServices.length > 0) {
      const svc = nsServices[local % nsServices.length] as (typeof nsServices)[number];
      const ep = svc.endpoints[Math.floor(local / nsServices.length) % svc.endpoints.length];
      ip = ep?.address ?? "127.0.0.1";
      version = ep?.version ?? "v1";
      app = svc.name;
    } else {
      ip = `10.127.${(j >> 8) & 255}.${j & 255}`;
      app = "client";
    }
    const name = `${app}-p${j}`;
    // istiod accepts only sidecar~ ids; proxyless gRPC is told apart by GENERATOR=grpc (metadata).
    const type = "sidecar";
    let targets: string[] = [];
    if (shape === "grpc") {
      const visible = description.services.filter((s) => meshVisible(description, ns, s.namespace));
      const picked = new Set<number>();
      while (picked.size < Math.min(targetsPerClient, visible.length))
        picked.add(Math.floor(random() * visible.length));
      targets = [...picked].sort((a, b) => a - b).map((i) => `${visible[i]?.host}:${SERVICE_PORT}`);
    }
    out.push({
      index: j,
      shape,
      namespace: ns,
      name,
      app,
      version,
      ip,
      nodeId: `${type}~${ip}~${name}.${ns}~${ns}.svc.cluster.local`,
      targets,
    });
  }
  return out;
}
