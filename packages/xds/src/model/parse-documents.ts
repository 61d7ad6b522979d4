/**
 * Kubernetes/Istio objects -> typed mesh items. Each object is validated on its own, through a
 * FieldReader, so a YAML document (file:line) and a plain object from an API (Kind/ns/name) are
 * checked by the same code, and a broken object keeps its own last good version.
 */
import { LineCounter, parseAllDocuments } from "yaml";
import { parseDestinationRule } from "./destination-rule.js";
import { type FieldPath, type FieldReader, formatPath, ObjectReader } from "./field-reader.js";
import { didYouMean, fieldNamesAt, fieldShapeAt, KNOWN_FIELDS } from "./known-fields.js";
import { parseServiceEntrySpec } from "./service-entry.js";
import { parseSidecar } from "./sidecar.js";
import type {
  ConfigDiagnostic,
  DestinationRuleModel,
  Labels,
  Locality,
  ServicePort,
  ServiceResolution,
  SidecarModel,
  SourceRef,
  VirtualServiceModel,
} from "./types.js";
import { type ConfigKey, DEFAULT_DOMAIN_SUFFIX } from "./types.js";
import { parseVirtualService } from "./virtual-service.js";
import { YamlReader } from "./yaml-reader.js";

export interface ServiceItem {
  readonly kind: "Service";
  readonly name: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  readonly selector: Labels | undefined;
  readonly exportTo: readonly string[];
  readonly source: SourceRef;
  /** `spec.clusterIP` (absent when unset or `None`, i.e. headless). */
  readonly clusterIP?: string;
}

export interface EndpointSliceItem {
  readonly kind: "EndpointSlice";
  readonly serviceName: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly ports: readonly { readonly name: string; readonly port: number }[];
  readonly endpoints: readonly {
    readonly addresses: readonly string[];
    readonly ready: boolean;
    /** From the slice's region label and the endpoint's `zone`: used when no Pod/Node says better. */
    readonly locality: Locality;
    /** `targetRef` when it names a Pod: the Pod whose labels and node the endpoint takes. */
    readonly pod?: { readonly namespace: string; readonly name: string };
    readonly nodeName?: string;
  }[];
  readonly source: SourceRef;
}

/** What an endpoint takes from the Pod behind it (Istio reads Pods, not slice labels). */
export interface PodItem {
  readonly kind: "Pod";
  readonly name: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly nodeName: string | undefined;
  /** `status.podIPs` (for endpoints without a targetRef). */
  readonly ips: readonly string[];
  readonly source: SourceRef;
}

/** A Node's topology labels: the locality of the Pods scheduled on it. */
export interface NodeItem {
  readonly kind: "Node";
  readonly name: string;
  readonly locality: Locality;
  readonly source: SourceRef;
}

export interface WorkloadEntryItem {
  readonly kind: "WorkloadEntry";
  readonly namespace: string;
  readonly address: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Labels;
  readonly locality: Locality;
  readonly weight: number;
  readonly source: SourceRef;
}

export interface ServiceEntryItem {
  readonly kind: "ServiceEntry";
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly ports: readonly ServicePort[];
  readonly resolution: ServiceResolution;
  /** IPs or CIDRs (`spec.addresses`). */
  readonly addresses: readonly string[];
  /** Addresses are DNS names when `resolution` is DNS or DNS_ROUND_ROBIN. */
  readonly endpoints: readonly Omit<WorkloadEntryItem, "kind" | "namespace">[];
  readonly workloadSelector: Labels | undefined;
  readonly exportTo: readonly string[];
  readonly meshExternal: boolean;
  readonly source: SourceRef;
}

export type MeshItem =
  | ServiceItem
  | EndpointSliceItem
  | WorkloadEntryItem
  | ServiceEntryItem
  | PodItem
  | NodeItem
  | { readonly kind: "VirtualService"; readonly value: VirtualServiceModel }
  | { readonly kind: "DestinationRule"; readonly value: DestinationRuleModel }
  | { readonly kind: "Sidecar"; readonly value: SidecarModel };

/** One object's parse: its key when it could be read, its item when it is valid. */
export interface ParsedObject {
  readonly key: ConfigKey | undefined;
  readonly item: MeshItem | undefined;
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** No errors (warnings allowed): the item may replace the last good version of its key. */
  readonly valid: boolean;
  /** A kind meshctl does not read (skipped, with a warning). */
  readonly ignored: boolean;
}

