import { createRequire } from "node:module";
import { describe, expect, test } from "vitest";
import { ISTIO_PROMETHEUS_PORT, nodeIdFor, renderBootstrap } from "./bootstrap.js";
import { proxyFromNode } from "./generate/proxy.js";

const require = createRequire(import.meta.url);
// grpc-js-xds's own validator: the bootstrap must pass what real gRPC clients check.
const { validateBootstrapConfig } = require("@grpc/grpc-js-xds/build/src/xds-bootstrap.js") as {
  validateBootstrapConfig: (o: unknown) => { node: { id: string }; xdsServers: { server_uri: string }[] };
};

describe("renderBootstrap", () => {
  test("grpc: accepted by grpc-js-xds, with an Istio-style node id and a locality", () => {
    const b = renderBootstrap({
      kind: "grpc",
      name: "app-1",
      namespace: "shop",
      server: "127.0.0.1:15010",
      ip: "10.1.2.3",
    });
    const validated = validateBootstrapConfig(b);
    expect(validated.node.id).toBe("grpc~10.1.2.3~app-1.shop~shop.svc.cluster.local");
    expect(validated.xdsServers[0]?.server_uri).toBe("127.0.0.1:15010");
    expect((b.node as { locality: unknown }).locality).toEqual({});
  });

  test("grpc: the server features make a deleted-and-restored resource survivable (gRFC A53)", () => {
    const b = renderBootstrap({ kind: "grpc", name: "app-1", namespace: "shop" });
    const validated = validateBootstrapConfig(b) as unknown as {
      xdsServers: { server_features: string[] }[];
    };
    expect(validated.xdsServers[0]?.server_features).toEqual(["xds_v3", "ignore_resource_deletion"]);
  });

  test("envoy: ADS over gRPC to a static xds-grpc cluster; delta switches api_type", () => {
    const b = renderBootstrap({
      kind: "envoy",
      name: "web-1",
      namespace: "shop",
      server: "xds.internal:15010",
    }) as {
      dynamic_resources: { ads_config: { api_type: string } };
      static_resources: { clusters: { type: string; load_assignment: unknown }[] };
    };
    expect(b.dynamic_resources.ads_config.api_type).toBe("GRPC");
    expect(b.static_resources.clusters[0]?.type).toBe("STRICT_DNS");
    const d = renderBootstrap({ kind: "envoy", name: "web-1", namespace: "shop", delta: true }) as typeof b;
    expect(d.dynamic_resources.ads_config.api_type).toBe("DELTA_GRPC");
  });

  test("envoy: admin on 127.0.0.1:15000 unless another port is given; a bad one is a usage error", () => {
    const admin = (adminPort?: number) =>
      (
        renderBootstrap({
          kind: "envoy",
          name: "web-1",
          namespace: "shop",
          ...(adminPort !== undefined ? { adminPort } : {}),
        }) as { admin: { address: { socket_address: { address: string; port_value: number } } } }
      ).admin.address.socket_address;
    expect(admin()).toEqual({ address: "127.0.0.1", port_value: 15000 });
    expect(admin(15100)).toEqual({ address: "127.0.0.1", port_value: 15100 });
    for (const bad of [-1, 65536, 1.5, Number.NaN])
      expect(() => admin(bad), String(bad)).toThrow(
        expect.objectContaining({ code: "XDS_BOOTSTRAP_INVALID", kind: "usage" }),
      );
  });

  test("envoy: Istio's prometheus_stats listener (15090, from the bootstrap as in Istio) only when asked", () => {
    type Static = {
      static_resources: { listeners?: Record<string, unknown>[]; clusters: { name: string }[] };
    };
    const plain = renderBootstrap({ kind: "envoy", name: "web-1", namespace: "shop" }) as unknown as Static;
    expect(plain.static_resources.listeners).toBeUndefined();
    const stats = renderBootstrap({
      kind: "envoy",
      name: "web-1",
      namespace: "shop",
      prometheusPort: ISTIO_PROMETHEUS_PORT,
    }) as unknown as Static;
    expect(stats.static_resources.listeners?.[0]).toMatchObject({
      address: { socket_address: { address: "0.0.0.0", port_value: 15090 } },
      filter_chains: [
        {
          filters: [
            {
              typed_config: {
                stat_prefix: "stats",
                route_config: {
                  virtual_hosts: [
                    {
                      routes: [
                        { match: { prefix: "/stats/prometheus" }, route: { cluster: "prometheus_stats" } },
                      ],
                    },
                  ],
                },
              },
            },
          ],
        },
      ],
    });
    expect(stats.static_resources.clusters.map((c) => c.name)).toEqual(["prometheus_stats", "xds-grpc"]);
    expect(() =>
      renderBootstrap({ kind: "envoy", name: "w", namespace: "s", adminPort: 0, prometheusPort: 15090 }),
    ).toThrow(expect.objectContaining({ code: "XDS_BOOTSTRAP_INVALID" }));
  });

  test("envoy: stats_config only when given (meshctl xds bootstrap passes tstats' buckets)", () => {
    const statsConfig = { histogram_bucket_settings: [{ match: { prefix: "istio." }, buckets: [1, 10] }] };
    const b = renderBootstrap({ kind: "envoy", name: "web-1", namespace: "shop", statsConfig });
    expect(b.stats_config).toEqual(statsConfig);
    expect(renderBootstrap({ kind: "envoy", name: "web-1", namespace: "shop" }).stats_config).toBeUndefined();
    expect(
      renderBootstrap({ kind: "grpc", name: "a", namespace: "b", statsConfig }).stats_config,
    ).toBeUndefined();
  });

  test("the node id round-trips through proxyFromNode", () => {
    const p = proxyFromNode({ id: nodeIdFor("envoy", "web-1", "shop", "10.0.0.7") });
    expect(p).toMatchObject({ type: "sidecar", name: "web-1", namespace: "shop", ip: "10.0.0.7" });
  });

  test("rejects a malformed server address", () => {
    expect(() => renderBootstrap({ kind: "grpc", name: "a", namespace: "b", server: "nope" })).toThrow(
      /HOST:PORT/,
    );
  });
});

