import { describe, expect, test } from "vitest";
import { compareCase, diffClass } from "./compare.js";
import {
  CORS,
  duration,
  edsCluster,
  envoyProxy,
  FAULT,
  httpFilter,
  httpListener,
  loadAssignment,
  parityCase,
  ROUTER,
  route,
  routeConfig,
  snapshot,
  virtualHost,
} from "./parity-fixtures.test-data.js";
import type { ConfigSnapshot } from "./types.js";

const CLUSTER = "outbound|80||echo.demo.svc.cluster.local";
const DOMAINS = ["echo.demo.svc.cluster.local", "echo.demo.svc.cluster.local:80", "echo", "echo:80"];

/** One HTTP service as both servers might send it; `route` options vary the route. */
function mesh(opts: {
  action?: Record<string, unknown>;
  domains?: string[];
  endpoints?: { ip: string; port: number; zone?: string }[];
  filters?: Record<string, unknown>[];
  clusterExtra?: Record<string, unknown>;
}): ConfigSnapshot {
  return snapshot({
    listeners: [httpListener(80, opts.filters ?? [FAULT, ROUTER])],
    routes: [
      routeConfig("80", [
        virtualHost("echo.demo.svc.cluster.local:80", opts.domains ?? DOMAINS, [
          route(CLUSTER, { name: "default", action: opts.action ?? {} }),
        ]),
      ]),
    ],
    clusters: [edsCluster(CLUSTER, opts.clusterExtra ?? {})],
    endpoints: [loadAssignment(CLUSTER, opts.endpoints ?? [{ ip: "10.0.0.1", port: 8080 }])],
  });
}

const proxy = envoyProxy("client-sidecar");
const one = (istiod: ConfigSnapshot, meshctl: ConfigSnapshot) =>
  compareCase(parityCase({ name: "c", proxies: [proxy] }), { [proxy.id]: { istiod, meshctl } });

