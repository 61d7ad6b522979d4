/**
 * DestinationRule -> DestinationRuleModel. What Istio's validation rejects (both `simple` and
 * `consistentHash`, a cookie without a name, `distribute` weights not adding to 100, MUTUAL tls
 * without a client certificate) is an error and rejects the object, as istiod rejects it. A field
 * Istio applies but some clients cannot (proxyless gRPC has no LEAST_REQUEST, no Maglev, no tls
 * from files) is a warning at its path, and the rest of the object applies.
 */
import type { FieldPath, FieldReader } from "./field-reader.js";
import { resolveHost } from "./parse-documents.js";
import type {
  ClientTls,
  ConnectionPool,
  DestinationRuleModel,
  HashKey,
  LoadBalancer,
  LoadBalancerCommon,
  LocalityLbSetting,
  OutlierDetection,
  PortTrafficPolicy,
  SourceRef,
  SubsetModel,
  TrafficPolicy,
  TrafficPolicyFields,
} from "./types.js";

/** Said once per field, so users know what proxyless gRPC clients get instead. */
const GRPC_IGNORES = "proxyless gRPC clients do not support";

const UINT32_MAX = 4_294_967_295;

/** Istio's default ring size for the legacy `consistentHash.minimumRingSize` (Envoy's default). */
const LEGACY_MINIMUM_RING_SIZE = 1024;

const SIMPLE_KINDS: Readonly<Record<string, LoadBalancer["kind"]>> = {
  UNSPECIFIED: "UNSPECIFIED",
  ROUND_ROBIN: "ROUND_ROBIN",
  LEAST_REQUEST: "LEAST_REQUEST",
  // Deprecated alias Istio still accepts.
  LEAST_CONN: "LEAST_REQUEST",
  RANDOM: "RANDOM",
  PASSTHROUGH: "PASSTHROUGH",
};

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}

/** A count Istio types as int32/uint32: a whole number, at least `min`. */
function count(r: FieldReader, path: FieldPath, min = 0): number | undefined {
  return r.num(path, { integer: true, min, max: UINT32_MAX });
}

/** A duration that must be at least 1 ms (Istio: "duration must be greater than 1ms"). */
function positiveDuration(r: FieldReader, path: FieldPath): number | undefined {
  const ms = r.durationMs(path);
  if (ms !== undefined && ms < 1) {
    r.error(path, "duration must be at least 1ms");
    return undefined;
  }
  return ms;
}

function parseHashKey(r: FieldReader, ch: FieldPath): HashKey | undefined {
  const keys: HashKey[] = [];
  const header = r.str([...ch, "httpHeaderName"]);
  if (header !== undefined) keys.push({ header });
  if (r.has([...ch, "httpCookie"])) {
    const c = [...ch, "httpCookie"];
    const name = r.str([...c, "name"]);
    if (!name) r.error([...c, "name"], "name required for httpCookie");
    const path = r.str([...c, "path"]);
    const ttlMs = r.durationMs([...c, "ttl"]);
    if (r.has([...c, "attributes"]))
      r.unsupported([...c, "attributes"], "cookie attributes are not supported by meshctl yet; ignored");
    keys.push({
      cookie: {
        name: name ?? "",
        ...(path !== undefined ? { path } : {}),
        ...(ttlMs !== undefined ? { ttlMs } : {}),
      },
    });
    r.warn(c, `${GRPC_IGNORES} cookie hashing; they hash on a random value`, "key");
  }
  const sourceIp = r.bool([...ch, "useSourceIp"]);
  if (sourceIp) {
    keys.push({ sourceIp: true });
    r.warn([...ch, "useSourceIp"], `${GRPC_IGNORES} source IP hashing; they hash on a random value`, "key");
  }
  const query = r.str([...ch, "httpQueryParameterName"]);
  if (query !== undefined) {
    keys.push({ queryParameter: query });
    r.warn(
      [...ch, "httpQueryParameterName"],
      `${GRPC_IGNORES} query parameter hashing; they hash on a random value`,
      "key",
    );
  }
  if (keys.length > 1)
    r.error(ch, "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set");
  return keys[0];
}

