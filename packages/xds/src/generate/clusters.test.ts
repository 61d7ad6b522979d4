/**
 * Outbound clusters against istiod. The expected shapes are what istiod (pilot-discovery built
 * from istio.io/istio eed52ebb66ad) sent an Envoy sidecar and a proxyless gRPC client for the
 * same Services and DestinationRules (dumped over ADS), not what this code builds.
 */
import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import type { TrafficPolicy } from "../model/types.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import { mergeTrafficPolicy } from "./clusters.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

const UNLIMITED = 4_294_967_295;

function service(name: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: demo }
spec:
  ports: [{ name: http, port: 8080 }, { name: grpc, port: 7070 }, { name: tcp, port: 9090 }, { name: web, port: 8000 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}, namespace: demo, labels: { kubernetes.io/service-name: ${name} } }
ports: [{ name: http, port: 8080 }, { name: grpc, port: 7070 }, { name: tcp, port: 9090 }, { name: web, port: 8000 }]
endpoints: [{ addresses: [10.2.0.1] }]
`;
}

function destinationRule(name: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: demo }
spec:
  host: ${name}
${spec
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
`;
}

const RULES: Record<string, string> = {
  plain: "",
  rr: "trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, warmupDurationSecs: 30s } }",
  lr: "trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST, warmupDurationSecs: 30s } }",
  rnd: "trafficPolicy: { loadBalancer: { simple: RANDOM } }",
  pt: "trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } }",
  hhdr: "trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-user, ringHash: { minimumRingSize: 2048 } } } }",
  hcookie:
    "trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: sess, path: /a, ttl: 60s }, maglev: { tableSize: 131 } } } }",
  hsrc: "trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } }",
  cp: `trafficPolicy:
  connectionPool:
    tcp: { maxConnections: 100, connectTimeout: 3s, tcpKeepalive: { probes: 3, time: 60s, interval: 10s }, maxConnectionDuration: 1h, idleTimeout: 5m }
    http: { http1MaxPendingRequests: 10, http2MaxRequests: 200, maxRequestsPerConnection: 5, maxRetries: 7, idleTimeout: 30s, maxConcurrentStreams: 50 }`,
  od: `trafficPolicy:
  outlierDetection: { consecutive5xxErrors: 5, consecutiveGatewayErrors: 2, consecutiveLocalOriginFailures: 4, splitExternalLocalOriginErrors: true, interval: 10s, baseEjectionTime: 1m, maxEjectionPercent: 50, minHealthPercent: 20 }
  loadBalancer: { localityLbSetting: { failover: [{ from: r1, to: r2 }] } }`,
  up: "trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 50 } } }",
  ucp: "trafficPolicy: { connectionPool: { http: { useClientProtocol: true } } }",
  tlss: `trafficPolicy:
  tls: { mode: SIMPLE, caCertificates: /etc/certs/ca.pem, sni: tlss.example.com, subjectAltNames: [spiffe://a/b, tlss.example.com] }`,
  tlsm: `trafficPolicy:
  tls: { mode: MUTUAL, clientCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem }`,
  sub: `trafficPolicy:
  loadBalancer: { simple: LEAST_REQUEST }
  connectionPool: { http: { http2MaxRequests: 100 }, tcp: { maxConnections: 10 } }
  portLevelSettings:
  - port: { number: 8080 }
    loadBalancer: { simple: RANDOM }
subsets:
- name: v1
  labels: { version: v1 }
  trafficPolicy: { connectionPool: { http: { maxRetries: 9 } } }
- name: v2
  labels: { version: v2 }
  trafficPolicy:
    loadBalancer: { consistentHash: { httpHeaderName: x-v2 } }
    portLevelSettings: [{ port: { number: 7070 }, loadBalancer: { simple: ROUND_ROBIN } }]`,
};

const MESH = Object.entries(RULES)
  .map(([name, spec]) => service(name) + (spec ? `---\n${destinationRule(name, spec)}` : ""))
  .join("---\n");

const parsed = parseMeshFile("mesh.yaml", MESH);
const ctx = new PushContext(assembleMeshModel(parsed.items).model, "v1");
const envoy = generateProxyConfig(
  ctx,
  proxyFromNode({ id: "sidecar~10.1.0.5~client-0.demo~demo.svc.cluster.local" }),
);
const grpc = generateProxyConfig(ctx, proxyFromNode({ id: "grpc~10.1.0.7~g-0.demo~demo.svc.cluster.local" }));