describe("renderBootstrap: bootstrap extensions and extra node metadata", () => {
  const extension = {
    name: "envoy.bootstrap.dynamic_modules",
    typed_config: {
      "@type":
        "type.googleapis.com/envoy.extensions.bootstrap.dynamic_modules.v3.DynamicModuleBootstrapExtension",
      dynamic_module_config: { name: "tstats", module: { local: { filename: "/m/libtstats.so" } } },
      extension_name: "tstats",
    },
  };

  test("envoy: with them, bootstrap_extensions and the metadata entry; the proxy's Node carries it", () => {
    const b = renderBootstrap({
      kind: "envoy",
      name: "web-1",
      namespace: "demo",
      bootstrapExtensions: [extension],
      nodeMetadata: { MESHCTL_TSTATS_TCP: "true", NAMESPACE: "not-this" },
    });
    expect(b.bootstrap_extensions).toEqual([extension]);
    const node = b.node as { id: string; cluster: string; metadata: Record<string, unknown> };
    expect(node.metadata.MESHCTL_TSTATS_TCP).toBe("true");
    // Extra entries never replace the ones the bootstrap sets itself.
    expect(node.metadata.NAMESPACE).toBe("demo");
  });

  test("envoy: without them (or with an empty list), neither", () => {
    for (const extra of [{}, { bootstrapExtensions: [], nodeMetadata: {} }]) {
      const b = renderBootstrap({ kind: "envoy", name: "web-1", namespace: "demo", ...extra });
      expect(b).not.toHaveProperty("bootstrap_extensions");
      expect((b.node as { metadata: Record<string, unknown> }).metadata).not.toHaveProperty(
        "MESHCTL_TSTATS_TCP",
      );
    }
  });
});
