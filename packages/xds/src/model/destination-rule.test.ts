import { describe, expect, test } from "vitest";
import { parseMeshObject } from "./parse-documents.js";
import type { DestinationRuleModel } from "./types.js";

function dr(spec: Record<string, unknown>) {
  const parsed = parseMeshObject({
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "r", namespace: "demo" },
    spec: { host: "echo", ...spec },
  });
  const item = parsed.item;
  return {
    valid: parsed.valid,
    model: item?.kind === "DestinationRule" ? item.value : (undefined as DestinationRuleModel | undefined),
    diagnostics: parsed.diagnostics.map((d) => `${d.severity} ${d.path}: ${d.reason}`),
  };
}

const lb = (loadBalancer: Record<string, unknown>) => dr({ trafficPolicy: { loadBalancer } });

describe("DestinationRule load balancers", () => {
  test("simple kinds, LEAST_CONN as LEAST_REQUEST, and a note for what gRPC cannot do", () => {
    expect(lb({ simple: "ROUND_ROBIN" }).model?.trafficPolicy?.loadBalancer).toEqual({ kind: "ROUND_ROBIN" });
    const lc = lb({ simple: "LEAST_CONN" });
    expect(lc.model?.trafficPolicy?.loadBalancer).toEqual({ kind: "LEAST_REQUEST" });
    expect(lc.diagnostics).toEqual([
      "warning spec.trafficPolicy.loadBalancer.simple: proxyless gRPC clients do not support LEAST_CONN; they use ROUND_ROBIN",
    ]);
    expect(lb({ simple: "PASSTHROUGH" }).model?.trafficPolicy?.loadBalancer?.kind).toBe("PASSTHROUGH");
    expect(lb({ simple: "FASTEST" }).diagnostics[0]).toMatch(
      /^error spec.trafficPolicy.loadBalancer.simple: unknown/,
    );
  });

  test("warmup and locality settings without an algorithm keep istiod's default (UNSPECIFIED)", () => {
    const r = lb({
      warmupDurationSecs: "30s",
      localityLbSetting: {
        enabled: true,
        failover: [{ from: "r1", to: "r2" }],
        failoverPriority: ["topology.kubernetes.io/region"],
      },
    });
    expect(r.valid).toBe(true);
    expect(r.model?.trafficPolicy?.loadBalancer).toEqual({
      kind: "UNSPECIFIED",
      warmupDurationMs: 30_000,
      localityLbSetting: {
        enabled: true,
        failover: [{ from: "r1", to: "r2" }],
        failoverPriority: ["topology.kubernetes.io/region"],
      },
    });
  });

  test("every hash key, ringHash / maglev sizes and the legacy minimumRingSize (default 1024)", () => {
    expect(
      lb({ consistentHash: { httpHeaderName: "X-User", ringHash: { minimumRingSize: 2048 } } }).model
        ?.trafficPolicy?.loadBalancer,
    ).toEqual({
      kind: "RING_HASH",
      hashKey: { header: "X-User" },
      minimumRingSize: 2048,
    });
    const cookie = lb({
      consistentHash: { httpCookie: { name: "sess", path: "/a", ttl: "60s" }, maglev: { tableSize: 131 } },
    });
    expect(cookie.model?.trafficPolicy?.loadBalancer).toEqual({
      kind: "MAGLEV",
      hashKey: { cookie: { name: "sess", path: "/a", ttlMs: 60_000 } },
      tableSize: 131,
    });
    expect(cookie.valid).toBe(true);
    expect(lb({ consistentHash: { useSourceIp: true } }).model?.trafficPolicy?.loadBalancer).toEqual({
      kind: "RING_HASH",
      hashKey: { sourceIp: true },
      minimumRingSize: 1024,
    });
    expect(
      lb({ consistentHash: { httpQueryParameterName: "u", minimumRingSize: 512 } }).model?.trafficPolicy
        ?.loadBalancer,
    ).toEqual({
      kind: "RING_HASH",
      hashKey: { queryParameter: "u" },
      minimumRingSize: 512,
    });
    expect(
      lb({ consistentHash: { httpHeaderName: "a", ringHash: {} } }).model?.trafficPolicy?.loadBalancer,
    ).toEqual({
      kind: "RING_HASH",
      hashKey: { header: "a" },
    });
  });

  test("what istiod's validation rejects rejects the object", () => {
    const errors = (spec: Record<string, unknown>) =>
      lb(spec).diagnostics.filter((d) => d.startsWith("error"));
    expect(errors({ simple: "RANDOM", consistentHash: { useSourceIp: true } })).toEqual([
      "error spec.trafficPolicy.loadBalancer: only one of simple or consistentHash may be set",
    ]);
    expect(errors({ consistentHash: { httpCookie: { path: "/" } } })).toEqual([
      "error spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: name required for httpCookie",
    ]);
    expect(errors({ consistentHash: { useSourceIp: true, maglev: { tableSize: 100 } } })).toEqual([
      "error spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: Maglev table size must be a prime number, got 100",
    ]);
    expect(errors({ consistentHash: { minimumRingSize: 10, ringHash: { minimumRingSize: 20 } } })[0]).toMatch(
      /only one of minimumRingSize or ringHash\/maglev/,
    );
    expect(
      errors({
        localityLbSetting: { distribute: [{ from: "r1/z1/*", to: { "r1/z1/*": 70, "r1/z2/*": 20 } }] },
      }),
    ).toEqual([
      "error spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to: locality weights must add up to 100, got 90",
    ]);
    expect(errors({ localityLbSetting: { failover: [{ from: "r1", to: "r1" }] } })[0]).toMatch(
      /different regions/,
    );
  });
});

