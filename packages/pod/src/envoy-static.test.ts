import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, runCommand } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { renderStaticSidecarBootstrap } from "./envoy-static.js";

const envoy = await findProgram("envoy");

interface Listener {
  name: string;
  address: { socket_address: { address: string; port_value: number } };
  use_original_dst?: boolean;
  listener_filters?: { name: string }[];
  filter_chains: {
    name: string;
    filter_chain_match?: { destination_port?: number };
    filters: { name: string; typed_config: { cluster: string } }[];
  }[];
}
interface Cluster {
  name: string;
  type: string;
  lb_policy?: string;
  upstream_bind_config?: { source_address: { address: string } };
  load_assignment?: {
    endpoints: { lb_endpoints: { endpoint: { address: { socket_address: object } } }[] }[];
  };
}

function parts(bootstrap: Record<string, unknown>) {
  const resources = bootstrap.static_resources as { listeners: Listener[]; clusters: Cluster[] };
  const listener = (name: string) => resources.listeners.find((l) => l.name === name)!;
  const cluster = (name: string) => resources.clusters.find((c) => c.name === name);
  /** The cluster a connection with this original destination port ends up in. */
  const route = (l: Listener, port: number) => {
    const chain =
      l.filter_chains.find((c) => c.filter_chain_match?.destination_port === port) ??
      l.filter_chains.find((c) => !c.filter_chain_match);
    expect(chain?.filters.map((f) => f.name)).toEqual(["envoy.filters.network.tcp_proxy"]);
    return chain!.filters[0]!.typed_config.cluster;
  };
  return { listener, cluster, route, resources };
}

describe("renderStaticSidecarBootstrap", () => {
  test("outbound: 15001 hands connections to their original destination, L4", () => {
    const { listener, cluster, route } = parts(renderStaticSidecarBootstrap({ appPorts: [8080] }));
    const outbound = listener("virtualOutbound");
    expect(outbound.address.socket_address).toEqual({ address: "0.0.0.0", port_value: 15001 });
    expect(outbound.use_original_dst).toBe(true);
    expect(route(outbound, 80)).toBe("PassthroughCluster");
    expect(cluster("PassthroughCluster")).toMatchObject({
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
    });
    // The sidecar's own upstream connections are exempt by uid, not by source address.
    expect(cluster("PassthroughCluster")?.upstream_bind_config).toBeUndefined();
  });

  test("inbound: 15006 reads the original destination and sends app ports to 127.0.0.1 from 127.0.0.6", () => {
    const { listener, cluster, route } = parts(renderStaticSidecarBootstrap({ appPorts: [9090, 8080] }));
    const inbound = listener("virtualInbound");
    expect(inbound.address.socket_address).toEqual({ address: "0.0.0.0", port_value: 15006 });
    expect(inbound.listener_filters?.map((f) => f.name)).toEqual(["envoy.filters.listener.original_dst"]);
    for (const port of [8080, 9090]) {
      const name = route(inbound, port);
      expect(name).toBe(`inbound|${port}||`);
      const c = cluster(name);
      expect(c?.type).toBe("STATIC");
      expect(c?.upstream_bind_config?.source_address.address).toBe("127.0.0.6");
      expect(c?.load_assignment?.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address).toEqual({
        address: "127.0.0.1",
        port_value: port,
      });
    }
    // Any other port passes through to the pod's own address, still from 127.0.0.6.
    expect(route(inbound, 7000)).toBe("InboundPassthroughCluster");
    expect(cluster("InboundPassthroughCluster")).toMatchObject({
      type: "ORIGINAL_DST",
      upstream_bind_config: { source_address: { address: "127.0.0.6" } },
    });
  });

  test("a connection to a listener's own port is closed, not forwarded into a capture loop", () => {
    const { listener, route, cluster } = parts(
      renderStaticSidecarBootstrap({ appPorts: [], outboundPort: 16001, inboundPort: 16006 }),
    );
    expect(route(listener("virtualInbound"), 16006)).toBe("BlackHoleCluster");
    expect(route(listener("virtualOutbound"), 16001)).toBe("BlackHoleCluster");
    expect(cluster("BlackHoleCluster")?.load_assignment).toBeUndefined();
  });

  test("ports and the admin address follow the options; admin stays on loopback", () => {
    const bootstrap = renderStaticSidecarBootstrap({
      appPorts: [8080, 8080],
      outboundPort: 16001,
      inboundPort: 16006,
      adminPort: 16000,
    });
    const { listener, resources } = parts(bootstrap);
    expect(listener("virtualOutbound").address.socket_address.port_value).toBe(16001);
    expect(listener("virtualInbound").address.socket_address.port_value).toBe(16006);
    expect(bootstrap.admin).toEqual({
      address: { socket_address: { address: "127.0.0.1", port_value: 16000 } },
    });
    expect(resources.clusters.filter((c) => c.name.startsWith("inbound|"))).toHaveLength(1);
  });

  test("no cluster keeps Envoy's default limit of 1,024 connections", () => {
    const { resources } = parts(renderStaticSidecarBootstrap({ appPorts: [8080] }));
    for (const c of resources.clusters.filter((c) => c.name !== "BlackHoleCluster")) {
      expect(c, c.name).toMatchObject({
        circuit_breakers: { thresholds: [{ max_connections: 4_294_967_295 }] },
      });
    }
  });

  test.skipIf(!envoy)("Envoy itself accepts every rendered variant (envoy --mode validate)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mcp-test-"));
    try {
      for (const options of [
        { appPorts: [8080] },
        { appPorts: [] },
        { appPorts: [8080, 9090], adminPort: 16000 },
      ]) {
        const file = join(dir, "envoy.json");
        await writeFile(file, JSON.stringify(renderStaticSidecarBootstrap(options)));
        const result = await runCommand("envoy", ["--mode", "validate", "-c", file, "--log-level", "warn"], {
          reject: false,
          timeoutMs: 60_000,
        });
        expect(result.exitCode, `${JSON.stringify(options)}: ${result.stderr}${result.stdout}`).toBe(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  if (!envoy) console.log("skipped envoy --mode validate check: envoy is not installed");
});
