/**
 * The baseline shape of a sidecar's and a proxyless gRPC client's config, as istiod 1.31 sends it
 * to a stock Envoy without mTLS. The expected values are written from istiod's output (the parity
 * harness dumps) and its sources (`httproute.go` generateVirtualHostDomains, the listener
 * builders), never from meshctl's code.
 */
import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

const MESH = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  clusterIP: 10.96.0.20
  ports: [{ name: http, port: 80, targetPort: 8080 }, { name: tcp-db, port: 5432 }]
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: other }
spec:
  clusterIP: 10.96.0.30
  ports: [{ name: http, port: 80 }]
---
apiVersion: v1
kind: Service
metadata: { name: cache, namespace: demo }
spec:
  ports: [{ name: tcp-cache, port: 6379 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web, namespace: demo, labels: { kubernetes.io/service-name: web } }
ports: [{ name: http, port: 8080 }, { name: tcp-db, port: 5432 }]
endpoints:
  - addresses: [10.0.0.9]
`;

const model = assembleMeshModel(parseMeshFile("mesh.yaml", MESH).items).model;
const ctx = new PushContext(model, "v1");
const sidecar = proxyFromNode({ id: "sidecar~10.0.0.9~web-1.demo~demo.svc.cluster.local" });
const grpc = proxyFromNode({ id: "grpc~10.0.0.100~client.demo~demo.svc.cluster.local" });

type Json = Record<string, unknown>;
const envoyConfig = generateProxyConfig(ctx, sidecar);
const grpcConfig = generateProxyConfig(ctx, grpc);
const decode = (r: { any: unknown } | undefined) => decodeAnyDeep(r?.any as never) as Json;

describe("outbound route configurations", () => {
  const route = decode(envoyConfig.rds.get("80")) as {
    virtual_hosts: { name: string; domains: string[]; include_request_attempt_count?: boolean }[];
  } & Json;
  const vhost = (name: string) => route.virtual_hosts.find((v) => v.name === name);

  test("Envoy: port-less domains with the absolute FQDN and the VIP; the port is ignored in matching", () => {
    expect(vhost("web.demo.svc.cluster.local:80")?.domains).toEqual([
      "web.demo.svc.cluster.local",
      "web.demo.svc.cluster.local.",
      "web",
      "web.demo.svc",
      "web.demo",
      "10.96.0.20",
    ]);
    // Another namespace: no short name.
    expect(vhost("api.other.svc.cluster.local:80")?.domains).toEqual([
      "api.other.svc.cluster.local",
      "api.other.svc.cluster.local.",
      "api.other",
      "api.other.svc",
      "10.96.0.30",
    ]);
    expect(route.ignore_port_in_host_matching).toBe(true);
    expect(route.max_direct_response_body_size_bytes).toEqual({ value: 1048576 });
    expect(route.virtual_hosts.every((v) => v.include_request_attempt_count === true)).toBe(true);
    expect(route.virtual_hosts.at(-1)?.name).toBe("allow_any");
  });

  test("gRPC: every domain also with its port (gRPC has no port-insensitive matching)", () => {
    const grpcRoute = decode(grpcConfig.rds.get("outbound|80||web.demo.svc.cluster.local")) as {
      virtual_hosts: { domains: string[]; include_request_attempt_count?: boolean }[];
    } & Json;
    expect(grpcRoute.virtual_hosts[0]?.domains).toEqual([
      "web.demo.svc.cluster.local",
      "web.demo.svc.cluster.local:80",
      "web.demo.svc.cluster.local.",
      "web.demo.svc.cluster.local.:80",
      "web",
      "web:80",
      "web.demo.svc",
      "web.demo.svc:80",
      "web.demo",
      "web.demo:80",
      "10.96.0.20",
      "10.96.0.20:80",
    ]);
    expect(grpcRoute.virtual_hosts[0]?.include_request_attempt_count).toBe(true);
    expect(grpcRoute.ignore_port_in_host_matching).toBeUndefined();
  });

  test("gRPC: a TCP port gets an empty route configuration and no cluster", () => {
    const tcpRoute = decode(grpcConfig.rds.get("outbound|5432||web.demo.svc.cluster.local"));
    expect(tcpRoute.virtual_hosts ?? []).toEqual([]);
    expect(grpcConfig.cds.has("outbound|5432||web.demo.svc.cluster.local")).toBe(false);
    expect(grpcConfig.cds.has("outbound|80||web.demo.svc.cluster.local")).toBe(true);
  });
});

describe("outbound listeners", () => {
  test("an HTTP port: the http_inspector, a plaintext-HTTP chain, and a passthrough default chain", () => {
    const l = decode(envoyConfig.lds.get("0.0.0.0_80")) as {
      listener_filters: { name: string }[];
      filter_chains: {
        filter_chain_match: Json;
        filters: { typed_config: Json }[];
        transport_socket_connect_timeout: Json;
      }[];
      default_filter_chain: { name: string; filters: { typed_config: Json }[] };
    } & Json;
    expect(l.listener_filters.map((f) => f.name)).toEqual(["envoy.filters.listener.http_inspector"]);
    expect(l.listener_filters_timeout).toEqual({ seconds: "0", nanos: 0 });
    expect(l.continue_on_listener_filters_timeout).toBe(true);
    const [chain] = l.filter_chains;
    expect(chain?.filter_chain_match).toEqual({
      transport_protocol: "raw_buffer",
      application_protocols: ["http/1.1", "h2c"],
    });
    expect(chain?.transport_socket_connect_timeout).toEqual({ seconds: "15", nanos: 0 });
    const hcm = chain?.filters[0]?.typed_config as Json & { http_filters: { name: string }[]; rds: Json };
    expect(hcm.http_filters.map((f) => f.name)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "envoy.filters.http.router",
    ]);
    expect(hcm).toMatchObject({
      normalize_path: { value: true },
      proxy_100_continue: true,
      stream_idle_timeout: { seconds: "0", nanos: 0 },
      upgrade_configs: [{ upgrade_type: "websocket" }],
      rds: { config_source: { initial_fetch_timeout: { seconds: "0", nanos: 0 } } },
      tracing: { random_sampling: { value: 1 } },
    });
    expect(l.default_filter_chain.name).toBe("PassthroughFilterChain");
    expect(l.default_filter_chain.filters[0]?.typed_config.cluster).toBe("PassthroughCluster");
  });

  test("a TCP port of a service with a VIP listens on <vip>_<port>; without a VIP on 0.0.0.0_<port>", () => {
    expect([...envoyConfig.lds.keys()].filter((n) => !n.startsWith("virtual")).sort()).toEqual([
      "0.0.0.0_6379",
      "0.0.0.0_80",
      "10.96.0.20_5432",
    ]);
    const l = decode(envoyConfig.lds.get("10.96.0.20_5432")) as Json & {
      address: Json;
      filter_chains: { transport_socket_connect_timeout: Json }[];
    };
    expect(l.address).toEqual({ socket_address: { address: "10.96.0.20", port_value: 5432 } });
    expect(l.filter_chains[0]?.transport_socket_connect_timeout).toEqual({ seconds: "15", nanos: 0 });
    expect(l.continue_on_listener_filters_timeout).toBe(true);
  });
});