type Cluster = Record<string, unknown>;
const envoyCluster = (name: string, port = 8080, subset = ""): Cluster =>
  decodeAnyDeep(envoy.cds.get(`outbound|${port}|${subset}|${name}.demo.svc.cluster.local`)?.any as never);
const grpcCluster = (name: string, port = 7070, subset = ""): Cluster =>
  decodeAnyDeep(grpc.cds.get(`outbound|${port}|${subset}|${name}.demo.svc.cluster.local`)?.any as never);

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

describe("Envoy outbound clusters match istiod's", () => {
  test("the mesh parses", () => {
    expect(parsed.valid).toBe(true);
  });

  test("no DestinationRule: LEAST_REQUEST, 10 s connect timeout, unlimited circuit breakers", () => {
    expect(envoyCluster("plain")).toMatchObject({
      type: "EDS",
      eds_cluster_config: {
        eds_config: { ads: {}, initial_fetch_timeout: { seconds: "0" }, resource_api_version: "V3" },
        service_name: "outbound|8080||plain.demo.svc.cluster.local",
      },
      connect_timeout: { seconds: "10" },
      lb_policy: "LEAST_REQUEST",
      circuit_breakers: {
        thresholds: [
          {
            max_connections: { value: UNLIMITED },
            max_pending_requests: { value: UNLIMITED },
            max_requests: { value: UNLIMITED },
            max_retries: { value: UNLIMITED },
          },
        ],
      },
      // istiod turns Envoy's panic threshold off on every cluster (0 encodes as {}).
      common_lb_config: { healthy_panic_threshold: {} },
      alt_stat_name: "outbound|8080||plain.demo.svc.cluster.local;",
    });
    expect(
      (envoyCluster("plain").circuit_breakers as { thresholds: Record<string, unknown>[] }).thresholds[0]
        ?.track_remaining,
    ).toBeUndefined();
    expect(envoyCluster("plain").typed_extension_protocol_options).toBeUndefined();
    expect(envoyCluster("plain", 7070).typed_extension_protocol_options).toMatchObject({
      [HTTP_OPTIONS]: { explicit_http_config: { http2_protocol_options: {} } },
    });
    // A port whose protocol Istio cannot tell (name `web`) speaks what the client spoke.
    expect(envoyCluster("plain", 8000).typed_extension_protocol_options).toMatchObject({
      [HTTP_OPTIONS]: {
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      },
    });
  });

  test("simple load balancers, slow start, passthrough", () => {
    expect(envoyCluster("rr")).toMatchObject({
      lb_policy: "ROUND_ROBIN",
      round_robin_lb_config: { slow_start_config: { slow_start_window: { seconds: "30" } } },
    });
    expect(envoyCluster("lr")).toMatchObject({
      lb_policy: "LEAST_REQUEST",
      least_request_lb_config: { slow_start_config: { slow_start_window: { seconds: "30" } } },
    });
    expect(envoyCluster("rnd").lb_policy).toBe("RANDOM");
    const pt = envoyCluster("pt");
    expect(pt).toMatchObject({ type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED" });
    expect(pt.eds_cluster_config).toBeUndefined();
    expect(envoy.eds.has("outbound|8080||pt.demo.svc.cluster.local")).toBe(false);
  });

  test("consistent hash: ring hash with its size, Maglev with its table, legacy default 1024", () => {
    expect(envoyCluster("hhdr")).toMatchObject({
      lb_policy: "RING_HASH",
      ring_hash_lb_config: { minimum_ring_size: { value: "2048" } },
    });
    expect(envoyCluster("hcookie")).toMatchObject({
      lb_policy: "MAGLEV",
      maglev_lb_config: { table_size: { value: "131" } },
    });
    expect(envoyCluster("hsrc")).toMatchObject({
      lb_policy: "RING_HASH",
      ring_hash_lb_config: { minimum_ring_size: { value: "1024" } },
    });
  });

  test("connection pool: thresholds, connect timeout, keepalive, HTTP protocol options", () => {
    const c = envoyCluster("cp", 7070);
    expect(c).toMatchObject({
      connect_timeout: { seconds: "3" },
      circuit_breakers: {
        thresholds: [
          {
            max_connections: { value: 100 },
            max_pending_requests: { value: 10 },
            max_requests: { value: 200 },
            max_retries: { value: 7 },
          },
        ],
      },
      upstream_connection_options: {
        tcp_keepalive: {
          keepalive_probes: { value: 3 },
          keepalive_time: { value: 60 },
          keepalive_interval: { value: 10 },
        },
      },
      typed_extension_protocol_options: {
        [HTTP_OPTIONS]: {
          common_http_protocol_options: {
            idle_timeout: { seconds: "30" },
            max_requests_per_connection: { value: 5 },
            max_connection_duration: { seconds: "3600" },
          },
          explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 50 } } },
        },
      },
    });
    // An HTTP/1.1 port gets the same common options and an explicit HTTP/1.1 config.
    expect(envoyCluster("cp", 8080).typed_extension_protocol_options).toMatchObject({
      [HTTP_OPTIONS]: { explicit_http_config: { http_protocol_options: {} } },
    });
  });

  test("h2UpgradePolicy UPGRADE makes every port HTTP/2, with the stream limit; useClientProtocol follows the client", () => {
    expect(envoyCluster("up", 9090).typed_extension_protocol_options).toMatchObject({
      [HTTP_OPTIONS]: {
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 50 } } },
      },
    });
    expect(envoyCluster("ucp", 8080).typed_extension_protocol_options).toMatchObject({
      [HTTP_OPTIONS]: {
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      },
    });
  });

  test("outlier detection with istiod's enforcing percentages, panic threshold and locality config", () => {
    expect(envoyCluster("od")).toMatchObject({
      outlier_detection: {
        consecutive_5xx: { value: 5 },
        enforcing_consecutive_5xx: { value: 100 },
        consecutive_gateway_failure: { value: 2 },
        enforcing_consecutive_gateway_failure: { value: 100 },
        interval: { seconds: "10" },
        base_ejection_time: { seconds: "60" },
        max_ejection_percent: { value: 50 },
        enforcing_success_rate: { value: 0 },
        split_external_local_origin_errors: true,
        consecutive_local_origin_failure: { value: 4 },
        enforcing_consecutive_local_origin_failure: { value: 100 },
        enforcing_local_origin_success_rate: { value: 0 },
      },
      common_lb_config: { healthy_panic_threshold: { value: 20 }, locality_weighted_lb_config: {} },
    });
  });

  test("tls from files: istiod's context, with the files named directly instead of through the agent's SDS", () => {
    const tls = (name: string, port: number) =>
      (
        envoyCluster(name, port) as {
          transport_socket: { name: string; typed_config: Record<string, unknown> };
        }
      ).transport_socket;
    expect(tls("tlss", 7070).name).toBe("envoy.transport_sockets.tls");
    expect(tls("tlss", 7070).typed_config).toMatchObject({
      sni: "tlss.example.com",
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
        alpn_protocols: ["h2"],
        validation_context: {
          trusted_ca: { filename: "/etc/certs/ca.pem" },
          match_subject_alt_names: [{ exact: "spiffe://a/b" }, { exact: "tlss.example.com" }],
        },
      },
    });
    expect(tls("tlsm", 8080).typed_config).toMatchObject({
      common_tls_context: {
        tls_certificates: [
          {
            certificate_chain: { filename: "/etc/certs/cert.pem" },
            private_key: { filename: "/etc/certs/key.pem" },
          },
        ],
        validation_context: { trusted_ca: { filename: "/etc/certs/ca.pem" } },
      },
    });
    // Without sni and SANs: Envoy takes both from the request's host (istiod's auto SNI / SAN).
    expect(envoyCluster("tlsm", 8080).typed_extension_protocol_options).toMatchObject({
      [HTTP_OPTIONS]: {
        upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
        explicit_http_config: { http_protocol_options: {} },
      },
    });
  });

  test("subsets merge as istiod merges: per field, port-level settings replace", () => {
    // DR port-level for 8080 replaces the DR policy: RANDOM and default thresholds.
    expect(envoyCluster("sub", 8080)).toMatchObject({
      lb_policy: "RANDOM",
      circuit_breakers: { thresholds: [{ max_connections: { value: UNLIMITED } }] },
    });
    expect(envoyCluster("sub", 7070)).toMatchObject({
      lb_policy: "LEAST_REQUEST",
      circuit_breakers: { thresholds: [{ max_connections: { value: 10 }, max_requests: { value: 100 } }] },
    });
    // v1 replaces connectionPool whole: the DR's maxConnections is gone.
    expect(envoyCluster("sub", 7070, "v1")).toMatchObject({
      lb_policy: "LEAST_REQUEST",
      circuit_breakers: {
        thresholds: [
          {
            max_connections: { value: UNLIMITED },
            max_requests: { value: UNLIMITED },
            max_retries: { value: 9 },
          },
        ],
      },
    });
    expect(envoyCluster("sub", 9090, "v2").lb_policy).toBe("RING_HASH");
    // v2's port-level settings for 7070 replace everything for that port.
    expect(envoyCluster("sub", 7070, "v2")).toMatchObject({
      lb_policy: "ROUND_ROBIN",
      circuit_breakers: { thresholds: [{ max_connections: { value: UNLIMITED } }] },
    });
  });
});