describe("compareCase", () => {
  test("the same config in another order and spelling is equal", () => {
    const istiod = mesh({ domains: [...DOMAINS].reverse(), clusterExtra: { lb_policy: "ROUND_ROBIN" } });
    const result = one(istiod, mesh({}));
    expect(result.diffs).toEqual([]);
    expect(result.verdict).toBe("equal");
  });

  test("a retry policy that differs is a defect, reported at its path", () => {
    const retry = (n: number) => ({
      retry_policy: { retry_on: "5xx", num_retries: { value: n }, per_try_timeout: duration(2) },
    });
    const result = one(mesh({ action: retry(2) }), mesh({ action: retry(3) }));
    expect(result.verdict).toBe("different");
    expect(result.diffs).toEqual([
      {
        proxy: "client-sidecar",
        type: "routes",
        resource: "80",
        path: "virtual_hosts[echo.demo.svc.cluster.local:80].routes[0].route.retry_policy.num_retries.value",
        istiod: 2,
        meshctl: 3,
      },
    ]);
  });

  test("a hash policy only istiod sends is a defect", () => {
    const hash = { hash_policy: [{ header: { header_name: "x-user" } }] };
    const result = one(mesh({ action: hash }), mesh({}));
    expect(result.verdict).toBe("different");
    expect(result.diffs.map((d) => [d.path, d.meshctl, d.deviation])).toEqual([
      ["virtual_hosts[echo.demo.svc.cluster.local:80].routes[0].route.hash_policy", undefined, undefined],
    ]);
  });

  test("different endpoint sets are defects, one diff per host", () => {
    const result = one(
      mesh({
        endpoints: [
          { ip: "10.0.0.1", port: 8080 },
          { ip: "10.0.0.2", port: 8080 },
        ],
      }),
      mesh({ endpoints: [{ ip: "10.0.0.1", port: 8080 }] }),
    );
    expect(result.verdict).toBe("different");
    const paths = result.diffs.map((d) => `${d.type} ${d.path}`);
    expect(paths).toContain("endpoints endpoints[-@0].lb_endpoints[10.0.0.2:8080]");
    // The locality weight follows the hosts: 2 against 1.
    expect(paths).toContain("endpoints endpoints[-@0].load_balancing_weight.value");
  });

  test("an Istio-proxy-only filter is a tagged deliberate deviation", () => {
    const stats = httpFilter("istio.stats", "udpa.type.v1.TypedStruct", {});
    const result = one(mesh({ filters: [FAULT, stats, ROUTER] }), mesh({}));
    expect(result.verdict).toBe("deliberate");
    expect(result.diffs).toHaveLength(1);
    expect(result.diffs[0]?.deviation).toBe("istio-proxy-extensions");
    expect(result.diffs[0]?.path).toMatch(/http_filters\[istio\.stats\]$/);
  });

  test("a stock Envoy filter only one side has is a defect, and so is a filter order change", () => {
    const missing = one(mesh({ filters: [FAULT, CORS, ROUTER] }), mesh({}));
    expect(missing.verdict).toBe("different");
    expect(missing.diffs[0]?.path).toMatch(/http_filters\[envoy\.filters\.http\.cors\]$/);
    const reordered = one(mesh({ filters: [FAULT, CORS, ROUTER] }), mesh({ filters: [CORS, FAULT, ROUTER] }));
    expect(reordered.verdict).toBe("different");
    expect(reordered.diffs.map((d) => d.path)).toEqual([
      "filter_chains[*].filters[envoy.filters.network.http_connection_manager].typed_config.http_filters[#order]",
    ]);
  });

  test("an Istio filter never pairs with (and so never hides) a filter only meshctl has", () => {
    const stats = httpFilter("istio.stats", "udpa.type.v1.TypedStruct", {});
    const result = one(mesh({ filters: [FAULT, stats, ROUTER] }), mesh({ filters: [FAULT, CORS, ROUTER] }));
    expect(result.verdict).toBe("different");
    expect(result.diffs.map((d) => [d.path.replace(/^.*http_filters/, ""), d.deviation])).toEqual([
      ["[envoy.filters.http.cors]", undefined],
      ["[istio.stats]", "istio-proxy-extensions"],
    ]);
  });

  test("a filter chain whose match differs is compared with its counterpart", () => {
    const chainMatch = { filter_chain_match: { transport_protocol: "raw_buffer" } };
    const istiodListener = httpListener(80, [FAULT, CORS, ROUTER]);
    const chains = istiodListener.filter_chains as Record<string, unknown>[];
    const istiod = {
      ...mesh({}),
      listeners: { "0.0.0.0_80": { ...istiodListener, filter_chains: [{ ...chains[0], ...chainMatch }] } },
    };
    const result = one(istiod, mesh({}));
    expect(result.diffs.map((d) => d.path)).toEqual([
      "filter_chains[transport_protocol=raw_buffer ~ *].filter_chain_match",
      "filter_chains[transport_protocol=raw_buffer ~ *].filters[envoy.filters.network.http_connection_manager].typed_config.http_filters[envoy.filters.http.cors]",
    ]);
  });

  test("a resource only one server sends is one diff with an empty path", () => {
    const istiod = mesh({});
    const result = one(istiod, { ...istiod, clusters: {} });
    expect(result.diffs.map((d) => [d.type, d.resource, d.path, d.meshctl])).toEqual([
      ["clusters", CLUSTER, "", undefined],
    ]);
  });

  test("a large value only one side has is summarised in the kept diffs", () => {
    const many = Array.from({ length: 200 }, (_, i) => `host-${i}.example.com`);
    const istiod = mesh({ domains: many });
    const result = one(istiod, { ...istiod, routes: {} });
    expect(result.diffs).toHaveLength(1);
    const [routes] = result.diffs;
    expect([routes?.path, routes?.meshctl]).toEqual(["", undefined]);
    expect(JSON.stringify(routes?.istiod).length).toBeLessThan(1300);
    expect(routes?.istiod).toMatchObject({ keys: expect.arrayContaining(["virtual_hosts"]) });
  });

  test("diffs are capped per case, defects first, with full counts", () => {
    const defect = mesh({ action: { timeout: duration(3) } });
    const stats = httpFilter("istio.stats", "udpa.type.v1.TypedStruct", {});
    const istiod = { ...defect, listeners: mesh({ filters: [FAULT, stats, ROUTER] }).listeners };
    const result = compareCase(
      parityCase({ proxies: [proxy] }),
      { [proxy.id]: { istiod, meshctl: mesh({}) } },
      { maxDiffs: 1, durationMs: 12 },
    );
    expect(result.verdict).toBe("different");
    expect(result.diffs).toHaveLength(1);
    expect(result.diffs[0]?.deviation).toBeUndefined();
    expect(result.diffCounts).toMatchObject({
      total: 2,
      defects: 1,
      deliberate: 1,
      byDeviation: { "istio-proxy-extensions": 1 },
    });
    expect(result.durationMs).toBe(12);
    expect(result.proxyVerdicts).toEqual([
      { proxy: "client-sidecar", kind: "envoy", verdict: "different", defects: 1 },
    ]);
  });

  test("a proxy without snapshots makes the case an error", () => {
    const result = compareCase(parityCase({ proxies: [proxy, envoyProxy("other")] }), {
      [proxy.id]: { istiod: mesh({}), meshctl: mesh({}) },
    });
    expect(result.verdict).toBe("error");
    expect(result.error).toContain("other");
  });
});