export interface ParsedFile {
  readonly items: readonly MeshItem[];
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** True when the file has no errors (warnings allowed). */
  readonly valid: boolean;
  /** Per document, in order. */
  readonly objects: readonly ParsedObject[];
  /** A document could not even be read as YAML: what it held (and its key) is unknown. */
  readonly syntaxError: boolean;
}

const SUPPORTED: Record<string, readonly string[]> = {
  Service: ["v1"],
  EndpointSlice: ["discovery.k8s.io/v1"],
  Pod: ["v1"],
  Node: ["v1"],
  ServiceEntry: ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
  WorkloadEntry: ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
  VirtualService: ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
  DestinationRule: ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
  Sidecar: ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"],
};

/** The kinds meshctl reads; a file pre-scan skips every other kind before it is parsed. */
export const SUPPORTED_KINDS: readonly string[] = Object.keys(SUPPORTED);

/** Kinds without a namespace (their key is `Kind//name`). */
const CLUSTER_SCOPED = new Set(["Node"]);

/** gRPC status names accepted in `fault.abort.grpcStatus` and `retries.retryOn`. */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/**
 * Parses one YAML file (possibly multi-document) into mesh items with diagnostics.
 *
 * @example
 * const parsed = parseMeshFile("svc.yaml", "apiVersion: v1\nkind: Service\n...");
 * if (!parsed.valid) console.error(parsed.diagnostics);
 */
export function parseMeshFile(file: string, text: string, domainSuffix = DEFAULT_DOMAIN_SUFFIX): ParsedFile {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const objects: ParsedObject[] = [];
  const diagnostics: ConfigDiagnostic[] = [];
  let syntaxError = false;
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    syntaxError = true;
    diagnostics.push({
      severity: "error",
      file,
      line: 1,
      column: 1,
      path: "",
      reason: "not a YAML document stream",
    });
  }
  for (const doc of list) {
    if (doc.errors.length > 0) {
      syntaxError = true;
      for (const err of doc.errors) {
        const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
        diagnostics.push({
          severity: "error",
          file,
          line: pos.line,
          column: pos.col,
          path: "",
          reason: `YAML syntax: ${err.message.split("\n")[0]}`,
        });
      }
      continue;
    }
    if (doc.contents === null) continue;
    const parsed = parseWithReader(new YamlReader(file, doc, lines), domainSuffix);
    diagnostics.push(...parsed.diagnostics);
    objects.push(parsed);
  }
  return {
    items: objects.flatMap((o) => (o.item ? [o.item] : [])),
    diagnostics,
    valid: !diagnostics.some((d) => d.severity === "error"),
    objects,
    syntaxError,
  };
}

/**
 * Parses one plain Kubernetes/Istio object (from an API server, a test or the lab). Diagnostics
 * name it `Kind/namespace/name` (or `label`).
 *
 * @example
 * const { item, valid } = parseMeshObject({ apiVersion: "v1", kind: "Service", metadata: { name: "echo", namespace: "demo" }, spec: { ports: [{ port: 80 }] } });
 */
export function parseMeshObject(
  object: unknown,
  label?: string,
  domainSuffix = DEFAULT_DOMAIN_SUFFIX,
): ParsedObject {
  return parseWithReader(new ObjectReader(object, label), domainSuffix);
}

function parseWithReader(r: FieldReader, domainSuffix: string): ParsedObject {
  const result = parseDocument(r, domainSuffix);
  const valid = !r.hasErrors;
  return {
    key: result.key,
    item: valid ? result.item : undefined,
    diagnostics: r.diagnostics,
    valid,
    ignored: result.ignored,
  };
}

