/**
 * The canonical form of one server's xDS output, so two servers' outputs can be compared
 * field by field. Every rule is driven by the real Envoy protos (the message type of each
 * field is looked up, never guessed from its name), and every rule removes only a difference
 * of *spelling*, never one of behaviour:
 *
 * - proto3 defaults: a scalar or enum field without presence that holds its zero value is the
 *   same on the wire as an absent one (Go's encoder omits it, protobufjs writes it), so it is
 *   dropped; fields with presence (wrappers, messages, oneof members, `optional`) are kept.
 * - Envoy defaults: a field Envoy documents a default for (`connect_timeout` 5 s, circuit
 *   breaker thresholds 1024, ...) is dropped when it holds exactly that default. Only fields
 *   whose documented default is unconditional are listed (see `ENVOY_DEFAULTS`).
 * - collections: repeated fields whose order Envoy does not use (virtual hosts, domains, filter
 *   chains, localities, endpoints, weighted clusters, AND-ed header matchers) become objects
 *   keyed by what identifies an element, so a reordering is no difference; repeated fields
 *   whose order matters (routes, HTTP filters, hash policies, transport socket matches) keep
 *   it: filters are keyed by name *and* their relative order is kept under `[#order]`.
 * - comma lists Envoy reads as sets (`retry_on`) are sorted.
 * - representation: an `Any` left packed because its message was empty (`{ type_url }`) is
 *   unpacked; a `Struct` becomes the JSON it stands for.
 *
 * Blind spot, stated so nobody relies on it: both sides are decoded with meshctl's proto set
 * before they get here, so a field that set does not know is dropped by the decoder and an
 * `Any` of a message it lacks stays packed (compared byte for byte).
 *
 * Names of resources and fields are not rewritten: meshctl uses Istio's names, and a
 * different name is a difference worth reporting (deviations.ts says which are deliberate).
 */
import protobuf from "protobufjs";
import { decodeAnyDeep, loadXdsProtos } from "../protocol/protos.js";
import { type ConfigSnapshot, PARITY_TYPES, type ParityType } from "./types.js";

/** A JSON value after normalisation. */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

/** A snapshot after normalisation: per type, resource name → canonical resource. */
export type NormalizedSnapshot = { readonly [T in ParityType]: Readonly<Record<string, CanonicalValue>> };

/**
 * The key under which a keyed, ordered collection (`http_filters`, `filters`,
 * `listener_filters`) records the order of its elements; compare.ts compares the order of the
 * elements both sides have.
 */
export const ORDER_KEY = "[#order]";

/** The message type of each resource type's resources. */
export const RESOURCE_MESSAGE: Readonly<Record<ParityType, string>> = {
  listeners: "envoy.config.listener.v3.Listener",
  routes: "envoy.config.route.v3.RouteConfiguration",
  clusters: "envoy.config.cluster.v3.Cluster",
  endpoints: "envoy.config.endpoint.v3.ClusterLoadAssignment",
};

type KeyOf = (element: CanonicalValue) => string;

/** How a repeated field is compared. Fields not listed are ordered lists (the safe default). */
type CollectionRule =
  /** Scalars whose order and duplicates do not matter (keyed by the value itself). */
  | { readonly kind: "set" }
  /** Elements matched by a key; their order does not matter. */
  | { readonly kind: "keyed"; readonly key: KeyOf }
  /** Elements matched by a key; the order of the elements both sides have is compared too. */
  | { readonly kind: "keyed-ordered"; readonly key: KeyOf };

const field =
  (name: string): KeyOf =>
  (element) =>
    element && typeof element === "object" && !Array.isArray(element)
      ? String((element as Record<string, CanonicalValue>)[name] ?? "")
      : canonicalJson(element);

const wholeElement: KeyOf = (element) => canonicalJson(element);

/**
 * A short, readable key for a normalised match object (it appears in diff paths):
 * `{ destination_port: { value: 9080 }, transport_protocol: "tls" }` → `destination_port=9080,transport_protocol=tls`;
 * sets become `a|b`, wrappers their value.
 */
