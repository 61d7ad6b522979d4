/**
 * Locality load balancing against a real Envoy: the ClusterLoadAssignments a proxy gets follow
 * the locality in its bootstrap Node, and Envoy takes them (ACK) with the host priorities istiod
 * would give (same subzone 0, same zone 1, same region 2, the failover region, the rest).
 */
import { findProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  renderBootstrap,
  type StaticMeshSource,
  startXdsServer,
  staticMeshSource,
  type XdsServerHandle,
} from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, startEnvoy } from "./envoy-process.js";
import { programGate } from "./helpers.js";

const envoyPath = await findProgram("envoy");
const gate = programGate("envoy", envoyPath, "xds envoy-locality test");

const NODE_ID = "sidecar~10.12.0.99~client.demo~demo.svc.cluster.local";
const FAILOVER = "outbound|8080||echo.demo.svc.cluster.local";
const DISTRIBUTE = "outbound|8080||ping.demo.svc.cluster.local";

const NODES: [string, string, string, string][] = [
  ["n1", "r1", "z1", "s1"],
  ["n2", "r1", "z1", "s2"],
  ["n3", "r1", "z2", ""],
  ["n4", "r2", "z3", ""],
  ["n5", "r3", "z4", ""],
];

const node = ([name, region, zone, subzone]: [string, string, string, string]) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name,
    labels: {
      "topology.kubernetes.io/region": region,
      "topology.kubernetes.io/zone": zone,
      ...(subzone ? { "topology.istio.io/subzone": subzone } : {}),
    },
  },
});

const service = (name: string, block: number) => [
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "demo" },
    spec: { ports: [{ name: "http", port: 8080 }] },
  },
  {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "demo", labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080 }],
    endpoints: NODES.map(([n], i) => ({ addresses: [`10.12.${block}.${i + 1}`], nodeName: n })),
  },
];

const rule = (host: string, trafficPolicy: object) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: host, namespace: "demo" },
  spec: { host, trafficPolicy },
});

describe.skipIf(gate.skip)("a real Envoy takes per-locality priorities and weights", () => {
  let xds: XdsServerHandle | undefined;
  let source: StaticMeshSource | undefined;
  let envoy: EnvoyProcess | undefined;

  beforeAll(async () => {
    if (!envoyPath) throw new Error(gate.missing);
    source = staticMeshSource([
      ...NODES.map(node),
      ...service("echo", 1),
      ...service("ping", 2),
      rule("echo", {
        outlierDetection: { consecutive5xxErrors: 3 },
        loadBalancer: { localityLbSetting: { failover: [{ from: "r1", to: "r3" }] } },
      }),
      rule("ping", {
        loadBalancer: {
          localityLbSetting: { distribute: [{ from: "r1/z1/*", to: { "r1/*": 80, "r2/*": 20 } }] },
        },
      }),
    ]);
    xds = await startXdsServer({ source, port: 0, debugPort: 0, debounceAfterMs: 20 });
    const bootstrap = renderBootstrap({
      kind: "envoy",
      name: "client",
      namespace: "demo",
      ip: "10.12.0.99",
      server: xds.address,
      adminPort: 0,
    });
    expect((bootstrap.node as { id: string }).id).toBe(NODE_ID);
    // What `--service-zone`-style settings or Istio's agent would put in the Node.
    (bootstrap.node as Record<string, unknown>).locality = { region: "r1", zone: "z1", sub_zone: "s1" };
    envoy = await startEnvoy(envoyPath, bootstrap);
  }, 40_000);

  afterAll(async () => {
    await envoy?.close();
    await xds?.close();
  });

  const hostStatuses = async (cluster: string) => {
    const json = JSON.parse((await envoy?.adminGet("/clusters?format=json")) ?? "{}") as {
      cluster_statuses?: {
        name: string;
        host_statuses?: { address?: { socket_address?: { address?: string } }; priority?: number }[];
      }[];
    };
    return json.cluster_statuses?.find((c) => c.name === cluster)?.host_statuses ?? [];
  };

  test("Envoy ACKs every ClusterLoadAssignment, and its hosts carry istiod's failover priorities", {
    timeout: 30_000,
  }, async () => {
    await waitFor(
      () => {
        const c = xds?.clients().find((s) => s.nodeId === NODE_ID);
        const types = c ? Object.values(c.types) : [];
        return (
          xds?.settled() &&
          c?.types.eds?.ackedVersion !== undefined &&
          types.every((t) => t.nacks === 0 && t.ackedVersion === t.lastVersionSent)
        );
      },
      { timeoutMs: 20_000, what: "Envoy to ACK CDS, EDS and LDS without a NACK" },
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}\nclients: ${JSON.stringify(xds?.clients())}\nEnvoy log:\n${envoy?.log()}`,
      );
    });
    const priorities = await waitFor(
      async () => {
        const hosts = await hostStatuses(FAILOVER);
        return hosts.length === 5
          ? Object.fromEntries(hosts.map((h) => [h.address?.socket_address?.address, h.priority ?? 0]))
          : false;
      },
      { timeoutMs: 10_000, what: "Envoy's /clusters to list the failover cluster's hosts" },
    );
    expect(priorities).toEqual({
      "10.12.1.1": 0,
      "10.12.1.2": 1,
      "10.12.1.3": 2,
      "10.12.1.5": 3,
      "10.12.1.4": 4,
    });
    // distribute: r3 matches no target and is sent without hosts.
    const distributed = (await hostStatuses(DISTRIBUTE))
      .map((h) => h.address?.socket_address?.address)
      .sort();
    expect(distributed).toEqual(["10.12.2.1", "10.12.2.2", "10.12.2.3", "10.12.2.4"]);
  });
});
