/**
 * VirtualService http routes -> Envoy `Route`s, in istiod's shapes (pilot/pkg/networking/core/route):
 * match translation, Istio's default retry policy, timeouts, hash policies from DestinationRule
 * consistent hashing, rewrites, redirects, direct responses, mirrors, CORS and header edits.
 * Proxyless gRPC gets the same routes minus what gRPC cannot do: a route whose action is not
 * `route` (redirect, direct response) would make grpc-js NACK the whole RouteConfiguration, and
 * a query-parameter match would be ignored by it (matching more than asked), so those routes are
 * left out for gRPC; fields gRPC ignores (rewrite, mirror, CORS, header edits) are not sent.
 */
import { labelsMatch } from "../model/assemble.js";
import type {
  CorsPolicy,
  HashKey,
  HeaderOperations,
  HttpMatch,
  HttpMirror,
  HttpRetry,
  HttpRoute,
  L4Match,
  LoadBalancer,
  MeshService,
  RouteDestination,
  ServicePort,
  StringMatch,
  ValueMatch,
  VirtualServiceModel,
} from "../model/types.js";
import { packAny } from "../protocol/protos.js";
import { clusterName, duration, FAULT_FILTER, fractionalPercent, type Proto } from "./common.js";
import type { ProxyInfo } from "./proxy.js";
import type { PushContext } from "./push-context.js";

export const CORS_FILTER = "envoy.filters.http.cors";
export const CORS_TYPE = "envoy.extensions.filters.http.cors.v3.Cors";
const CORS_POLICY_TYPE = "envoy.extensions.filters.http.cors.v3.CorsPolicy";
/** Envoy's cors HTTP filter, empty: each route's CorsPolicy configures it (as istiod does). */
export const CORS_HTTP_FILTER = { name: CORS_FILTER, typed_config: packAny(CORS_TYPE, {}) };

/** Istio's default `retry_on` (pilot/pkg/networking/core/route/retry). */
export const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
const DEFAULT_RETRY_ATTEMPTS = 2;

/** An Envoy StringMatcher from an Istio StringMatch. */
export function stringMatcher(m: StringMatch): Proto {
  if ("exact" in m) return { exact: m.exact };
  if ("prefix" in m) return { prefix: m.prefix };
  return { safe_regex: { regex: m.regex } };
}

/** `{}` matches presence (istiod's validation rejects the other catch-alls, `prefix: ""` and `regex: "*"`). */
function isPresence(m: ValueMatch): boolean {
  return "present" in m;
}

function headerMatcher(name: string, m: ValueMatch, invert = false): Proto {
  const out: Proto = { name };
  if (isPresence(m)) out.present_match = true;
  else {
    out.string_match = stringMatcher(m as StringMatch);
    // withoutHeaders: a request without the header does not carry the value, so it matches.
    if (invert) out.treat_missing_header_as_empty = true;
  }
  if (invert) out.invert_match = true;
  return out;
}