function compactKey(value: CanonicalValue): string {
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return value.map(compactKey).join("|");
  const record = value as Record<string, CanonicalValue>;
  const keys = Object.keys(record).sort();
  if (keys.length === 1 && keys[0] === "value") return compactKey(record.value ?? null);
  if (keys.length > 0 && keys.every((k) => k.startsWith("[")))
    return keys.map((k) => compactKey(record[k] ?? null)).join("|");
  return keys.map((k) => `${k}=${compactKey(record[k] ?? null)}`).join(",");
}

function scalarKey(value: CanonicalValue): string {
  return typeof value === "string" ? value : canonicalJson(value);
}

function socketAddressKey(address: CanonicalValue): string {
  const sa = (address as { socket_address?: { address?: string; port_value?: number } } | undefined)
    ?.socket_address;
  if (sa) return `${sa.address ?? ""}:${sa.port_value ?? 0}`;
  return canonicalJson(address ?? null);
}

/**
 * Collection rules by `<message full name>.<field>`. Each line says why the order is not
 * semantic; when in doubt a field stays ordered.
 */
const COLLECTIONS: Readonly<Record<string, CollectionRule>> = {
  // Envoy picks a virtual host by the most specific domain, never by position; domains are unique.
  "envoy.config.route.v3.RouteConfiguration.virtual_hosts": { kind: "keyed", key: field("name") },
  "envoy.config.route.v3.VirtualHost.domains": { kind: "set" },
  // Weighted clusters: the traffic share follows the weights, not the list order.
  "envoy.config.route.v3.WeightedCluster.clusters": { kind: "keyed", key: field("name") },
  // Header and query matchers of one route are AND-ed.
  "envoy.config.route.v3.RouteMatch.headers": { kind: "keyed", key: wholeElement },
  "envoy.config.route.v3.RouteMatch.query_parameters": { kind: "keyed", key: wholeElement },
  "envoy.config.route.v3.RetryPolicy.retriable_status_codes": { kind: "set" },
  "envoy.config.route.v3.RetryPolicy.retriable_headers": { kind: "keyed", key: wholeElement },
  "envoy.config.route.v3.RouteConfiguration.request_headers_to_remove": { kind: "set" },
  "envoy.config.route.v3.RouteConfiguration.response_headers_to_remove": { kind: "set" },
  "envoy.config.route.v3.VirtualHost.request_headers_to_remove": { kind: "set" },
  "envoy.config.route.v3.VirtualHost.response_headers_to_remove": { kind: "set" },
  "envoy.config.route.v3.Route.request_headers_to_remove": { kind: "set" },
  "envoy.config.route.v3.Route.response_headers_to_remove": { kind: "set" },
  // CORS origins are OR-ed.
  "envoy.config.route.v3.CorsPolicy.allow_origin_string_match": { kind: "keyed", key: wholeElement },
  "envoy.extensions.filters.http.cors.v3.CorsPolicy.allow_origin_string_match": {
    kind: "keyed",
    key: wholeElement,
  },
  // Listener: a connection goes to the most specific matching filter chain, not the first.
  "envoy.config.listener.v3.Listener.filter_chains": {
    kind: "keyed",
    key: (chain) =>
      compactKey((chain as { filter_chain_match?: CanonicalValue }).filter_chain_match ?? {}) || "*",
  },
  "envoy.config.listener.v3.FilterChainMatch.server_names": { kind: "set" },
  "envoy.config.listener.v3.FilterChainMatch.application_protocols": { kind: "set" },
  "envoy.config.listener.v3.FilterChainMatch.prefix_ranges": { kind: "keyed", key: wholeElement },
  "envoy.config.listener.v3.FilterChainMatch.source_prefix_ranges": { kind: "keyed", key: wholeElement },
  "envoy.config.listener.v3.FilterChainMatch.direct_source_prefix_ranges": {
    kind: "keyed",
    key: wholeElement,
  },
  "envoy.config.listener.v3.FilterChainMatch.source_ports": { kind: "set" },
  // Filters run in order: matched by name, and the order of shared ones compared.
  "envoy.config.listener.v3.Listener.listener_filters": { kind: "keyed-ordered", key: field("name") },
  "envoy.config.listener.v3.FilterChain.filters": { kind: "keyed-ordered", key: field("name") },
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.http_filters": {
    kind: "keyed-ordered",
    key: field("name"),
  },
  // Endpoints: localities are matched by locality and priority, hosts by address.
  "envoy.config.endpoint.v3.ClusterLoadAssignment.endpoints": {
    kind: "keyed",
    key: (l) => {
      const loc = (l as { locality?: CanonicalValue; priority?: number }).locality ?? {};
      return `${compactKey(loc) || "-"}@${(l as { priority?: number }).priority ?? 0}`;
    },
  },
  "envoy.config.endpoint.v3.LocalityLbEndpoints.lb_endpoints": {
    kind: "keyed",
    key: (e) =>
      socketAddressKey((e as { endpoint?: { address?: CanonicalValue } }).endpoint?.address ?? null),
  },
  "envoy.config.cluster.v3.CircuitBreakers.thresholds": {
    kind: "keyed",
    key: (t) => String((t as { priority?: string }).priority ?? "DEFAULT"),
  },
  // A certificate is accepted when any SAN matcher matches.
  "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.match_typed_subject_alt_names": {
    kind: "keyed",
    key: wholeElement,
  },
  "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.match_subject_alt_names": {
    kind: "keyed",
    key: wholeElement,
  },
};

