/** Who is asking: a proxy's identity, parsed from the xDS `Node` it sends. */
import type { Labels, Locality } from "../model/types.js";
import {
  type CapabilityNodeLike,
  type CapabilityRegistry,
  capabilitiesFromNode,
  type ProxyCapabilities,
} from "./capabilities.js";

export type ProxyType = "grpc" | "sidecar";

export interface ProxyInfo {
  readonly id: string;
  readonly type: ProxyType;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string | undefined;
  readonly labels: Labels;
  /** What it reported it can do (extensions, user agent): decides which optional filters it gets. */
  readonly capabilities: ProxyCapabilities;
  /** Its Node's identity fields, for filters built per proxy (see filter-extensions.ts). */
  readonly node: ProxyNodeInfo;
  /**
   * The locality its Node reports (Envoy's `--service-zone` etc., a gRPC bootstrap's
   * `node.locality`); absent when it reports none. Topology labels override it (locality-lb.ts).
   */
  readonly locality?: Locality;
}

/**
 * A proxy's Node as per-proxy filter builders see it: `metadata` as plain JSON (what an xDS
 * bootstrap's `node.metadata` holds), not as a decoded `google.protobuf.Struct`.
 */
export interface ProxyNodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly locality?: { readonly region?: string; readonly zone?: string };
}

/** The subset of envoy.config.core.v3.Node this server reads (as decoded by proto-loader). */
export interface NodeLike extends CapabilityNodeLike {
  readonly id?: string;
  readonly cluster?: string;
  readonly metadata?: { readonly fields?: Readonly<Record<string, unknown>> } | null;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string } | null;
}

type ValueLike = Readonly<Record<string, unknown>> & { readonly kind?: string };

/**
 * A decoded `google.protobuf.Value` as plain JSON. proto-loader names the set member in `kind`
 * (with `oneofs: true`); protobufjs's bundled Struct uses camelCase even with keepCase.
 */
function valueToJson(value: unknown, depth: number): unknown {
  if (!value || typeof value !== "object" || depth > 32) return null;
  const v = value as ValueLike;
  const pick = (snake: string, camel: string) =>
    v.kind === snake || v.kind === camel || v.kind === undefined ? (v[camel] ?? v[snake]) : undefined;
  const s = pick("string_value", "stringValue");
  if (typeof s === "string") return s;
  const n = pick("number_value", "numberValue");
  if (typeof n === "number") return n;
  const b = pick("bool_value", "boolValue");
  if (typeof b === "boolean") return b;
  const st = pick("struct_value", "structValue") as { fields?: Record<string, unknown> } | undefined;
  if (st && typeof st === "object") return structToJson(st.fields, depth + 1);
  const l = pick("list_value", "listValue") as { values?: unknown[] } | undefined;
  if (l && typeof l === "object") return (l.values ?? []).map((x) => valueToJson(x, depth + 1));
  return null;
}

function structToJson(
  fields: Readonly<Record<string, unknown>> | undefined,
  depth = 0,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields ?? {})) out[k] = valueToJson(v, depth);
  return out;
}

function nodeInfoOf(node: NodeLike | undefined | null, id: string): ProxyNodeInfo {
  const locality = node?.locality;
  return {
    id,
    cluster: node?.cluster ?? "",
    metadata: structToJson(node?.metadata?.fields),
    ...(locality && (locality.region || locality.zone)
      ? {
          locality: {
            ...(locality.region ? { region: locality.region } : {}),
            ...(locality.zone ? { zone: locality.zone } : {}),
          },
        }
      : {}),
  };
}

// protobufjs's bundled google.protobuf.Struct uses camelCase field names (stringValue,
// structValue) even with keepCase: a decoded Node carries those; snake_case is accepted too.
function structString(
  fields: Readonly<Record<string, unknown>> | undefined,
  key: string,
): string | undefined {
  const v = fields?.[key] as { string_value?: string; stringValue?: string } | undefined;
  const s = v?.stringValue ?? v?.string_value;
  return typeof s === "string" && s !== "" ? s : undefined;
}

function structLabels(
  fields: Readonly<Record<string, unknown>> | undefined,
  key: string,
): Record<string, string> {
  const v = fields?.[key] as
    | {
        struct_value?: { fields?: Record<string, unknown> };
        structValue?: { fields?: Record<string, unknown> };
      }
    | undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries((v?.structValue ?? v?.struct_value)?.fields ?? {})) {
    const s =
      (val as { string_value?: string; stringValue?: string }).stringValue ??
      (val as { string_value?: string }).string_value;
    if (typeof s === "string") out[k] = s;
  }
  return out;
}

/**
 * Parses Istio-style node ids (`<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`)
 * and metadata (`NAMESPACE`, `NAME`, `INSTANCE_IPS`, `LABELS`, `GENERATOR`), and the capabilities
 * the node reports (shared through `registry` when given: the ADS server passes one).
 *
 * @example
 * proxyFromNode({ id: "grpc~10.0.0.5~app-1.shop~shop.svc.cluster.local" }).namespace; // "shop"
 */
export function proxyFromNode(node: NodeLike | undefined | null, registry?: CapabilityRegistry): ProxyInfo {
  const id = node?.id ?? "";
  const fields = node?.metadata?.fields;
  const parts = id.split("~");
  const idType = parts.length === 4 ? parts[0] : undefined;
  const idIp = parts.length === 4 ? parts[1] : undefined;
  const podDotNs = parts.length === 4 ? (parts[2] ?? "") : "";
  const dot = podDotNs.lastIndexOf(".");
  const generator = structString(fields, "GENERATOR");
  const grpcAgent = (node?.user_agent_name ?? "").startsWith("grpc");
  const type: ProxyType =
    idType === "grpc" || generator === "grpc" || (idType === undefined && grpcAgent) ? "grpc" : "sidecar";
  const namespace =
    structString(fields, "NAMESPACE") ?? (dot > 0 ? podDotNs.slice(dot + 1) : undefined) ?? "default";
  const name = structString(fields, "NAME") ?? (dot > 0 ? podDotNs.slice(0, dot) : podDotNs || id);
  const ip = structString(fields, "INSTANCE_IPS")?.split(",")[0] ?? (idIp || undefined);
  const capabilities = registry ? registry.capabilitiesOf(node) : capabilitiesFromNode(node);
  const l = node?.locality;
  const locality =
    l && (l.region || l.zone || l.sub_zone)
      ? { region: l.region ?? "", zone: l.zone ?? "", subzone: l.sub_zone ?? "" }
      : undefined;
  return {
    id,
    type,
    namespace,
    name,
    ip,
    labels: structLabels(fields, "LABELS"),
    capabilities,
    node: nodeInfoOf(node, id),
    ...(locality ? { locality } : {}),
  };
}