function byName(a: Proto, b: Proto): number {
  const x = String(a.name);
  const y = String(b.name);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** An Envoy RouteMatch from an Istio HTTPMatchRequest (istiod's translateRouteMatch). */
export function routeMatch(m: HttpMatch | undefined): Proto {
  const match: Proto = {};
  const uri = m?.uri;
  if (!uri) match.prefix = "/";
  else if ("exact" in uri) match.path = uri.exact;
  else if ("prefix" in uri) match.prefix = uri.prefix;
  else match.safe_regex = { regex: uri.regex };
  if (m === undefined) return match;
  match.case_sensitive = { value: !m.ignoreUriCase };
  const headers: Proto[] = [
    ...Object.entries(m.headers).map(([name, sm]) => headerMatcher(name, sm)),
    ...Object.entries(m.withoutHeaders ?? {}).map(([name, sm]) => headerMatcher(name, sm, true)),
  ].sort(byName);
  if (m.method) headers.push(headerMatcher(":method", m.method));
  if (m.authority) headers.push(headerMatcher(":authority", m.authority));
  if (m.scheme) headers.push(headerMatcher(":scheme", m.scheme));
  if (headers.length > 0) match.headers = headers;
  const query = Object.entries(m.queryParams ?? {})
    .map(([name, qm]) =>
      isPresence(qm)
        ? { name, present_match: true }
        : { name, string_match: stringMatcher(qm as StringMatch) },
    )
    .sort(byName);
  if (query.length > 0) match.query_parameters = query;
  return match;
}

/** Istio's cluster for a destination: explicit port, else the service's only port, else the listener's. */
export function destinationCluster(
  ctx: PushContext,
  host: string,
  subset: string | undefined,
  port: number | undefined,
  listenerPort: number,
): string {
  const svc = ctx.servicesByHost.get(host);
  const p = port ?? (svc?.ports.length === 1 ? svc.ports[0]?.port : undefined) ?? listenerPort;
  return clusterName("outbound", p, subset ?? "", host);
}

/**
 * Route timeout as istiod sets it (setTimeout): 0s (disabled; Envoy's own default is 15 s)
 * unless the VirtualService sets one; Envoy also gets it as `max_grpc_timeout`, proxyless gRPC
 * as `max_stream_duration` (gRFC A31).
 */
export function routeTimeout(proxy: ProxyInfo, ms: number): Proto {
  if (proxy.type === "grpc")
    return { timeout: duration(ms), max_stream_duration: { max_stream_duration: duration(ms) } };
  return { timeout: duration(ms), max_grpc_timeout: duration(ms) };
}

/**
 * Istio's RetryPolicy (retry.ConvertPolicy): absent = default, `attempts: 0` = none. istiod
 * leaves out the previous-hosts predicate when the route's one destination hashes (a retry to
 * another host would break stickiness); its default lists no retriable status codes.
 */
export function retryPolicy(retries: HttpRetry | undefined, consistentHash = false): Proto | undefined {
  if (retries && retries.attempts <= 0) return undefined;
  const policy: Proto = {
    retry_on: DEFAULT_RETRY_ON,
    num_retries: { value: retries?.attempts ?? DEFAULT_RETRY_ATTEMPTS },
    ...(consistentHash
      ? {}
      : {
          retry_host_predicate: [
            {
              name: "envoy.retry_host_predicates.previous_hosts",
              typed_config: packAny(
                "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
                {},
              ),
            },
          ],
        }),
    host_selection_retry_max_attempts: "5",
  };
  if (retries?.retryOn) {
    const codes: number[] = [];
    const conditions: string[] = [];
    for (const part of retries.retryOn) {
      if (/^\d+$/.test(part) && Number(part) >= 100 && Number(part) <= 599) codes.push(Number(part));
      else conditions.push(part);
    }
    if (codes.length > 0 && !conditions.includes("retriable-status-codes"))
      conditions.push("retriable-status-codes");
    policy.retry_on = conditions.join(",");
    policy.retriable_status_codes = codes;
  }
  if (retries?.perTryTimeoutMs) policy.per_try_timeout = duration(retries.perTryTimeoutMs);
  if (retries?.retryRemoteLocalities)
    policy.retry_priority = {
      name: "envoy.retry_priorities.previous_priorities",
      typed_config: packAny(
        "envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
        {
          update_frequency: 2,
        },
      ),
    };
  return policy;
}

/**
 * The consistent-hash key of a destination (istiod's hashForHTTPDestination): the subset's
 * consistentHash when it has one, else the DestinationRule's. A subset with a simple LB still
 * inherits the top-level key, as in istiod.
 */
export function destinationHashKey(
  ctx: PushContext,
  proxy: ProxyInfo,
  host: string,
  subset: string | undefined,
): HashKey | undefined {
  const dr = ctx.destinationRuleFor(host, proxy);
  if (!dr) return undefined;
  const keyOf = (lb: LoadBalancer | undefined) =>
    lb && (lb.kind === "RING_HASH" || lb.kind === "MAGLEV") ? lb.hashKey : undefined;
  const sub = subset ? dr.subsets.find((s) => s.name === subset) : undefined;
  return keyOf(sub?.trafficPolicy?.loadBalancer) ?? keyOf(dr.trafficPolicy?.loadBalancer);
}

/**
 * A route hash policy (istiod's consistentHashToHashPolicy). gRPC supports header and
 * `filter_state` `io.grpc.channel_id` (gRFC A42) only: for gRPC, source IP becomes the channel
 * id (istiod sends `connection_properties`, which gRPC ignores, so its calls do not stick). A
 * cookie or query parameter policy is sent as istiod sends it; gRPC ignores it.
 */
export function hashPolicy(key: HashKey, proxy: ProxyInfo): Proto | undefined {
  if ("header" in key) return { header: { header_name: key.header } };
  if ("sourceIp" in key)
    return proxy.type === "grpc"
      ? { filter_state: { key: "io.grpc.channel_id" } }
      : { connection_properties: { source_ip: true } };
  if ("cookie" in key)
    return {
      cookie: {
        name: key.cookie.name,
        ...(key.cookie.ttlMs !== undefined ? { ttl: duration(key.cookie.ttlMs) } : {}),
        ...(key.cookie.path ? { path: key.cookie.path } : {}),
      },
    };
  return { query_parameter: { name: key.queryParameter } };
}

/** Istio's header edits: `set` overwrites, `add` appends; `host`/`:authority` in set rewrites the authority. */
function headerOptions(ops: HeaderOperations | undefined): {
  add: Proto[];
  remove: string[];
  authority?: string;
} {
  const add: Proto[] = [];
  let authority: string | undefined;
  const push = (map: Readonly<Record<string, string>> | undefined, action: string) => {
    for (const key of Object.keys(map ?? {}).sort()) {
      const value = map?.[key] ?? "";
      const lower = key.toLowerCase();
      if (lower === "host" || lower === ":authority") {
        if (action === "OVERWRITE_IF_EXISTS_OR_ADD") authority = value;
        continue;
      }
      if (lower.startsWith(":")) continue;
      add.push({ header: { key, value }, append_action: action });
    }
  };
  push(ops?.set, "OVERWRITE_IF_EXISTS_OR_ADD");
  push(ops?.add, "APPEND_IF_EXISTS_OR_ADD");
  return { add, remove: [...(ops?.remove ?? [])], ...(authority !== undefined ? { authority } : {}) };
}

function applyHeaders(target: Proto, headers: RouteDestination["headers"]): string | undefined {
  const req = headerOptions(headers?.request);
  const res = headerOptions(headers?.response);
  const append = (field: string, values: unknown[]) => {
    if (values.length > 0) target[field] = [...((target[field] as unknown[]) ?? []), ...values];
  };
  append("request_headers_to_add", req.add);
  append("request_headers_to_remove", req.remove);
  append("response_headers_to_add", res.add);
  append("response_headers_to_remove", res.remove);
  return req.authority;
}

function mirrorPolicy(ctx: PushContext, m: HttpMirror, listenerPort: number): Proto | undefined {
  // istiod: an explicit 0% mirrors nothing; no percentage mirrors everything (100/HUNDRED).
  if (m.percent === 0) return undefined;
  return {
    cluster: destinationCluster(ctx, m.host, m.subset, m.port, listenerPort),
    runtime_fraction: {
      default_value:
        m.percent === undefined ? { numerator: 100, denominator: "HUNDRED" } : fractionalPercent(m.percent),
    },
    trace_sampled: { value: false },
    disable_shadow_host_suffix_append: true,
  };
}

/** The per-route CorsPolicy of Envoy's cors filter (istiod's translateCORSPolicy). */
export function corsPolicyConfig(c: CorsPolicy): ReturnType<typeof packAny> {
  const policy: Proto = {};
  if (c.allowOrigins.length > 0) policy.allow_origin_string_match = c.allowOrigins.map(stringMatcher);
  if (c.allowMethods.length > 0) policy.allow_methods = c.allowMethods.join(",");
  if (c.allowHeaders.length > 0) policy.allow_headers = c.allowHeaders.join(",");
  if (c.exposeHeaders.length > 0) policy.expose_headers = c.exposeHeaders.join(",");
  if (c.maxAgeMs !== undefined) policy.max_age = String(Math.floor(c.maxAgeMs / 1000));
  if (c.allowCredentials !== undefined) policy.allow_credentials = { value: c.allowCredentials };
  policy.filter_enabled = { default_value: { numerator: 100, denominator: "HUNDRED" } };
  policy.forward_not_matching_preflights = { value: c.unmatchedPreflights !== "IGNORE" };
  return packAny(CORS_POLICY_TYPE, policy);
}

/** Envoy's fault filter config for a route's `fault` (also applied by gRPC, gRFC A33). */
export function faultConfig(r: HttpRoute) {
  const fault: Proto = {};
  const f = r.fault ?? {};
  if (f.delay)
    fault.delay = {
      fixed_delay: duration(f.delay.fixedDelayMs),
      percentage: fractionalPercent(f.delay.percent),
    };
  if (f.abort) {
    fault.abort = {
      percentage: fractionalPercent(f.abort.percent),
      ...(f.abort.grpcStatus !== undefined
        ? { grpc_status: f.abort.grpcStatus }
        : { http_status: f.abort.httpStatus ?? 503 }),
    };
  }
  return packAny("envoy.extensions.filters.http.fault.v3.HTTPFault", fault);
}

const REDIRECT_RESPONSE_CODES: Readonly<Record<number, string>> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

/** The `route` action of an http route that forwards (istiod's applyHTTPRouteDestination). */
export function routeAction(
  ctx: PushContext,
  proxy: ProxyInfo,
  r: HttpRoute,
  listenerPort: number,
  route: Proto = {},
): Proto {
  const action: Proto = {};
  // istiod drops 0-weight destinations when there are others.
  const dests = r.destinations.filter((d) => d.weight > 0 || r.destinations.length === 1);
  const clusters = dests.map((d) => ({
    name: destinationCluster(ctx, d.host, d.subset, d.port, listenerPort),
    weight: { value: d.weight > 0 ? d.weight : 100 },
    dest: d,
  }));
  let authority: string | undefined;
  if (clusters.length === 1 && clusters[0]) {
    action.cluster = clusters[0].name;
    authority = applyHeaders(route, clusters[0].dest.headers);
  } else {
    action.weighted_clusters = {
      clusters: clusters.map(({ name, weight, dest }) => {
        const cw: Proto = { name, weight };
        const a = applyHeaders(cw, dest.headers);
        if (a !== undefined) cw.host_rewrite_literal = a;
        return cw;
      }),
    };
  }
  Object.assign(action, routeTimeout(proxy, r.timeoutMs ?? 0));
  if (r.rewrite) {
    if (r.rewrite.uri !== undefined) action.prefix_rewrite = r.rewrite.uri;
    if (r.rewrite.uriRegexRewrite)
      action.regex_rewrite = {
        pattern: { regex: r.rewrite.uriRegexRewrite.match },
        substitution: r.rewrite.uriRegexRewrite.rewrite,
      };
    if (r.rewrite.authority) action.host_rewrite_literal = r.rewrite.authority;
  }
  if (authority !== undefined && action.host_rewrite_literal === undefined)
    action.host_rewrite_literal = authority;
  const hashes = dests.flatMap((d) => {
    const key = destinationHashKey(ctx, proxy, d.host, d.subset);
    const policy = key ? hashPolicy(key, proxy) : undefined;
    return policy ? [policy] : [];
  });
  const retry = retryPolicy(r.retries, dests.length === 1 && hashes.length > 0);
  if (retry) action.retry_policy = retry;
  if (r.mirrors) {
    const mirrors = r.mirrors.flatMap((m) => mirrorPolicy(ctx, m, listenerPort) ?? []);
    if (mirrors.length > 0) action.request_mirror_policies = mirrors;
  }
  if (hashes.length > 0) action.hash_policy = hashes;
  return action;
}

/** Whether an Istio match applies to this proxy (istiod's sourceMatchHTTP + port match). */
function matchApplies(
  m: HttpMatch | L4Match | undefined,
  proxy: ProxyInfo,
  port: number | undefined,
): boolean {
  if (!m) return true;
  if (m.port !== undefined && port !== undefined && m.port !== port) return false;
  if (m.gateways && m.gateways.length > 0) return m.gateways.includes("mesh");
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, proxy.labels)) return false;
  return m.sourceNamespace === undefined || m.sourceNamespace === proxy.namespace;
}