function parseDocument(
  r: FieldReader,
  suffix: string,
): { key: ConfigKey | undefined; item: MeshItem | undefined; ignored: boolean } {
  const none = { key: undefined, item: undefined, ignored: false };
  if (r.keys([]).length === 0 && r.raw([]) !== undefined && typeof r.raw([]) !== "object") {
    r.error([], "expected a Kubernetes object (a mapping with apiVersion and kind)");
    return none;
  }
  const kind = r.str(["kind"], { required: true });
  const apiVersion = r.str(["apiVersion"], { required: true });
  const name = r.str(["metadata", "name"], { required: true }) ?? "";
  if (kind === undefined || apiVersion === undefined) return none;
  const namespace = r.str(["metadata", "namespace"]) ?? (CLUSTER_SCOPED.has(kind) ? "" : "default");
  const key: ConfigKey = { kind, namespace, name };
  const versions = SUPPORTED[kind];
  if (!versions) {
    r.warn(["kind"], `unsupported kind ${kind} (${apiVersion}); skipped`);
    return { key: undefined, item: undefined, ignored: true };
  }
  if (!versions.includes(apiVersion)) {
    r.error(
      ["apiVersion"],
      `unsupported apiVersion ${apiVersion} for ${kind}; expected ${versions.join(" or ")}`,
    );
    return { key, item: undefined, ignored: false };
  }
  const createdAt = r.str(["metadata", "creationTimestamp"]);
  const source: SourceRef = {
    file: r.file,
    line: r.position([]).line,
    kind,
    name,
    namespace,
    ...(createdAt ? { createdAt } : {}),
  };
  const item = parseKind(r, kind, name, namespace, source, suffix);
  reportUnreadFields(r, kind);
  return { key, item, ignored: false };
}

/** Past this many, one diagnostic counts the rest of an object's ignored fields. */
const MAX_FIELD_DIAGNOSTICS = 20;

/**
 * Every field of the object that no parser read is reported, at its path: a field the
 * Kubernetes/Istio schema has is "not supported by meshctl; ignored" (a warning: Istio would
 * apply it, meshctl does not), any other name is an "unknown field" (a typo, which Istio's
 * validation rejects and an API server prunes) with the closest known name. Both are warnings:
 * the rest of the object still applies. Kubernetes bookkeeping (`metadata.uid`, `status`,
 * `spec.clusterIP`, ...) is never reported.
 */
function reportUnreadFields(r: FieldReader, kind: string): void {
  const schema = KNOWN_FIELDS[kind];
  if (!schema) return;
  const origin = kind === "Service" || kind === "EndpointSlice" ? "Kubernetes" : "Istio";
  let reported = 0;
  let more = 0;
  // A parser may stop reading a mapping at its first error: its other keys are not "ignored".
  const broken = new Set(
    r.diagnostics
      .filter((d) => d.severity === "error")
      .map((d) => /^(.*?)(\.[^.[\]]*|\[\d+\])$/.exec(d.path)?.[1] ?? ""),
  );
  for (const path of r.unreadKeys()) {
    if (broken.has(formatPath(path.slice(0, -1)))) continue;
    const shape = fieldShapeAt(schema, path);
    if (shape === "silent" || shape === "opaque") continue;
    if (reported >= MAX_FIELD_DIAGNOSTICS) {
      more++;
      continue;
    }
    reported++;
    if (shape !== undefined) {
      r.warn(path, `${origin} field not supported by meshctl; ignored`, "key");
      continue;
    }
    const name = String(path[path.length - 1]);
    const suggestion = didYouMean(name, fieldNamesAt(schema, path.slice(0, -1)));
    r.warn(
      path,
      `unknown field ${JSON.stringify(name)}; ignored${suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : ""}`,
      "key",
    );
  }
  if (more > 0)
    r.warn(
      [],
      `${more} more unknown or unsupported fields ignored (the first ${MAX_FIELD_DIAGNOSTICS} are listed)`,
    );
}

function parseKind(
  r: FieldReader,
  kind: string,
  name: string,
  namespace: string,
  source: SourceRef,
  suffix: string,
): MeshItem | undefined {
  switch (kind) {
    case "Service":
      return parseService(r, name, namespace, source);
    case "EndpointSlice":
      return parseEndpointSlice(r, namespace, source);
    case "Pod":
      return parsePod(r, name, namespace, source);
    case "Node":
      return { kind: "Node", name, locality: topologyLocality(r.labels(["metadata", "labels"])), source };
    case "WorkloadEntry":
      return parseWorkloadEntry(r, namespace, source);
    case "ServiceEntry":
      return parseServiceEntry(r, namespace, source);
    case "VirtualService":
      return { kind, value: parseVirtualService(r, name, namespace, source, suffix) };
    case "DestinationRule":
      return { kind, value: parseDestinationRule(r, name, namespace, source, suffix) };
    case "Sidecar":
      return { kind, value: parseSidecar(r, name, namespace, source) };
    default:
      return undefined;
  }
}

