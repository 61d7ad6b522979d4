import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { decodeAnyDeep, packAny } from "../protocol/protos.js";
import { CapabilityRegistry, capabilitiesFromNode, type NodeExtensionLike } from "./capabilities.js";
import {
  type EncodedFilter,
  type EnvoyFilterExtensions,
  EnvoyFilterSelector,
  type EnvoyFilterSet,
  filterConfigType,
  HTTP_FILTER_CATEGORY,
  NETWORK_FILTER_CATEGORY,
  selectEnvoyFilters,
  UPSTREAM_NETWORK_FILTER_CATEGORY,
} from "./filter-extensions.js";
import { type NodeLike, type ProxyNodeInfo, proxyFromNode } from "./proxy.js";
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
      "envoy.filters.http.cors",
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.http.router",
    ]);
    const inbound = listener(ctx, "virtualInbound").filter_chains.find((c) => c.name === "0.0.0.0_8080")!;
    expect(hcmFilters(inbound.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.http.router",
    ]);
    // The typed_config travels as the encoded Any, byte for byte.
    const statsFilter = (out.typed_config as { http_filters: Filter[] }).http_filters[3]!;
    expect(statsFilter.typed_config.type_url).toBe("type.googleapis.com/stats.PluginConfig");
  });

  test("TCP: before tcp_proxy; passthrough chains untouched; outbound clusters get the upstream filter", () => {
    expect(listener(ctx, "0.0.0.0_5432").filter_chains[0]!.filters.map((f) => f.name)).toEqual([
      "istio.stats",
      "envoy.filters.network.tcp_proxy",
    ]);
    const chains = listener(ctx, "virtualInbound").filter_chains;
    expect(chains.find((c) => c.name === "0.0.0.0_5432")!.filters.map((f) => f.name)).toEqual([
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.network.tcp_proxy",
    ]);
    expect(chains.find((c) => c.name === "virtualInbound")!.filters.map((f) => f.name)).toEqual([
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
      "envoy.filters.http.cors",
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
    expect(hcmFilters(out)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "envoy.filters.http.router",
    ]);
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
      "envoy.filters.http.cors",
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

describe("alternatives and per-proxy filters (meshctl enable tstats --module native)", () => {
  const MODULE_TYPE = "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
  let builds = 0;
  /** Stands in for @meshctl/tstats' module filter: its config names the proxy (id + namespace). */
  const moduleFilters = (node: ProxyNodeInfo): EnvoyFilterSet => {
    builds++;
    const at = (reporter: string) =>
      filter("tstats", MODULE_TYPE, Buffer.from(`${reporter}|${node.id}|${String(node.metadata.NAMESPACE)}`));
    return { http: { inbound: [at("destination")], outbound: [at("source")] } };
  };
  const NATIVE: EnvoyFilterExtensions = {
    alternatives: [
      { name: "istio", filters: EXT },
      { name: "tstats-native", perProxy: moduleFilters },
    ],
  };
  const nodeOf = (id: string, extensions = stockExtensions) =>
    proxyFromNode({
      ...STOCK_ENVOY,
      id,
      extensions,
      metadata: { fields: { NAMESPACE: { stringValue: "demo", kind: "stringValue" } } },
    });
  const stockA = nodeOf(SIDECAR_ID);
  const stockB = nodeOf("sidecar~10.0.0.9~web-2.demo~demo.svc.cluster.local");
  const istioA = nodeOf(SIDECAR_ID, withIstioFilters);
  const istioB = nodeOf("sidecar~10.0.0.9~web-2.demo~demo.svc.cluster.local", withIstioFilters);

  test("an Istio proxy gets Istio's filters, never the module too", () => {
    const ctx = new PushContext(model, "v1", NATIVE);
    expect(hcmFilters(listener(ctx, "0.0.0.0_80", istioA).filter_chains[0]!.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "istio.metadata_exchange",
      "istio.stats",
      "envoy.filters.http.router",
    ]);
    expect(clusterFilters(ctx, istioA, "outbound|5432||web.demo.svc.cluster.local")).toEqual([
      "istio.metadata_exchange",
    ]);
    const selection = ctx.envoyFiltersFor(istioA);
    expect(selection.alternative).toBe("istio");
    expect(selection.skipped).toEqual([]);
  });

  test("a stock Envoy gets the module, built from its own Node, inbound and outbound", () => {
    const ctx = new PushContext(model, "v1", NATIVE);
    const out = listener(ctx, "0.0.0.0_80", stockA).filter_chains[0]!.filters[0]!;
    expect(hcmFilters(out)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "tstats",
      "envoy.filters.http.router",
    ]);
    const sent = (out.typed_config as { http_filters: { typed_config: { value: string } }[] })
      .http_filters[2]!;
    expect(Buffer.from(sent.typed_config.value, "base64").toString()).toBe(`source|${SIDECAR_ID}|demo`);
    const inbound = listener(ctx, "virtualInbound", stockA).filter_chains.find(
      (c) => c.name === "0.0.0.0_8080",
    )!;
    expect(hcmFilters(inbound.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "tstats",
      "envoy.filters.http.router",
    ]);
    // The module is HTTP only: TCP chains and clusters stay as they are.
    expect(listener(ctx, "0.0.0.0_5432", stockA).filter_chains[0]!.filters.map((f) => f.name)).toEqual([
      "envoy.filters.network.tcp_proxy",
    ]);
    expect(clusterFilters(ctx, stockA, "outbound|5432||web.demo.svc.cluster.local")).toBeUndefined();
    const selection = ctx.envoyFiltersFor(stockA);
    expect(selection.alternative).toBe("tstats-native");
    expect(selection.skipped).toEqual([]);
  });

  test("proxyless gRPC gets nothing; a proxy with no reported extensions gets nothing and is told why", () => {
    const ctx = new PushContext(model, "v1", NATIVE);
    const plain = new PushContext(model, "v1");
    const withAlt = generateProxy(ctx, grpc);
    const without = generateProxy(plain, grpc);
    for (const kind of ["lds", "cds", "rds"] as const)
      expect([...withAlt.config[kind].values()].map((r) => r.version)).toEqual(
        [...without.config[kind].values()].map((r) => r.version),
      );
    expect(withAlt.skippedFilters).toEqual([]);

    const bare = proxyFromNode({ id: SIDECAR_ID });
    expect(hcmFilters(listener(ctx, "0.0.0.0_80", bare).filter_chains[0]!.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "envoy.filters.http.router",
    ]);
    const skipped = generateProxy(ctx, bare).skippedFilters;
    expect([...new Set(skipped.map((s) => `${s.alternative}:${s.name}`))]).toEqual([
      "istio:istio.metadata_exchange",
      "istio:istio.stats",
      "tstats-native:tstats",
    ]);
    expect(skipped.every((s) => /reported no extensions/.test(s.reason))).toBe(true);
    expect(ctx.envoyFiltersFor(bare).key).toBe("alt=none");
  });

  test("cache keys: per-proxy bytes separate proxies, identical inputs share, clusters stay shared", () => {
    const ctx = new PushContext(model, "v1", NATIVE);
    const a = generateProxy(ctx, stockA);
    const b = generateProxy(ctx, stockB);
    expect(ctx.envoyFiltersFor(stockA).key).toMatch(/^alt=tstats-native\|~[\w-]{12}$/);
    expect(a.viewKey).not.toBe(b.viewKey);
    expect(a.config.lds.get("0.0.0.0_80")?.version).not.toBe(b.config.lds.get("0.0.0.0_80")?.version);
    // Clusters carry no module filter: one encoding for both.
    expect(a.config.cds.get("outbound|5432||web.demo.svc.cluster.local")).toBe(
      b.config.cds.get("outbound|5432||web.demo.svc.cluster.local"),
    );
    // The same Node again (a reconnect: another ProxyInfo object) shares everything.
    const again = generateProxy(ctx, nodeOf(SIDECAR_ID));
    expect(again.viewKey).toBe(a.viewKey);
    expect(again.config.lds.get("0.0.0.0_80")).toBe(a.config.lds.get("0.0.0.0_80"));
    expect(again.config.lds.get("virtualInbound")).toBe(a.config.lds.get("virtualInbound"));
    // Istio proxies get no per-proxy filters: two of one build share their view.
    const ia = generateProxy(ctx, istioA);
    const ib = generateProxy(ctx, istioB);
    expect(ia.viewKey).toBe(ib.viewKey);
    expect(ia.viewKey).toContain("filters=alt=istio");
    expect(ia.config.lds.get("0.0.0.0_80")).toBe(ib.config.lds.get("0.0.0.0_80"));
    expect(ctx.envoyFiltersFor(istioA).clusterKey).toBe("alt=istio");
    expect(ctx.envoyFiltersFor(stockA).clusterKey).toBe("");
  });

  test("a shared selector builds a proxy's filters once across push contexts", () => {
    const selector = new EnvoyFilterSelector(NATIVE);
    const before = builds;
    for (const version of ["v1", "v2", "v3"]) {
      const ctx = new PushContext(model, version, NATIVE, { filterSelector: selector });
      generateProxy(ctx, stockA);
    }
    expect(builds - before).toBe(1);
    expect(() => new PushContext(model, "v4", EXT, { filterSelector: selector })).toThrow(
      expect.objectContaining({ code: "XDS_FILTER_SELECTOR_MISMATCH" }),
    );
  });

  test("a per-proxy builder that throws leaves its filters out, with the reason", () => {
    const broken: EnvoyFilterExtensions = {
      alternatives: [
        {
          name: "tstats-native",
          perProxy: () => {
            throw new Error("node id has a line break");
          },
        },
      ],
    };
    const selection = selectEnvoyFilters(broken, stockA.capabilities, stockA.node);
    expect(selection.filters.http?.inbound).toEqual([]);
    expect(selection.skipped).toEqual([
      expect.objectContaining({
        name: "tstats-native",
        alternative: "tstats-native",
        reason: "building this proxy's tstats-native filters failed: node id has a line break",
      }),
    ]);
  });

  test("top-level per-proxy filters are kept one by one, like the fixed ones", () => {
    const ext: EnvoyFilterExtensions = {
      http: { outbound: [cors] },
      perProxy: (node) => ({
        http: { outbound: [filter("istio.stats", "stats.PluginConfig", Buffer.from(node.id))] },
      }),
    };
    const selection = selectEnvoyFilters(ext, stockA.capabilities, stockA.node);
    expect(selection.filters.http?.outbound?.map((f) => f.name)).toEqual(["envoy.filters.http.cors"]);
    expect(selection.skipped.map((s) => s.name)).toEqual(["istio.stats"]);
    const istio = selectEnvoyFilters(ext, istioA.capabilities, istioA.node);
    expect(istio.filters.http?.outbound?.map((f) => f.name)).toEqual([
      "envoy.filters.http.cors",
      "istio.stats",
    ]);
    expect(istio.key).toMatch(/^\.1\.\.\.\|~[\w-]{12}$/);
  });
});

describe("the Node as per-proxy builders see it", () => {
  test("metadata as plain JSON (decoded Struct values, camelCase or snake_case), cluster, locality", () => {
    const proxy = proxyFromNode({
      id: SIDECAR_ID,
      cluster: "web.demo",
      locality: { region: "eu", zone: "eu-1a" },
      metadata: {
        fields: {
          NAMESPACE: { stringValue: "demo", kind: "stringValue" },
          REPLICAS: { numberValue: 3, kind: "numberValue" },
          LABELS: {
            kind: "structValue",
            structValue: {
              fields: { app: { string_value: "web" }, on: { boolValue: true, kind: "boolValue" } },
            },
          },
          IPS: {
            kind: "listValue",
            listValue: { values: [{ stringValue: "10.0.0.9", kind: "stringValue" }] },
          },
          NOTHING: { nullValue: "NULL_VALUE", kind: "nullValue" },
        },
      },
    });
    expect(proxy.node).toEqual({
      id: SIDECAR_ID,
      cluster: "web.demo",
      locality: { region: "eu", zone: "eu-1a" },
      metadata: {
        NAMESPACE: "demo",
        REPLICAS: 3,
        LABELS: { app: "web", on: true },
        IPS: ["10.0.0.9"],
        NOTHING: null,
      },
    });
    expect(proxyFromNode(undefined).node).toEqual({ id: "", cluster: "", metadata: {} });
  });
});
