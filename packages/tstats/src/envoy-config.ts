/**
 * The Envoy side of tstats: Istio's native (not Wasm) telemetry filters for sidecar listeners,
 * as pure data. `istio.metadata_exchange` (peer_metadata) + `istio.stats` go before the router in
 * HTTP chains; the TCP metadata exchange and `istio.stats` go before `tcp_proxy`, with the upstream
 * exchange as a cluster filter. Output is protobuf JSON (snake_case, `@type`), which Envoy and
 * Istio's EnvoyFilter accept; `encodeFilterTypedConfig` turns it into binary `Any` for xDS.
 */
import { MeshctlError } from "@meshctl/core";
import protobuf from "protobufjs";
import { stringify } from "yaml";
import { ISTIO_PROTO_SOURCES } from "./generated/istio-protos.js";
import { ISTIO_PEER_EXCHANGE_ALPN } from "./peer-metadata.js";

export const STATS_FILTER_NAME = "istio.stats";
export const MX_FILTER_NAME = "istio.metadata_exchange";
export const STATS_TYPE_URL = "type.googleapis.com/stats.PluginConfig";
export const PEER_METADATA_TYPE_URL = "type.googleapis.com/io.istio.http.peer_metadata.Config";
export const TCP_MX_TYPE_URL = "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange";
export const TYPED_STRUCT_TYPE_URL = "type.googleapis.com/udpa.type.v1.TypedStruct";
export const XDS_TYPED_STRUCT_TYPE_URL = "type.googleapis.com/xds.type.v3.TypedStruct";

export type TrafficDirection = "inbound" | "outbound";

export interface TstatsFilterOptions {
  /**
   * `typed` (default): `typed_config` carries the Istio message itself (`@type: stats.PluginConfig`),
   * as istiod sends it; `typed-struct`: wrapped in `udpa.type.v1.TypedStruct`, as Istio's
   * EnvoyFilter manifests wrote it (works on any Envoy that has the extension, no descriptor needed).
   */
  readonly encoding?: "typed" | "typed-struct";
  /** TCP periodic reporting interval in seconds (Istio default 5). */
  readonly tcpReportingSeconds?: number;
  /** Do not use the Host header when the destination service is unknown (ingress-like listeners). */
  readonly disableHostHeaderFallback?: boolean;
  /** Peer labels to propagate beyond Istio's standard set. */
  readonly additionalLabels?: readonly string[];
  /** Look peers up in workload discovery when headers are absent (needs Istio's WDS bootstrap extension). */
  readonly workloadDiscovery?: boolean;
}

/** An Envoy filter in protobuf JSON: `HttpFilter`, listener `Filter` or cluster `Filter`. */
export interface EnvoyFilterJson {
  readonly name: string;
  readonly typed_config: Readonly<Record<string, unknown>>;
}

function typedConfig(
  typeUrl: string,
  value: Record<string, unknown>,
  encoding: "typed" | "typed-struct",
): Record<string, unknown> {
  if (encoding === "typed-struct") return { "@type": TYPED_STRUCT_TYPE_URL, type_url: typeUrl, value };
  return { "@type": typeUrl, ...value };
}

function statsConfig(options: TstatsFilterOptions): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  if (options.disableHostHeaderFallback) value.disable_host_header_fallback = true;
  value.tcp_reporting_duration = `${options.tcpReportingSeconds ?? 5}s`;
  return value;
}

/**
 * HTTP filters to insert before `envoy.filters.http.router`, in order.
 *
 * @example
 * const filters = buildTstatsHttpFilters({ direction: "inbound" });
 * hcm.http_filters = [...others, ...filters, router];
 */