function parseService(r: FieldReader, name: string, namespace: string, source: SourceRef): ServiceItem {
  const ports: ServicePort[] = [];
  const n = r.list(["spec", "ports"]);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const p = ["spec", "ports", i];
    const port = r.port([...p, "port"], { required: true });
    const portName = r.str([...p, "name"]) ?? "";
    if (n > 1 && portName === "")
      r.error([...p, "name"], "every port needs a name when a Service has more than one port");
    const targetRaw = r.raw([...p, "targetPort"]);
    let targetPort = port;
    if (typeof targetRaw === "number") targetPort = r.port([...p, "targetPort"]) ?? port ?? 0;
    else if (typeof targetRaw === "string")
      r.warn([...p, "targetPort"], "named targetPort is resolved from EndpointSlice ports only");
    const appProtocol = r.str([...p, "appProtocol"]);
    const l4Protocol = r.str([...p, "protocol"]);
    const protocol = (appProtocol ?? l4Protocol ?? "TCP").toUpperCase();
    if (port === undefined) continue;
    if (seen.has(port)) r.error([...p, "port"], `duplicate port ${port}`);
    seen.add(port);
    ports.push({ name: portName, port, targetPort: targetPort ?? port, protocol });
  }
  const selectorKeys = r.keys(["spec", "selector"]);
  const clusterIP = r.str(["spec", "clusterIP"]);
  const annotation = r.str(["metadata", "annotations", "networking.istio.io/exportTo"]);
  const exportTo = annotation
    ? annotation
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : ["*"];
  return {
    kind: "Service",
    name,
    namespace,
    ports,
    selector: selectorKeys.length > 0 ? r.labels(["spec", "selector"]) : undefined,
    exportTo,
    source,
    ...(clusterIP && clusterIP !== "None" ? { clusterIP } : {}),
  };
}

function localityOf(
  region: string | undefined,
  zone: string | undefined,
  subzone: string | undefined,
): Locality {
  return { region: region ?? "", zone: zone ?? "", subzone: subzone ?? "" };
}

