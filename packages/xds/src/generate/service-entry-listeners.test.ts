/**
 * ServiceEntry resolution and outboundTrafficPolicy against istiod. The expected shapes are what
 * istiod (pilot-discovery from istio.io/istio eed52ebb66ad) sent an Envoy sidecar for the same
 * ServiceEntries and Sidecar, dumped over ADS.
 */
import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import { proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: se-dns, namespace: demo }
spec:
  hosts: [api.example.com]
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: se-dns-eps, namespace: demo }
spec:
  hosts: [db.example.com]
  ports: [{ number: 5432, name: tcp, protocol: TCP }]
  resolution: DNS
  endpoints: [{ address: db1.example.com }, { address: db2.example.com, ports: { tcp: 6432 }, weight: 3 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: se-dnsrr, namespace: demo }
spec:
  hosts: [rr.example.com]
  ports: [{ number: 8443, name: https, protocol: HTTPS }]
  resolution: DNS_ROUND_ROBIN
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: se-none, namespace: demo }
spec:
  hosts: [none.example.com]
  addresses: [192.168.10.0/24, 192.168.11.0/24, 192.168.40.7/32]
  ports: [{ number: 3306, name: tcp, protocol: TCP }]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: se-static, namespace: demo }
spec:
  hosts: [static.example.com]
  addresses: [192.168.20.5]
  ports: [{ number: 7000, name: tcp, protocol: TCP }]
  resolution: STATIC
  endpoints: [{ address: 10.5.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: locked }
spec:
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec: { ports: [{ name: http, port: 80 }] }
`;

const parsed = parseMeshFile("mesh.yaml", MESH);
const ctx = new PushContext(assembleMeshModel(parsed.items).model, "v1");
const open = generateProxyConfig(
  ctx,
  proxyFromNode({ id: "sidecar~10.1.0.5~c-0.demo~demo.svc.cluster.local" }),
);
const locked = generateProxyConfig(
  ctx,
  proxyFromNode({ id: "sidecar~10.1.0.6~c-0.locked~locked.svc.cluster.local" }),
);

type Config = typeof open;
const get = (config: Config, kind: "cds" | "lds" | "rds" | "eds", name: string) => {
  const r = config[kind].get(name);
  return r ? decodeAnyDeep(r.any as never) : undefined;
};

/** tcp_proxy clusters of a listener's chains, with their matches. */
function chains(listener: Record<string, unknown> | undefined) {
  const all = [
    ...((listener?.filter_chains as Record<string, unknown>[]) ?? []),
    ...(listener?.default_filter_chain ? [listener.default_filter_chain as Record<string, unknown>] : []),
  ];
  return all.map((c) => ({
    name: c.name,
    match: c.filter_chain_match ?? {},
    cluster: (
      (c.filters as { typed_config: { cluster: string } }[]).at(-1) as { typed_config: { cluster: string } }
    ).typed_config.cluster,
  }));
}

describe("ServiceEntry resolution", () => {
  test("the mesh parses", () => expect(parsed.valid).toBe(true));

  test("DNS: a STRICT_DNS cluster of the host (or the endpoints' names), resolved as istiod sets it", () => {
    expect(get(open, "cds", "outbound|443||api.example.com")).toMatchObject({
      type: "STRICT_DNS",
      lb_policy: "LEAST_REQUEST",
      dns_lookup_family: "V4_ONLY",
      dns_refresh_rate: { seconds: "60" },
      respect_dns_ttl: true,
      typed_dns_resolver_config: { name: "envoy.network.dns_resolver.cares" },
      load_assignment: {
        cluster_name: "outbound|443||api.example.com",
        endpoints: [
          {
            locality: {},
            lb_endpoints: [
              {
                endpoint: { address: { socket_address: { address: "api.example.com", port_value: 443 } } },
                load_balancing_weight: { value: 1 },
              },
            ],
            load_balancing_weight: { value: 1 },
          },
        ],
      },
    });
    expect(get(open, "cds", "outbound|5432||db.example.com")).toMatchObject({
      type: "STRICT_DNS",
      load_assignment: {
        endpoints: [
          {
            lb_endpoints: [
              {
                endpoint: { address: { socket_address: { address: "db1.example.com", port_value: 5432 } } },
                load_balancing_weight: { value: 1 },
              },
              {
                endpoint: { address: { socket_address: { address: "db2.example.com", port_value: 6432 } } },
                load_balancing_weight: { value: 3 },
              },
            ],
            load_balancing_weight: { value: 4 },
          },
        ],
      },
    });
    // No EDS for DNS clusters: their endpoints are in the cluster.
    expect(open.eds.has("outbound|443||api.example.com")).toBe(false);
  });

  test("DNS_ROUND_ROBIN is LOGICAL_DNS; NONE is ORIGINAL_DST; STATIC is EDS", () => {
    expect(get(open, "cds", "outbound|8443||rr.example.com")?.type).toBe("LOGICAL_DNS");
    expect(get(open, "cds", "outbound|3306||none.example.com")).toMatchObject({
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
    });
    expect(get(open, "cds", "outbound|7000||static.example.com")?.type).toBe("EDS");
    expect(open.eds.has("outbound|7000||static.example.com")).toBe(true);
  });

  test("a TLS port without addresses is matched by SNI; other HTTPS passes through", () => {
    const l = get(open, "lds", "0.0.0.0_443");
    expect(l).toMatchObject({
      listener_filters: [{ name: "envoy.filters.listener.tls_inspector" }],
      continue_on_listener_filters_timeout: true,
    });
    expect(chains(l)).toEqual([
      {
        name: undefined,
        match: { server_names: ["api.example.com"] },
        cluster: "outbound|443||api.example.com",
      },
      { name: "PassthroughFilterChain", match: {}, cluster: "PassthroughCluster" },
    ]);
  });

  test("addresses: a listener per IP (a /32 is an IP, as istiod reads it), a filter chain per CIDR", () => {
    expect(chains(get(open, "lds", "192.168.20.5_7000"))).toEqual([
      { name: undefined, match: {}, cluster: "outbound|7000||static.example.com" },
    ]);
    expect(open.lds.has("0.0.0.0_7000")).toBe(false);
    expect(chains(get(open, "lds", "0.0.0.0_3306"))).toEqual([
      {
        name: undefined,
        match: { prefix_ranges: [{ address_prefix: "192.168.10.0", prefix_len: { value: 24 } }] },
        cluster: "outbound|3306||none.example.com",
      },
      {
        name: undefined,
        match: { prefix_ranges: [{ address_prefix: "192.168.11.0", prefix_len: { value: 24 } }] },
        cluster: "outbound|3306||none.example.com",
      },
      { name: "PassthroughFilterChain", match: {}, cluster: "PassthroughCluster" },
    ]);
    expect(chains(get(open, "lds", "192.168.40.7_3306"))).toEqual([
      { name: undefined, match: {}, cluster: "outbound|3306||none.example.com" },
    ]);
  });

  test("parse errors follow istiod's validation", () => {
    const bad = parseMeshFile(
      "bad.yaml",
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bad, namespace: demo }
spec:
  hosts: [a.example.com]
  ports: [{ number: 80, name: http }]
  resolution: NONE
  endpoints: [{ address: 1.2.3.4 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bad2, namespace: demo }
spec:
  hosts: [b.example.com]
  ports: [{ number: 80, name: http }]
  resolution: STATIC
  endpoints: [{ address: b1.example.com }]
`,
    );
    expect(bad.diagnostics.map((d) => `${d.path}: ${d.reason}`)).toEqual([
      "spec.endpoints: no endpoints should be provided for resolution NONE",
      'spec.endpoints[0].address: "b1.example.com" is not an IP address (DNS names need a ServiceEntry with resolution DNS)',
    ]);
  });
});

