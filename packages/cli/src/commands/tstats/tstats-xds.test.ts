// `meshctl enable tstats` end to end with the control plane: the setting written by the command is
// read by the same code path `meshctl xds serve` uses, and a sidecar receives the filters over ADS.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTstatsEnvoyFilters, writeTstatsSettings } from "@meshctl/tstats";
import { startXdsServer } from "@meshctl/xds";
import { connectAdsTestClient } from "@meshctl/xds/testing";
import { afterEach, describe, expect, test } from "vitest";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Filter = { name: string; typed_config: { type_url?: string; http_filters?: Filter[] } };

describe("tstats through meshctl's xDS control plane", () => {
  test("an enabled setting puts the filters into a sidecar's listeners over ADS", {
    timeout: 30_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "mct-tstats-xds-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeTstatsSettings({ enabled: true, filters: { tcpReportingSeconds: 5 } }, dir);
    const envoyFilters = await loadTstatsEnvoyFilters(dir);
    expect(envoyFilters).toBeDefined();

    const xds = await startXdsServer({
      port: 0,
      debugPort: false,
      ...(envoyFilters ? { envoyFilters } : {}),
    });
    cleanups.push(() => xds.close());
    const client = await connectAdsTestClient({
      address: xds.address,
      protocol: "sotw",
      nodeId: "sidecar~127.0.0.1~web-1.default~default.svc.cluster.local",
      // An Istio proxy build: it reports Istio's filters, so the control plane sends them.
      node: {
        user_agent_name: "envoy",
        extensions: [
          {
            name: "istio.metadata_exchange",
            category: "envoy.filters.http",
            type_urls: ["io.istio.http.peer_metadata.Config"],
          },
          { name: "istio.stats", category: "envoy.filters.http", type_urls: ["stats.PluginConfig"] },
          {
            name: "istio.metadata_exchange",
            category: "envoy.filters.network",
            type_urls: ["envoy.tcp.metadataexchange.config.MetadataExchange"],
          },
          { name: "istio.stats", category: "envoy.filters.network", type_urls: ["stats.PluginConfig"] },
          {
            name: "istio.metadata_exchange",
            category: "envoy.filters.upstream_network",
            type_urls: ["envoy.tcp.metadataexchange.config.MetadataExchange"],
          },
        ],
      },
    });
    cleanups.push(() => client.close());
    client.send({ type_url: "type.googleapis.com/envoy.config.listener.v3.Listener", resource_names: [] });
    const lds = await client.next(10_000);
    const hcms = lds.resources
      .flatMap((r) => (r.value.filter_chains as { filters: Filter[] }[] | undefined) ?? [])
      .flatMap((c) => c.filters)
      .filter((f) => f.name === "envoy.filters.network.http_connection_manager");
    expect(hcms.length).toBeGreaterThan(0);
    for (const hcm of hcms) {
      const names = (hcm.typed_config.http_filters ?? []).map((f) => f.name);
      expect(names.slice(-3)).toEqual([
        "istio.metadata_exchange",
        "istio.stats",
        "envoy.filters.http.router",
      ]);
    }
  });
});
