/**
 * Sidecar `ingress` and egress `port`/`bind` against istiod. The expected shapes are istiod's
 * (pilot-discovery from istio.io/istio eed52ebb66ad: listener_inbound.go
 * buildInboundChainConfigs, cluster.go buildInboundClustersFromSidecar, listener.go
 * buildSidecarOutboundListeners, sidecar.go serviceMatchingListenerPort), as the parity cases
 * `sidecar-ingress` and `sidecar-egress-port` dumped them over ADS.
 */
import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

const MESH = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: echo-ingress, namespace: demo }
spec:
  workloadSelector: { labels: { app: echo } }
  ingress:
    - { port: { number: 9080, protocol: HTTP, name: http-app }, defaultEndpoint: "127.0.0.1:8080" }
    - { port: { number: 9090, protocol: TCP, name: tcp-app }, defaultEndpoint: "0.0.0.0:7070" }
    - { port: { number: 9443, protocol: HTTP2, name: h2-app } }
    - { port: { number: 9555, protocol: GRPC, name: grpc-app }, defaultEndpoint: "unix:///var/run/app.sock" }
    - { port: { number: 9091, protocol: TCP, name: tcp-bound }, bind: 127.0.0.1, defaultEndpoint: "127.0.0.1:7071" }
    - { port: { number: 9092, protocol: HTTP }, captureMode: NONE, defaultEndpoint: "127.0.0.1:8082" }
  egress: [{ hosts: ["./*"] }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: demo }
spec:
  egress:
    - { port: { number: 8080, protocol: HTTP, name: http }, hosts: [./echo.demo.svc.cluster.local] }
    - { port: { number: 5432, protocol: TCP, name: tcp }, hosts: ["./*"] }
    - { port: { number: 9000, protocol: TCP }, captureMode: NONE, hosts: [./echo.demo.svc.cluster.local] }
    - { port: { number: 7070, protocol: GRPC, name: grpc }, bind: 127.0.0.1, hosts: ["other/*"] }
    - { hosts: ["other/*"] }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: demo }
