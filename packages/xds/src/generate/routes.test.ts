import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../model/assemble.js";
import { dependency, diffMeshModels } from "../model/diff.js";
import { parseMeshFile } from "../model/parse-documents.js";
import type { MeshService } from "../model/types.js";
import { decodeAnyDeep } from "../protocol/protos.js";
import type { Proto } from "./common.js";
import { type ProxyInfo, proxyFromNode } from "./proxy.js";
import { generateProxyConfig } from "./proxy-config.js";
import { PushContext } from "./push-context.js";
import { buildRoutes, sourceLabelsViewKey } from "./routes.js";

/*
 * Oracles: the shapes istiod (pilot-discovery built from istio/istio master, 2026-08) sends for
 * the same VirtualService and DestinationRule, dumped over ADS for an Envoy sidecar node and a
 * proxyless gRPC node (metadata GENERATOR: grpc). Field names and values are copied from those
 * dumps, not from meshctl's code.
 */

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: demo }
spec:
  ports: [{ name: http, port: 80 }, { name: grpc, port: 7070 }]
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: demo }
spec:
  ports: [{ name: http, port: 80 }, { name: tcp, port: 9001 }]
---
apiVersion: v1
kind: Service
metadata: { name: tcpsvc, namespace: demo }
spec:
  ports: [{ name: tcp, port: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: tlssvc, namespace: demo }
spec:
  ports: [{ name: https, port: 443 }]
---
apiVersion: v1
kind: Service
metadata: { name: plain, namespace: demo }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: demo }
spec:
  host: echo
  trafficPolicy:
    loadBalancer: { consistentHash: { httpHeaderName: x-user } }
  subsets:
    - name: v1
      labels: { version: v1 }
      trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: sess, ttl: 10s, path: /p } } } }
    - name: v2
      labels: { version: v2 }
      trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } }
    - name: v3
      labels: { version: v3 }
      trafficPolicy: { loadBalancer: { consistentHash: { httpQueryParameterName: q } } }
    - name: v5
      labels: { version: v5 }
      trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
