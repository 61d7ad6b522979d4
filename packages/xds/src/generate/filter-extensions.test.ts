import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import type { EnvoyFilterExtensions } from "./filter-extensions.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

const MESH = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  ports: [{ name: http, port: 80, targetPort: 8080 }, { name: tcp-db, port: 5432 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web, namespace: demo, labels: { kubernetes.io/service-name: web } }
ports: [{ name: http, port: 8080 }, { name: tcp-db, port: 5432 }]
endpoints:
  - addresses: [10.0.0.9]
`;

// Encoded the way @meshctl/tstats encodes them (stats.PluginConfig{tcp_reporting_duration: 5s} = 3a 02 08 05).
const filter = (name: string, typeUrl: string) => ({
  name,
  typed_config: {
    type_url: `type.googleapis.com/${typeUrl}`,
    value: Uint8Array.from([0x3a, 0x02, 0x08, 0x05]),
  },
});
const mx = filter("istio.metadata_exchange", "io.istio.http.peer_metadata.Config");
const stats = filter("istio.stats", "stats.PluginConfig");
const tcpMx = filter("istio.metadata_exchange", "envoy.tcp.metadataexchange.config.MetadataExchange");
const EXT: EnvoyFilterExtensions = {
  http: { inbound: [mx, stats], outbound: [mx, stats] },
  network: { inbound: [tcpMx, stats], outbound: [stats] },
  cluster: { outbound: [tcpMx] },
};

const model = assembleMeshModel(parseMeshFile("mesh.yaml", MESH).items).model;
const sidecar = proxyFromNode({ id: "sidecar~10.0.0.9~web-1.demo~demo.svc.cluster.local" });
const grpc = proxyFromNode({ id: "grpc~10.0.0.100~client.demo~demo.svc.cluster.local" });

type Filter = { name: string; typed_config: Record<string, unknown> };
function listener(ctx: PushContext, name: string) {
  const config = generateProxyConfig(ctx, sidecar);
  return decodeAnyDeep(config.lds.get(name)?.any as never) as {
    filter_chains: Array<{ name?: string; filters: Filter[] }>;
  };
}
const hcmFilters = (f: Filter) =>
  (f.typed_config as { http_filters: Filter[] }).http_filters.map((h) => h.name);

describe("Envoy filter extensions (meshctl enable tstats)", () => {
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
    const cds = generateProxyConfig(ctx, sidecar).cds;
    expect(
      (cds.get("outbound|5432||web.demo.svc.cluster.local")!.value as { filters?: Filter[] }).filters?.map(
        (f) => f.name,
      ),
    ).toEqual(["istio.metadata_exchange"]);
    expect((cds.get("PassthroughCluster")!.value as { filters?: unknown }).filters).toBeUndefined();
  });

  test("proxyless gRPC and contexts without extensions are unchanged", () => {
    const plain = new PushContext(model, "v1");
    expect(hcmFilters(listener(plain, "0.0.0.0_80").filter_chains[0]!.filters[0]!)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.router",
    ]);
    const withExt = generateProxyConfig(ctx, grpc);
    const without = generateProxyConfig(plain, grpc);
    for (const kind of ["lds", "cds", "rds"] as const) {
      expect([...withExt[kind].values()].map((r) => r.version)).toEqual(
        [...without[kind].values()].map((r) => r.version),
      );
    }
  });
});