spec:
  clusterIP: 10.96.0.10
  selector: { app: echo }
  ports: [{ name: http, port: 8080 }, { name: tcp, port: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: demo }
spec:
  clusterIP: 10.96.0.11
  ports: [{ name: tcp, port: 5432 }, { name: http-admin, port: 8080, targetPort: 8081 }]
---
apiVersion: v1
kind: Service
metadata: { name: visible, namespace: other }
spec:
  clusterIP: 10.96.0.12
  ports: [{ name: http, port: 8080 }, { name: grpc, port: 7070 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: demo, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: http, port: 8080 }, { name: tcp, port: 9000 }]
endpoints: [{ addresses: [10.1.0.7] }]
`;

const parsed = parseMeshFile("mesh.yaml", MESH);
const ctx = new PushContext(assembleMeshModel(parsed.items).model, "v1");
const echo = generateProxyConfig(
  ctx,
  proxyFromNode({
    id: "sidecar~10.1.0.7~echo-1.demo~demo.svc.cluster.local",
    metadata: { fields: { LABELS: { structValue: { fields: { app: { stringValue: "echo" } } } } } },
  } as never),
);
const sleep = generateProxyConfig(
  ctx,
  proxyFromNode({ id: "sidecar~10.1.0.8~sleep-1.demo~demo.svc.cluster.local" }),
);
const grpc = generateProxyConfig(
  ctx,
  proxyFromNode({ id: "grpc~10.1.0.9~sleep-2.demo~demo.svc.cluster.local" }),
);

type Config = typeof echo;
type P = Record<string, unknown>;
const get = (config: Config, kind: "cds" | "lds" | "rds", name: string) => {
  const r = config[kind].get(name);
  return r ? (decodeAnyDeep(r.any as never) as P) : undefined;
};
const inboundChains = (config: Config) =>
  ((get(config, "lds", "virtualInbound")?.filter_chains as P[]) ?? []).map((c) => c.name);

describe("Sidecar ingress", () => {
  test("the mesh parses without diagnostics", () => {
    expect(parsed.diagnostics).toEqual([]);
  });

  test("its ports replace the ports of the service selecting the workload", () => {
    expect(inboundChains(echo)).toEqual([
      "virtualInbound-blackhole",
      "10.1.0.7_9080",
      "10.1.0.7_9090",
      "127.0.0.1_9091",
      "10.1.0.7_9443",
      "10.1.0.7_9555",
      "virtualInbound-catchall-http",
      "virtualInbound",
      "virtualInbound",
    ]);
    expect([...echo.cds.keys()].filter((n) => n.startsWith("inbound|")).sort()).toEqual([
      "inbound|9080||",
      "inbound|9090||",
      "inbound|9091||",
      "inbound|9092||",
      "inbound|9443||",
      "inbound|9555||",
    ]);
  });

  test("captureMode NONE: a listener of its own bound to the pod IP and port, not a virtualInbound chain", () => {
    expect(get(echo, "lds", "10.1.0.7_9092")).toMatchObject({
      address: { socket_address: { address: "10.1.0.7", port_value: 9092 } },
      traffic_direction: "INBOUND",
      max_connections_to_accept_per_socket_event: { value: 1 },
      listener_filters: [
        {
          name: "envoy.filters.listener.tls_inspector",
          filter_disabled: { not_match: { destination_port_range: { start: 9092, end: 9093 } } },
        },
      ],
      filter_chains: [{ name: "10.1.0.7_9092", filter_chain_match: { destination_port: { value: 9092 } } }],
    });
  });

  test("an HTTP port: an HCM to its cluster, traced under the Sidecar's name", () => {
    const chain = ((get(echo, "lds", "virtualInbound")?.filter_chains as P[] | undefined) ?? []).find(
      (c) => c.name === "10.1.0.7_9080",
    );
    expect(chain).toMatchObject({
      filter_chain_match: { destination_port: { value: 9080 }, transport_protocol: "raw_buffer" },
      filters: [
        {
          typed_config: {
            stat_prefix: "inbound_10.1.0.7_9080",
            route_config: {
              name: "inbound|9080||",
              virtual_hosts: [
                {
                  name: "inbound|http|9080",
                  routes: [
                    {
                      route: { cluster: "inbound|9080||" },
                      decorator: { operation: "echo-ingress.demo:9080/*" },
                    },
                  ],
                },
              ],
            },
          },
        },
      ],
    });
  });

  test("defaultEndpoint: loopback without the 127.0.0.6 source, the pod IP and a unix socket with it", () => {
    expect(get(echo, "cds", "inbound|9080||")).toMatchObject({
      type: "STATIC",
      load_assignment: {
        cluster_name: "inbound|9080||",
        endpoints: [
          {
            lb_endpoints: [
              { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } },
            ],
          },
        ],
      },
    });
    expect(get(echo, "cds", "inbound|9080||")?.upstream_bind_config).toBeUndefined();
    expect(get(echo, "cds", "inbound|9090||")).toMatchObject({
      type: "STATIC",
      load_assignment: {
        endpoints: [
          {
            lb_endpoints: [
              { endpoint: { address: { socket_address: { address: "10.1.0.7", port_value: 7070 } } } },
            ],
          },
        ],
      },
      upstream_bind_config: { source_address: { address: "127.0.0.6", port_value: 0 } },
    });
    expect(get(echo, "cds", "inbound|9555||")).toMatchObject({
      type: "STATIC",
      load_assignment: {
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "/var/run/app.sock" } } } }] }],
      },
      upstream_bind_config: { source_address: { address: "127.0.0.6" } },
    });
  });

  test("a GRPC port's inbound route has no retry policy (istiod: it does not suit gRPC streams)", () => {
    const chain = ((get(echo, "lds", "virtualInbound")?.filter_chains as P[] | undefined) ?? []).find(
      (c) => c.name === "10.1.0.7_9555",
    );
    const route = JSON.stringify(chain);
    expect(route).toContain("http2_protocol_options");
    expect(route).not.toContain("reset-before-request");
  });

  test("no defaultEndpoint: the original destination, HTTP/2 upstream for an HTTP2 port", () => {
    const c = get(echo, "cds", "inbound|9443||");
    expect(c).toMatchObject({
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      upstream_bind_config: { source_address: { address: "127.0.0.6" } },
    });
    expect(JSON.stringify(c?.typed_extension_protocol_options)).toContain("http2_protocol_options");
  });

  test("a workload the Sidecar does not select keeps its service ports", () => {
    const other = generateProxyConfig(
      ctx,
      proxyFromNode({ id: "sidecar~10.1.0.7~echo-1.demo~demo.svc.cluster.local" }),
    );
    expect(inboundChains(other)).toContain("0.0.0.0_8080");
    expect(inboundChains(other)).not.toContain("10.1.0.7_9080");
  });
});

describe("Sidecar egress with a port", () => {
  test("an HTTP port listener carries only its hosts; the catch-all adds nothing to its port", () => {
    expect(get(sleep, "lds", "0.0.0.0_8080")).toMatchObject({
      listener_filters: [{ name: "envoy.filters.listener.http_inspector" }],
    });
    const hosts = ((get(sleep, "rds", "8080")?.virtual_hosts as P[] | undefined) ?? []).map((vh) => vh.name);
    expect(hosts).toEqual(["echo.demo.svc.cluster.local:8080", "allow_any"]);
  });

  test("a TCP port listener on each imported service's VIP, only for services with that port", () => {
    expect(get(sleep, "lds", "10.96.0.11_5432")).toMatchObject({ bind_to_port: { value: false } });
    expect(sleep.lds.has("10.96.0.10_9000")).toBe(false);
  });

  test("captureMode NONE: a listener bound to the port, at 127.0.0.1 without a bind", () => {
    const l = get(sleep, "lds", "127.0.0.1_9000");
    expect(l).toMatchObject({
      address: { socket_address: { address: "127.0.0.1", port_value: 9000 } },
      max_connections_to_accept_per_socket_event: { value: 1 },
      filter_chains: [
        { filters: [{ typed_config: { cluster: "outbound|9000||echo.demo.svc.cluster.local" } }] },
      ],
    });
    expect(l?.bind_to_port).toBeUndefined();
  });

  test("bind: the listener's address, its HCM the only chain (no sniffing)", () => {
    const l = get(sleep, "lds", "127.0.0.1_7070");
    expect(l).toMatchObject({
      address: { socket_address: { address: "127.0.0.1", port_value: 7070 } },
      bind_to_port: { value: false },
      filter_chains: [{ filters: [{ typed_config: { rds: { route_config_name: "7070" } } }] }],
    });
    expect(l?.listener_filters).toBeUndefined();
    expect(l?.default_filter_chain).toBeUndefined();
  });

  test("clusters: a port listener imports only its port of a service", () => {
    const outbound = [...sleep.cds.keys()].filter((n) => n.startsWith("outbound|")).sort();
    expect(outbound).toEqual([
      "outbound|5432||db.demo.svc.cluster.local",
      "outbound|7070||visible.other.svc.cluster.local",
      "outbound|8080||echo.demo.svc.cluster.local",
      "outbound|8080||visible.other.svc.cluster.local",
      "outbound|9000||echo.demo.svc.cluster.local",
    ]);
  });

  test("proxyless gRPC: route config 8080 of a service another listener imports is empty, as in istiod", () => {
    expect(get(grpc, "rds", "outbound|8080||visible.other.svc.cluster.local")?.virtual_hosts ?? []).toEqual(
      [],
    );
    expect(grpc.cds.has("outbound|8080||visible.other.svc.cluster.local")).toBe(false);
    expect(grpc.cds.has("outbound|7070||visible.other.svc.cluster.local")).toBe(true);
  });

  test("proxyless gRPC gets the same trimmed services", () => {
    expect([...grpc.lds.keys()].filter((n) => n.includes(".svc.cluster.local:")).sort()).toEqual([
      "db.demo.svc.cluster.local:5432",
      "echo.demo.svc.cluster.local:8080",
      "echo.demo.svc.cluster.local:9000",
      "visible.other.svc.cluster.local:7070",
      "visible.other.svc.cluster.local:8080",
    ]);
  });
});