`;

function contextFor(yaml: string): PushContext {
  const parsed = parseMeshFile("mesh.yaml", yaml ? `${SERVICES}---\n${yaml}` : SERVICES);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return new PushContext(assembleMeshModel(parsed.items).model, "v1");
}

function node(type: "sidecar" | "grpc", labels: Record<string, string> = { app: "client" }): ProxyInfo {
  return proxyFromNode({
    id: `sidecar~10.1.0.5~client-0.demo~demo.svc.cluster.local`,
    metadata: {
      fields: {
        NAMESPACE: { string_value: "demo" },
        LABELS: {
          struct_value: {
            fields: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { string_value: v }])),
          },
        },
        ...(type === "grpc" ? { GENERATOR: { string_value: "grpc" } } : {}),
      },
    },
  });
}

function routesOf(ctx: PushContext, proxy: ProxyInfo, host: string, port: number): Proto[] {
  const service = ctx.servicesByHost.get(host) as MeshService;
  const sp = service.ports.find((p) => p.port === port);
  if (!sp) throw new Error(`no port ${port}`);
  // Through the wire encoding, as a proxy decodes it.
  return buildRoutes(ctx, proxy, service, sp).map((r) => JSON.parse(JSON.stringify(r, anyToJson)) as Proto);
}

function anyToJson(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && "type_url" in value && "value" in value)
    return decodeAnyDeep(value as never);
  return value;
}

const ECHO = "echo.demo.svc.cluster.local";

const DEFAULT_RETRY = {
  retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
  num_retries: { value: 2 },
  retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }],
  host_selection_retry_max_attempts: "5",
};
/** istiod leaves the previous-hosts predicate out when the one destination hashes. */
const { retry_host_predicate: _, ...DEFAULT_RETRY_HASHED } = DEFAULT_RETRY;

describe("http route matches (istiod's translateRouteMatch)", () => {
  const ctx = contextFor(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - name: r-match
      match:
        - name: m0
          uri: { prefix: /a }
          ignoreUriCase: true
          method: { exact: GET }
          scheme: { exact: https }
          authority: { prefix: foo }
          headers: { x-a: { exact: "1" }, x-b: {}, x-d: { regex: "d.*" } }
          withoutHeaders: { x-no: { exact: "yes" }, x-none: {} }
          queryParams: { q1: { exact: v }, q2: { regex: "a.*" }, q4: {} }
          port: 80
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-src
      match: [{ sourceLabels: { app: client }, sourceNamespace: demo, uri: { prefix: /src } }]
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-srcno
      match: [{ sourceLabels: { app: other }, uri: { prefix: /srcno } }]
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-gw
      match: [{ gateways: [some-gw], uri: { prefix: /gw } }, { gateways: [mesh], uri: { prefix: /gwmesh } }]
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-port
      match: [{ port: 7070, uri: { prefix: /port7070 } }]
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-default
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-unreachable
      route: [{ destination: { host: echo, subset: v5 } }]
`);

  test("every match kind, with headers sorted, then :method, :authority, :scheme", () => {
    const [first] = routesOf(ctx, node("sidecar"), ECHO, 80);
    // istiod names a route with a named match `<route>.<match>`.
    expect(first?.name).toBe("r-match.m0");
    expect(first?.match).toEqual({
      prefix: "/a",
      case_sensitive: { value: false },
      headers: [
        { name: "x-a", string_match: { exact: "1" } },
        { name: "x-b", present_match: true },
        { name: "x-d", string_match: { safe_regex: { regex: "d.*" } } },
        {
          name: "x-no",
          string_match: { exact: "yes" },
          treat_missing_header_as_empty: true,
          invert_match: true,
        },
        { name: "x-none", present_match: true, invert_match: true },
        { name: ":method", string_match: { exact: "GET" } },
        { name: ":authority", string_match: { prefix: "foo" } },
        { name: ":scheme", string_match: { exact: "https" } },
      ],
      query_parameters: [
        { name: "q1", string_match: { exact: "v" } },
        { name: "q2", string_match: { safe_regex: { regex: "a.*" } } },
        { name: "q4", present_match: true },
      ],
    });
  });

  test("sourceLabels, sourceNamespace, per-match gateways and port select routes; a catch-all ends the list", () => {
    const names = (p: ProxyInfo, port: number) => routesOf(ctx, p, ECHO, port).map((r) => r.name);
    expect(names(node("sidecar"), 80)).toEqual(["r-match.m0", "r-src", "r-gw", "r-default"]);
    expect(names(node("sidecar", { app: "other" }), 80)).toEqual([
      "r-match.m0",
      "r-srcno",
      "r-gw",
      "r-default",
    ]);
    expect(names(node("sidecar"), 7070)).toEqual(["r-src", "r-gw", "r-port", "r-default"]);
    // The gateways: [mesh] match of r-gw is the one kept.
    expect(routesOf(ctx, node("sidecar"), ECHO, 80)[2]?.match).toEqual({
      prefix: "/gwmesh",
      case_sensitive: { value: true },
    });
    // A route without match has no case_sensitive; the decorator and metadata are istiod's.
    expect(routesOf(ctx, node("sidecar"), ECHO, 80)[3]).toMatchObject({
      match: { prefix: "/" },
      decorator: { operation: `${ECHO}:80/*` },
      metadata: {
        filter_metadata: {
          istio: {
            fields: {
              config: { stringValue: "/apis/networking.istio.io/v1/namespaces/demo/virtual-service/echo" },
            },
          },
        },
      },
    });
  });

  test("proxyless gRPC gets matches on query parameters as istiod sends them (the model warns that gRPC does not check them)", () => {
    const routes = routesOf(ctx, node("grpc"), ECHO, 80);
    expect(routes.map((r) => r.name)).toEqual(["r-match.m0", "r-src", "r-gw", "r-default"]);
    expect((routes[0]?.match as { query_parameters?: unknown[] } | undefined)?.query_parameters).toHaveLength(
      3,
    );
  });

  test("routes depend on labels only when a VirtualService uses sourceLabels: the view key says which", () => {
    expect(sourceLabelsViewKey(ctx, node("sidecar"))).toBe("10");
    expect(sourceLabelsViewKey(ctx, node("sidecar", { app: "other" }))).toBe("01");
    expect(ctx.proxyViewKey(node("sidecar"))).not.toBe(ctx.proxyViewKey(node("sidecar", { app: "other" })));
    const none = contextFor("");
    expect(sourceLabelsViewKey(none, node("sidecar"))).toBe("");
  });
});