describe("DestinationRule connection pool, outlier detection, tls", () => {
  test("every connectionPool field, durations in milliseconds", () => {
    const r = dr({
      trafficPolicy: {
        connectionPool: {
          tcp: {
            maxConnections: 100,
            connectTimeout: "3s",
            tcpKeepalive: { probes: 3, time: "60s", interval: "10s" },
            maxConnectionDuration: "1h",
            idleTimeout: "5m",
          },
          http: {
            http1MaxPendingRequests: 10,
            http2MaxRequests: 200,
            maxRequestsPerConnection: 5,
            maxRetries: 7,
            idleTimeout: "30s",
            h2UpgradePolicy: "UPGRADE",
            useClientProtocol: true,
            maxConcurrentStreams: 50,
          },
        },
      },
    });
    expect(r.diagnostics).toEqual([]);
    expect(r.model?.trafficPolicy?.connectionPool).toEqual({
      tcp: {
        maxConnections: 100,
        connectTimeoutMs: 3000,
        tcpKeepalive: { probes: 3, timeMs: 60_000, intervalMs: 10_000 },
        maxConnectionDurationMs: 3_600_000,
        idleTimeoutMs: 300_000,
      },
      http: {
        http1MaxPendingRequests: 10,
        http2MaxRequests: 200,
        maxRequestsPerConnection: 5,
        maxRetries: 7,
        maxConcurrentStreams: 50,
        idleTimeoutMs: 30_000,
        h2UpgradePolicy: "UPGRADE",
        useClientProtocol: true,
      },
    });
  });

  test("every outlierDetection field; the deprecated consecutiveErrors is reported, not applied", () => {
    const r = dr({
      trafficPolicy: {
        outlierDetection: {
          consecutive5xxErrors: 5,
          consecutiveGatewayErrors: 2,
          consecutiveLocalOriginFailures: 4,
          splitExternalLocalOriginErrors: true,
          interval: "10s",
          baseEjectionTime: "1m",
          maxEjectionPercent: 50,
          minHealthPercent: 20,
          consecutiveErrors: 6,
        },
      },
    });
    expect(r.model?.trafficPolicy?.outlierDetection).toEqual({
      consecutive5xxErrors: 5,
      consecutiveGatewayErrors: 2,
      consecutiveLocalOriginFailures: 4,
      splitExternalLocalOriginErrors: true,
      intervalMs: 10_000,
      baseEjectionTimeMs: 60_000,
      maxEjectionPercent: 50,
      minHealthPercent: 20,
    });
    expect(r.diagnostics).toEqual([
      "warning spec.trafficPolicy.outlierDetection.consecutiveErrors: consecutiveErrors is deprecated and istiod ignores it; use consecutive5xxErrors or consecutiveGatewayErrors",
    ]);
  });

  test("tls from files; MUTUAL without a client certificate is rejected; ISTIO_MUTUAL is a documented limitation", () => {
    const mutual = dr({
      trafficPolicy: {
        tls: {
          mode: "MUTUAL",
          clientCertificate: "/c.pem",
          privateKey: "/k.pem",
          caCertificates: "/ca.pem",
          sni: "a.example.com",
          subjectAltNames: ["a.example.com"],
        },
      },
    });
    expect(mutual.valid).toBe(true);
    expect(mutual.model?.trafficPolicy?.tls).toEqual({
      mode: "MUTUAL",
      clientCertificate: "/c.pem",
      privateKey: "/k.pem",
      caCertificates: "/ca.pem",
      sni: "a.example.com",
      subjectAltNames: ["a.example.com"],
    });
    expect(mutual.diagnostics).toEqual([
      "warning spec.trafficPolicy.tls.mode: proxyless gRPC clients do not support tls from files (they need certificate providers); they connect in plaintext, as with istiod",
    ]);
    expect(dr({ trafficPolicy: { tls: { mode: "MUTUAL" } } }).diagnostics).toContain(
      "error spec.trafficPolicy.tls: client certificate and private key are required for MUTUAL tls",
    );
    expect(dr({ trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } }).diagnostics[0]).toMatch(
      /^warning spec.trafficPolicy.tls.mode: ISTIO_MUTUAL needs workload certificates/,
    );
  });

  test("portLevelSettings per port; unknown fields are warnings with their path, the rest applies", () => {
    const r = dr({
      trafficPolicy: {
        loadBalancer: { simple: "ROUND_ROBIN" },
        portLevelSettings: [
          { port: { number: 8080 }, loadBalancer: { simple: "RANDOM" }, conectionPool: {} },
        ],
        tunnel: { protocol: "CONNECT", targetHost: "x", targetPort: 1 },
      },
      subsets: [
        {
          name: "v1",
          labels: { version: "v1" },
          trafficPolicy: { outlierDetection: { consecutive5xxErrors: 2 } },
        },
      ],
    });
    expect(r.valid).toBe(true);
    expect(r.model?.trafficPolicy?.portLevelSettings).toEqual([
      { port: 8080, loadBalancer: { kind: "RANDOM" } },
    ]);
    expect(r.model?.subsets[0]?.trafficPolicy).toEqual({ outlierDetection: { consecutive5xxErrors: 2 } });
    expect(r.diagnostics).toEqual([
      "warning spec.trafficPolicy.portLevelSettings[0].loadBalancer.simple: proxyless gRPC clients do not support RANDOM; they use ROUND_ROBIN",
      "warning spec.trafficPolicy.tunnel: tunnel is not supported by meshctl yet; ignored",
      'warning spec.trafficPolicy.portLevelSettings[0].conectionPool: unknown field "conectionPool"; ignored (did you mean "connectionPool"?)',
    ]);
  });
});
