import { describe, expect, test } from "vitest";
import { type DeviationSubject, matchDeviation, PARITY_DEVIATIONS } from "./deviations.js";

const subject = (path: string, extra: Partial<DeviationSubject> = {}): DeviationSubject => ({
  proxy: "p",
  proxyKind: "envoy",
  type: "routes",
  resource: "80",
  path,
  istiod: 1,
  meshctl: 2,
  ...extra,
});

const explain = (s: DeviationSubject) => PARITY_DEVIATIONS.find((d) => matchDeviation(d, s))?.id;

describe("PARITY_DEVIATIONS", () => {
  test("ids are unique and every reason is one line", () => {
    const ids = PARITY_DEVIATIONS.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of PARITY_DEVIATIONS) expect(d.reason).not.toContain("\n");
  });

  test("explain what they claim to", () => {
    expect(explain(subject("virtual_hosts[a].routes[0].metadata.filter_metadata.istio.config"))).toBe(
      "istio-metadata",
    );
    expect(
      explain(
        subject("filter_chains[*].filters[envoy.filters.network.tcp_proxy].typed_config.stat_prefix", {
          type: "listeners",
        }),
      ),
    ).toBe("stats-only");
    expect(
      explain(
        subject("filter_chains[*].filters[h].typed_config.http_filters[istio.metadata_exchange]", {
          type: "listeners",
        }),
      ),
    ).toBe("istio-proxy-extensions");
  });

  test("never explain a behaviour: subset selection, filters of stock Envoy, timeouts, endpoints", () => {
    // metadata_match picks the subset a route sends to: behaviour, not provenance metadata.
    expect(explain(subject("virtual_hosts[a].routes[0].route.metadata_match.filter_metadata.envoy.lb"))).toBe(
      undefined,
    );
    expect(
      explain(
        subject("filter_chains[*].filters[h].typed_config.http_filters[envoy.filters.http.cors]", {
          type: "listeners",
        }),
      ),
    ).toBe(undefined);
    expect(explain(subject("virtual_hosts[a].routes[0].route.timeout"))).toBe(undefined);
    expect(explain(subject("endpoints[-@0].lb_endpoints[10.0.0.1:80]", { type: "endpoints" }))).toBe(
      undefined,
    );
    // Endpoint metadata carries the subset labels Envoy's subset load balancer matches on.
    expect(
      explain(
        subject('endpoints[-@0].lb_endpoints[10.0.0.1:80].metadata.filter_metadata["envoy.lb"]', {
          type: "endpoints",
        }),
      ),
    ).toBe(undefined);
  });
});

describe("istio-metadata", () => {
  test("a whole metadata block is deliberate only when it holds nothing but istio", () => {
    const block = (fm: Record<string, unknown>) =>
      subject("metadata", { type: "clusters", istiod: { filter_metadata: fm }, meshctl: undefined });
    expect(explain(block({ istio: { services: [] } }))).toBe("istio-metadata");
    expect(explain(block({ istio: {}, "envoy.lb": { version: "v1" } }))).toBe(undefined);
  });
});

describe("observability-labels", () => {
  test("covers route names and decorators, not virtual host names or route matches", () => {
    expect(explain(subject("virtual_hosts[a].routes[2].name"))).toBe("observability-labels");
    expect(explain(subject("virtual_hosts[a].routes[0].decorator.operation"))).toBe("observability-labels");
    expect(explain(subject("virtual_hosts[a].routes[0].match.prefix"))).toBe(undefined);
    expect(explain(subject("virtual_hosts[a].routes[0].route.cluster_header"))).toBe(undefined);
  });
});

describe("grpc-unread-route-fields", () => {
  const grpc = (path: string) => subject(path, { proxyKind: "grpc" });
  test("Envoy-only route fields are deliberate for gRPC, never for Envoy", () => {
    for (const path of [
      "virtual_hosts[a:80].routes[0].route.timeout",
      "virtual_hosts[a:80].include_request_attempt_count",
      "virtual_hosts[a:80].routes[1].route.retry_policy.retriable_status_codes",
      "virtual_hosts[a:80].routes[1].route.retry_policy.retry_host_predicate[0].typed_config",
      "virtual_hosts[a:80].routes[0].route.max_grpc_timeout",
      "ignore_port_in_host_matching",
    ]) {
      expect(explain(grpc(path)), path).toBe("grpc-unread-route-fields");
      expect(explain(subject(path)), path).toBe(undefined);
    }
  });

  test("what gRPC reads stays a defect", () => {
    for (const path of [
      "virtual_hosts[a:80]",
      "virtual_hosts[a:80].domains[10.0.0.1]",
      "virtual_hosts[a:80].routes[0]",
      "virtual_hosts[a:80].routes[0].match.prefix",
      'virtual_hosts[a:80].routes[0].match.headers[{"name":"x"}]',
      "virtual_hosts[a:80].routes[0].route",
      "virtual_hosts[a:80].routes[0].route.cluster",
      "virtual_hosts[a:80].routes[0].route.weighted_clusters.clusters[c1].weight.value",
      "virtual_hosts[a:80].routes[0].route.hash_policy[0].header.header_name",
      "virtual_hosts[a:80].routes[0].route.retry_policy",
      "virtual_hosts[a:80].routes[0].route.retry_policy.num_retries.value",
      "virtual_hosts[a:80].routes[0].route.retry_policy.retry_on",
      "virtual_hosts[a:80].routes[0].route.max_stream_duration",
      "virtual_hosts[a:80].routes[0].route.max_stream_duration.max_stream_duration",
      "virtual_hosts[a:80].routes[0].typed_per_filter_config[envoy.filters.http.fault]",
      "virtual_hosts[a:80].retry_policy.num_retries",
    ])
      expect(explain(grpc(path)), path).toBe(undefined);
  });
});

describe("istio-proxy-extensions", () => {
  test("covers Istio's own filters only, not a Wasm plugin", () => {
    const at = (name: string) =>
      explain(
        subject(`filter_chains[*].filters[h].typed_config.http_filters[${name}]`, { type: "listeners" }),
      );
    expect(at("istio.metadata_exchange")).toBe("istio-proxy-extensions");
    expect(at("io.istio.http.peer_metadata")).toBe("istio-proxy-extensions");
    expect(at("envoy.filters.http.wasm")).toBe(undefined);
    expect(at("extensions.istio.io/wasmplugin/default.my-plugin")).toBe(undefined);
  });
});