describe("DNS ServiceEntry subsets", () => {
  test("a subset's DNS cluster has the endpoints its labels select; one selecting none is left out", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db, namespace: demo }
spec:
  hosts: [db.example.com]
  ports: [{ number: 5432, name: tcp, protocol: TCP }]
  resolution: DNS
  endpoints: [{ address: a.example.com, labels: { v: "1" } }, { address: b.example.com, labels: { v: "2" } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: db, namespace: demo }
spec:
  host: db.example.com
  subsets: [{ name: one, labels: { v: "1" } }, { name: three, labels: { v: "3" } }]
`;
    const model = assembleMeshModel(parseMeshFile("db.yaml", text).items).model;
    const config = generateProxyConfig(
      new PushContext(model, "v1"),
      proxyFromNode({ id: "sidecar~10.1.0.5~c-0.demo~demo.svc.cluster.local" }),
    );
    const one = get(config, "cds", "outbound|5432|one|db.example.com") as {
      load_assignment: {
        endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[];
      };
    };
    expect(
      one.load_assignment.endpoints[0]?.lb_endpoints.map((e) => e.endpoint.address.socket_address.address),
    ).toEqual(["a.example.com"]);
    expect(config.cds.has("outbound|5432|three|db.example.com")).toBe(false);
    expect(config.cds.has("outbound|5432||db.example.com")).toBe(true);
  });
});

describe("ServiceEntry workloadSelector", () => {
  test("selects WorkloadEntries and Pods of its namespace by labels (istiod's ServiceEntry controller)", () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: vm, namespace: demo }
spec:
  hosts: [vm.example.com]
  ports: [{ number: 7100, name: http, protocol: HTTP, targetPort: 8100 }]
  resolution: STATIC
  workloadSelector: { labels: { app: vm } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: vm1, namespace: demo }
spec: { address: 10.6.0.1, labels: { app: vm } }
---
apiVersion: v1
kind: Pod
metadata: { name: vm-pod, namespace: demo, labels: { app: vm } }
status: { podIP: 10.6.0.2 }
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: demo, labels: { app: other } }
status: { podIP: 10.6.0.3 }
---
apiVersion: v1
kind: Pod
metadata: { name: elsewhere, namespace: other, labels: { app: vm } }
status: { podIP: 10.6.0.4 }
`;
    const model = assembleMeshModel(parseMeshFile("vm.yaml", text).items).model;
    const config = generateProxyConfig(
      new PushContext(model, "v1"),
      proxyFromNode({ id: "sidecar~10.1.0.5~c-0.demo~demo.svc.cluster.local" }),
    );
    const cla = get(config, "eds", "outbound|7100||vm.example.com") as {
      endpoints: {
        lb_endpoints: {
          endpoint: { address: { socket_address: { address: string; port_value: number } } };
        }[];
      }[];
    };
    expect(
      cla.endpoints
        .flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address))
        .sort((a, b) => a.address.localeCompare(b.address)),
    ).toEqual([
      { address: "10.6.0.1", port_value: 8100 },
      { address: "10.6.0.2", port_value: 8100 },
    ]);
  });
});

