import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import {
  buildEnvoyFilterManifest,
  buildTstatsClusterFilters,
  buildTstatsFilterSet,
  buildTstatsHttpFilters,
  buildTstatsNetworkFilters,
  type EnvoyFilterJson,
  encodeFilterTypedConfig,
  encodeTstatsFilterSet,
  istioProtoRoot,
  renderEnvoyFilterManifest,
} from "./envoy-config.js";

// The real Envoy/xDS protos, as shipped by @grpc/grpc-js-xds (dev dependency).
const depsDir = join(
  dirname(createRequire(import.meta.url).resolve("@grpc/grpc-js-xds/package.json")),
  "deps",
);
const includeDirs = [
  ...["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(depsDir, d)),
  // google/protobuf/descriptor.proto (imported by the annotations) ships with protobufjs.
  dirname(createRequire(import.meta.url).resolve("protobufjs/package.json")),
];
const envoy = new protobuf.Root();
envoy.resolvePath = (_origin, target) => {
  for (const dir of includeDirs) {
    const candidate = join(dir, target);
    if (existsSync(candidate)) return candidate;
  }
  return target;
};
envoy.loadSync(
  [
    "envoy/config/listener/v3/listener.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
    "udpa/type/v1/typed_struct.proto",
    "xds/type/v3/typed_struct.proto",
  ],
  { keepCase: true },
);
envoy.resolveAll();
const T = (name: string) => envoy.lookupType(name);

/** A filter's typed_config as an Any of the real protos: TypedStruct via udpa, Istio types via our protos. */
function toAny(filter: EnvoyFilterJson): { type_url: string; value: Uint8Array } {
  const tc = filter.typed_config;
  if (tc["@type"] === "type.googleapis.com/udpa.type.v1.TypedStruct") {
    const TypedStruct = T("udpa.type.v1.TypedStruct");
    const Struct = T("google.protobuf.Struct");
    const msg = TypedStruct.fromObject({
      type_url: tc.type_url,
      value: Struct.fromObject(structOf(tc.value as Record<string, unknown>) as Record<string, unknown>),
    });
    return { type_url: tc["@type"] as string, value: TypedStruct.encode(msg).finish() };
  }
  return encodeFilterTypedConfig(tc);
}

function structOf(o: Record<string, unknown>): unknown {
  const val = (v: unknown): unknown =>
    typeof v === "string"
      ? { string_value: v }
      : typeof v === "boolean"
        ? { bool_value: v }
        : typeof v === "number"
          ? { number_value: v }
          : Array.isArray(v)
            ? { list_value: { values: v.map(val) } }
            : { struct_value: structOf(v as Record<string, unknown>) };
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, val(v)])) };
}