function parseConsistentHash(r: FieldReader, lb: FieldPath, common: LoadBalancerCommon): LoadBalancer {
  const ch = [...lb, "consistentHash"];
  const hashKey = parseHashKey(r, ch);
  const legacy = count(r, [...ch, "minimumRingSize"]);
  const ringHash = r.has([...ch, "ringHash"]);
  const maglev = r.has([...ch, "maglev"]);
  if (ringHash && maglev) r.error(ch, "only one of ringHash or maglev may be set");
  if (legacy !== undefined && legacy !== 0 && (ringHash || maglev))
    r.error(
      [...ch, "minimumRingSize"],
      "only one of minimumRingSize or ringHash/maglev may be set (minimumRingSize is deprecated: use ringHash.minimumRingSize)",
    );
  const withKey = hashKey ? { hashKey } : {};
  if (maglev) {
    const tableSize = count(r, [...ch, "maglev", "tableSize"]);
    if (tableSize !== undefined && tableSize !== 0 && !isPrime(tableSize))
      r.error([...ch, "maglev", "tableSize"], `Maglev table size must be a prime number, got ${tableSize}`);
    r.warn([...ch, "maglev"], `${GRPC_IGNORES} Maglev; they use a ring hash`, "key");
    return { kind: "MAGLEV", ...common, ...withKey, ...(tableSize ? { tableSize } : {}) };
  }
  if (ringHash) {
    const size = count(r, [...ch, "ringHash", "minimumRingSize"]);
    return { kind: "RING_HASH", ...common, ...withKey, ...(size ? { minimumRingSize: size } : {}) };
  }
  return {
    kind: "RING_HASH",
    ...common,
    ...withKey,
    minimumRingSize: legacy || LEGACY_MINIMUM_RING_SIZE,
  };
}

function parseLocality(r: FieldReader, path: FieldPath): LocalityLbSetting {
  const out: {
    distribute?: { from: string; to: Record<string, number> }[];
    failover?: { from: string; to: string }[];
    failoverPriority?: string[];
    enabled?: boolean;
  } = {};
  const dn = r.list([...path, "distribute"]);
  if (dn > 0) {
    out.distribute = [];
    for (let i = 0; i < dn; i++) {
      const d = [...path, "distribute", i];
      const from = r.str([...d, "from"], { required: true }) ?? "";
      const to: Record<string, number> = {};
      // `to` keys are localities (user text): read whole, never "unknown fields".
      r.opaque([...d, "to"]);
      let sum = 0;
      for (const key of r.keys([...d, "to"])) {
        const w = count(r, [...d, "to", key], 0);
        if (w === undefined) continue;
        to[key] = w;
        sum += w;
      }
      if (sum !== 100) r.error([...d, "to"], `locality weights must add up to 100, got ${sum}`);
      if (from.split("/").length > 3)
        r.error([...d, "from"], `locality must be region/zone/subzone, got "${from}"`);
      out.distribute.push({ from, to });
    }
  }
  const fn = r.list([...path, "failover"]);
  if (fn > 0) {
    out.failover = [];
    for (let i = 0; i < fn; i++) {
      const f = [...path, "failover", i];
      const from = r.str([...f, "from"], { required: true }) ?? "";
      const to = r.str([...f, "to"], { required: true }) ?? "";
      if (from !== "" && from === to)
        r.error(f, "locality lb failover settings must specify different regions");
      if (from.includes("/") || to.includes("/")) r.error(f, "locality lb failover only specifies regions");
      out.failover.push({ from, to });
    }
  }
  const priority = r.strings([...path, "failoverPriority"]);
  if (priority.length > 0) out.failoverPriority = priority;
  if (out.distribute && (out.failover || out.failoverPriority))
    r.error(path, "can not simultaneously set 'distribute' and 'failover' or 'failoverPriority'");
  const enabled = r.bool([...path, "enabled"]);
  if (enabled !== undefined) out.enabled = enabled;
  return out;
}