describe("route actions (istiod's applyHTTPRouteDestination)", () => {
  const ctx = contextFor(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - name: r-retry
      match: [{ uri: { prefix: /retry } }]
      route: [{ destination: { host: echo, subset: v5 } }]
      retries: { attempts: 3, perTryTimeout: 2s, retryRemoteLocalities: true }
      timeout: 5s
    - name: r-noretry
      match: [{ uri: { prefix: /noretry } }]
      route: [{ destination: { host: echo, subset: v5 } }]
      retries: { attempts: 0 }
    - name: r-retryon
      match: [{ uri: { prefix: /retryon } }]
      route: [{ destination: { host: echo, subset: v5 } }]
      retries: { attempts: 4, retryOn: "5xx,gateway-error,503,reset" }
    - name: r-rewrite
      match: [{ uri: { prefix: /rw } }]
      rewrite: { uri: /new, authority: new.host }
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-regexrw
      match: [{ uri: { prefix: /rx } }]
      rewrite: { uriRegexRewrite: { match: "^/rx/(.*)", rewrite: "/\\\\1" } }
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: r-redirect
      match: [{ uri: { prefix: /redir } }]
      redirect: { uri: /x, authority: a.b, port: 8080, scheme: https, redirectCode: 302 }
    - name: r-direct
      match: [{ uri: { prefix: /direct } }]
      directResponse: { status: 418, body: { string: teapot } }
    - name: r-mirror
      match: [{ uri: { prefix: /mirror } }]
      route: [{ destination: { host: echo, subset: v5 } }]
      mirror: { host: other }
      mirrorPercentage: { value: 50 }
    - name: r-mirrors
      match: [{ uri: { prefix: /mirrors } }]
      route: [{ destination: { host: echo, subset: v5 } }]
      mirrors: [{ destination: { host: other }, percentage: { value: 25 } }, { destination: { host: echo, subset: v1 } }]
    - name: r-cors
      match: [{ uri: { prefix: /cors } }]
      route: [{ destination: { host: echo, subset: v5 } }]
      corsPolicy:
        allowOrigins: [{ exact: "https://a.com" }, { prefix: "https://b" }]
        allowMethods: [GET, POST]
        allowHeaders: [x-h, x-h2]
        exposeHeaders: [x-e]
        maxAge: 24h
        allowCredentials: true
    - name: r-headers
      match: [{ uri: { prefix: /hdr } }]
      headers:
        request: { set: { x-s: "1" }, add: { x-a: "2" }, remove: [x-r] }
        response: { set: { x-rs: "3" }, remove: [x-rr] }
      route:
        - destination: { host: echo, subset: v1 }
          weight: 50
          headers: { request: { set: { x-d: d } } }
        - destination: { host: echo, subset: v2 }
          weight: 50
    - name: r-default
      route: [{ destination: { host: echo, subset: v5 } }]
`);
  const byName = (p: ProxyInfo) => new Map(routesOf(ctx, p, ECHO, 80).map((r) => [r.name, r]));
  const envoy = byName(node("sidecar"));
  const grpc = byName(node("grpc"));

  test("Istio's default retry policy when retries is absent; attempts without retryOn keep it; 0 disables", () => {
    // echo's subsets hash (v5 inherits the service's x-user key): no previous-hosts predicate.
    expect(envoy.get("r-default")?.route).toMatchObject({
      cluster: `outbound|80|v5|${ECHO}`,
      timeout: { seconds: "0" },
      max_grpc_timeout: { seconds: "0" },
      retry_policy: DEFAULT_RETRY_HASHED,
    });
    expect(envoy.get("r-default")?.route).not.toHaveProperty("retry_policy.retry_host_predicate");
    expect(envoy.get("r-default")?.route).not.toHaveProperty("retry_policy.retriable_status_codes");
    const plain = routesOf(ctx, node("sidecar"), "plain.demo.svc.cluster.local", 8080)[0];
    expect(plain).toMatchObject({
      name: "default",
      route: { timeout: { seconds: "0" }, max_grpc_timeout: { seconds: "0" }, retry_policy: DEFAULT_RETRY },
      decorator: { operation: "plain.demo.svc.cluster.local:8080/*" },
    });
    expect(envoy.get("r-retry")?.route).toMatchObject({
      timeout: { seconds: "5" },
      max_grpc_timeout: { seconds: "5" },
      retry_policy: {
        ...DEFAULT_RETRY_HASHED,
        num_retries: { value: 3 },
        per_try_timeout: { seconds: "2" },
        retry_priority: { name: "envoy.retry_priorities.previous_priorities" },
      },
    });
    expect(envoy.get("r-noretry")?.route).not.toHaveProperty("retry_policy");
    expect(envoy.get("r-retryon")?.route).toMatchObject({
      retry_policy: {
        retry_on: "5xx,gateway-error,reset,retriable-status-codes",
        num_retries: { value: 4 },
        retriable_status_codes: [503],
      },
    });
  });

  test("rewrite, redirect, direct response, mirrors, CORS and header edits for Envoy", () => {
    expect(envoy.get("r-rewrite")?.route).toMatchObject({
      prefix_rewrite: "/new",
      host_rewrite_literal: "new.host",
    });
    expect(envoy.get("r-regexrw")?.route).toMatchObject({
      regex_rewrite: { pattern: { regex: "^/rx/(.*)" }, substitution: "/\\1" },
    });
    expect(envoy.get("r-redirect")).toMatchObject({
      redirect: {
        path_redirect: "/x",
        host_redirect: "a.b",
        scheme_redirect: "https",
        port_redirect: 8080,
        response_code: "FOUND",
      },
    });
    expect(envoy.get("r-direct")).toMatchObject({
      direct_response: { status: 418, body: { inline_string: "teapot" } },
    });
    expect(envoy.get("r-mirror")?.route).toMatchObject({
      request_mirror_policies: [
        {
          cluster: "outbound|80||other.demo.svc.cluster.local",
          runtime_fraction: { default_value: { numerator: 500000, denominator: "MILLION" } },
          trace_sampled: { value: false },
          disable_shadow_host_suffix_append: true,
        },
      ],
    });
    expect(envoy.get("r-mirrors")?.route).toMatchObject({
      request_mirror_policies: [
        {
          cluster: "outbound|80||other.demo.svc.cluster.local",
          runtime_fraction: { default_value: { numerator: 250000, denominator: "MILLION" } },
        },
        {
          cluster: `outbound|80|v1|${ECHO}`,
          runtime_fraction: { default_value: { numerator: 100, denominator: "HUNDRED" } },
        },
      ],
    });
    expect(envoy.get("r-cors")?.typed_per_filter_config).toMatchObject({
      "envoy.filters.http.cors": {
        allow_origin_string_match: [{ exact: "https://a.com" }, { prefix: "https://b" }],
        allow_methods: "GET,POST",
        allow_headers: "x-h,x-h2",
        expose_headers: "x-e",
        max_age: "86400",
        allow_credentials: { value: true },
        filter_enabled: { default_value: { numerator: 100 } },
        forward_not_matching_preflights: { value: true },
      },
    });
    const hdr = envoy.get("r-headers");
    expect(hdr).toMatchObject({
      request_headers_to_add: [
        { header: { key: "x-s", value: "1" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
        { header: { key: "x-a", value: "2" } },
      ],
      request_headers_to_remove: ["x-r"],
      response_headers_to_add: [
        { header: { key: "x-rs", value: "3" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
      ],
      response_headers_to_remove: ["x-rr"],
      route: {
        weighted_clusters: {
          clusters: [
            {
              name: `outbound|80|v1|${ECHO}`,
              weight: { value: 50 },
              request_headers_to_add: [
                { header: { key: "x-d", value: "d" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
              ],
            },
            { name: `outbound|80|v2|${ECHO}`, weight: { value: 50 } },
          ],
        },
      },
    });
  });

  test("proxyless gRPC: redirect and direct-response routes left out (grpc-js would NACK the config); the rest as istiod sends it", () => {
    expect(grpc.has("r-redirect")).toBe(false);
    expect(grpc.has("r-direct")).toBe(false);
    // Fields gRPC ignores are sent as istiod sends them.
    expect(grpc.get("r-rewrite")?.route).toMatchObject({ prefix_rewrite: "/new" });
    // ... except CORS: grpc-js would NACK the route config for a filter it does not have.
    expect(grpc.get("r-cors")).not.toHaveProperty("typed_per_filter_config");
    // gRPC reads the retry policy and max_stream_duration (gRFC A31, A44).
    expect(grpc.get("r-retry")?.route).toMatchObject({
      timeout: { seconds: "5" },
      max_stream_duration: { max_stream_duration: { seconds: "5" } },
      retry_policy: { num_retries: { value: 3 } },
    });
    expect(grpc.get("r-default")?.route).toMatchObject({
      timeout: { seconds: "0" },
      max_stream_duration: { max_stream_duration: { seconds: "0" } },
    });
  });
});

describe("hash policies from DestinationRule consistentHash (sticky sessions)", () => {
  const ctx = contextFor(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - { name: cookie, match: [{ uri: { prefix: /v1 } }], route: [{ destination: { host: echo, subset: v1 } }] }
    - { name: source, match: [{ uri: { prefix: /v2 } }], route: [{ destination: { host: echo, subset: v2 } }] }
    - { name: query, match: [{ uri: { prefix: /v3 } }], route: [{ destination: { host: echo, subset: v3 } }] }
    - { name: inherit, match: [{ uri: { prefix: /v5 } }], route: [{ destination: { host: echo, subset: v5 } }] }
    - name: split
      route:
        - { destination: { host: echo, subset: v1 }, weight: 50 }
        - { destination: { host: echo }, weight: 50 }
`);

  test("Envoy: header, cookie with ttl and path, source IP, query parameter; a subset with a simple LB inherits", () => {
    const routes = new Map(routesOf(ctx, node("sidecar"), ECHO, 80).map((r) => [r.name, r.route as Proto]));
    expect(routes.get("cookie")?.hash_policy).toMatchObject([
      { cookie: { name: "sess", ttl: { seconds: "10" }, path: "/p" } },
    ]);
    expect(routes.get("source")?.hash_policy).toEqual([{ connection_properties: { source_ip: true } }]);
    expect(routes.get("query")?.hash_policy).toEqual([{ query_parameter: { name: "q" } }]);
    expect(routes.get("inherit")?.hash_policy).toEqual([{ header: { header_name: "x-user" } }]);
    expect(routes.get("split")?.hash_policy).toMatchObject([
      { cookie: { name: "sess", ttl: { seconds: "10" }, path: "/p" } },
      { header: { header_name: "x-user" } },
    ]);
  });

  test("the default route (no VirtualService) carries the service's hash policy", () => {
    const routes = routesOf(contextFor(""), node("sidecar"), ECHO, 80);
    expect(routes[0]?.route).toMatchObject({
      cluster: `outbound|80||${ECHO}`,
      hash_policy: [{ header: { header_name: "x-user" } }],
    });
  });

  test("gRPC: header as is, source IP as filter_state io.grpc.channel_id (gRFC A42); cookie and query as istiod sends them", () => {
    const routes = new Map(routesOf(ctx, node("grpc"), ECHO, 80).map((r) => [r.name, r.route as Proto]));
    expect(routes.get("source")?.hash_policy).toEqual([{ filter_state: { key: "io.grpc.channel_id" } }]);
    expect(routes.get("inherit")?.hash_policy).toEqual([{ header: { header_name: "x-user" } }]);
    expect(routes.get("query")?.hash_policy).toEqual([{ query_parameter: { name: "q" } }]);
  });
});