describe("HTTP filters encode with the real protos", () => {
  for (const encoding of ["typed", "typed-struct"] as const) {
    test(`inbound + outbound, ${encoding}: HttpConnectionManager round-trips with the filters before the router`, () => {
      const HCM = T("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
      for (const direction of ["inbound", "outbound"] as const) {
        const filters = buildTstatsHttpFilters({ direction, encoding });
        const router = {
          name: "envoy.filters.http.router",
          typed_config: {
            type_url: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            value: new Uint8Array(),
          },
        };
        const hcm = HCM.fromObject({
          stat_prefix: `${direction}_http`,
          http_filters: [...filters.map((f) => ({ name: f.name, typed_config: toAny(f) })), router],
        });
        expect(HCM.verify(hcm)).toBeNull();
        const decoded = HCM.toObject(HCM.decode(HCM.encode(hcm).finish()), { defaults: false }) as {
          http_filters: Array<{ name: string; typed_config: { type_url: string; value: Uint8Array } }>;
        };
        expect(decoded.http_filters.map((f) => f.name)).toEqual([
          "istio.metadata_exchange",
          "istio.stats",
          "envoy.filters.http.router",
        ]);
        const [mx, stats] = decoded.http_filters;
        if (encoding === "typed") {
          expect(mx!.typed_config.type_url).toBe("type.googleapis.com/io.istio.http.peer_metadata.Config");
          const Config = istioProtoRoot().lookupType("io.istio.http.peer_metadata.Config");
          const side = direction === "inbound" ? "downstream" : "upstream";
          expect(Config.toObject(Config.decode(mx!.typed_config.value))).toEqual({
            [`${side}_discovery`]: [{ istio_headers: {} }],
            [`${side}_propagation`]: [{ istio_headers: {} }],
          });
          expect(stats!.typed_config.type_url).toBe("type.googleapis.com/stats.PluginConfig");
          const Plugin = istioProtoRoot().lookupType("stats.PluginConfig");
          expect(Plugin.toObject(Plugin.decode(stats!.typed_config.value), { longs: Number })).toEqual({
            tcp_reporting_duration: { seconds: 5 },
          });
        } else {
          const TypedStruct = T("udpa.type.v1.TypedStruct");
          const ts = TypedStruct.toObject(TypedStruct.decode(stats!.typed_config.value)) as {
            type_url: string;
          };
          expect(ts.type_url).toBe("type.googleapis.com/stats.PluginConfig");
        }
      }
    });
  }

  test("a TypedStruct config and the typed config encode to the same Istio message", () => {
    const typed = buildTstatsHttpFilters({
      direction: "outbound",
      encoding: "typed",
      workloadDiscovery: true,
      additionalLabels: ["role"],
    });
    const wrapped = buildTstatsHttpFilters({
      direction: "outbound",
      encoding: "typed-struct",
      workloadDiscovery: true,
      additionalLabels: ["role"],
    });
    for (let i = 0; i < typed.length; i++) {
      expect(encodeFilterTypedConfig(wrapped[i]!.typed_config)).toEqual(
        encodeFilterTypedConfig(typed[i]!.typed_config),
      );
    }
  });
});

describe("TCP filters", () => {
  test("listener chain: exchange + stats before tcp_proxy; cluster: upstream exchange", () => {
    const Listener = T("envoy.config.listener.v3.Listener");
    const TcpProxy = T("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy");
    const tcpProxy = {
      name: "envoy.filters.network.tcp_proxy",
      typed_config: {
        type_url: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        value: TcpProxy.encode(
          TcpProxy.fromObject({ stat_prefix: "inbound|9000", cluster: "inbound|9000||" }),
        ).finish(),
      },
    };
    const inbound = buildTstatsNetworkFilters({ direction: "inbound" });
    const listener = Listener.fromObject({
      name: "virtualInbound",
      traffic_direction: "INBOUND",
      filter_chains: [
        { filters: [...inbound.map((f) => ({ name: f.name, typed_config: toAny(f) })), tcpProxy] },
      ],
    });
    expect(Listener.verify(listener)).toBeNull();
    const back = Listener.toObject(Listener.decode(Listener.encode(listener).finish()), {
      enums: String,
    }) as {
      traffic_direction: string;
      filter_chains: Array<{
        filters: Array<{ name: string; typed_config: { type_url: string; value: Uint8Array } }>;
      }>;
    };
    expect(back.traffic_direction).toBe("INBOUND");
    const filters = back.filter_chains[0]!.filters;
    expect(filters.map((f) => f.name)).toEqual([
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.network.tcp_proxy",
    ]);
    const Mx = istioProtoRoot().lookupType("envoy.tcp.metadataexchange.config.MetadataExchange");
    expect(filters[0]!.typed_config.type_url).toBe(
      "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
    );
    expect(Mx.toObject(Mx.decode(filters[0]!.typed_config.value))).toEqual({
      protocol: "istio-peer-exchange",
    });

    expect(buildTstatsNetworkFilters({ direction: "outbound" }).map((f) => f.name)).toEqual(["istio.stats"]);

    const Cluster = T("envoy.config.cluster.v3.Cluster");
    const cluster = Cluster.fromObject({
      name: "outbound|9000||db.default.svc.cluster.local",
      filters: buildTstatsClusterFilters().map((f) => ({ name: f.name, typed_config: toAny(f) })),
    });
    expect(Cluster.verify(cluster)).toBeNull();
    const cb = Cluster.toObject(Cluster.decode(Cluster.encode(cluster).finish())) as {
      filters: Array<{ name: string }>;
    };
    expect(cb.filters.map((f) => f.name)).toEqual(["istio.metadata_exchange"]);
  });

  test("the encoded set carries binary Anys of the Istio messages", () => {
    const enc = encodeTstatsFilterSet(buildTstatsFilterSet({}));
    const Plugin = istioProtoRoot().lookupType("stats.PluginConfig");
    const stats = enc.network.outbound[0]!;
    expect(stats.name).toBe("istio.stats");
    expect(stats.typed_config.type_url).toBe("type.googleapis.com/stats.PluginConfig");
    expect(Plugin.toObject(Plugin.decode(stats.typed_config.value), { longs: Number })).toEqual({
      tcp_reporting_duration: { seconds: 5 },
    });
    expect(enc.http.inbound.map((f) => f.name)).toEqual(["istio.metadata_exchange", "istio.stats"]);
    expect(enc.cluster.outbound[0]!.typed_config.type_url).toBe(
      "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
    );
  });

  test("the filter set groups every place", () => {
    const set = buildTstatsFilterSet({ tcpReportingSeconds: 10 });
    expect(set.http.inbound).toHaveLength(2);
    expect(set.network.inbound).toHaveLength(2);
    expect(set.cluster.outbound).toHaveLength(1);
    expect(set.http.inbound[1]!.typed_config.tcp_reporting_duration).toBe("10s");
  });
});

// Istio's EnvoyFilter API (networking.istio.io/v1alpha3): the enum values its validation accepts.
const APPLY_TO = new Set([
  "LISTENER",
  "FILTER_CHAIN",
  "NETWORK_FILTER",
  "HTTP_FILTER",
  "ROUTE_CONFIGURATION",
  "VIRTUAL_HOST",
  "HTTP_ROUTE",
  "CLUSTER",
  "EXTENSION_CONFIG",
  "BOOTSTRAP",
  "LISTENER_FILTER",
]);
const CONTEXTS = new Set(["ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY"]);
const OPERATIONS = new Set([
  "MERGE",
  "ADD",
  "REMOVE",
  "INSERT_BEFORE",
  "INSERT_AFTER",
  "INSERT_FIRST",
  "REPLACE",
]);

describe("EnvoyFilter manifest", () => {
  test("has the shape Istio accepts", () => {
    const text = renderEnvoyFilterManifest({ namespace: "istio-system", proxyVersion: "^1\\.2[0-9].*" });
    const doc = parse(text) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string; namespace: string };
      spec: {
        priority: number;
        configPatches: Array<{
          applyTo: string;
          match: {
            context: string;
            proxy?: unknown;
            listener?: { filterChain: { filter: unknown } };
          };
          patch: { operation: string; value: EnvoyFilterJson & { filters?: unknown } };
        }>;
      };
    };
    expect(doc).toEqual(
      buildEnvoyFilterManifest({ namespace: "istio-system", proxyVersion: "^1\\.2[0-9].*" }),
    );
    expect(doc.apiVersion).toBe("networking.istio.io/v1alpha3");
    expect(doc.kind).toBe("EnvoyFilter");
    expect(doc.metadata).toMatchObject({ name: "meshctl-tstats", namespace: "istio-system" });
    expect(Object.keys(doc.spec).sort()).toEqual(["configPatches", "priority"]);
    for (const p of doc.spec.configPatches) {
      expect(APPLY_TO.has(p.applyTo), p.applyTo).toBe(true);
      expect(CONTEXTS.has(p.match.context), p.match.context).toBe(true);
      expect(OPERATIONS.has(p.patch.operation), p.patch.operation).toBe(true);
      expect(p.match.proxy).toEqual({ proxyVersion: "^1\\.2[0-9].*" });
      if (p.applyTo === "HTTP_FILTER") {
        expect(p.match.listener?.filterChain.filter).toEqual({
          name: "envoy.filters.network.http_connection_manager",
          subFilter: { name: "envoy.filters.http.router" },
        });
      }
      if (p.applyTo === "HTTP_FILTER" || p.applyTo === "NETWORK_FILTER") {
        expect(p.patch.operation).toBe("INSERT_BEFORE");
        expect(p.patch.value.typed_config["@type"]).toBe("type.googleapis.com/udpa.type.v1.TypedStruct");
        // Every patch value decodes with the real TypedStruct and our Istio protos.
        expect(() => encodeFilterTypedConfig(p.patch.value.typed_config)).not.toThrow();
        expect(() => toAny(p.patch.value)).not.toThrow();
      }
    }
    const summary = doc.spec.configPatches.map(
      (p) => `${p.applyTo}/${p.match.context}/${p.patch.value.name ?? "filters"}`,
    );
    expect(summary).toEqual([
      "HTTP_FILTER/SIDECAR_OUTBOUND/istio.metadata_exchange",
      "HTTP_FILTER/SIDECAR_OUTBOUND/istio.stats",
      "HTTP_FILTER/SIDECAR_INBOUND/istio.metadata_exchange",
      "HTTP_FILTER/SIDECAR_INBOUND/istio.stats",
      "NETWORK_FILTER/SIDECAR_OUTBOUND/istio.stats",
      "NETWORK_FILTER/SIDECAR_INBOUND/istio.metadata_exchange",
      "NETWORK_FILTER/SIDECAR_INBOUND/istio.stats",
      "CLUSTER/SIDECAR_OUTBOUND/filters",
    ]);
  });

  test("can leave TCP out", () => {
    const doc = buildEnvoyFilterManifest({ tcp: false }) as {
      spec: { configPatches: Array<{ applyTo: string }> };
    };
    expect(doc.spec.configPatches.every((p) => p.applyTo === "HTTP_FILTER")).toBe(true);
  });
});

describe("embedded protos", () => {
  test("src/generated/istio-protos.ts matches proto/ (run scripts/generate-protos.mjs after editing)", async () => {
    const { readFile } = await import("node:fs/promises");
    const { ISTIO_PROTO_SOURCES } = await import("./generated/istio-protos.js");
    for (const [file, text] of Object.entries(ISTIO_PROTO_SOURCES)) {
      expect(text, file).toBe(await readFile(new URL(`../proto/${file}`, import.meta.url), "utf8"));
    }
    expect(Object.keys(ISTIO_PROTO_SOURCES).sort()).toEqual([
      "envoy/tcp/metadataexchange/config/metadata_exchange.proto",
      "io/istio/http/peer_metadata/config.proto",
      "stats/config.proto",
    ]);
  });
});