/**
 * Envoy's documented defaults, by `<message full name>.<field>`, in canonical form (after the
 * proto3 zero values are dropped: a `Duration` of 5 s is `{ seconds: "5" }`, a BoolValue false
 * is `{}`). A field holding exactly its default is dropped, as Envoy then behaves the same.
 * Only defaults that hold in every context are listed.
 */
const ENVOY_DEFAULTS: Readonly<Record<string, CanonicalValue>> = {
  // `type` sits in a oneof, so its zero value has presence; an unset discovery type is STATIC.
  "envoy.config.cluster.v3.Cluster.type": "STATIC",
  "envoy.config.cluster.v3.Cluster.connect_timeout": { seconds: "5" },
  "envoy.config.cluster.v3.Cluster.per_connection_buffer_limit_bytes": { value: 1_048_576 },
  "envoy.config.cluster.v3.Cluster.RingHashLbConfig.minimum_ring_size": { value: "1024" },
  "envoy.config.cluster.v3.Cluster.RingHashLbConfig.maximum_ring_size": { value: "8388608" },
  "envoy.config.cluster.v3.CircuitBreakers.Thresholds.max_connections": { value: 1024 },
  "envoy.config.cluster.v3.CircuitBreakers.Thresholds.max_pending_requests": { value: 1024 },
  "envoy.config.cluster.v3.CircuitBreakers.Thresholds.max_requests": { value: 1024 },
  "envoy.config.cluster.v3.CircuitBreakers.Thresholds.max_retries": { value: 3 },
  "envoy.config.cluster.v3.OutlierDetection.consecutive_5xx": { value: 5 },
  "envoy.config.cluster.v3.OutlierDetection.interval": { seconds: "10" },
  "envoy.config.cluster.v3.OutlierDetection.base_ejection_time": { seconds: "30" },
  "envoy.config.cluster.v3.OutlierDetection.max_ejection_percent": { value: 10 },
  "envoy.config.cluster.v3.OutlierDetection.enforcing_consecutive_5xx": { value: 100 },
  "envoy.config.cluster.v3.OutlierDetection.enforcing_success_rate": { value: 100 },
  "envoy.config.cluster.v3.OutlierDetection.consecutive_gateway_failure": { value: 5 },
  "envoy.config.cluster.v3.OutlierDetection.enforcing_consecutive_gateway_failure": {},
  "envoy.config.cluster.v3.OutlierDetection.consecutive_local_origin_failure": { value: 5 },
  "envoy.config.listener.v3.Listener.per_connection_buffer_limit_bytes": { value: 1_048_576 },
  "envoy.config.listener.v3.Listener.bind_to_port": { value: true },
  "envoy.config.endpoint.v3.ClusterLoadAssignment.Policy.overprovisioning_factor": { value: 140 },
  // "If unspecified, each host is presumed to have equal weight": the weight of 1.
  "envoy.config.endpoint.v3.LbEndpoint.load_balancing_weight": { value: 1 },
  "envoy.config.route.v3.RouteMatch.case_sensitive": { value: true },
  // An empty CommonLbConfig is all defaults; a panic threshold of 50 % is the default one.
  "envoy.config.cluster.v3.Cluster.common_lb_config": {},
  "envoy.config.cluster.v3.Cluster.CommonLbConfig.healthy_panic_threshold": { value: 50 },
  // Envoy (since 1.18, no v2) and gRPC read AUTO as V3.
  "envoy.config.core.v3.ConfigSource.resource_api_version": "V3",
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.use_remote_address": {},
  // IMPLEMENTATION_SPECIFIC_DEFAULT: "Envoy, by default, takes the KEEP_UNCHANGED action".
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.path_with_escaped_slashes_action":
    "KEEP_UNCHANGED",
  // An unset num_retries is one retry.
  "envoy.config.route.v3.RetryPolicy.num_retries": { value: 1 },
};

