import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

const MESH = `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: demo }
spec:
  ports: [{ name: grpc, port: 7070, appProtocol: grpc }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-a, namespace: demo, labels: { kubernetes.io/service-name: echo, version: v1, topology.kubernetes.io/region: r1 } }
ports: [{ name: grpc, port: 50051 }]
endpoints:
  - addresses: [10.0.0.1, 10.0.0.2]
    zone: za
  - addresses: [10.0.0.3]
    zone: zb
    conditions: { ready: false }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-b, namespace: demo, labels: { kubernetes.io/service-name: echo, version: v2 } }
ports: [{ name: grpc, port: 50052 }]
endpoints:
  - addresses: [10.0.0.4]
---
apiVersion: v1
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
---
apiVersion: v1
kind: Service
metadata:
  name: private
  namespace: secret
  annotations: { networking.istio.io/exportTo: "." }
spec:
  ports: [{ name: grpc, port: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: far, namespace: elsewhere }
spec:
  ports: [{ name: grpc, port: 9100 }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: demo }
spec:
  host: echo
  trafficPolicy:
    loadBalancer: { consistentHash: { httpHeaderName: x-user } }
    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 }, trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } } }
---
# gRPC gets the clusters its routes name (as istiod): the subsets through a weighted route.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - match: [{ uri: { prefix: /base } }]
      route: [{ destination: { host: echo } }]
    - route:
        - { destination: { host: echo, subset: v1 }, weight: 80 }
        - { destination: { host: echo, subset: v2 }, weight: 20 }
`;

const ctx = new PushContext(assembleMeshModel(parseMeshFile("mesh.yaml", MESH).items).model, "v1");
const grpcNode = proxyFromNode({ id: "grpc~10.0.0.100~client.demo~demo.svc.cluster.local" });
const sidecarNode = proxyFromNode({ id: "sidecar~10.0.0.9~web-1.demo~demo.svc.cluster.local" });

describe("proxyless gRPC generation", () => {
  const config = generateProxyConfig(ctx, grpcNode);

  test("one ApiListener per host alias, routes and Istio-style cluster names", () => {
    expect([...config.lds.keys()]).toEqual(
      expect.arrayContaining([
        "echo.demo.svc.cluster.local:7070",
        "echo.demo.svc:7070",
        "echo.demo:7070",
        "echo:7070",
        "far.elsewhere:9100",
      ]),
    );
    expect([...config.cds.keys()]).toEqual(
      expect.arrayContaining([
        "outbound|7070||echo.demo.svc.cluster.local",
        "outbound|7070|v1|echo.demo.svc.cluster.local",
        "outbound|7070|v2|echo.demo.svc.cluster.local",
      ]),
    );
    const listener = decodeAnyDeep(config.lds.get("echo.demo.svc.cluster.local:7070")?.any as never);
    expect(listener).toMatchObject({
      api_listener: {
        api_listener: {
          rds: {
            route_config_name: "outbound|7070||echo.demo.svc.cluster.local",
            config_source: { ads: {} },
          },
        },
      },
    });
  });

  test("exportTo '.' hides a service from other namespaces", () => {
    expect([...config.cds.keys()].some((n) => n.includes("private.secret"))).toBe(false);
    const inSecret = generateProxyConfig(
      ctx,
      proxyFromNode({ id: "grpc~10.0.0.101~c.secret~secret.svc.cluster.local" }),
    );
    expect([...inSecret.cds.keys()].some((n) => n.includes("private.secret"))).toBe(true);
  });

  test("CLAs group by locality, set locality weights from healthy endpoints, and filter by subset labels", () => {
    const cla = decodeAnyDeep(
      config.eds.get("outbound|7070|v1|echo.demo.svc.cluster.local")?.any as never,
    ) as {
      endpoints: {
        locality: Record<string, string>;
        load_balancing_weight: { value: number };
        lb_endpoints: {
          health_status: string;
          endpoint: { address: { socket_address: { address: string; port_value: number } } };
        }[];
      }[];
    };
    expect(
      cla.endpoints.map((e) => [
        e.locality.region,
        e.locality.zone,
        e.load_balancing_weight.value,
        e.lb_endpoints.length,
      ]),
    ).toEqual([
      ["r1", "za", 2, 2],
      ["r1", "zb", 1, 1],
    ]);
    expect(cla.endpoints[1]?.lb_endpoints[0]?.health_status).toBe("UNHEALTHY");
    expect(cla.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address).toEqual({
      address: "10.0.0.1",
      port_value: 50051,
    });
    const v2 = decodeAnyDeep(
      config.eds.get("outbound|7070|v2|echo.demo.svc.cluster.local")?.any as never,
    ) as { endpoints: { lb_endpoints: unknown[] }[] };
    expect(v2.endpoints.flatMap((e) => e.lb_endpoints)).toHaveLength(1);
  });

  test("traffic policy: ring hash + outlier detection; LEAST_REQUEST falls back to ROUND_ROBIN for gRPC", () => {
    const base = decodeAnyDeep(config.cds.get("outbound|7070||echo.demo.svc.cluster.local")?.any as never);
    expect(base).toMatchObject({
      type: "EDS",
      lb_policy: "RING_HASH",
      outlier_detection: { consecutive_5xx: { value: 5 }, max_ejection_percent: { value: 50 } },
    });
    expect(
      decodeAnyDeep(config.cds.get("outbound|7070|v2|echo.demo.svc.cluster.local")?.any as never),
    ).toMatchObject({ lb_policy: "ROUND_ROBIN" });
    const envoy = generateProxyConfig(ctx, sidecarNode);
    expect(
      decodeAnyDeep(envoy.cds.get("outbound|7070|v2|echo.demo.svc.cluster.local")?.any as never),
    ).toMatchObject({ lb_policy: "LEAST_REQUEST" });
  });

  test("versions are content hashes: equal inputs, equal versions", () => {
    const again = generateProxyConfig(new PushContext(ctx.model, "v2"), grpcNode);
    for (const kind of ["lds", "rds", "cds", "eds"] as const) {
      expect([...again[kind].values()].map((r) => r.version)).toEqual(
        [...config[kind].values()].map((r) => r.version),
      );
    }
  });
});