export function buildTstatsHttpFilters(
  options: TstatsFilterOptions & { readonly direction: TrafficDirection },
): EnvoyFilterJson[] {
  const encoding = options.encoding ?? "typed";
  const discovery: Record<string, unknown>[] = [{ istio_headers: {} }];
  if (options.workloadDiscovery) discovery.push({ workload_discovery: {} });
  const side = options.direction === "inbound" ? "downstream" : "upstream";
  const mx: Record<string, unknown> = {
    [`${side}_discovery`]: discovery,
    [`${side}_propagation`]: [{ istio_headers: {} }],
  };
  if (options.additionalLabels?.length) mx.additional_labels = [...options.additionalLabels];
  return [
    { name: MX_FILTER_NAME, typed_config: typedConfig(PEER_METADATA_TYPE_URL, mx, encoding) },
    { name: STATS_FILTER_NAME, typed_config: typedConfig(STATS_TYPE_URL, statsConfig(options), encoding) },
  ];
}

function tcpMxConfig(options: TstatsFilterOptions): Record<string, unknown> {
  const value: Record<string, unknown> = { protocol: ISTIO_PEER_EXCHANGE_ALPN };
  if (options.workloadDiscovery) value.enable_discovery = true;
  if (options.additionalLabels?.length) value.additional_labels = [...options.additionalLabels];
  return value;
}

/**
 * Listener network filters to insert before `envoy.filters.network.tcp_proxy`: the server-side
 * metadata exchange (inbound only) and the stats filter. The exchange needs mTLS with ALPN
 * `istio-peer-exchange`; without it peers are reported as `unknown`.
 *
 * @example
 * chain.filters = [...buildTstatsNetworkFilters({ direction: "inbound" }), tcpProxy];
 */
export function buildTstatsNetworkFilters(
  options: TstatsFilterOptions & { readonly direction: TrafficDirection },
): EnvoyFilterJson[] {
  const encoding = options.encoding ?? "typed";
  const filters: EnvoyFilterJson[] = [];
  if (options.direction === "inbound") {
    filters.push({
      name: MX_FILTER_NAME,
      typed_config: typedConfig(TCP_MX_TYPE_URL, tcpMxConfig(options), encoding),
    });
  }
  filters.push({
    name: STATS_FILTER_NAME,
    typed_config: typedConfig(STATS_TYPE_URL, statsConfig(options), encoding),
  });
  return filters;
}

/**
 * Cluster `filters` (upstream network filters) for outbound clusters: the client side of the TCP
 * metadata exchange.
 *
 * @example
 * cluster.filters = buildTstatsClusterFilters({});
 */
export function buildTstatsClusterFilters(options: TstatsFilterOptions = {}): EnvoyFilterJson[] {
  return [
    {
      name: MX_FILTER_NAME,
      typed_config: typedConfig(TCP_MX_TYPE_URL, tcpMxConfig(options), options.encoding ?? "typed"),
    },
  ];
}

let istioRoot: protobuf.Root | undefined;

/** The Istio extension messages (from proto/, embedded), plus google.protobuf.Duration. */
export function istioProtoRoot(): protobuf.Root {
  if (istioRoot) return istioRoot;
  const root = new protobuf.Root();
  for (const source of Object.values(ISTIO_PROTO_SOURCES)) protobuf.parse(source, root, { keepCase: true });
  const common = protobuf.common.get("google/protobuf/duration.proto");
  if (!common?.nested)
    throw new MeshctlError("TSTATS_PROTO_MISSING", "protobufjs lacks google/protobuf/duration.proto.", {
      kind: "bug",
    });
  root.addJSON(common.nested);
  root.resolveAll();
  istioRoot = root;
  return root;
}

function durationToObject(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const m = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
  if (!m) throw new MeshctlError("TSTATS_CONFIG_INVALID", `Invalid duration "${value}".`, { kind: "usage" });
  // Zero fields are left out so the bytes match protoc's (proto3 omits defaults).
  const nanos = m[2] ? Number(m[2].padEnd(9, "0")) : 0;
  return nanos ? { seconds: Number(m[1]), nanos } : { seconds: Number(m[1]) };
}