describe("proxyless gRPC clusters match istiod's (plus what gRPC supports beyond them)", () => {
  test("EDS from ADS; ROUND_ROBIN unless the DestinationRule hashes; Maglev becomes a ring", () => {
    expect(grpcCluster("plain")).toMatchObject({
      type: "EDS",
      eds_cluster_config: {
        eds_config: { ads: {} },
        service_name: "outbound|7070||plain.demo.svc.cluster.local",
      },
      lb_policy: "ROUND_ROBIN",
    });
    expect(grpcCluster("plain").circuit_breakers).toBeUndefined();
    expect(grpcCluster("lr").lb_policy).toBe("ROUND_ROBIN");
    expect(grpcCluster("hhdr")).toMatchObject({
      lb_policy: "RING_HASH",
      ring_hash_lb_config: { minimum_ring_size: { value: "2048" } },
    });
    expect(grpcCluster("hcookie").lb_policy).toBe("RING_HASH");
    expect(grpcCluster("tlsm").transport_socket).toBeUndefined();
  });
});

describe("mergeTrafficPolicy (istiod's MergeSubsetTrafficPolicy)", () => {
  const dr: TrafficPolicy = {
    loadBalancer: { kind: "LEAST_REQUEST" },
    outlierDetection: { consecutive5xxErrors: 3 },
    portLevelSettings: [{ port: 80, connectionPool: { tcp: { maxConnections: 1 } } }],
  };
  test("a port-level setting replaces the whole DestinationRule policy for its port", () => {
    expect(mergeTrafficPolicy(dr, undefined, 80)).toEqual({ connectionPool: { tcp: { maxConnections: 1 } } });
    expect(mergeTrafficPolicy(dr, undefined, 81)).toEqual({
      loadBalancer: { kind: "LEAST_REQUEST" },
      outlierDetection: { consecutive5xxErrors: 3 },
    });
  });
  test("a subset overrides field by field; its port-level settings replace all four fields", () => {
    expect(mergeTrafficPolicy(dr, { loadBalancer: { kind: "RANDOM" } }, 81)).toEqual({
      loadBalancer: { kind: "RANDOM" },
      outlierDetection: { consecutive5xxErrors: 3 },
    });
    expect(
      mergeTrafficPolicy(
        dr,
        { portLevelSettings: [{ port: 81, tls: { mode: "DISABLE", subjectAltNames: [] } }] },
        81,
      ),
    ).toEqual({ tls: { mode: "DISABLE", subjectAltNames: [] } });
  });
});

describe("grpc-js-xds accepts every cluster a proxyless gRPC client gets (its own validator)", () => {
  test("no cluster of the DestinationRules above is rejected", async () => {
    // The real client's CDS validation (grpc-js-xds 1.14), not a re-statement of its rules: it
    // takes ROUND_ROBIN and RING_HASH only, which is why LEAST_REQUEST and MAGLEV are mapped.
    const { ClusterResourceType } = (await import(
      "@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js"
    )) as unknown as {
      ClusterResourceType: {
        get(): { decode(ctx: unknown, any: unknown): { name: string; error?: string } };
      };
    };
    expect(grpc.cds.size).toBeGreaterThan(20);
    for (const c of grpc.cds.values()) {
      const decoded = ClusterResourceType.get().decode({ server: {} }, c.any);
      expect(decoded.error, c.name).toBeUndefined();
    }
  });
});
