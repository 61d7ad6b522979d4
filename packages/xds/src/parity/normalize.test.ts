import { describe, expect, test } from "vitest";
import { canonicalJson, normalizeResource, normalizeSnapshot, ORDER_KEY } from "./normalize.js";
import {
  CORS,
  duration,
  edsCluster,
  FAULT,
  HCM_AT,
  httpListener,
  loadAssignment,
  ROUTER,
  route,
  routeConfig,
  snapshot,
  virtualHost,
} from "./parity-fixtures.test-data.js";

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/** The first value under `key`, searching depth first. */
function findKey(value: unknown, key: string): unknown {
  if (!value || typeof value !== "object") return undefined;
  const record = value as Record<string, unknown>;
  if (key in record) return record[key];
  for (const child of Object.values(record)) {
    const found = findKey(child, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe("normalizeResource: spelling differences disappear", () => {
  test("proto3 zero values equal absent fields (Go omits them, protobufjs writes them)", () => {
    const go = { name: "c", connect_timeout: { seconds: "10" } };
    const js = { name: "c", type: "STATIC", connect_timeout: { seconds: "10", nanos: 0 } };
    expect(same(normalizeResource("clusters", go), normalizeResource("clusters", js))).toBe(true);
  });

  test("an explicit Envoy default equals the field left out; another value does not", () => {
    const implicit = normalizeResource("clusters", edsCluster("c", { connect_timeout: undefined }));
    const explicit = normalizeResource("clusters", edsCluster("c", { connect_timeout: duration(5) }));
    const ten = normalizeResource("clusters", edsCluster("c", { connect_timeout: duration(10) }));
    expect(same(implicit, explicit)).toBe(true);
    expect(same(implicit, ten)).toBe(false);
  });

  test("a wrapper with presence is kept: bind_to_port false is not the default (true)", () => {
    const off = normalizeResource("listeners", httpListener(80, [ROUTER]));
    const unset = normalizeResource("listeners", httpListener(80, [ROUTER], { bind_to_port: undefined }));
    const on = normalizeResource("listeners", httpListener(80, [ROUTER], { bind_to_port: { value: true } }));
    expect(same(off, unset)).toBe(false);
    expect(same(unset, on)).toBe(true);
  });

  test("validate_clusters false is the default of an RDS route configuration", () => {
    const rc = (extra: Record<string, unknown>) =>
      normalizeResource("routes", routeConfig("80", [virtualHost("a", ["a"], [route("c")])], extra));
    expect(same(rc({ validate_clusters: { value: false } }), rc({}))).toBe(true);
    expect(same(rc({ validate_clusters: { value: true } }), rc({}))).toBe(false);
  });

  test("Envoy's default request-id extension, spelled out, equals none; another extension does not", () => {
    const uuid = "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig";
    const hcm = (extra: Record<string, unknown>) =>
      normalizeResource(
        "listeners",
        httpListener(80, [ROUTER], {
          filter_chains: [{ filters: [{ name: "h", typed_config: { "@type": HCM_AT, ...extra } }] }],
        }),
      );
    expect(
      same(hcm({ request_id_extension: { typed_config: { type_url: uuid, value: "EgIIAQ==" } } }), hcm({})),
    ).toBe(true);
    expect(
      same(hcm({ request_id_extension: { typed_config: { type_url: uuid, value: "CgIIAA==" } } }), hcm({})),
    ).toBe(false);
  });

  test("retry_on is a set of conditions", () => {
    const r = (retryOn: string) =>
      normalizeResource(
        "routes",
        routeConfig("80", [
          virtualHost("a", ["a"], [route("c", { action: { retry_policy: { retry_on: retryOn } } })]),
        ]),
      );
    expect(same(r("5xx,connect-failure"), r("connect-failure, 5xx"))).toBe(true);
    expect(same(r("5xx"), r("5xx,reset"))).toBe(false);
  });
});

describe("normalizeResource: order", () => {
  test("virtual hosts and domains are unordered, routes keep their order", () => {
    const a = virtualHost("a:80", ["a", "a:80"], [route("ca")]);
    const b = virtualHost("b:80", ["b", "b:80"], [route("cb")]);
    const swapped = virtualHost("b:80", ["b:80", "b"], [route("cb")]);
    expect(
      same(
        normalizeResource("routes", routeConfig("80", [a, b])),
        normalizeResource("routes", routeConfig("80", [swapped, a])),
      ),
    ).toBe(true);
    const first = route("c1", { match: { prefix: "/api" } });
    const second = route("c2");
    expect(
      same(
        normalizeResource("routes", routeConfig("80", [virtualHost("a", ["a"], [first, second])])),
        normalizeResource("routes", routeConfig("80", [virtualHost("a", ["a"], [second, first])])),
      ),
    ).toBe(false);
  });

  test("HTTP filters are keyed by name and keep their order", () => {
    const n = normalizeResource("listeners", httpListener(80, [FAULT, CORS, ROUTER]));
    const filters = findKey(n, "http_filters") as Record<string, unknown>;
    expect(filters["[envoy.filters.http.cors]"]).toMatchObject({ name: "envoy.filters.http.cors" });
    expect(filters[ORDER_KEY]).toEqual([
      "[envoy.filters.http.fault]",
      "[envoy.filters.http.cors]",
      "[envoy.filters.http.router]",
    ]);
  });

  test("endpoints: hosts and localities are unordered; weight 1 is the default weight", () => {
    const one = loadAssignment("c", [
      { ip: "10.0.0.1", port: 80, zone: "a" },
      { ip: "10.0.0.2", port: 80, zone: "b" },
    ]);
    const other = loadAssignment("c", [
      { ip: "10.0.0.2", port: 80, zone: "b" },
      { ip: "10.0.0.1", port: 80, zone: "a" },
    ]);
    expect(same(normalizeResource("endpoints", one), normalizeResource("endpoints", other))).toBe(true);
    const unweighted = structuredClone(one) as { endpoints: { lb_endpoints: Record<string, unknown>[] }[] };
    for (const l of unweighted.endpoints) for (const e of l.lb_endpoints) delete e.load_balancing_weight;
    expect(same(normalizeResource("endpoints", one), normalizeResource("endpoints", unweighted))).toBe(true);
    const heavier = loadAssignment("c", [
      { ip: "10.0.0.1", port: 80, zone: "a", weight: 3 },
      { ip: "10.0.0.2", port: 80, zone: "b" },
    ]);
    expect(same(normalizeResource("endpoints", one), normalizeResource("endpoints", heavier))).toBe(false);
  });

  test("filter chains are keyed by their match, whatever the order of its sets", () => {
    const chain = (alpn: string[]) => ({
      filter_chain_match: { transport_protocol: "raw_buffer", application_protocols: alpn },
      filters: [],
    });
    const listener = (alpn: string[]) =>
      normalizeResource("listeners", httpListener(80, [ROUTER], { filter_chains: [chain(alpn)] }));
    const a = listener(["http/1.1", "h2c"]);
    expect(Object.keys((a as { filter_chains: object }).filter_chains)).toEqual([
      "[application_protocols=h2c|http/1.1,transport_protocol=raw_buffer]",
    ]);
    expect(same(a, listener(["h2c", "http/1.1"]))).toBe(true);
    expect(same(a, listener(["h2c"]))).toBe(false);
  });

  test("normalizeSnapshot keeps every resource under its name", () => {
    const n = normalizeSnapshot(snapshot({ clusters: [edsCluster("b"), edsCluster("a")] }));
    expect(Object.keys(n.clusters)).toEqual(["a", "b"]);
    expect(n.listeners).toEqual({});
  });
});