describe("delegation, tcp and tls routes", () => {
  const ctx = contextFor(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: root, namespace: demo }
spec:
  hosts: [other]
  http:
    - name: root-d
      match: [{ uri: { prefix: /d }, headers: { x-root: { exact: r } } }]
      delegate: { name: child, namespace: demo }
      timeout: 3s
    - name: root-default
      route: [{ destination: { host: other } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: child, namespace: demo }
spec:
  http:
    - name: child-x
      match: [{ uri: { prefix: /d/x } }]
      route: [{ destination: { host: echo, subset: v5 } }]
    - name: child-rest
      route: [{ destination: { host: other } }]
      retries: { attempts: 1 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp, namespace: demo }
spec:
  hosts: [tcpsvc]
  tcp:
    - match: [{ port: 9000 }]
      route:
        - { destination: { host: tcpsvc }, weight: 80 }
        - { destination: { host: other, port: { number: 9001 } }, weight: 20 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tls, namespace: demo }
spec:
  hosts: [tlssvc]
  tls:
    - match: [{ port: 443, sniHosts: [tlssvc.demo.svc.cluster.local] }]
      route: [{ destination: { host: tlssvc } }]
`);

  test("a delegate's routes are merged under the root's match; the root's timeout applies where unset", () => {
    const routes = routesOf(ctx, node("sidecar"), "other.demo.svc.cluster.local", 80);
    expect(routes.map((r) => [r.name, r.match])).toEqual([
      [
        "root-d-child-x",
        {
          prefix: "/d/x",
          case_sensitive: { value: true },
          headers: [{ name: "x-root", string_match: { exact: "r" } }],
        },
      ],
      [
        "root-d-child-rest",
        {
          prefix: "/d",
          case_sensitive: { value: true },
          headers: [{ name: "x-root", string_match: { exact: "r" } }],
        },
      ],
      ["root-default", { prefix: "/" }],
    ]);
    expect(routes[0]).toMatchObject({
      route: { cluster: `outbound|80|v5|${ECHO}`, timeout: { seconds: "3" } },
      decorator: { operation: `${ECHO}:80/d/x*` },
      metadata: {
        filter_metadata: {
          istio: {
            fields: {
              config: { stringValue: "/apis/networking.istio.io/v1/namespaces/demo/virtual-service/root" },
            },
          },
        },
      },
    });
    expect(routes[1]?.route).toMatchObject({ retry_policy: { num_retries: { value: 1 } } });
  });

  test("editing a delegate invalidates the routes of the hosts whose roots name it", () => {
    const edited = ctx.model.virtualServices.map((vs) =>
      vs.name === "child" ? { ...vs, http: vs.http.slice(1) } : vs,
    );
    const change = diffMeshModels(ctx.model, { ...ctx.model, virtualServices: edited });
    expect(change.keys).toEqual([{ kind: "VirtualService", namespace: "demo", name: "child" }]);
    expect(change.dependencies.has(dependency.service("other.demo.svc.cluster.local"))).toBe(true);
  });

  test("Envoy: tcp routes become weighted tcp_proxy clusters, tls routes SNI filter chains", () => {
    const config = generateProxyConfig(ctx, node("sidecar"));
    const listener = (name: string) => decodeAnyDeep(config.lds.get(name)?.any as never) as Proto;
    const tcp = listener("0.0.0.0_9000");
    expect(tcp.filter_chains).toMatchObject([
      {
        filters: [
          {
            typed_config: {
              stat_prefix: "tcp.demo",
              weighted_clusters: {
                clusters: [
                  { name: "outbound|9000||tcpsvc.demo.svc.cluster.local", weight: 80 },
                  { name: "outbound|9001||other.demo.svc.cluster.local", weight: 20 },
                ],
              },
            },
          },
        ],
      },
    ]);
    const tls = listener("0.0.0.0_443");
    expect(tls.listener_filters).toMatchObject([{ name: "envoy.filters.listener.tls_inspector" }]);
    expect(tls.filter_chains).toMatchObject([
      {
        filter_chain_match: { server_names: ["tlssvc.demo.svc.cluster.local"] },
        filters: [{ typed_config: { cluster: "outbound|443||tlssvc.demo.svc.cluster.local" } }],
      },
    ]);
    expect(tls.filter_chains).toHaveLength(1);
  });
});

describe("grpc-js-xds accepts what a proxyless gRPC client gets (its own validator)", () => {
  test("every RouteConfiguration, with every route feature in the VirtualService, validates", async () => {
    // The real client's RDS validation (grpc-js-xds 1.14), not a re-statement of its rules.
    const { RouteConfigurationResourceType } = (await import(
      "@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type.js"
    )) as unknown as {
      RouteConfigurationResourceType: {
        get(): { decode(ctx: unknown, any: unknown): { name: string; error?: string } };
      };
    };
    // What grpc-js-xds's register() sets up: the filters a client knows (fault, router).
    const fault = (await import(
      "@grpc/grpc-js-xds/build/src/http-filter/fault-injection-filter.js"
    )) as unknown as {
      setup(): void;
    };
    fault.setup();
    const ctx = contextFor(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: demo }
spec:
  hosts: [echo]
  http:
    - match: [{ uri: { prefix: /q }, queryParams: { a: { exact: b } } }]
      route: [{ destination: { host: echo, subset: v1 } }]
    - match: [{ uri: { prefix: /redir } }]
      redirect: { uri: /x }
    - match: [{ uri: { prefix: /direct } }]
      directResponse: { status: 418 }
    - match: [{ uri: { prefix: /all } }]
      rewrite: { uri: /new }
      mirror: { host: other }
      corsPolicy: { allowOrigins: [{ exact: "https://a.com" }] }
      headers: { request: { set: { x-a: b } } }
      fault: { abort: { httpStatus: 503, percentage: { value: 1 } } }
      retries: { attempts: 3, retryOn: "unavailable,cancelled" }
      timeout: 2s
      route:
        - { destination: { host: echo, subset: v2 }, weight: 50 }
        - { destination: { host: echo, subset: v3 }, weight: 50 }
    - route: [{ destination: { host: echo } }]
`);
    const config = generateProxyConfig(ctx, node("grpc"));
    const rds = [...config.rds.values()];
    expect(rds.length).toBeGreaterThan(0);
    for (const r of rds) {
      const decoded = RouteConfigurationResourceType.get().decode({}, r.any);
      expect(decoded.error, r.name).toBeUndefined();
    }
  });
});
