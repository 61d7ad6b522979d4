import { describe, expect, test } from "vitest";
import { encodeMessage, packAny } from "../protocol/protos.js";
import { ChurnPlanner, socketAddressNeedle } from "./churn.js";
import { ChurnTracker } from "./churn-tracker.js";
import { ProxySubscriptions, type SubscriptionRequest } from "./proxy-subscriptions.js";
import { ResourceDecoder, readResourceName } from "./resource-names.js";
import type { SimulatedProxy } from "./simulated-proxy.js";
import { generateSyntheticMesh } from "./synthetic-mesh.js";

// Fixtures are real Envoy messages encoded with the protos, shaped as Istio/meshctl send them.
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ADS = { ads: {}, resource_api_version: "V3" };
const router = {
  name: "envoy.filters.http.router",
  typed_config: packAny("envoy.extensions.filters.http.router.v3.Router", {}),
};

const edsCluster = (name: string, serviceName = name) =>
  encodeMessage("envoy.config.cluster.v3.Cluster", {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS, service_name: serviceName },
  });
const staticCluster = (name: string) =>
  encodeMessage("envoy.config.cluster.v3.Cluster", {
    name,
    type: "ORIGINAL_DST",
    lb_policy: "CLUSTER_PROVIDED",
  });
const rdsListener = (name: string, route: string) =>
  encodeMessage("envoy.config.listener.v3.Listener", {
    name,
    address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: packAny(HCM, {
              stat_prefix: "x",
              rds: { route_config_name: route, config_source: ADS },
              http_filters: [router],
            }),
          },
        ],
      },
    ],
  });
const inlineListener = (name: string) =>
  encodeMessage("envoy.config.listener.v3.Listener", {
    name,
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: packAny(HCM, {
              stat_prefix: "in",
              route_config: { name: "inbound" },
              http_filters: [router],
            }),
          },
        ],
      },
    ],
  });
const apiListener = (name: string, route: string) =>
  encodeMessage("envoy.config.listener.v3.Listener", {
    name,
    api_listener: {
      api_listener: packAny(HCM, {
        rds: { route_config_name: route, config_source: ADS },
        http_filters: [router],
      }),
    },
  });
const routeConfig = (name: string, action: Record<string, unknown>) =>
  encodeMessage("envoy.config.route.v3.RouteConfiguration", {
    name,
    virtual_hosts: [
      { name: "vh", domains: ["*"], routes: [{ name: "r", match: { prefix: "/" }, route: action }] },
    ],
  });
const cla = (name: string, addresses: string[]) =>
  encodeMessage("envoy.config.endpoint.v3.ClusterLoadAssignment", {
    cluster_name: name,
    endpoints: [
      {
        locality: {},
        load_balancing_weight: { value: 1 },
        lb_endpoints: addresses.map((address) => ({
          endpoint: { address: { socket_address: { address, port_value: 8080 } } },
        })),
      },
    ],
  });

const names = (r: SubscriptionRequest | undefined) => (r?.protocol === "sotw" ? [...r.names].sort() : []);

describe("resource names", () => {
  test("field 1 is read without decoding the rest; clusters, listeners and routes decode to what subscriptions need", () => {
    const decoder = new ResourceDecoder();
    expect(readResourceName(cla("outbound|8080||a", ["10.16.0.1"]))).toBe("outbound|8080||a");
    expect(decoder.cluster(edsCluster("c1", "svc1"))).toEqual({ name: "c1", edsName: "svc1" });
    expect(decoder.cluster(staticCluster("PassthroughCluster")).edsName).toBeUndefined();
    expect(decoder.listener(rdsListener("0.0.0.0_8080", "8080")).routeNames).toEqual(["8080"]);
    expect(decoder.listener(inlineListener("virtualInbound")).routeNames).toEqual([]);
    expect(decoder.listener(apiListener("a:8080", "outbound|8080||a")).routeNames).toEqual([
      "outbound|8080||a",
    ]);
    expect(
      decoder.route(
        routeConfig("r", {
          weighted_clusters: {
            clusters: [
              { name: "v1", weight: { value: 90 } },
              { name: "v2", weight: { value: 10 } },
            ],
          },
        }),
      ).clusters,
    ).toEqual(["v1", "v2"]);
    decoder.cluster(edsCluster("c1", "svc1"));
    expect(decoder.reused).toBe(1);
  });
});

