/**
 * Capability-aware generation against a real stock Envoy 1.40 (in a network namespace, so its
 * 15001/15006 never collide with another test's): extension filters Envoy lacks (Istio's
 * `istio.stats` / `istio.metadata_exchange`, which `meshctl enable tstats` adds) are left out, so
 * Envoy ACKs every listener and cluster; a filter stock Envoy has (CORS) is sent; /debug/clients
 * says which were left out and why. The listeners also carry Istio's default TEXT access log,
 * which Envoy must accept too.
 *
 * Needs root (network namespaces) and Envoy; skips without them unless MESHCTL_REQUIRE lists envoy.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type ClientStatus,
  type EnvoyFilterExtensions,
  formatXdsEvent,
  renderBootstrap,
  startXdsServer,
  staticMeshSource,
  type XdsServerEvent,
  type XdsServerHandle,
} from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { type EnvoyProcess, envoyInNetnsGate, startEnvoy } from "./envoy-process.js";
import { createTestNetns, type TestNetns } from "./netns.js";

const { gate, envoyPath } = await envoyInNetnsGate("xds envoy capabilities test");

const any = (name: string, type: string, value = new Uint8Array()) => ({
  name,
  typed_config: { type_url: `type.googleapis.com/${type}`, value },
});
// What `meshctl enable tstats` adds (stats.PluginConfig{tcp_reporting_duration: 5s}), plus CORS.
const statsConfig = Uint8Array.from([0x3a, 0x02, 0x08, 0x05]);
const mx = any("istio.metadata_exchange", "io.istio.http.peer_metadata.Config");
const stats = any("istio.stats", "stats.PluginConfig", statsConfig);
const tcpMx = any("istio.metadata_exchange", "envoy.tcp.metadataexchange.config.MetadataExchange");
const cors = any("envoy.filters.http.cors", "envoy.extensions.filters.http.cors.v3.Cors");
const FILTERS: EnvoyFilterExtensions = {
  http: { inbound: [mx, stats, cors], outbound: [mx, stats, cors] },
  network: { inbound: [tcpMx, stats], outbound: [stats] },
  cluster: { outbound: [tcpMx] },
};

type Named = { name: string; typed_config?: { http_filters?: Named[] } };
type DumpedListener = {
  name: string;
  active_state?: { listener?: { filter_chains?: { name?: string; filters: Named[] }[] } };
};

describe.skipIf(gate.skip)("a stock Envoy gets only the extension filters it has", () => {
  let ns: TestNetns | undefined;
  let xds: XdsServerHandle | undefined;
  let envoy: EnvoyProcess | undefined;
  let dir: string | undefined;
  const events: XdsServerEvent[] = [];

  beforeAll(async () => {
    if (gate.missing || !envoyPath) throw new Error(gate.missing);
    dir = await mkdtemp(join(tmpdir(), "mcx-envoy-cap-"));
    ns = await createTestNetns({
      tag: `cap${process.pid % 10_000}`,
      octet: 214,
      index: 1 + (process.pid % 250),
    });
    const source = staticMeshSource([
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "demo" },
        spec: {
          ports: [
            { name: "http", port: 80, targetPort: 8080 },
            { name: "tcp-db", port: 5432 },
          ],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-0", namespace: "demo", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [
          { name: "http", port: 8080 },
          { name: "tcp-db", port: 5432 },
        ],
        endpoints: [{ addresses: [ns.ip] }],
      },
    ]);
    xds = await startXdsServer({
      source,
      // The veth address of the test's own network namespace: beyond loopback, so explicit.
      host: ns.hostIp,
      insecure: true,
      port: 0,
      debugPort: 0,
      envoyFilters: FILTERS,
      accessLog: { path: join(dir, "access.log") },
      onEvent: (e) => events.push(e),
    });
    const bootstrap = renderBootstrap({
      kind: "envoy",
      name: "web-1",
      namespace: "demo",
      ip: ns.ip,
      server: xds.address,
      adminPort: 0,
    });
    envoy = await startEnvoy(envoyPath, bootstrap, { netns: ns });
  }, 60_000);

  afterAll(async () => {
    await envoy?.close();
    await xds?.close();
    await ns?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("Envoy ACKs every type: no listener or cluster is rejected", { timeout: 40_000 }, async () => {
    const status = await waitFor(
      () => {
        const c = xds?.clients()[0];
        return c &&
          xds?.settled() &&
          ["cds", "eds", "lds"].every(
            (k) => c.types[k]?.ackedVersion && c.types[k]?.ackedVersion === c.types[k]?.lastVersionSent,
          )
          ? c
          : false;
      },
      { timeoutMs: 30_000, what: "Envoy to ACK CDS, EDS and LDS" },
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}\nclients: ${JSON.stringify(xds?.clients())}\nEnvoy log:\n${envoy?.log()}`,
      );
    });
    for (const [kind, t] of Object.entries(status.types))
      expect(t.nacks, `${kind} NACKs: ${t.lastNackError}`).toBe(0);
    const envoyStats = await envoy!.stats();
    expect(envoyStats.get("listener_manager.lds.update_rejected")).toBe(0);
    expect(envoyStats.get("cluster_manager.cds.update_rejected")).toBe(0);
  });

  test("the listeners Envoy runs carry CORS and not Istio's filters; clusters carry none", async () => {
    const dump = JSON.parse(await envoy!.adminGet("/config_dump?resource=dynamic_listeners")) as {
      configs: DumpedListener[];
    };
    const listener = (name: string) => {
      const l = dump.configs.find((c) => c.name === name)?.active_state?.listener;
      if (!l)
        throw new Error(
          `Envoy has no active listener ${name}: ${dump.configs.map((c) => c.name).join(", ")}`,
        );
      return l;
    };
    const httpFilters = (f: Named | undefined) => (f?.typed_config?.http_filters ?? []).map((h) => h.name);
    const expected = ["envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"];
    expect(httpFilters(listener("0.0.0.0_80").filter_chains?.[0]?.filters[0])).toEqual(expected);
    const inbound = listener("virtualInbound").filter_chains ?? [];
    expect(httpFilters(inbound.find((c) => c.name === "0.0.0.0_8080")?.filters[0])).toEqual(expected);
    expect(inbound.find((c) => c.name === "0.0.0.0_5432")?.filters.map((f) => f.name)).toEqual([
      "envoy.filters.network.tcp_proxy",
    ]);
    expect(listener("0.0.0.0_5432").filter_chains?.[0]?.filters.map((f) => f.name)).toEqual([
      "envoy.filters.network.tcp_proxy",
    ]);
    const clusters = JSON.parse(await envoy!.adminGet("/config_dump?resource=dynamic_active_clusters")) as {
      configs: { cluster: { name: string; filters?: Named[] } }[];
    };
    const db = clusters.configs.find((c) => c.cluster.name === "outbound|5432||web.demo.svc.cluster.local");
    expect(db, "Envoy runs the TCP service's cluster").toBeDefined();
    expect(db?.cluster.filters).toBeUndefined();
  });

  test("/debug/clients reports Envoy's capabilities and each filter it was not sent, with why", async () => {
    const body = (await (await fetch(`http://127.0.0.1:${xds?.debugPort}/debug/clients`)).json()) as {
      clients: ClientStatus[];
    };
    const [client] = body.clients;
    expect(client?.capabilities).toMatchObject({ userAgent: "envoy", buildVersion: "1.40.0" });
    // 516 extensions in 1.40.0, none disabled.
    expect(client?.capabilities.extensionCount).toBeGreaterThan(400);
    const skipped = client?.skippedFilters ?? [];
    expect([...new Set(skipped.map((s) => s.name))].sort()).toEqual([
      "istio.metadata_exchange",
      "istio.stats",
    ]);
    expect(
      skipped.find((s) => s.name === "istio.stats" && s.category === "envoy.filters.http"),
    ).toMatchObject({
      type: "stats.PluginConfig",
      at: ["http/inbound", "http/outbound"],
      reason: expect.stringMatching(
        /^envoy 1\.40\.0 reports no envoy\.filters\.http extension for type stats\.PluginConfig/,
      ),
    });
    expect(skipped.some((s) => s.name === "envoy.filters.http.cors")).toBe(false);
    expect(client?.view).toMatch(/\|filters=/);
    // `meshctl xds serve` logs them when the proxy connects.
    const connect = events.find((e) => e.type === "connect");
    expect(connect && formatXdsEvent(connect)).toMatch(
      /^connect sotw-1 sotw sidecar node=sidecar~.* \(not sent, the proxy lacks them: istio\.metadata_exchange, istio\.stats; see \/debug\/clients\)$/,
    );
  });
});