describe("diffClass", () => {
  test("generalises names, addresses and numbers so one gap counts once", () => {
    const a = diffClass({
      type: "routes",
      resource: "9080",
      path: "virtual_hosts[reviews.default.svc.cluster.local:9080].domains[10.96.0.11]",
      istiod: "10.96.0.11",
      meshctl: undefined,
    });
    const b = diffClass({
      type: "routes",
      resource: "80",
      path: "virtual_hosts[echo.demo.svc.cluster.local:80].domains[10.96.0.7]",
      istiod: "10.96.0.7",
      meshctl: undefined,
    });
    expect(a).toBe("routes virtual_hosts[<host>:<n>].domains[<ip>] (only in istiod)");
    expect(b).toBe(a);
    const short = (domain: string) =>
      diffClass({
        type: "routes",
        resource: "80",
        path: `virtual_hosts[a.demo.svc.cluster.local:80].domains[${domain}]`,
        istiod: domain,
        meshctl: undefined,
      });
    expect(short("reviews.default:9080")).toBe(
      "routes virtual_hosts[<host>:<n>].domains[<host>:<n>] (only in istiod)",
    );
    expect(
      diffClass({
        type: "routes",
        resource: "80",
        path: "virtual_hosts[legacy.example.internal:80].include_request_attempt_count",
        istiod: true,
        meshctl: undefined,
      }),
    ).toBe("routes virtual_hosts[<host>:<n>].include_request_attempt_count (only in istiod)");
    expect(
      diffClass({
        type: "routes",
        resource: "80",
        path: "virtual_hosts[allow_any].include_request_attempt_count",
        istiod: true,
        meshctl: undefined,
      }),
    ).toBe("routes virtual_hosts[allow_any].include_request_attempt_count (only in istiod)");
    expect(short("reviews")).toBe("routes virtual_hosts[<host>:<n>].domains[<host>] (only in istiod)");
    expect(short("reviews.default.svc.cluster.local.")).toBe(
      "routes virtual_hosts[<host>:<n>].domains[<host>.] (only in istiod)",
    );
    expect(
      diffClass({ type: "listeners", resource: "10.96.0.14_5432", path: "", istiod: {}, meshctl: undefined }),
    ).toBe("listeners only in istiod: <ip>_<n>");
  });
});