describe("Envoy subscriptions", () => {
  test("SotW: CDS/LDS wildcard, then EDS by service_name and RDS by route_config_name; ACK echoes version and nonce", () => {
    const s = new ProxySubscriptions("envoy-sotw", [], new ResourceDecoder());
    const start = s.start();
    expect(start.map((r) => [r.kind, names(r)])).toEqual([
      ["cds", []],
      ["lds", []],
    ]);
    const cds = s.onSotwResponse("cds", "v1", "n1", [
      edsCluster("a", "eds-a"),
      edsCluster("b"),
      staticCluster("Passthrough"),
    ]);
    expect(cds.requests[0]).toEqual({
      protocol: "sotw",
      kind: "cds",
      names: [],
      versionInfo: "v1",
      nonce: "n1",
    });
    expect(cds.requests[1]?.kind).toBe("eds");
    expect(names(cds.requests[1])).toEqual(["b", "eds-a"]);
    const lds = s.onSotwResponse("lds", "v1", "n2", [
      rdsListener("0.0.0.0_8080", "8080"),
      inlineListener("virtualInbound"),
    ]);
    expect(lds.requests.map((r) => r.kind)).toEqual(["lds", "rds"]);
    expect(names(lds.requests[1])).toEqual(["8080"]);
    expect(s.converged).toBe(false);
    const eds = s.onSotwResponse("eds", "v1", "n3", [cla("eds-a", ["10.16.0.1"]), cla("b", ["10.16.0.2"])]);
    expect(eds.requests).toHaveLength(1);
    expect(eds.requests[0]).toMatchObject({ protocol: "sotw", kind: "eds", versionInfo: "v1", nonce: "n3" });
    expect(names(eds.requests[0])).toEqual(["b", "eds-a"]);
    expect(eds.received.map((r) => r.name)).toEqual(["eds-a", "b"]);
    expect(s.converged).toBe(false);
    s.onSotwResponse("rds", "v1", "n4", [routeConfig("8080", { cluster: "a" })]);
    expect(s.converged).toBe(true);
    // CDS is full state: a cluster missing from the next response is gone, and so is its EDS name.
    const cds2 = s.onSotwResponse("cds", "v2", "n5", [edsCluster("b")]);
    expect(names(cds2.requests[1])).toEqual(["b"]);
  });

  test("Delta: the ACK is type + nonce only; subscription changes go in a separate request", () => {
    const s = new ProxySubscriptions("envoy-delta", [], new ResourceDecoder());
    const start = s.start();
    expect(start).toEqual([
      { protocol: "delta", kind: "cds", subscribe: [], unsubscribe: [], nonce: "" },
      { protocol: "delta", kind: "lds", subscribe: [], unsubscribe: [], nonce: "" },
    ]);
    const r1 = s.onDeltaResponse(
      "cds",
      "n1",
      [
        { name: "a", bytes: edsCluster("a") },
        { name: "b", bytes: edsCluster("b") },
      ],
      [],
    );
    expect(r1.requests).toEqual([
      { protocol: "delta", kind: "cds", subscribe: [], unsubscribe: [], nonce: "n1" },
      { protocol: "delta", kind: "eds", subscribe: ["a", "b"], unsubscribe: [], nonce: "" },
    ]);
    const r2 = s.onDeltaResponse("cds", "n2", [{ name: "c", bytes: edsCluster("c") }], ["a"]);
    expect(r2.requests[1]).toEqual({
      protocol: "delta",
      kind: "eds",
      subscribe: ["c"],
      unsubscribe: ["a"],
      nonce: "",
    });
    expect(s.subscription("eds")).toEqual(new Set(["b", "c"]));
  });
});