const UUID_REQUEST_ID = "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig";

/**
 * Extension configs equal to what Envoy uses when the field is unset, in every spelling seen.
 * The UUID request-id extension is Envoy's default; `EgIIAQ==` is its config with
 * `use_request_id_for_trace_sampling: true` (the default) as Go encodes it, since the proto
 * set here lacks that message and leaves it packed.
 */
const ENVOY_DEFAULT_SPELLINGS: Readonly<Record<string, readonly CanonicalValue[]>> = {
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.request_id_extension": [
    { typed_config: { type_url: UUID_REQUEST_ID } },
    { typed_config: { type_url: UUID_REQUEST_ID, value: "EgIIAQ==" } },
    { typed_config: { "@type": UUID_REQUEST_ID } },
  ],
};

/**
 * Defaults that hold only where the message is the resource itself (not inlined elsewhere):
 * an RDS-delivered RouteConfiguration validates clusters only when told to, an inline one
 * (HCM `route_config`) by default.
 */
const RESOURCE_ROOT_DEFAULTS: Readonly<Record<string, CanonicalValue>> = {
  "envoy.config.route.v3.RouteConfiguration.validate_clusters": {},
};

/** Comma-separated strings Envoy reads as sets. */
const COMMA_SETS: ReadonlySet<string> = new Set([
  "envoy.config.route.v3.RetryPolicy.retry_on",
  "envoy.config.route.v3.CorsPolicy.allow_methods",
  "envoy.config.route.v3.CorsPolicy.allow_headers",
  "envoy.config.route.v3.CorsPolicy.expose_headers",
]);

const ANY_TYPE = "google.protobuf.Any";
const STRUCT_TYPES: ReadonlySet<string> = new Set([
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
]);

/** A stable JSON text: object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

function fullName(type: protobuf.Type | protobuf.Enum): string {
  return type.fullName.replace(/^\./, "");
}

function lookupMessage(typeName: string): protobuf.Type | undefined {
  try {
    return loadXdsProtos().root.lookupType(typeName);
  } catch {
    return undefined;
  }
}

function unpackAny(typeUrl: string, value: unknown): Record<string, unknown> | undefined {
  if (value !== undefined && typeof value !== "string") return undefined;
  try {
    return decodeAnyDeep({ type_url: typeUrl, value: Buffer.from(value ?? "", "base64") });
  } catch {
    return undefined;
  }
}

function isZero(value: unknown, f: protobuf.Field): boolean {
  if (f.resolvedType instanceof protobuf.Enum) {
    const zero = Object.entries(f.resolvedType.values).find(([, n]) => n === 0)?.[0];
    return value === 0 || value === zero;
  }
  if (f.resolvedType) return false;
  if (value === false || value === "" || value === 0) return true;
  // int64 fields decode as strings.
  return typeof value === "string" && /^-?0+$/.test(value) && f.type !== "string" && f.type !== "bytes";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function normalizeElement(value: unknown, f: protobuf.Field): CanonicalValue {
  if (f.resolvedType instanceof protobuf.Type) return normalizeMessage(value, f.resolvedType, false);
  return normalizePlain(value);
}

/** Values with no schema to go by (unknown fields, Struct contents): object keys sorted. */
function normalizePlain(value: unknown): CanonicalValue {
  if (Array.isArray(value)) return value.map(normalizePlain);
  if (isRecord(value)) {
    const out: Record<string, CanonicalValue> = {};
    for (const key of Object.keys(value).sort()) out[key] = normalizePlain(value[key]);
    return out;
  }
  if (value === undefined) return null;
  return value as CanonicalValue;
}

