/**
 * Where meshctl's xDS output differs from istiod's on purpose. Each entry names what it covers
 * and why a platform engineer can accept it. The rule for adding one: the difference must not
 * change what the proxy does with traffic (routing, load balancing, retries, timeouts, circuit
 * breaking, TLS, endpoints, hash policies, header manipulation, mirror, redirect, rewrite,
 * CORS, fault). A difference in behaviour is a defect, never a deviation.
 */
import type { ParityDiff, ParityProxy, ParityType } from "./types.js";

/** What a deviation covers; every given condition must hold. */
export interface DeviationMatcher {
  /** Only these proxy kinds (default: both). */
  readonly proxyKind?: ParityProxy["kind"];
  /** Resource names. */
  readonly resource?: RegExp;
  /** JSON paths inside the resource (as compare.ts writes them; `""` is the whole resource). */
  readonly path?: RegExp;
  /** Only when just one server has the value (a resource, field or element the other lacks). */
  readonly onlyIn?: "istiod" | "meshctl";
  /** A further condition on the diff (its full values), described in `whenText` for the docs. */
  readonly when?: (subject: DeviationSubject) => boolean;
  readonly whenText?: string;
}

export interface ParityDeviation {
  readonly id: string;
  /** The resource types it covers. */
  readonly type: readonly ParityType[];
  readonly appliesTo: DeviationMatcher;
  /** One line: why this difference is accepted. */
  readonly reason: string;
}

/** A diff as deviations see it. */
export type DeviationSubject = ParityDiff & { readonly proxyKind: ParityProxy["kind"] };

/**
 * Route-configuration paths a proxyless gRPC client reads (@grpc/grpc-js-xds resolver-xds.ts
 * and route-config-resource-type.ts; the gRFCs name the same fields). A diff at any of these,
 * or at a whole virtual host or route, stays a defect for gRPC.
 */