describe("proxyless gRPC subscriptions", () => {
  test("LDS by target name -> RDS from the api_listener -> CDS from the routes -> EDS from the clusters", () => {
    const s = new ProxySubscriptions("grpc", ["a.ns.svc.cluster.local:8080"], new ResourceDecoder());
    expect(s.start().map((r) => [r.kind, names(r)])).toEqual([["lds", ["a.ns.svc.cluster.local:8080"]]]);
    const lds = s.onSotwResponse("lds", "v1", "n1", [
      apiListener("a.ns.svc.cluster.local:8080", "outbound|8080||a"),
    ]);
    expect(lds.requests.map((r) => [r.kind, names(r)])).toEqual([
      ["lds", ["a.ns.svc.cluster.local:8080"]],
      ["rds", ["outbound|8080||a"]],
    ]);
    const rds = s.onSotwResponse("rds", "v1", "n2", [
      routeConfig("outbound|8080||a", {
        weighted_clusters: {
          clusters: [
            { name: "outbound|8080|v1|a", weight: { value: 90 } },
            { name: "outbound|8080|v2|a", weight: { value: 10 } },
          ],
        },
      }),
    ]);
    expect(rds.requests.map((r) => [r.kind, names(r)])).toEqual([
      ["rds", ["outbound|8080||a"]],
      ["cds", ["outbound|8080|v1|a", "outbound|8080|v2|a"]],
    ]);
    const cds = s.onSotwResponse("cds", "v1", "n3", [
      edsCluster("outbound|8080|v1|a"),
      edsCluster("outbound|8080|v2|a"),
    ]);
    expect(names(cds.requests[1])).toEqual(["outbound|8080|v1|a", "outbound|8080|v2|a"]);
    s.onSotwResponse("eds", "v1", "n4", [cla("outbound|8080|v1|a", ["10.16.0.1"])]);
    expect(s.converged).toBe(false);
    s.onSotwResponse("eds", "v1", "n5", [cla("outbound|8080|v2|a", ["10.16.0.5"])]);
    expect(s.converged).toBe(true);
  });

  test("an undecodable resource is an error, never a NACK", () => {
    const s = new ProxySubscriptions("grpc", ["a:8080"], new ResourceDecoder());
    s.start();
    const out = s.onSotwResponse("lds", "v1", "n1", [Uint8Array.from([0x0a, 0xff])]);
    expect(out.errors).toHaveLength(1);
    expect(out.requests[0]).toMatchObject({ kind: "lds", nonce: "n1", versionInfo: "v1" });
  });
});

describe("churn receipts", () => {
  test("a marker is found in the raw CLA bytes; a later state of the same service completes earlier changes", () => {
    const { description } = generateSyntheticMesh({ services: 1, namespaces: 1, endpoints: 4 });
    const planner = new ChurnPlanner(description, { kinds: ["endpoints"] });
    const subs = new ProxySubscriptions("envoy-delta", [], new ResourceDecoder());
    subs.start();
    const host = description.services[0]?.host ?? "";
    const base = `outbound|8080||${host}`;
    subs.onDeltaResponse("cds", "n1", [{ name: base, bytes: edsCluster(base) }], []);
    const proxy = {
      identity: { index: 0, namespace: "shared" },
      subscriptions: subs,
    } as unknown as SimulatedProxy;
    const tracker = new ChurnTracker(() => true);
    const c1 = planner.next();
    tracker.expect(c1, [proxy]).t0 = 0;
    const c2 = planner.next();
    tracker.expect(c2, [proxy]).t0 = 10;
    expect(tracker.pending).toBe(2);
    // "10.128.0.1" is a prefix of "10.128.0.10": the needle carries the length, so no false hit.
    expect(
      cla(base, ["10.128.0.10"]).indexOf(socketAddressNeedle("10.128.0.1")[0] as number),
    ).toBeGreaterThan(-1);
    expect(Buffer.from(cla(base, ["10.128.0.10"])).indexOf(socketAddressNeedle("10.128.0.1"))).toBe(-1);
    tracker.onResources(proxy, "eds", [{ name: base, bytes: cla(base, ["10.16.0.1"]) }], 5);
    expect(tracker.pending).toBe(2);
    const addresses = c2.service.endpoints.map((e) => e.address);
    tracker.onResources(proxy, "eds", [{ name: base, bytes: cla(base, addresses) }], 30);
    expect(tracker.pending).toBe(0);
    const result = tracker.results(["endpoints"]).endpoints;
    expect(result).toMatchObject({ changes: 2, expectedReceipts: 2, received: 2, leftBehind: 0 });
    expect(result?.latencyMs).toMatchObject({ count: 2, max: 30 });
  });
});
