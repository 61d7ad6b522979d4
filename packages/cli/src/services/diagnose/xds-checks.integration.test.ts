// `meshctl diagnose --control-plane URL` against meshctl's real xDS server with tstats-like
// extension filters configured: a raw ADS client that reports the extensions stock Envoy 1.40 has
// for CORS (and not Istio's stats filter) gets CORS and not istio.stats, and diagnose names it.
import { startXdsServer, TYPE_URLS, type XdsServerHandle } from "@meshctl/xds";
import { type AdsTestClient, connectAdsTestClient, type SotwResponse, waitFor } from "@meshctl/xds/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { defaultCheckGroups, runDiagnose } from "./index.js";

const STOCK = "sidecar~10.1.0.5~web-1.demo~demo.svc.cluster.local";
const ISTIO = "sidecar~10.1.0.6~web-2.demo~demo.svc.cluster.local";
const any = (name: string, type: string) => ({
  name,
  typed_config: { type_url: `type.googleapis.com/${type}`, value: new Uint8Array() },
});
const stats = any("istio.stats", "stats.PluginConfig");
const cors = any("envoy.filters.http.cors", "envoy.extensions.filters.http.cors.v3.Cors");
// As Envoy 1.40 lists them in its Node (type URLs without the type.googleapis.com/ prefix).
const corsExtension = {
  name: "envoy.filters.http.cors",
  category: "envoy.filters.http",
  type_urls: [
    "envoy.extensions.filters.http.cors.v3.Cors",
    "envoy.extensions.filters.http.cors.v3.CorsPolicy",
  ],
};
const envoyNode = (extensions: object[]) => ({
  user_agent_name: "envoy",
  user_agent_build_version: { version: { major_number: 1, minor_number: 40, patch: 0 } },
  extensions,
});

describe("diagnose names the proxies that lack configured extension filters", () => {
  let xds: XdsServerHandle;
  const clients: AdsTestClient<SotwResponse>[] = [];
  let url = "";

  beforeAll(async () => {
    xds = await startXdsServer({
      port: 0,
      debugPort: 0,
      envoyFilters: { http: { outbound: [cors, stats] } },
    });
    url = `http://127.0.0.1:${xds.debugPort}`;
    for (const [nodeId, extensions] of [
      [STOCK, [corsExtension]],
      [
        ISTIO,
        [
          corsExtension,
          { name: "istio.stats", category: "envoy.filters.http", type_urls: ["stats.PluginConfig"] },
        ],
      ],
    ] as const) {
      const c = await connectAdsTestClient({
        address: xds.address,
        protocol: "sotw",
        nodeId,
        node: envoyNode([...extensions]),
      });
      clients.push(c);
      c.send({ type_url: TYPE_URLS.lds, resource_names: [] });
      await c.next(10_000);
    }
    await waitFor(() => xds.clients().length === 2);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await xds.close();
  });

  test("the proxy without istio.stats got CORS only; /debug/clients says so", () => {
    const stock = xds.clients().find((c) => c.nodeId === STOCK);
    expect(stock?.skippedFilters.map((f) => f.name)).toEqual(["istio.stats"]);
    expect(xds.clients().find((c) => c.nodeId === ISTIO)?.skippedFilters).toEqual([]);
    const hcm = clients[0]?.responses[0]?.resources
      .map(
        (r) =>
          r.value as {
            name: string;
            filter_chains?: { filters: { typed_config: { http_filters?: { name: string }[] } }[] }[];
          },
      )
      .find((l) => l.name === "0.0.0.0_7070")?.filter_chains?.[0]?.filters[0]?.typed_config;
    expect(hcm?.http_filters?.map((f) => f.name)).toEqual([
      "envoy.filters.http.fault",
      "envoy.filters.http.cors",
      "envoy.filters.http.router",
    ]);
  });

  test("--control-plane URL reaches the xds group: one finding for that proxy", async () => {
    // What `meshctl diagnose --control-plane URL` builds (the base URL or the clients endpoint).
    for (const controlPlaneUrl of [url, `${url}/debug/clients`]) {
      const groups = defaultCheckGroups({ cluster: { controlPlaneUrl } }).filter((g) => g.name === "xds");
      const report = await runDiagnose({ groups });
      expect(report.checks.find((c) => c.id === "xds.control-plane")?.summary).toContain(url);
    }
    const groups = defaultCheckGroups({ cluster: { controlPlaneUrl: url } }).filter((g) => g.name === "xds");
    const report = await runDiagnose({ groups });
    const filters = report.checks.filter((c) => c.id.startsWith("xds.filters"));
    expect(filters.map((c) => [c.id, c.status])).toEqual([[`xds.filters.${STOCK}`, "warn"]]);
    expect(filters[0]?.summary).toBe(
      `${STOCK}: 1 extension filter not sent, the proxy lacks it: istio.stats`,
    );
    expect(filters[0]?.evidence[0]).toBe(`${STOCK}: envoy 1.40.0, 1 extensions reported`);
    expect(filters[0]?.evidence[1]).toMatch(
      /^istio\.stats \(envoy\.filters\.http, type stats\.PluginConfig\) for http\/outbound: envoy 1\.40\.0 reports no/,
    );
  });
});