/**
 * A Struct as the JSON it stands for (`{ fields: { a: { stringValue: "x" } } }` → `{ a: "x" }`),
 * whichever casing the decoder used for Value's oneof.
 */
function structToJson(value: unknown, typeName: string): CanonicalValue {
  if (!isRecord(value)) return normalizePlain(value);
  if (typeName === "google.protobuf.Struct") {
    const fields = isRecord(value.fields) ? value.fields : {};
    const out: Record<string, CanonicalValue> = {};
    for (const key of Object.keys(fields).sort())
      out[key] = structToJson(fields[key], "google.protobuf.Value");
    return out;
  }
  if (typeName === "google.protobuf.ListValue")
    return (Array.isArray(value.values) ? value.values : []).map((v) =>
      structToJson(v, "google.protobuf.Value"),
    );
  const kind = (snake: string, camel: string) => value[snake] ?? value[camel];
  const struct = kind("struct_value", "structValue");
  if (struct !== undefined) return structToJson(struct, "google.protobuf.Struct");
  const list = kind("list_value", "listValue");
  if (list !== undefined) return structToJson(list, "google.protobuf.ListValue");
  for (const [snake, camel] of [
    ["string_value", "stringValue"],
    ["number_value", "numberValue"],
    ["bool_value", "boolValue"],
  ] as const) {
    const v = kind(snake, camel);
    if (v !== undefined) return v as CanonicalValue;
  }
  return null;
}

function shapeCollection(items: CanonicalValue[], rule: CollectionRule | undefined): CanonicalValue {
  if (!rule) return items;
  const out: Record<string, CanonicalValue> = {};
  const order: string[] = [];
  for (const item of items) {
    const base = `[${rule.kind === "set" ? scalarKey(item) : rule.key(item)}]`;
    // A set keeps one of equal elements: duplicates change nothing.
    if (rule.kind === "set" && base in out) continue;
    let key = base;
    // Duplicate keys are kept apart, so nothing is lost by keying.
    for (let n = 2; key in out; n++) key = `${base}#${n}`;
    out[key] = item;
    order.push(key);
  }
  if (rule.kind === "keyed-ordered") out[ORDER_KEY] = order;
  // Unordered: the keys sorted, so equal collections print (and key their parents) the same.
  else
    return Object.fromEntries(
      Object.keys(out)
        .sort()
        .map((k) => [k, out[k] as CanonicalValue]),
    );
  return out;
}

/**
 * Normalises one message (plain object as `decodeAnyDeep` gives it) of the given type.
 * `root` is true for the resource itself (some defaults hold only there).
 */