describe("Envoy sidecar generation", () => {
  const config = generateProxyConfig(ctx, sidecarNode);
  const listener = (name: string) =>
    decodeAnyDeep(config.lds.get(name)?.any as never) as Record<string, unknown>;

  test("virtualOutbound on 15001 uses the original destination", () => {
    expect(listener("virtualOutbound")).toMatchObject({
      address: { socket_address: { port_value: 15001 } },
      use_original_dst: { value: true },
    });
  });

  test("virtualInbound on 15006 has istiod's plaintext chains: per served port, then the passthrough ones", () => {
    const inbound = listener("virtualInbound") as {
      listener_filters: { name: string; filter_disabled?: unknown }[];
      filter_chains: {
        name: string;
        filter_chain_match?: {
          destination_port?: { value: number };
          transport_protocol?: string;
          application_protocols?: string[];
        };
      }[];
      max_connections_to_accept_per_socket_event: { value: number };
    };
    expect(inbound.listener_filters.map((f) => f.name)).toEqual([
      "envoy.filters.listener.original_dst",
      "envoy.filters.listener.tls_inspector",
      "envoy.filters.listener.http_inspector",
    ]);
    // Declared ports (and 15006 itself) are never sniffed.
    expect(inbound.listener_filters[2]?.filter_disabled).toEqual({
      or_match: {
        rules: [5432, 8080, 15006].map((p) => ({ destination_port_range: { start: p, end: p + 1 } })),
      },
    });
    expect(
      inbound.filter_chains.map((c) => [
        c.name,
        c.filter_chain_match?.destination_port?.value,
        c.filter_chain_match?.transport_protocol,
        c.filter_chain_match?.application_protocols,
      ]),
    ).toEqual([
      ["virtualInbound-blackhole", 15006, undefined, undefined],
      ["0.0.0.0_8080", 8080, "raw_buffer", undefined],
      ["0.0.0.0_5432", 5432, "raw_buffer", undefined],
      ["virtualInbound-catchall-http", undefined, "raw_buffer", ["http/1.1", "h2c"]],
      ["virtualInbound", undefined, "raw_buffer", undefined],
      ["virtualInbound", undefined, "tls", undefined],
    ]);
    expect(inbound.max_connections_to_accept_per_socket_event.value).toBe(1);
  });

  test("inbound clusters go to the original destination from 127.0.0.6, as istiod's", () => {
    const cluster = decodeAnyDeep(config.cds.get("inbound|8080||")?.any as never) as Record<string, unknown>;
    expect(cluster).toMatchObject({
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      upstream_bind_config: { source_address: { address: "127.0.0.6", port_value: 0 } },
      circuit_breakers: { thresholds: [{ max_connections: { value: 4294967295 } }] },
    });
    expect(cluster.load_assignment).toBeUndefined();
  });

  test("per-port outbound listeners: HTTP via RDS named after the port, TCP via tcp_proxy", () => {
    const http = listener("0.0.0.0_80") as {
      bind_to_port: { value: boolean };
      filter_chains: { filters: { typed_config: { rds: { route_config_name: string } } }[] }[];
    };
    expect(http.bind_to_port.value).toBe(false);
    expect(http.filter_chains[0]?.filters[0]?.typed_config.rds.route_config_name).toBe("80");
    const tcp = listener("0.0.0.0_5432") as {
      filter_chains: { filters: { name: string; typed_config: { cluster: string } }[] }[];
    };
    expect(tcp.filter_chains[0]?.filters[0]).toMatchObject({
      name: "envoy.filters.network.tcp_proxy",
      typed_config: { cluster: "outbound|5432||web.demo.svc.cluster.local" },
    });
    const route = decodeAnyDeep(config.rds.get("80")?.any as never) as {
      virtual_hosts: { name: string; domains: string[] }[];
    };
    expect(route.virtual_hosts.map((v) => v.name)).toEqual(["web.demo.svc.cluster.local:80", "allow_any"]);
    expect(route.virtual_hosts[0]?.domains).toContain("web");
  });

  test("gRPC ports get HTTP/2 upstream clusters", () => {
    const cluster = decodeAnyDeep(
      config.cds.get("outbound|7070||echo.demo.svc.cluster.local")?.any as never,
    ) as { typed_extension_protocol_options: Record<string, { explicit_http_config: unknown }> };
    expect(
      cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        ?.explicit_http_config,
    ).toEqual({ http2_protocol_options: {} });
  });

  test("a Sidecar egress scope limits what the proxy sees", () => {
    const scoped = new PushContext(
      {
        ...ctx.model,
        sidecars: [
          {
            name: "default",
            namespace: "demo",
            egressHosts: ["./*"],
            egress: [{ hosts: ["./*"] }],
            ingress: [],
            source: { file: "s.yaml", line: 1, kind: "Sidecar", name: "default", namespace: "demo" },
          },
        ],
      },
      "v3",
    );
    const hosts = new Set(
      [...generateProxyConfig(scoped, sidecarNode).cds.keys()]
        .filter((n) => n.startsWith("outbound"))
        .map((n) => n.split("|")[3]),
    );
    expect([...hosts].sort()).toEqual(["echo.demo.svc.cluster.local", "web.demo.svc.cluster.local"]);
  });
});