function parseLoadBalancer(r: FieldReader, lb: FieldPath): LoadBalancer | undefined {
  if (!r.has(lb)) return undefined;
  const warmupMs = positiveDuration(r, [...lb, "warmupDurationSecs"]);
  if (r.has([...lb, "warmup"]))
    r.unsupported(
      [...lb, "warmup"],
      "warmup (aggression, minimumPercent) is not supported by meshctl yet; ignored",
    );
  const locality = r.has([...lb, "localityLbSetting"])
    ? parseLocality(r, [...lb, "localityLbSetting"])
    : undefined;
  const common: LoadBalancerCommon = {
    ...(warmupMs !== undefined ? { warmupDurationMs: warmupMs } : {}),
    ...(locality ? { localityLbSetting: locality } : {}),
  };
  const hasSimple = r.has([...lb, "simple"]);
  const hasHash = r.has([...lb, "consistentHash"]);
  if (hasSimple && hasHash) {
    r.error(lb, "only one of simple or consistentHash may be set");
    return undefined;
  }
  if (hasHash) {
    if (warmupMs !== undefined)
      r.warn(
        [...lb, "warmupDurationSecs"],
        "warmupDurationSecs applies to ROUND_ROBIN and LEAST_REQUEST only; ignored with consistentHash",
      );
    return parseConsistentHash(r, lb, common);
  }
  if (!hasSimple) return { kind: "UNSPECIFIED", ...common };
  const simple = r.str([...lb, "simple"]) ?? "";
  const kind = SIMPLE_KINDS[simple];
  if (!kind) {
    r.error(
      [...lb, "simple"],
      `unknown load balancer ${simple}; expected ROUND_ROBIN, LEAST_REQUEST, RANDOM or PASSTHROUGH`,
    );
    return undefined;
  }
  if (kind === "LEAST_REQUEST" || kind === "RANDOM" || kind === "PASSTHROUGH")
    r.warn([...lb, "simple"], `${GRPC_IGNORES} ${simple}; they use ROUND_ROBIN`);
  return { kind, ...common } as LoadBalancer;
}

function parseConnectionPool(r: FieldReader, path: FieldPath): ConnectionPool | undefined {
  if (!r.has(path)) return undefined;
  let tcp: ConnectionPool["tcp"];
  const t = [...path, "tcp"];
  if (r.has(t)) {
    const maxConnections = count(r, [...t, "maxConnections"]);
    const connectTimeoutMs = positiveDuration(r, [...t, "connectTimeout"]);
    const maxConnectionDurationMs = positiveDuration(r, [...t, "maxConnectionDuration"]);
    const idleTimeoutMs = r.durationMs([...t, "idleTimeout"]);
    let tcpKeepalive: NonNullable<ConnectionPool["tcp"]>["tcpKeepalive"];
    const k = [...t, "tcpKeepalive"];
    if (r.has(k)) {
      const probes = count(r, [...k, "probes"]);
      const timeMs = positiveDuration(r, [...k, "time"]);
      const intervalMs = positiveDuration(r, [...k, "interval"]);
      tcpKeepalive = {
        ...(probes !== undefined ? { probes } : {}),
        ...(timeMs !== undefined ? { timeMs } : {}),
        ...(intervalMs !== undefined ? { intervalMs } : {}),
      };
    }
    tcp = {
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
      ...(tcpKeepalive ? { tcpKeepalive } : {}),
      ...(maxConnectionDurationMs !== undefined ? { maxConnectionDurationMs } : {}),
      ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
    };
  }
  let http: ConnectionPool["http"];
  const h = [...path, "http"];
  if (r.has(h)) {
    const fields: Record<string, unknown> = {};
    for (const key of [
      "http1MaxPendingRequests",
      "http2MaxRequests",
      "maxRequestsPerConnection",
      "maxRetries",
      "maxConcurrentStreams",
    ]) {
      const v = count(r, [...h, key]);
      if (v !== undefined) fields[key] = v;
    }
    const idleTimeoutMs = r.durationMs([...h, "idleTimeout"]);
    if (idleTimeoutMs !== undefined) fields.idleTimeoutMs = idleTimeoutMs;
    const upgrade = r.str([...h, "h2UpgradePolicy"]);
    if (upgrade !== undefined) {
      if (upgrade === "DEFAULT" || upgrade === "DO_NOT_UPGRADE" || upgrade === "UPGRADE")
        fields.h2UpgradePolicy = upgrade;
      else
        r.error(
          [...h, "h2UpgradePolicy"],
          `unknown h2UpgradePolicy ${upgrade}; expected DEFAULT, DO_NOT_UPGRADE or UPGRADE`,
        );
    }
    const useClientProtocol = r.bool([...h, "useClientProtocol"]);
    if (useClientProtocol !== undefined) fields.useClientProtocol = useClientProtocol;
    http = fields as ConnectionPool["http"];
  }
  return { ...(tcp ? { tcp } : {}), ...(http ? { http } : {}) };
}