describe("outboundTrafficPolicy", () => {
  test("ALLOW_ANY (the mesh default): unknown destinations pass through", () => {
    expect(chains(get(open, "lds", "virtualOutbound"))).toEqual([
      {
        name: "virtualOutbound-blackhole",
        match: { destination_port: { value: 15001 } },
        cluster: "BlackHoleCluster",
      },
      { name: "virtualOutbound-catchall-tcp", match: {}, cluster: "PassthroughCluster" },
    ]);
    const vhosts = get(open, "rds", "80")?.virtual_hosts as { name: string; routes: unknown[] }[];
    expect(vhosts.at(-1)).toMatchObject({
      name: "allow_any",
      domains: ["*"],
      routes: [{ name: "allow_any", match: { prefix: "/" }, route: { cluster: "PassthroughCluster" } }],
      include_request_attempt_count: true,
    });
  });

  test("REGISTRY_ONLY: TCP to unknown destinations is blackholed, HTTP answered 502", () => {
    expect(chains(get(locked, "lds", "virtualOutbound")).map((c) => c.cluster)).toEqual([
      "BlackHoleCluster",
      "BlackHoleCluster",
    ]);
    expect(chains(get(locked, "lds", "0.0.0.0_443")).at(-1)).toEqual({
      name: "PassthroughFilterChain",
      match: {},
      cluster: "BlackHoleCluster",
    });
    const vhosts = get(locked, "rds", "80")?.virtual_hosts as { name: string }[];
    expect(vhosts.at(-1)).toMatchObject({
      name: "block_all",
      domains: ["*"],
      routes: [{ name: "block_all", match: { prefix: "/" }, direct_response: { status: 502 } }],
    });
  });
});