const VHOST = String.raw`virtual_hosts\[.*\]`;
const ROUTE = String.raw`${VHOST}\.routes\[\d+\]`;
const GRPC_READ_ROUTE_PATHS = new RegExp(
  `^(${[
    // the virtual hosts themselves, their domains, routes, retry policy and filter overrides
    String.raw`virtual_hosts(\[[^\]]*\])?`,
    String.raw`${VHOST}\.(domains|routes)(\[[^\]]*\])?`,
    String.raw`${VHOST}\.(retry_policy|typed_per_filter_config)(\..*)?`,
    // a route's match and filter overrides, whole
    String.raw`${ROUTE}\.(match|typed_per_filter_config)([.[].*)?`,
    // its action: the cluster choice, weights, hash policy, retry policy, stream duration
    String.raw`${ROUTE}\.route`,
    String.raw`${ROUTE}\.route\.(cluster|cluster_header|retry_policy|max_stream_duration)`,
    String.raw`${ROUTE}\.route\.(weighted_clusters|hash_policy)([.[].*)?`,
    String.raw`${ROUTE}\.route\.retry_policy\.(retry_on|num_retries|retry_back_off)(\..*)?`,
    String.raw`${ROUTE}\.route\.max_stream_duration\.(max_stream_duration|grpc_timeout_header_max)(\..*)?`,
  ].join("|")})$`,
);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * True when a metadata value (at `path`) holds nothing but `filter_metadata.istio`: other
 * namespaces (`envoy.lb` subset labels, `envoy.transport_socket_match`) steer traffic.
 */
function onlyIstioMetadata(path: string, value: unknown): boolean {
  if (value === undefined || /\.filter_metadata\.istio(\.|$)/.test(path)) return true;
  if (!isPlainObject(value)) return false;
  const filterMetadata = path.endsWith("filter_metadata") ? value : value.filter_metadata;
  if (!path.endsWith("filter_metadata") && Object.keys(value).some((k) => k !== "filter_metadata"))
    return false;
  if (filterMetadata === undefined) return true;
  return isPlainObject(filterMetadata) && Object.keys(filterMetadata).every((k) => k === "istio");
}

/**
 * The deliberate deviations, most general first. Kept short on purpose: each is a promise
 * that the difference changes nothing the proxy does with traffic.
 */
export const PARITY_DEVIATIONS: readonly ParityDeviation[] = [
  {
    id: "istio-proxy-extensions",
    type: ["listeners", "clusters"],
    appliesTo: {
      // Only Istio's own extension names: a Wasm filter (WasmPlugin) is user behaviour, never deliberate.
      path: /(http_filters|filters|listener_filters)\[(istio\.|io\.istio\.)/,
    },
    reason:
      "Istio-proxy-only extensions (metadata exchange, Istio stats, ALPN override, authn): stock Envoy and gRPC lack them, meshctl serves stock Envoy.",
  },
  {
    id: "istio-metadata",
    type: ["listeners", "routes", "clusters", "endpoints"],
    appliesTo: {
      path: /(^|\.)metadata(\.filter_metadata(\.istio(\..*)?)?)?$/,
      when: (s) => onlyIstioMetadata(s.path, s.istiod) && onlyIstioMetadata(s.path, s.meshctl),
      whenText: "nothing but the istio key",
    },
    reason:
      "Istio's provenance metadata (filter_metadata.istio: config names, services) feeds istio-proxy's telemetry; Envoy's routing and load balancing never read it.",
  },
  {
    id: "stats-only",
    type: ["listeners", "routes", "clusters"],
    appliesTo: {
      path: /(^|\.)(stat_prefix|alt_stat_name|observability_name|track_remaining)$|http_filters\[envoy\.filters\.http\.grpc_stats\]$/,
    },
    reason:
      "Statistics only (stat names, circuit-breaker remaining gauges, the gRPC stats filter): they shape Envoy's metrics and change no traffic decision.",
  },
  {
    id: "grpc-listener-address",
    type: ["listeners"],
    appliesTo: { proxyKind: "grpc", path: /^address(\.|$)/ },
    reason:
      "A proxyless gRPC client reads only a client listener's api_listener (gRFC A27); its address is never used.",
  },
  {
    id: "grpc-unread-route-fields",
    type: ["routes"],
    appliesTo: {
      proxyKind: "grpc",
      when: (s) => !GRPC_READ_ROUTE_PATHS.test(s.path),
      whenText:
        "fields outside what gRPC reads (domains, matches, cluster choice, weights, hash and retry policy, max_stream_duration, filter overrides)",
    },
    reason:
      "A proxyless gRPC client reads only these route fields (gRFC A28, A31, A42, A44; checked in @grpc/grpc-js-xds resolver-xds.ts): Envoy-only fields (timeout, attempt-count header, retry host predicates, retriable HTTP codes, decorators) change nothing it does.",
  },
  {
    id: "harness-apiserver-service",
    type: ["listeners", "routes", "clusters", "endpoints"],
    appliesTo: {
      resource: /(^|[|_])(kubernetes\.default\.svc\.cluster\.local|10\.96\.0\.1_443)$/,
      onlyIn: "istiod",
    },
    reason:
      "Harness input, not meshctl: istiod's loopback API server always has its own default/kubernetes Service (VIP 10.96.0.1), which the case does not give meshctl.",
  },
  {
    id: "istio-agent-mtls",
    type: ["listeners", "clusters"],
    appliesTo: {
      onlyIn: "istiod",
      path: /^(filter_chains\[.*(transport_protocol=tls|application_protocols=istio).*\]|transport_socket)$/,
      when: (s) =>
        /sds_config|certificate_provider_instance|"istio(-peer-exchange|-h2|-http\/1\.[01])?"/.test(
          JSON.stringify(s.istiod),
        ),
      whenText:
        "istiod's value uses SDS secrets, gRPC certificate providers (the agent's files) or Istio's ALPN values",
    },
    reason:
      "Workload mTLS (permissive inbound TLS chains, ISTIO_MUTUAL upstream TLS) takes its certificates from Istio's node agent (SDS for Envoy, certificate-provider files for gRPC), which a stock Envoy or proxyless client without the agent does not have; meshctl issues no workload certificates and warns on ISTIO_MUTUAL (docs/xds.md §7).",
  },
  {
    id: "system-roots-from-file",
    type: ["clusters"],
    appliesTo: {
      path: /^transport_socket\.typed_config\.common_tls_context\.(combined_validation_context|validation_context)$/,
      when: (s) =>
        (s.istiod === undefined || /file-root:system/.test(JSON.stringify(s.istiod))) &&
        (s.meshctl === undefined || /ca-certificates\.crt/.test(JSON.stringify(s.meshctl))),
      whenText: "istiod's agent secret file-root:system against meshctl's system CA bundle file",
    },
    reason:
      "The same trust (the system CA bundle) named two ways: istiod asks Istio's agent for the SDS secret file-root:system, meshctl names /etc/ssl/certs/ca-certificates.crt, which a stock Envoy reads directly.",
  },
  {
    id: "grpc-least-request",
    type: ["clusters"],
    appliesTo: {
      proxyKind: "grpc",
      path: /^lb_policy$/,
      when: (s) => s.istiod === "LEAST_REQUEST" && (s.meshctl === undefined || s.meshctl === "ROUND_ROBIN"),
      whenText: "istiod's LEAST_REQUEST against round robin",
    },
    reason:
      "@grpc/grpc-js-xds rejects a cluster whose lb_policy is LEAST_REQUEST (its cluster validation), so istiod's cluster would fail the client; meshctl sends round robin and warns when it reads the DestinationRule.",
  },
  {
    id: "grpc-outlier-detection",
    type: ["clusters"],
    appliesTo: { proxyKind: "grpc", path: /^outlier_detection(\.|$)/, onlyIn: "meshctl" },
    reason:
      "gRPC clients implement outlier detection (gRFC A50) and meshctl sends a DestinationRule's outlierDetection to them as written; istiod leaves it out for proxyless clients, so there the rule does nothing.",
  },
  {
    id: "observability-labels",
    type: ["routes", "listeners"],
    appliesTo: { path: /(^|\.)decorator(\.|$)|(^|\.)routes\[\d+\]\.name$/ },
    reason:
      "Labels for access logs and traces only (route names, span operation names): no effect on requests.",
  },
];

/**
 * True when the deviation explains the diff.
 *
 * @example
 * matchDeviation(PARITY_DEVIATIONS[0], { ...diff, proxyKind: "envoy" });
 */
export function matchDeviation(deviation: ParityDeviation, subject: DeviationSubject): boolean {
  const m = deviation.appliesTo;
  if (!deviation.type.includes(subject.type)) return false;
  if (m.proxyKind && m.proxyKind !== subject.proxyKind) return false;
  if (m.resource && !m.resource.test(subject.resource)) return false;
  if (m.path && !m.path.test(subject.path)) return false;
  if (m.onlyIn === "istiod" && (subject.istiod === undefined || subject.meshctl !== undefined)) return false;
  if (m.onlyIn === "meshctl" && (subject.meshctl === undefined || subject.istiod !== undefined)) return false;
  if (m.when && !m.when(subject)) return false;
  return true;
}

/** A deviation's scope in words, for the docs (`listeners, clusters: path /…/`). */
export function describeDeviationScope(deviation: ParityDeviation): string {
  const m = deviation.appliesTo;
  const parts = [deviation.type.join(", ")];
  if (m.proxyKind) parts.push(`${m.proxyKind} proxies`);
  if (m.resource) parts.push(`resources /${m.resource.source}/`);
  if (m.path) parts.push(`paths /${m.path.source}/`);
  if (m.onlyIn) parts.push(`only in ${m.onlyIn}`);
  if (m.whenText) parts.push(m.whenText);
  return parts.join("; ");
}