function parseOutlierDetection(r: FieldReader, od: FieldPath): OutlierDetection | undefined {
  if (!r.has(od)) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of ["consecutive5xxErrors", "consecutiveGatewayErrors", "consecutiveLocalOriginFailures"]) {
    const v = count(r, [...od, key]);
    if (v !== undefined) out[key] = v;
  }
  const split = r.bool([...od, "splitExternalLocalOriginErrors"]);
  if (split !== undefined) out.splitExternalLocalOriginErrors = split;
  const interval = positiveDuration(r, [...od, "interval"]);
  if (interval !== undefined) out.intervalMs = interval;
  const base = positiveDuration(r, [...od, "baseEjectionTime"]);
  if (base !== undefined) out.baseEjectionTimeMs = base;
  for (const key of ["maxEjectionPercent", "minHealthPercent"]) {
    const v = r.num([...od, key], { integer: true, min: 0, max: 100 });
    if (v !== undefined) out[key] = v;
  }
  if (r.has([...od, "consecutiveErrors"]))
    r.unsupported(
      [...od, "consecutiveErrors"],
      "consecutiveErrors is deprecated and istiod ignores it; use consecutive5xxErrors or consecutiveGatewayErrors",
    );
  return out as OutlierDetection;
}

function parseTls(r: FieldReader, path: FieldPath): ClientTls | undefined {
  if (!r.has(path)) return undefined;
  const mode = r.str([...path, "mode"]) ?? "DISABLE";
  if (mode !== "DISABLE" && mode !== "SIMPLE" && mode !== "MUTUAL" && mode !== "ISTIO_MUTUAL") {
    r.error([...path, "mode"], `unknown tls mode ${mode}; expected DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL`);
    return undefined;
  }
  const str = (key: string) => r.str([...path, key]) || undefined;
  const clientCertificate = str("clientCertificate");
  const privateKey = str("privateKey");
  const caCertificates = str("caCertificates");
  const caCrl = str("caCrl");
  const sni = str("sni");
  const subjectAltNames = r.strings([...path, "subjectAltNames"]);
  const insecureSkipVerify = r.bool([...path, "insecureSkipVerify"]);
  if (r.has([...path, "credentialName"]))
    r.unsupported(
      [...path, "credentialName"],
      "credentialName needs an SDS server (Istio's agent), which stock Envoy does not have; ignored (use file paths)",
    );
  if (mode === "MUTUAL" && (!clientCertificate || !privateKey) && !r.has([...path, "credentialName"]))
    r.error(path, "client certificate and private key are required for MUTUAL tls");
  if ((clientCertificate === undefined) !== (privateKey === undefined) && mode === "SIMPLE")
    r.error(path, "clientCertificate and privateKey go together");
  if (mode === "ISTIO_MUTUAL") {
    r.warn(
      [...path, "mode"],
      "ISTIO_MUTUAL needs workload certificates from Istio's agent (SDS), which meshctl does not serve; the cluster is generated without TLS",
    );
  } else if (mode === "SIMPLE" || mode === "MUTUAL") {
    r.warn(
      [...path, "mode"],
      `${GRPC_IGNORES} tls from files (they need certificate providers); they connect in plaintext, as with istiod`,
    );
  }
  return {
    mode,
    subjectAltNames,
    ...(clientCertificate ? { clientCertificate } : {}),
    ...(privateKey ? { privateKey } : {}),
    ...(caCertificates ? { caCertificates } : {}),
    ...(caCrl ? { caCrl } : {}),
    ...(sni ? { sni } : {}),
    ...(insecureSkipVerify !== undefined ? { insecureSkipVerify } : {}),
  };
}