/** A match that matches every request: istiod stops at it (later routes are unreachable). */
function isCatchAll(m: HttpMatch | undefined): boolean {
  if (!m) return true;
  const uriAll =
    !m.uri || ("prefix" in m.uri && m.uri.prefix === "/") || ("regex" in m.uri && m.uri.regex === "*");
  return (
    uriAll &&
    Object.keys(m.headers).length === 0 &&
    Object.keys(m.withoutHeaders ?? {}).length === 0 &&
    Object.keys(m.queryParams ?? {}).length === 0 &&
    !m.method &&
    !m.scheme &&
    !m.authority
  );
}

/** Root route + delegate route merged (istiod's mergeHTTPRoute): the child's fields win where set. */
function mergeDelegate(root: HttpRoute, child: HttpRoute): HttpRoute | undefined {
  const matches = mergeMatches(root.matches, child.matches);
  if (matches === undefined) return undefined;
  return {
    ...child,
    name: `${root.name}-${child.name}`,
    matches,
    ...(child.timeoutMs === undefined && root.timeoutMs !== undefined ? { timeoutMs: root.timeoutMs } : {}),
    ...(child.retries === undefined && root.retries !== undefined ? { retries: root.retries } : {}),
    ...(child.fault === undefined && root.fault ? { fault: root.fault } : {}),
    ...(child.rewrite === undefined && root.rewrite ? { rewrite: root.rewrite } : {}),
    ...(child.mirrors === undefined && root.mirrors ? { mirrors: root.mirrors } : {}),
    ...(child.corsPolicy === undefined && root.corsPolicy ? { corsPolicy: root.corsPolicy } : {}),
    ...(child.headers === undefined && root.headers ? { headers: root.headers } : {}),
  };
}