/**
 * Encodes a filter's `typed_config` (either form) as a binary `google.protobuf.Any` of the Istio
 * message, ready to embed in an xDS resource encoded with the Envoy protos.
 *
 * @example
 * const any = encodeFilterTypedConfig(buildTstatsHttpFilters({ direction: "inbound" })[1]!.typed_config);
 * // { type_url: "type.googleapis.com/stats.PluginConfig", value: <Buffer 3a 02 08 05> }
 */
export function encodeFilterTypedConfig(typedConfigJson: Readonly<Record<string, unknown>>): {
  type_url: string;
  value: Buffer;
} {
  let typeUrl: string;
  let body: Record<string, unknown>;
  if (
    typedConfigJson["@type"] === TYPED_STRUCT_TYPE_URL ||
    typedConfigJson["@type"] === XDS_TYPED_STRUCT_TYPE_URL
  ) {
    typeUrl = String(typedConfigJson.type_url);
    body = { ...((typedConfigJson.value as Record<string, unknown>) ?? {}) };
  } else {
    const { "@type": t, ...rest } = typedConfigJson;
    typeUrl = String(t);
    body = rest;
  }
  const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  const type = istioProtoRoot().lookupType(typeName);
  if (typeName === "stats.PluginConfig" && body.tcp_reporting_duration !== undefined) {
    body.tcp_reporting_duration = durationToObject(body.tcp_reporting_duration);
  }
  const problem = type.verify(body);
  if (problem) throw new MeshctlError("TSTATS_CONFIG_INVALID", `${typeName}: ${problem}`, { kind: "bug" });
  return { type_url: typeUrl, value: Buffer.from(type.encode(type.fromObject(body)).finish()) };
}

export interface TstatsFilterSet {
  readonly http: { readonly inbound: EnvoyFilterJson[]; readonly outbound: EnvoyFilterJson[] };
  readonly network: { readonly inbound: EnvoyFilterJson[]; readonly outbound: EnvoyFilterJson[] };
  readonly cluster: { readonly outbound: EnvoyFilterJson[] };
}

/**
 * Every filter tstats needs, per place, for `meshctl tstats render --format xds` and the control plane.
 *
 * @example
 * const set = buildTstatsFilterSet({});
 */
export function buildTstatsFilterSet(options: TstatsFilterOptions = {}): TstatsFilterSet {
  return {
    http: {
      inbound: buildTstatsHttpFilters({ ...options, direction: "inbound" }),
      outbound: buildTstatsHttpFilters({ ...options, direction: "outbound" }),
    },
    network: {
      inbound: buildTstatsNetworkFilters({ ...options, direction: "inbound" }),
      outbound: buildTstatsNetworkFilters({ ...options, direction: "outbound" }),
    },
    cluster: { outbound: buildTstatsClusterFilters(options) },
  };
}

/** A filter whose `typed_config` is a binary `google.protobuf.Any`, ready for any xDS encoder. */
export interface EncodedEnvoyFilter {
  readonly name: string;
  readonly typed_config: { readonly type_url: string; readonly value: Uint8Array };
}

export interface EncodedTstatsFilterSet {
  readonly http: { readonly inbound: EncodedEnvoyFilter[]; readonly outbound: EncodedEnvoyFilter[] };
  readonly network: { readonly inbound: EncodedEnvoyFilter[]; readonly outbound: EncodedEnvoyFilter[] };
  readonly cluster: { readonly outbound: EncodedEnvoyFilter[] };
}

/**
 * The filter set with every `typed_config` encoded as a binary `Any` of the Istio message. This is
 * what a control plane without the Istio protos embeds: it only needs to carry `{type_url, value}`.
 *
 * @example
 * const ext = encodeTstatsFilterSet(buildTstatsFilterSet(settings.filters));
 * hcm.http_filters = [...ext.http.inbound, router];
 */
export function encodeTstatsFilterSet(set: TstatsFilterSet): EncodedTstatsFilterSet {
  const enc = (filters: readonly EnvoyFilterJson[]): EncodedEnvoyFilter[] =>
    filters.map((f) => ({ name: f.name, typed_config: encodeFilterTypedConfig(f.typed_config) }));
  return {
    http: { inbound: enc(set.http.inbound), outbound: enc(set.http.outbound) },
    network: { inbound: enc(set.network.inbound), outbound: enc(set.network.outbound) },
    cluster: { outbound: enc(set.cluster.outbound) },
  };
}