function parsePolicyFields(r: FieldReader, path: FieldPath): TrafficPolicyFields {
  const loadBalancer = parseLoadBalancer(r, [...path, "loadBalancer"]);
  const connectionPool = parseConnectionPool(r, [...path, "connectionPool"]);
  const outlierDetection = parseOutlierDetection(r, [...path, "outlierDetection"]);
  const tls = parseTls(r, [...path, "tls"]);
  return {
    ...(loadBalancer ? { loadBalancer } : {}),
    ...(connectionPool ? { connectionPool } : {}),
    ...(outlierDetection ? { outlierDetection } : {}),
    ...(tls ? { tls } : {}),
  };
}

/**
 * One `trafficPolicy` (of a DestinationRule or of a subset), with its `portLevelSettings`.
 *
 * @example
 * parseTrafficPolicy(reader, ["spec", "trafficPolicy"])?.loadBalancer; // { kind: "LEAST_REQUEST" }
 */
export function parseTrafficPolicy(r: FieldReader, path: FieldPath): TrafficPolicy | undefined {
  if (!r.has(path)) return undefined;
  const fields = parsePolicyFields(r, path);
  const portLevelSettings: PortTrafficPolicy[] = [];
  const n = r.list([...path, "portLevelSettings"]);
  const ports = new Set<number>();
  for (let i = 0; i < n; i++) {
    const p = [...path, "portLevelSettings", i];
    const port = r.port([...p, "port", "number"], { required: true });
    if (port === undefined) continue;
    if (ports.has(port)) r.error([...p, "port", "number"], `duplicate port ${port} in portLevelSettings`);
    ports.add(port);
    portLevelSettings.push({ port, ...parsePolicyFields(r, p) });
  }
  for (const key of ["tunnel", "proxyProtocol", "retryBudget"]) {
    if (r.has([...path, key]))
      r.unsupported([...path, key], `${key} is not supported by meshctl yet; ignored`);
  }
  return { ...fields, ...(portLevelSettings.length > 0 ? { portLevelSettings } : {}) };
}

/**
 * A DestinationRule: host (short names resolved in its namespace), traffic policy, subsets.
 *
 * @example
 * parseDestinationRule(reader, "reviews", "demo", source, "cluster.local").subsets.map((s) => s.name);
 */
export function parseDestinationRule(
  r: FieldReader,
  name: string,
  namespace: string,
  source: SourceRef,
  suffix: string,
): DestinationRuleModel {
  const host = resolveHost(r.str(["spec", "host"], { required: true }) ?? "", namespace, suffix);
  const subsets: SubsetModel[] = [];
  const n = r.list(["spec", "subsets"]);
  const names = new Set<string>();
  for (let i = 0; i < n; i++) {
    const s = ["spec", "subsets", i];
    const sname = r.str([...s, "name"], { required: true }) ?? "";
    if (names.has(sname)) r.error([...s, "name"], `duplicate subset ${sname}`);
    if (sname.includes("|")) r.error([...s, "name"], "subset names must not contain |");
    names.add(sname);
    const trafficPolicy = parseTrafficPolicy(r, [...s, "trafficPolicy"]);
    subsets.push({
      name: sname,
      labels: r.labels([...s, "labels"]),
      ...(trafficPolicy ? { trafficPolicy } : {}),
    });
  }
  const trafficPolicy = parseTrafficPolicy(r, ["spec", "trafficPolicy"]);
  if (r.has(["spec", "workloadSelector"]))
    r.unsupported(
      ["spec", "workloadSelector"],
      "workloadSelector is not supported by meshctl yet; this DestinationRule applies to every workload that sees it",
    );
  const exportTo = r.strings(["spec", "exportTo"]);
  return {
    name,
    namespace,
    host,
    subsets,
    exportTo: exportTo.length > 0 ? exportTo : ["*"],
    source,
    ...(trafficPolicy ? { trafficPolicy } : {}),
  };
}