function parseLocalityString(r: FieldReader, path: FieldPath): Locality {
  const text = r.str(path);
  if (!text) return localityOf(undefined, undefined, undefined);
  const [region, zone, subzone, ...rest] = text.split("/");
  if (rest.length > 0) r.error(path, `locality must be region/zone/subzone, got "${text}"`);
  return localityOf(region, zone, subzone);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** An IPv4 or IPv6 literal. */
export function isIpLiteral(text: string): boolean {
  return IPV4.test(text) || (text.includes(":") && /^[0-9a-fA-F:.]+$/.test(text));
}

function parseEndpointSlice(
  r: FieldReader,
  namespace: string,
  source: SourceRef,
): EndpointSliceItem | undefined {
  const labels = r.labels(["metadata", "labels"]);
  const serviceName = labels["kubernetes.io/service-name"];
  if (!serviceName)
    r.error(["metadata", "labels"], "EndpointSlice needs the label kubernetes.io/service-name");
  const addressType = r.str(["addressType"]) ?? "IPv4";
  if (addressType === "FQDN") r.error(["addressType"], "addressType FQDN is not supported; use IPv4 or IPv6");
  const ports: { name: string; port: number }[] = [];
  const pn = r.list(["ports"]);
  for (let i = 0; i < pn; i++) {
    const port = r.port(["ports", i, "port"], { required: true });
    const name = r.str(["ports", i, "name"]) ?? "";
    if (port !== undefined) ports.push({ name, port });
  }
  const region = labels["topology.kubernetes.io/region"];
  const endpoints: EndpointSliceItem["endpoints"][number][] = [];
  const en = r.list(["endpoints"]);
  for (let i = 0; i < en; i++) {
    const e = ["endpoints", i];
    const addresses = r.strings([...e, "addresses"], { required: true });
    addresses.forEach((a, j) => {
      if (!isIpLiteral(a)) r.error([...e, "addresses", j], `"${a}" is not an IP address`);
    });
    const ready = r.bool([...e, "conditions", "ready"]) ?? true;
    const podName =
      r.str([...e, "targetRef", "kind"]) === "Pod" ? r.str([...e, "targetRef", "name"]) : undefined;
    const nodeName = r.str([...e, "nodeName"]);
    endpoints.push({
      addresses,
      ready,
      locality: localityOf(region, r.str([...e, "zone"]), undefined),
      ...(podName
        ? { pod: { namespace: r.str([...e, "targetRef", "namespace"]) || namespace, name: podName } }
        : {}),
      ...(nodeName ? { nodeName } : {}),
    });
  }
  const {
    "kubernetes.io/service-name": _svc,
    "endpointslice.kubernetes.io/managed-by": _mgr,
    ...subsetLabels
  } = labels;
  return {
    kind: "EndpointSlice",
    serviceName: serviceName ?? "",
    namespace,
    labels: subsetLabels,
    ports,
    endpoints,
    source,
  };
}

/** Region/zone/subzone from Kubernetes topology labels (GA names first, then the beta ones). */
export function topologyLocality(labels: Labels): Locality {
  return localityOf(
    labels["topology.kubernetes.io/region"] ?? labels["failure-domain.beta.kubernetes.io/region"],
    labels["topology.kubernetes.io/zone"] ?? labels["failure-domain.beta.kubernetes.io/zone"],
    labels["topology.istio.io/subzone"],
  );
}

function parsePod(r: FieldReader, name: string, namespace: string, source: SourceRef): PodItem {
  const ips = new Set<string>();
  const primary = r.str(["status", "podIP"]);
  if (primary) ips.add(primary);
  const n = r.list(["status", "podIPs"]);
  for (let i = 0; i < n; i++) {
    const ip = r.str(["status", "podIPs", i, "ip"]);
    if (ip) ips.add(ip);
  }
  return {
    kind: "Pod",
    name,
    namespace,
    labels: r.labels(["metadata", "labels"]),
    nodeName: r.str(["spec", "nodeName"]) || undefined,
    ips: [...ips],
    source,
  };
}

/** The fields a WorkloadEntry and a ServiceEntry endpoint share. */
export function parseWorkloadFields(r: FieldReader, base: FieldPath, source: SourceRef, dnsNames = false) {
  const address = r.str([...base, "address"], { required: true }) ?? "";
  // Istio: a ServiceEntry resolved by DNS may name its endpoints by DNS name.
  if (address && !isIpLiteral(address) && !(dnsNames && isDnsName(address)))
    r.error(
      [...base, "address"],
      dnsNames
        ? `"${address}" is neither an IP address nor a DNS name`
        : `"${address}" is not an IP address (DNS names need a ServiceEntry with resolution DNS)`,
    );
  const ports: Record<string, number> = {};
  for (const key of r.keys([...base, "ports"])) {
    const p = r.port([...base, "ports", key]);
    if (p !== undefined) ports[key] = p;
  }
  const weight = r.num([...base, "weight"], { integer: true, min: 1, max: 1_000_000 }) ?? 1;
  return {
    address,
    ports,
    labels: r.labels([...base, "labels"]),
    locality: parseLocalityString(r, [...base, "locality"]),
    weight,
    source,
  };
}

function parseWorkloadEntry(r: FieldReader, namespace: string, source: SourceRef): WorkloadEntryItem {
  return { kind: "WorkloadEntry", namespace, ...parseWorkloadFields(r, ["spec"], source) };
}

function parseServiceEntry(r: FieldReader, namespace: string, source: SourceRef): ServiceEntryItem {
  return parseServiceEntrySpec(r, namespace, source);
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
function isDnsName(text: string): boolean {
  return text.length <= 253 && text.split(".").every((l) => DNS_LABEL.test(l));
}

/** Istio's short-name rule, extended: `a` -> a.<ns>.svc.<suffix>, `a.b` -> a.b.svc.<suffix>, `a.b.svc` -> +suffix. */
export function resolveHost(host: string, namespace: string, suffix = DEFAULT_DOMAIN_SUFFIX): string {
  if (host.includes("*")) return host;
  const parts = host.split(".");
  if (parts.length === 1) return `${host}.${namespace}.svc.${suffix}`;
  if (parts.length === 2) return `${host}.svc.${suffix}`;
  if (parts.length === 3 && parts[2] === "svc") return `${host}.${suffix}`;
  return host;
}
