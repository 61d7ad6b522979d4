import { describe, expect, test } from "vitest";
import { findControlPlaneService, parseDebugClients } from "./control-plane.js";

describe("parseDebugClients", () => {
  test("carries what the proxy can run and the filters it was not sent", () => {
    const [p] = parseDebugClients({
      clients: [
        {
          nodeId: "sidecar~10.0.0.5~web-1.demo~demo.svc.cluster.local",
          types: {},
          capabilities: { userAgent: "envoy", buildVersion: "1.40.0", extensionCount: 516 },
          skippedFilters: [
            {
              name: "istio.stats",
              type: "stats.PluginConfig",
              category: "envoy.filters.http",
              reason: "not built in",
            },
            { nameless: true },
          ],
        },
        { nodeId: "grpc~10.0.0.6~c-1.demo~demo.svc.cluster.local", types: {} },
      ],
    });
    expect(p).toMatchObject({
      capabilities: { userAgent: "envoy", buildVersion: "1.40.0", extensionCount: 516 },
      skippedFilters: [{ name: "istio.stats", reason: "not built in" }],
    });
    const older = parseDebugClients({
      clients: [{ nodeId: "sidecar~1~a.b~b.svc.cluster.local", types: {} }],
    })[0];
    expect(older).not.toHaveProperty("skippedFilters");
  });

  test("reads node ids and per-type ACK/NACK state", () => {
    const proxies = parseDebugClients({
      clients: [
        {
          id: "sotw-1",
          nodeId: "sidecar~10.0.0.6~bad-1.demo~demo.svc.cluster.local",
          proxyType: "sidecar",
          namespace: "demo",
          protocol: "sotw",
          connectedAt: "2026-12-06T05:00:00.000Z",
          types: {
            cds: {
              lastVersionSent: "v2",
              lastSentAt: "2026-12-06T05:00:01.000Z",
              ackedVersion: "v1",
              nackedVersion: "v1",
              lastNackError: "cluster rejected",
              lastNackAt: "2026-12-06T05:00:01.010Z",
              pushes: 2,
            },
          },
        },
      ],
    });
    expect(proxies).toEqual([
      {
        nodeId: "sidecar~10.0.0.6~bad-1.demo~demo.svc.cluster.local",
        namespace: "demo",
        proxyType: "sidecar",
        protocol: "sotw",
        connectedAt: "2026-12-06T05:00:00.000Z",
        types: {
          cds: {
            lastVersionSent: "v2",
            lastSentAt: "2026-12-06T05:00:01.000Z",
            ackedVersion: "v1",
            nackedVersion: "v1",
            lastNackError: "cluster rejected",
            lastNackAt: "2026-12-06T05:00:01.010Z",
          },
        },
      },
    ]);
  });

  test("something else on the port is an error, not an empty mesh", () => {
    expect(() => parseDebugClients({ status: "ok" })).toThrow(/no "clients" array/);
    expect(() => parseDebugClients({ clients: [{}] })).toThrow(/clients\[0\] has no nodeId/);
  });
});

describe("findControlPlaneService", () => {
  test("a named debug port wins; else port 15014; else none", () => {
    const svc = (ports: { name: string | null; port: number; targetPort: string | null }[]) => ({
      namespace: "meshctl-system",
      name: "meshctl-xds",
      ports,
    });
    expect(
      findControlPlaneService([
        svc([
          { name: "grpc-xds", port: 15010, targetPort: "15010" },
          { name: "http-debug", port: 80, targetPort: "15014" },
        ]),
      ]),
    ).toEqual({ namespace: "meshctl-system", service: "meshctl-xds", port: "http-debug" });
    expect(findControlPlaneService([svc([{ name: null, port: 15014, targetPort: null }])])?.port).toBe(
      "15014",
    );
    expect(
      findControlPlaneService([svc([{ name: "grpc-xds", port: 15010, targetPort: "grpc-xds" }])]),
    ).toBeUndefined();
  });
});