export interface EnvoyFilterManifestOptions extends Omit<TstatsFilterOptions, "encoding"> {
  readonly name?: string;
  /** Istio's root namespace for a mesh-wide filter (default `istio-system`). */
  readonly namespace?: string;
  /** Restrict to proxies whose version matches this regex, e.g. `^1\\.2[0-9].*`. */
  readonly proxyVersion?: string;
  /** Include the TCP filters (default true). */
  readonly tcp?: boolean;
}

type Patch = Record<string, unknown>;

function httpPatch(context: string, value: EnvoyFilterJson, proxy: Patch | undefined): Patch {
  return {
    applyTo: "HTTP_FILTER",
    match: {
      context,
      ...(proxy ? { proxy } : {}),
      listener: {
        filterChain: {
          filter: {
            name: "envoy.filters.network.http_connection_manager",
            subFilter: { name: "envoy.filters.http.router" },
          },
        },
      },
    },
    patch: { operation: "INSERT_BEFORE", value },
  };
}

function networkPatch(context: string, value: EnvoyFilterJson, proxy: Patch | undefined): Patch {
  return {
    applyTo: "NETWORK_FILTER",
    match: {
      context,
      ...(proxy ? { proxy } : {}),
      listener: { filterChain: { filter: { name: "envoy.filters.network.tcp_proxy" } } },
    },
    patch: { operation: "INSERT_BEFORE", value },
  };
}

/**
 * The same filters as an Istio `EnvoyFilter` (networking.istio.io/v1alpha3) object, for users of an
 * existing Istio install whose built-in telemetry is turned off (otherwise every request counts twice).
 *
 * @example
 * const manifest = buildEnvoyFilterManifest({ namespace: "istio-system" });
 */
export function buildEnvoyFilterManifest(options: EnvoyFilterManifestOptions = {}): Record<string, unknown> {
  const filterOptions: TstatsFilterOptions = { ...options, encoding: "typed-struct" };
  const proxy = options.proxyVersion ? { proxyVersion: options.proxyVersion } : undefined;
  const patches: Patch[] = [];
  for (const [context, direction] of [
    ["SIDECAR_OUTBOUND", "outbound"],
    ["SIDECAR_INBOUND", "inbound"],
  ] as const) {
    for (const f of buildTstatsHttpFilters({ ...filterOptions, direction }))
      patches.push(httpPatch(context, f, proxy));
  }
  if (options.tcp ?? true) {
    for (const [context, direction] of [
      ["SIDECAR_OUTBOUND", "outbound"],
      ["SIDECAR_INBOUND", "inbound"],
    ] as const) {
      for (const f of buildTstatsNetworkFilters({ ...filterOptions, direction }))
        patches.push(networkPatch(context, f, proxy));
    }
    patches.push({
      applyTo: "CLUSTER",
      match: { context: "SIDECAR_OUTBOUND", ...(proxy ? { proxy } : {}) },
      patch: { operation: "MERGE", value: { filters: buildTstatsClusterFilters(filterOptions) } },
    });
  }
  return {
    apiVersion: "networking.istio.io/v1alpha3",
    kind: "EnvoyFilter",
    metadata: {
      name: options.name ?? "meshctl-tstats",
      namespace: options.namespace ?? "istio-system",
      labels: { "app.kubernetes.io/managed-by": "meshctl" },
    },
    spec: { priority: -1, configPatches: patches },
  };
}

/**
 * The EnvoyFilter manifest as YAML, ready for `kubectl apply -f -`.
 *
 * @example
 * process.stdout.write(renderEnvoyFilterManifest({}));
 */
export function renderEnvoyFilterManifest(options: EnvoyFilterManifestOptions = {}): string {
  return stringify(buildEnvoyFilterManifest(options), { lineWidth: 0 });
}