/** The cross product of root and child matches where they agree (istiod drops conflicting pairs). */
function mergeMatches(root: readonly HttpMatch[], child: readonly HttpMatch[]): HttpMatch[] | undefined {
  if (root.length === 0) return [...child];
  if (child.length === 0) return [...root];
  const out: HttpMatch[] = [];
  for (const c of child)
    for (const r of root) {
      const merged = mergeMatch(r, c);
      if (merged) out.push(merged);
    }
  return out.length > 0 ? out : undefined;
}

function mergeMatch(root: HttpMatch, child: HttpMatch): HttpMatch | undefined {
  // The child's uri must lie within the root's (istiod: prefix of prefix, or equal).
  let uri = child.uri ?? root.uri;
  if (root.uri && child.uri) {
    const ru = root.uri;
    const cu = child.uri;
    const within =
      "prefix" in ru
        ? ("prefix" in cu && cu.prefix.startsWith(ru.prefix)) ||
          ("exact" in cu && cu.exact.startsWith(ru.prefix))
        : JSON.stringify(ru) === JSON.stringify(cu);
    if (!within) return undefined;
    uri = cu;
  }
  for (const [k, v] of Object.entries(child.headers))
    if (root.headers[k] && JSON.stringify(root.headers[k]) !== JSON.stringify(v)) return undefined;
  const pick = <T>(a: T | undefined, b: T | undefined) => a ?? b;
  const out: HttpMatch = {
    ...root,
    ...child,
    headers: { ...root.headers, ...child.headers },
  };
  const name = [root.name, child.name].filter(Boolean).join("-");
  const withoutHeaders = { ...root.withoutHeaders, ...child.withoutHeaders };
  const queryParams = { ...root.queryParams, ...child.queryParams };
  const port = pick(child.port, root.port);
  return {
    ...out,
    ...(uri ? { uri } : {}),
    ...(name ? { name } : {}),
    ...(Object.keys(withoutHeaders).length > 0 ? { withoutHeaders } : {}),
    ...(Object.keys(queryParams).length > 0 ? { queryParams } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

/** A VirtualService's http routes with delegates expanded (istiod merges them into the root). */
export function expandDelegates(ctx: PushContext, vs: VirtualServiceModel): HttpRoute[] {
  const out: HttpRoute[] = [];
  for (const r of vs.http) {
    if (!r.delegate) {
      out.push(r);
      continue;
    }
    const { name, namespace } = r.delegate;
    const child = ctx.model.virtualServices.find(
      (c) => c.name === name && c.namespace === namespace && c.hosts.length === 0,
    );
    // A missing delegate routes nothing for this root route (istiod logs and skips it).
    for (const cr of child?.http ?? []) {
      if (cr.delegate) continue; // istiod allows one level only
      const merged = mergeDelegate(r, cr);
      if (merged) out.push(merged);
    }
  }
  return out;
}

/** istiod's route decorator (getRouteOperation): `host:port/path` of the one cluster, else `vs:port/path`. */
function routeOperation(route: Proto, vsName: string, port: number): string {
  const match = route.match as Proto;
  let path = "/*";
  if (typeof match.prefix === "string") path = `${match.prefix}*`;
  else if (typeof match.path === "string") path = match.path;
  else if (match.safe_regex) path = String((match.safe_regex as Proto).regex);
  const cluster = (route.route as Proto | undefined)?.cluster;
  const parts = typeof cluster === "string" ? cluster.split("|") : [];
  if (parts.length === 4) return `${parts[3]}:${parts[1]}${path}`;
  return `${vsName}:${port}${path}`;
}

/** The `istio` filter metadata naming the VirtualService a route came from (istiod's BuildConfigInfoMetadata). */
function configMetadata(vs: VirtualServiceModel): Proto {
  const config = `/apis/networking.istio.io/v1/namespaces/${vs.namespace}/virtual-service/${vs.name}`;
  return { filter_metadata: { istio: { fields: { config: { stringValue: config } } } } };
}

/** Routes for one service port: the VirtualService's http routes, or a single default route. */
export function buildRoutes(
  ctx: PushContext,
  proxy: ProxyInfo,
  service: MeshService,
  port: ServicePort,
): Proto[] {
  const vs = ctx.virtualServiceFor(service.hostname, proxy);
  const defaultCluster = clusterName("outbound", port.port, "", service.hostname);
  if (!vs) {
    // istiod's default route (BuildDefaultHTTPOutboundRoute): max_grpc_timeout even for gRPC.
    const action: Proto = { cluster: defaultCluster, timeout: duration(0), max_grpc_timeout: duration(0) };
    const key = destinationHashKey(ctx, proxy, service.hostname, undefined);
    const hash = key ? hashPolicy(key, proxy) : undefined;
    const retry = retryPolicy(undefined);
    if (retry) action.retry_policy = retry;
    if (hash) action.hash_policy = [hash];
    return [
      {
        name: "default",
        match: { prefix: "/" },
        route: action,
        decorator: { operation: `${service.hostname}:${port.port}/*` },
      },
    ];
  }
  const grpc = proxy.type === "grpc";
  const metadata = configMetadata(vs);
  const routes: Proto[] = [];
  for (const r of expandDelegates(ctx, vs)) {
    // grpc-js NACKs a whole RouteConfiguration with a route whose action is not `route` (istiod sends it anyway).
    if (grpc && (r.redirect || r.directResponse)) continue;
    const matches: (HttpMatch | undefined)[] = r.matches.length > 0 ? [...r.matches] : [undefined];
    let catchAll = false;
    for (const m of matches) {
      if (!matchApplies(m, proxy, port.port)) continue;
      // istiod: `<route name>.<match name>` when the match is named.
      const route: Proto = { name: m?.name ? `${r.name}.${m.name}` : r.name, match: routeMatch(m) };
      if (r.redirect) {
        const rd = r.redirect;
        route.redirect = {
          ...(rd.uri !== undefined ? { path_redirect: rd.uri } : {}),
          ...(rd.authority ? { host_redirect: rd.authority } : {}),
          ...(rd.scheme ? { scheme_redirect: rd.scheme } : {}),
          ...(rd.port !== undefined
            ? { port_redirect: rd.port }
            : rd.derivePort === "FROM_REQUEST_PORT"
              ? { port_redirect: port.port }
              : {}),
          response_code: REDIRECT_RESPONSE_CODES[rd.redirectCode] ?? "MOVED_PERMANENTLY",
        };
      } else if (r.directResponse) {
        const body = r.directResponse.body;
        route.direct_response = {
          status: r.directResponse.status,
          ...(body
            ? { body: "string" in body ? { inline_string: body.string } : { inline_bytes: body.bytes } }
            : {}),
        };
      } else {
        route.route = routeAction(ctx, proxy, r, port.port, route);
      }
      const authority = applyHeaders(route, r.headers);
      const action = route.route as Proto | undefined;
      if (authority !== undefined && action && action.host_rewrite_literal === undefined)
        action.host_rewrite_literal = authority;
      route.metadata = metadata;
      route.decorator = { operation: routeOperation(route, vs.name, port.port) };
      const perFilter: Proto = {};
      if (r.fault) perFilter[FAULT_FILTER] = faultConfig(r);
      // grpc-js NACKs a route config naming a filter it lacks unless optional: no CORS for gRPC
      // (istiod sends it; gRPC clients have no CORS).
      if (r.corsPolicy && !grpc) perFilter[CORS_FILTER] = corsPolicyConfig(r.corsPolicy);
      if (Object.keys(perFilter).length > 0) route.typed_per_filter_config = perFilter;
      routes.push(route);
      if (isCatchAll(m)) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return routes;
}

/**
 * A sidecar HCM's HTTP filters before the router with Envoy's cors filter first, as istiod
 * puts it on every sidecar HCM (inbound and outbound); a configured cors filter is not doubled.
 *
 * @example
 * httpFilters(withCorsFilter(ext.http?.outbound ?? [])); // fault, cors, ...ext, router
 */
export function withCorsFilter(extra: readonly object[]): object[] {
  const present = extra.some((f) => (f as { name?: unknown }).name === CORS_FILTER);
  return present ? [...extra] : [CORS_HTTP_FILTER, ...extra];
}

/**
 * The tcp route of a VirtualService for a port, as proxy sees it (istiod: the first `tcp[]`
 * entry with a match for the port, or without matches): tcp_proxy to one cluster or weighted.
 */
export function tcpRouteClusters(
  ctx: PushContext,
  proxy: ProxyInfo,
  vs: VirtualServiceModel | undefined,
  port: number,
): Proto | undefined {
  for (const t of vs?.tcp ?? []) {
    const applies =
      t.matches.length === 0 || t.matches.some((m) => !m.destinationSubnets && matchApplies(m, proxy, port));
    if (!applies) continue;
    const clusters = l4Clusters(ctx, t.destinations, port);
    // istiod names a weighted tcp_proxy's stats after the VirtualService.
    return clusters.weighted_clusters && vs
      ? { ...clusters, stat_prefix: `${vs.name}.${vs.namespace}` }
      : clusters;
  }
  return undefined;
}

/** tcp_proxy's `cluster` or `weighted_clusters` for L4 destinations. */
export function l4Clusters(ctx: PushContext, destinations: readonly RouteDestination[], port: number): Proto {
  const dests = destinations.filter((d) => d.weight > 0 || destinations.length === 1);
  const names = dests.map((d) => destinationCluster(ctx, d.host, d.subset, d.port, port));
  if (dests.length === 1 && names[0]) return { cluster: names[0] };
  return {
    weighted_clusters: { clusters: dests.map((d, i) => ({ name: names[i], weight: d.weight })) },
  };
}

/** The tls routes of a VirtualService for a port, as proxy sees it: one filter chain per route. */
export function tlsRouteChains(
  ctx: PushContext,
  proxy: ProxyInfo,
  vs: VirtualServiceModel | undefined,
  port: number,
): { serverNames: string[]; clusters: Proto }[] {
  const out: { serverNames: string[]; clusters: Proto }[] = [];
  for (const t of vs?.tls ?? []) {
    const serverNames = t.matches
      .filter((m) => !m.destinationSubnets && matchApplies(m, proxy, port))
      .flatMap((m) => m.sniHosts ?? []);
    if (serverNames.length === 0) continue;
    out.push({
      serverNames: [...new Set(serverNames)].sort(),
      clusters: l4Clusters(ctx, t.destinations, port),
    });
  }
  return out;
}

const selectorsByModel = new WeakMap<object, readonly Readonly<Record<string, string>>[]>();

/**
 * Which `sourceLabels` selectors of the mesh's VirtualServices a proxy's labels satisfy, one
 * digit each ("" when no VirtualService uses sourceLabels): routes then depend on the proxy's
 * labels, so this is part of the view key (istiod marks such routes uncacheable).
 *
 * @example
 * sourceLabelsViewKey(ctx, proxy); // "10" (matches the first selector, not the second)
 */
export function sourceLabelsViewKey(ctx: PushContext, proxy: ProxyInfo): string {
  let selectors = selectorsByModel.get(ctx.model);
  if (!selectors) {
    const seen = new Map<string, Readonly<Record<string, string>>>();
    for (const vs of ctx.model.virtualServices) {
      const matches = [
        ...vs.http.flatMap((r) => r.matches),
        ...(vs.tcp ?? []).flatMap((r) => r.matches),
        ...(vs.tls ?? []).flatMap((r) => r.matches),
      ];
      for (const m of matches)
        if (m.sourceLabels) seen.set(JSON.stringify(Object.entries(m.sourceLabels).sort()), m.sourceLabels);
    }
    selectors = [...seen.values()];
    selectorsByModel.set(ctx.model, selectors);
  }
  return selectors.map((s) => (labelsMatch(s, proxy.labels) ? "1" : "0")).join("");
}
