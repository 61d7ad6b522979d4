import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { decodeAnyDeep, packAny } from "../protocol/protos.js";
import { CapabilityRegistry, capabilitiesFromNode, type NodeExtensionLike } from "./capabilities.js";
import {
  type EncodedFilter,
  type EnvoyFilterExtensions,
  filterConfigType,
  HTTP_FILTER_CATEGORY,
  NETWORK_FILTER_CATEGORY,
  selectEnvoyFilters,
  UPSTREAM_NETWORK_FILTER_CATEGORY,
} from "./filter-extensions.js";
import { type NodeLike, proxyFromNode } from "./proxy.js";
import { generateProxy, generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";
import { webMeshModel } from "./web-mesh.test-data.js";

/** What stock Envoy 1.40 reported in its Node (recorded; the filter categories only). */
const STOCK_ENVOY = (
  JSON.parse(readFileSync(new URL("../../test/fixtures/envoy-1.40-node.json", import.meta.url), "utf8")) as {
    node: NodeLike;
  }
).node;
const stockExtensions = STOCK_ENVOY.extensions ?? [];

// Encoded the way @meshctl/tstats encodes them (stats.PluginConfig{tcp_reporting_duration: 5s} = 3a 02 08 05).
const filter = (name: string, typeUrl: string, value = Uint8Array.from([0x3a, 0x02, 0x08, 0x05])) => ({
  name,
  typed_config: { type_url: `type.googleapis.com/${typeUrl}`, value },
});
const mx = filter("istio.metadata_exchange", "io.istio.http.peer_metadata.Config");
const stats = filter("istio.stats", "stats.PluginConfig");
const tcpMx = filter("istio.metadata_exchange", "envoy.tcp.metadataexchange.config.MetadataExchange");
const EXT: EnvoyFilterExtensions = {
  http: { inbound: [mx, stats], outbound: [mx, stats] },
  network: { inbound: [tcpMx, stats], outbound: [stats] },
  cluster: { outbound: [tcpMx] },
};
/** cors.v3.Cors{} is empty on the wire. */
const cors: EncodedFilter = filter(
  "envoy.filters.http.cors",
  "envoy.extensions.filters.http.cors.v3.Cors",
  new Uint8Array(),
);

/** A build that has the tstats filters too (constructed for these tests, not recorded). */
const withIstioFilters: NodeExtensionLike[] = [
  ...stockExtensions,
  {
    name: "istio.metadata_exchange",
    category: HTTP_FILTER_CATEGORY,
    type_urls: ["io.istio.http.peer_metadata.Config"],
  },
  { name: "istio.stats", category: HTTP_FILTER_CATEGORY, type_urls: ["stats.PluginConfig"] },
  {
    name: "istio.metadata_exchange",
    category: NETWORK_FILTER_CATEGORY,
    type_urls: ["envoy.tcp.metadataexchange.config.MetadataExchange"],
  },
  { name: "istio.stats", category: NETWORK_FILTER_CATEGORY, type_urls: ["stats.PluginConfig"] },
  {
    name: "istio.metadata_exchange",
    category: UPSTREAM_NETWORK_FILTER_CATEGORY,
    type_urls: ["envoy.tcp.metadataexchange.config.MetadataExchange"],
  },
];

const model = webMeshModel();
const SIDECAR_ID = "sidecar~10.0.0.9~web-1.demo~demo.svc.cluster.local";
const istioSidecar = proxyFromNode({ ...STOCK_ENVOY, id: SIDECAR_ID, extensions: withIstioFilters });
const stockSidecar = proxyFromNode({ ...STOCK_ENVOY, id: SIDECAR_ID });
const grpc = proxyFromNode({ id: "grpc~10.0.0.100~client.demo~demo.svc.cluster.local" });

type Filter = { name: string; typed_config: Record<string, unknown> };
type Listener = { filter_chains: Array<{ name?: string; filters: Filter[] }> };
function listener(ctx: PushContext, name: string, proxy = istioSidecar): Listener {
  const config = generateProxyConfig(ctx, proxy);
  return decodeAnyDeep(config.lds.get(name)?.any as never) as Listener;
}
const hcmFilters = (f: Filter) =>
  (f.typed_config as { http_filters: Filter[] }).http_filters.map((h) => h.name);
function clusterFilters(ctx: PushContext, proxy: typeof istioSidecar, name: string) {
  const cluster = generateProxyConfig(ctx, proxy).cds.get(name);
  if (!cluster) throw new Error(`no cluster ${name}`);
  return (cluster.value as { filters?: Filter[] }).filters?.map((f) => f.name);
}

describe("Envoy filter extensions (meshctl enable tstats) on a proxy that has them", () => {
  const ctx = new PushContext(model, "v1", EXT);

  test("HTTP: inserted before the router, inbound and outbound", () => {
    const out = listener(ctx, "0.0.0.0_80").filter_chains[0]!.filters[0]!;
    expect(hcmFilters(out)).toEqual([
      "envoy.filters.http.fault",
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.http.router",
    ]);
    const inbound = listener(ctx, "virtualInbound").filter_chains.find((c) => c.name === "inbound|8080||")!;
    expect(hcmFilters(inbound.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.http.router",
    ]);
    // The typed_config travels as the encoded Any, byte for byte.
    const statsFilter = (out.typed_config as { http_filters: Filter[] }).http_filters[2]!;
    expect(statsFilter.typed_config.type_url).toBe("type.googleapis.com/stats.PluginConfig");
  });

  test("TCP: before tcp_proxy; passthrough chains untouched; outbound clusters get the upstream filter", () => {
    expect(listener(ctx, "0.0.0.0_5432").filter_chains[0]!.filters.map((f) => f.name)).toEqual([
      "istio.stats",
      "envoy.filters.network.tcp_proxy",
    ]);
    const chains = listener(ctx, "virtualInbound").filter_chains;
    expect(chains.find((c) => c.name === "inbound|5432||")!.filters.map((f) => f.name)).toEqual([
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.network.tcp_proxy",
    ]);
    expect(chains.find((c) => c.name === "virtualInbound-catchall")!.filters.map((f) => f.name)).toEqual([
      "envoy.filters.network.tcp_proxy",
    ]);
    expect(clusterFilters(ctx, istioSidecar, "outbound|5432||web.demo.svc.cluster.local")).toEqual([
      "istio.metadata_exchange",
    ]);
    expect(clusterFilters(ctx, istioSidecar, "PassthroughCluster")).toBeUndefined();
    expect(generateProxy(ctx, istioSidecar).skippedFilters).toEqual([]);
  });

  test("proxyless gRPC and contexts without extensions are unchanged", () => {
    const plain = new PushContext(model, "v1");
    expect(hcmFilters(listener(plain, "0.0.0.0_80").filter_chains[0]!.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.router",
    ]);
    const withExt = generateProxy(ctx, grpc);
    const without = generateProxy(plain, grpc);
    for (const kind of ["lds", "cds", "rds"] as const) {
      expect([...withExt.config[kind].values()].map((r) => r.version)).toEqual(
        [...without.config[kind].values()].map((r) => r.version),
      );
    }
    expect(withExt.skippedFilters).toEqual([]);
    expect(withExt.viewKey).toBe(without.viewKey);
  });
});

describe("a filter goes only to a proxy that reports it", () => {
  test("stock Envoy 1.40 lacks Istio's filters: none is sent, each is reported once with where and why", () => {
    const ctx = new PushContext(model, "v1", EXT);
    const out = listener(ctx, "0.0.0.0_80", stockSidecar).filter_chains[0]!.filters[0]!;
    expect(hcmFilters(out)).toEqual(["envoy.filters.http.fault", "envoy.filters.http.router"]);
    expect(listener(ctx, "0.0.0.0_5432", stockSidecar).filter_chains[0]!.filters.map((f) => f.name)).toEqual([
      "envoy.filters.network.tcp_proxy",
    ]);
    expect(clusterFilters(ctx, stockSidecar, "outbound|5432||web.demo.svc.cluster.local")).toBeUndefined();
    const skipped = generateProxy(ctx, stockSidecar).skippedFilters;
    expect(skipped.map((s) => [s.category, s.name, s.type, s.at])).toEqual([
      [
        HTTP_FILTER_CATEGORY,
        "istio.metadata_exchange",
        "io.istio.http.peer_metadata.Config",
        ["http/inbound", "http/outbound"],
      ],
      [HTTP_FILTER_CATEGORY, "istio.stats", "stats.PluginConfig", ["http/inbound", "http/outbound"]],
      [
        NETWORK_FILTER_CATEGORY,
        "istio.metadata_exchange",
        "envoy.tcp.metadataexchange.config.MetadataExchange",
        ["network/inbound"],
      ],
      [NETWORK_FILTER_CATEGORY, "istio.stats", "stats.PluginConfig", ["network/inbound", "network/outbound"]],
      [
        UPSTREAM_NETWORK_FILTER_CATEGORY,
        "istio.metadata_exchange",
        "envoy.tcp.metadataexchange.config.MetadataExchange",
        ["cluster/outbound"],
      ],
    ]);
    expect(skipped[1]?.reason).toBe(
      "envoy 1.40.0 reports no envoy.filters.http extension for type stats.PluginConfig (nor one named istio.stats) among its 139 extensions",
    );
  });

  test("a filter stock Envoy has (CORS) is sent, matched by its type URL without the prefix", () => {
    const ctx = new PushContext(model, "v1", { http: { outbound: [cors, stats] } });
    const out = listener(ctx, "0.0.0.0_80", stockSidecar).filter_chains[0]!.filters[0]!;
    expect(hcmFilters(out)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "envoy.filters.http.router",
    ]);
    expect(generateProxy(ctx, stockSidecar).skippedFilters.map((s) => s.name)).toEqual(["istio.stats"]);
    // Any prefix before the last "/" is the URL's host part, as in Envoy's own lookup.
    const caps = capabilitiesFromNode(STOCK_ENVOY);
    const elsewhere = {
      ...cors,
      typed_config: {
        ...cors.typed_config,
        type_url: "example.com/a/envoy.extensions.filters.http.cors.v3.Cors",
      },
    };
    expect(selectEnvoyFilters({ http: { outbound: [elsewhere] } }, caps).skipped).toEqual([]);
  });

  test("the category is where the filter goes: an HTTP filter's type is no network filter", () => {
    const caps = capabilitiesFromNode(STOCK_ENVOY);
    const asNetwork = selectEnvoyFilters({ network: { outbound: [cors] } }, caps);
    expect(asNetwork.filters.network?.outbound).toEqual([]);
    expect(asNetwork.skipped[0]?.category).toBe(NETWORK_FILTER_CATEGORY);
  });

  test("disabled extensions do not count; extensions that list no type match by name", () => {
    const node = {
      user_agent_name: "envoy",
      extensions: [
        {
          name: "envoy.filters.http.cors",
          category: HTTP_FILTER_CATEGORY,
          type_urls: ["envoy.extensions.filters.http.cors.v3.Cors"],
          disabled: true,
        },
        { name: "istio.stats", category: HTTP_FILTER_CATEGORY, type_urls: [] },
      ],
    };
    const { skipped, filters } = selectEnvoyFilters(
      { http: { outbound: [cors, stats] } },
      capabilitiesFromNode(node),
    );
    expect(filters.http?.outbound?.map((f) => f.name)).toEqual(["istio.stats"]);
    expect(skipped.map((s) => s.name)).toEqual(["envoy.filters.http.cors"]);
  });

  test("a TypedStruct-wrapped config is looked up by the type inside it", () => {
    const wrapped = {
      name: "cors-via-typed-struct",
      typed_config: packAny("xds.type.v3.TypedStruct", {
        type_url: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors",
      }),
    };
    expect(filterConfigType(wrapped)).toBe("envoy.extensions.filters.http.cors.v3.Cors");
    expect(
      selectEnvoyFilters({ http: { inbound: [wrapped] } }, capabilitiesFromNode(STOCK_ENVOY)).skipped,
    ).toEqual([]);
  });

  test("a proxy that reports no extensions gets none of them (conservative), and is told why", () => {
    const ctx = new PushContext(model, "v1", { http: { outbound: [cors] } });
    const bare = proxyFromNode({ id: SIDECAR_ID });
    expect(hcmFilters(listener(ctx, "0.0.0.0_80", bare).filter_chains[0]!.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.router",
    ]);
    const [skipped] = generateProxy(ctx, bare).skippedFilters;
    expect(skipped?.reason).toMatch(/reported no extensions in its xDS Node/);
  });

  test("proxies with different filters never share cached resources; proxies with the same ones do", () => {
    const ctx = new PushContext(model, "v1", EXT);
    const stock = generateProxy(ctx, stockSidecar);
    const istio = generateProxy(ctx, istioSidecar);
    expect(stock.viewKey).not.toBe(istio.viewKey);
    for (const [kind, name] of [
      ["lds", "0.0.0.0_80"],
      ["lds", "virtualInbound"],
      ["cds", "outbound|5432||web.demo.svc.cluster.local"],
    ] as const)
      expect(stock.config[kind].get(name)?.version, `${kind} ${name}`).not.toBe(
        istio.config[kind].get(name)?.version,
      );
    // Another stock Envoy (another object, another node id, same build) reuses the cached encodings.
    const other = proxyFromNode({ ...STOCK_ENVOY, id: "sidecar~10.0.0.9~web-2.demo~demo.svc.cluster.local" });
    const again = generateProxy(ctx, other);
    expect(again.viewKey).toBe(stock.viewKey);
    expect(again.config.lds.get("0.0.0.0_80")).toBe(stock.config.lds.get("0.0.0.0_80"));
    expect(again.config.lds.get("virtualInbound")).toBe(stock.config.lds.get("virtualInbound"));
    expect(again.config.cds.get("outbound|5432||web.demo.svc.cluster.local")).toBe(
      stock.config.cds.get("outbound|5432||web.demo.svc.cluster.local"),
    );
  });
});

describe("capabilities from the Node", () => {
  test("stock Envoy: user agent, build version and enabled extensions", () => {
    const caps = capabilitiesFromNode(STOCK_ENVOY);
    expect([caps.userAgent, caps.buildVersion, caps.extensionCount]).toEqual([
      "envoy",
      "1.40.0",
      stockExtensions.length,
    ]);
    expect(
      capabilitiesFromNode({ user_agent_name: "gRPC Node Pure JS", user_agent_version: "1.14.3" }),
    ).toMatchObject({
      userAgent: "gRPC Node Pure JS",
      buildVersion: "1.14.3",
      extensionCount: 0,
    });
  });

  test("the registry shares one object per build and keeps builds apart", () => {
    const registry = new CapabilityRegistry();
    const a = registry.capabilitiesOf({ ...STOCK_ENVOY });
    expect(registry.capabilitiesOf({ ...STOCK_ENVOY, id: "other" } as NodeLike)).toBe(a);
    expect(registry.capabilitiesOf({ ...STOCK_ENVOY, extensions: withIstioFilters })).not.toBe(a);
    expect(registry.size).toBe(2);
  });
});