function normalizeMessage(value: unknown, type: protobuf.Type, root: boolean): CanonicalValue {
  if (!isRecord(value)) return normalizePlain(value);
  const typeName = fullName(type);
  if (STRUCT_TYPES.has(typeName)) return structToJson(value, typeName);
  if (typeName === ANY_TYPE) {
    // An Any of an empty message has no `value` on the wire (Go omits empty bytes), so the
    // decoder leaves it packed as `{ type_url }`: unpack it here like any other.
    if (typeof value.type_url === "string" && value["@type"] === undefined) {
      const unpacked = unpackAny(value.type_url, value.value);
      if (unpacked) return normalizeMessage(unpacked, type, root);
    }
    const inner =
      typeof value["@type"] === "string" ? lookupMessage(value["@type"].replace(/^.*\//, "")) : undefined;
    // An Any the decoder could not unpack stays as it came (type_url + base64 value).
    if (!inner) return normalizePlain(value);
    const { "@type": at, ...rest } = value;
    const body = normalizeMessage(rest, inner, false) as Record<string, CanonicalValue>;
    return { "@type": String(at), ...body };
  }
  const out: Record<string, CanonicalValue> = {};
  for (const key of Object.keys(value).sort()) {
    const raw = value[key];
    if (raw === undefined) continue;
    const f = type.fields[key];
    if (!f) {
      out[key] = normalizePlain(raw);
      continue;
    }
    const id = `${typeName}.${key}`;
    let canonical: CanonicalValue;
    if (f.map) {
      const entries: Record<string, CanonicalValue> = {};
      for (const k of Object.keys(raw as object).sort())
        entries[k] = normalizeElement((raw as Record<string, unknown>)[k], f);
      if (Object.keys(entries).length === 0) continue;
      canonical = entries;
    } else if (f.repeated) {
      const items = (Array.isArray(raw) ? raw : [raw]).map((item) => normalizeElement(item, f));
      if (items.length === 0) continue;
      canonical = shapeCollection(items, COLLECTIONS[id]);
    } else {
      if (!f.hasPresence && isZero(raw, f)) continue;
      canonical = normalizeElement(raw, f);
      if (typeof canonical === "string" && COMMA_SETS.has(id))
        canonical = [
          ...new Set(
            canonical
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean),
          ),
        ]
          .sort()
          .join(",");
    }
    const envoyDefault = ENVOY_DEFAULTS[id] ?? (root ? RESOURCE_ROOT_DEFAULTS[id] : undefined);
    if (envoyDefault !== undefined && canonicalJson(canonical) === canonicalJson(envoyDefault)) continue;
    const spellings = ENVOY_DEFAULT_SPELLINGS[id];
    if (spellings?.some((d) => canonicalJson(d) === canonicalJson(canonical))) continue;
    out[key] = canonical;
  }
  return out;
}

/** The normalisation rules, for the docs (so what is treated as equal is never hidden). */
export interface NormalizationRules {
  /** Repeated fields compared without order (`Message.field`). */
  readonly unordered: readonly string[];
  /** Repeated fields matched by name whose relative order is still compared. */
  readonly keyedOrdered: readonly string[];
  /** Fields dropped when they hold Envoy's documented default, with that default. */
  readonly envoyDefaults: readonly (readonly [string, string])[];
  /** Comma-separated fields compared as sets. */
  readonly commaSets: readonly string[];
}

const shortField = (id: string) => id.replace(/^envoy\.(config|extensions)\.([a-z_]+\.)*v3\./, "");

/**
 * @example
 * describeNormalizationRules().envoyDefaults; // [["Cluster.connect_timeout", "{\"seconds\":\"5\"}"], ...]
 */
export function describeNormalizationRules(): NormalizationRules {
  const entries = Object.entries(COLLECTIONS);
  return {
    unordered: entries.filter(([, r]) => r.kind !== "keyed-ordered").map(([id]) => shortField(id)),
    keyedOrdered: entries.filter(([, r]) => r.kind === "keyed-ordered").map(([id]) => shortField(id)),
    envoyDefaults: [
      ...Object.entries(ENVOY_DEFAULTS),
      ...Object.entries(RESOURCE_ROOT_DEFAULTS).map(([id, v]) => [`${id} (RDS resource)`, v] as const),
    ].map(([id, v]) => [shortField(id), canonicalJson(v)] as const),
    commaSets: [...COMMA_SETS].map(shortField),
  };
}

/**
 * One resource in canonical form.
 *
 * @example
 * normalizeResource("clusters", { name: "c", type: "EDS", connect_timeout: { seconds: "5", nanos: 0 } });
 * // { name: "c", type: "EDS" }: 5 s is Envoy's default connect timeout
 */
export function normalizeResource(type: ParityType, resource: unknown): CanonicalValue {
  const message = lookupMessage(RESOURCE_MESSAGE[type]);
  if (!message) return normalizePlain(resource);
  return normalizeMessage(resource, message, true);
}

/**
 * Every resource of a snapshot in canonical form (names unchanged).
 *
 * @example
 * const a = normalizeSnapshot(istiodSnapshot);
 * const b = normalizeSnapshot(meshctlSnapshot);
 * canonicalJson(a.clusters["outbound|80||a.ns.svc.cluster.local"]) === canonicalJson(b.clusters[...]);
 */
export function normalizeSnapshot(snapshot: ConfigSnapshot): NormalizedSnapshot {
  const out = {} as Record<ParityType, Record<string, CanonicalValue>>;
  for (const type of PARITY_TYPES) {
    const resources: Record<string, CanonicalValue> = {};
    for (const name of Object.keys(snapshot[type] ?? {}).sort())
      resources[name] = normalizeResource(type, snapshot[type][name]);
    out[type] = resources;
  }
  return out;
}
