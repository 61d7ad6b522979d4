/**
 * Istio's metadata-exchange wire formats (reference part B7):
 * - HTTP/gRPC headers `x-envoy-peer-metadata` (standard base64 of a deterministically serialized
 *   `google.protobuf.Struct`) and `x-envoy-peer-metadata-id` (the sender's node id);
 * - the TCP ALPN `istio-peer-exchange` frame: 8-byte big-endian header {magic 0x3D230467, size}
 *   followed by a serialized `google.protobuf.Any` wrapping a Struct of both headers;
 * - the `baggage` header used by newer Istio releases.
 */
import { MeshctlError } from "@meshctl/core";
import {
  decodeAny,
  decodeStruct,
  encodeAny,
  encodeStruct,
  type StructObject,
  type StructValue,
} from "./protobuf-struct.js";

export const PEER_METADATA_HEADER = "x-envoy-peer-metadata";
export const PEER_METADATA_ID_HEADER = "x-envoy-peer-metadata-id";
export const ISTIO_PEER_EXCHANGE_ALPN = "istio-peer-exchange";
export const METADATA_EXCHANGE_MAGIC = 0x3d230467;
export const STRUCT_TYPE_URL = "type.googleapis.com/google.protobuf.Struct";

export const CANONICAL_NAME_LABEL = "service.istio.io/canonical-name";
export const CANONICAL_REVISION_LABEL = "service.istio.io/canonical-revision";
const APP_LABEL = "app";
const VERSION_LABEL = "version";
const APP_QUALIFIED_LABEL = "app.kubernetes.io/name";
const VERSION_QUALIFIED_LABEL = "app.kubernetes.io/version";

/**
 * The workload dimensions Istio exchanges, as in Envoy's `WorkloadMetadataObject`. Empty string
 * means "not known" (Istio sends only non-empty fields).
 */
export interface WorkloadMetadata {
  /** `NAME`: the pod (instance) name. */
  readonly instanceName: string;
  readonly namespace: string;
  readonly workloadName: string;
  /** `CLUSTER_ID`. */
  readonly clusterId: string;
  /** `IDENTITY`: the SPIFFE id, when known. */
  readonly identity: string;
  /** `OWNER`, e.g. `kubernetes://apis/apps/v1/namespaces/<ns>/deployments/<name>`. */
  readonly owner: string;
  readonly region: string;
  readonly zone: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly app: string;
  readonly version: string;
  /** Further labels sent in `LABELS` (Istio's `additional_labels`). */
  readonly labels: Readonly<Record<string, string>>;
}

export const EMPTY_WORKLOAD: WorkloadMetadata = Object.freeze({
  instanceName: "",
  namespace: "",
  workloadName: "",
  clusterId: "",
  identity: "",
  owner: "",
  region: "",
  zone: "",
  canonicalService: "",
  canonicalRevision: "",
  app: "",
  version: "",
  labels: Object.freeze({}),
});

/** Builds a full `WorkloadMetadata` from the fields you know. */
export function workloadMetadata(fields: Partial<WorkloadMetadata>): WorkloadMetadata {
  return { ...EMPTY_WORKLOAD, ...fields, labels: { ...(fields.labels ?? {}) } };
}

/**
 * The Struct Istio sends (Envoy `convertWorkloadMetadataToStruct`): only non-empty fields, and a
 * `LABELS` struct that is always present.
 *
 * @example
 * workloadToStruct(workloadMetadata({ namespace: "default", app: "echo" }));
 * // { NAMESPACE: "default", LABELS: { app: "echo" } }
 */
export function workloadToStruct(w: WorkloadMetadata): StructObject {
  const out: StructObject = {};
  if (w.instanceName) out.NAME = w.instanceName;
  if (w.namespace) out.NAMESPACE = w.namespace;
  if (w.workloadName) out.WORKLOAD_NAME = w.workloadName;
  if (w.clusterId) out.CLUSTER_ID = w.clusterId;
  if (w.identity) out.IDENTITY = w.identity;
  const labels: StructObject = {};
  if (w.canonicalService) labels[CANONICAL_NAME_LABEL] = w.canonicalService;
  if (w.canonicalRevision) labels[CANONICAL_REVISION_LABEL] = w.canonicalRevision;
  if (w.app) labels[APP_LABEL] = w.app;
  if (w.version) labels[VERSION_LABEL] = w.version;
  for (const [k, v] of Object.entries(w.labels)) if (v) labels[k] = v;
  out.LABELS = labels;
  if (w.owner) out.OWNER = w.owner;
  if (w.region) out.REGION = w.region;
  if (w.zone) out.AVAILABILITY_ZONE = w.zone;
  return out;
}

function str(value: StructValue | undefined): string {
  return typeof value === "string" ? value : "";
}

/**
 * Reads a peer's Struct the way Envoy's `convertStructToWorkloadMetadata` does (qualified
 * `app.kubernetes.io/*` labels win over `app`/`version`; other labels are kept only if listed).
 *
 * @example
 * structToWorkload({ NAMESPACE: "default", LABELS: { app: "echo" } }).app; // "echo"
 */
export function structToWorkload(
  s: StructObject,
  additionalLabels: readonly string[] = [],
): WorkloadMetadata {
  const labelsIn = s.LABELS;
  let canonicalService = "";
  let canonicalRevision = "";
  let app = "";
  let version = "";
  const labels: Record<string, string> = {};
  if (labelsIn && typeof labelsIn === "object" && !Array.isArray(labelsIn)) {
    canonicalService = str(labelsIn[CANONICAL_NAME_LABEL]);
    canonicalRevision = str(labelsIn[CANONICAL_REVISION_LABEL]);
    app = str(labelsIn[APP_QUALIFIED_LABEL]) || str(labelsIn[APP_LABEL]);
    version = str(labelsIn[VERSION_QUALIFIED_LABEL]) || str(labelsIn[VERSION_LABEL]);
    for (const key of additionalLabels) {
      const v = str(labelsIn[key]);
      if (v) labels[key] = v;
    }
  }
  return {
    instanceName: str(s.NAME),
    namespace: str(s.NAMESPACE),
    workloadName: str(s.WORKLOAD_NAME),
    clusterId: str(s.CLUSTER_ID),
    identity: str(s.IDENTITY),
    owner: str(s.OWNER),
    region: str(s.REGION),
    zone: str(s.AVAILABILITY_ZONE),
    canonicalService,
    canonicalRevision,
    app,
    version,
    labels,
  };
}

/**
 * The value of `x-envoy-peer-metadata`: standard base64 of the deterministic Struct.
 *
 * @example
 * const header = encodePeerMetadataHeader(workloadMetadata({ namespace: "default" }));
 */
export function encodePeerMetadataHeader(w: WorkloadMetadata): string {
  return encodeStruct(workloadToStruct(w)).toString("base64");
}

/**
 * Decodes `x-envoy-peer-metadata`. Like Envoy's `decodeWithoutPadding`, missing padding is accepted.
 * Throws `TSTATS_METADATA_INVALID` for bytes that are not a Struct.
 *
 * @example
 * decodePeerMetadataHeader(header).namespace; // "default"
 */
export function decodePeerMetadataHeader(
  value: string,
  additionalLabels: readonly string[] = [],
): WorkloadMetadata {
  const bytes = Buffer.from(value, "base64");
  if (bytes.length === 0 && value.length > 0) {
    throw new MeshctlError("TSTATS_METADATA_INVALID", "x-envoy-peer-metadata is not base64.", {
      kind: "external",
    });
  }
  return structToWorkload(decodeStruct(bytes), additionalLabels);
}

/**
 * The `istio-peer-exchange` frame one side writes at TCP connection start.
 *
 * @example
 * socket.write(encodeMetadataExchangeFrame(local, "sidecar~10.0.0.1~echo-1.default~default.svc.cluster.local"));
 */
export function encodeMetadataExchangeFrame(w: WorkloadMetadata, nodeId: string): Buffer {
  const payload: StructObject = { [PEER_METADATA_HEADER]: workloadToStruct(w) };
  if (nodeId) payload[PEER_METADATA_ID_HEADER] = nodeId;
  const any = encodeAny(STRUCT_TYPE_URL, encodeStruct(payload));
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32BE(METADATA_EXCHANGE_MAGIC, 0);
  header.writeUInt32BE(any.length, 4);
  return Buffer.concat([header, any]);
}

export interface MetadataExchangeFrame {
  readonly peer: WorkloadMetadata;
  readonly peerId: string;
  /** Bytes the frame took; the application data starts after them. */
  readonly frameLength: number;
}

/** Largest frame accepted; Envoy reads the frame into memory too, so bound it. */
const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Reads an `istio-peer-exchange` frame from the start of `data`. Returns `undefined` when more
 * bytes are needed; throws `TSTATS_MX_BAD_MAGIC` ("Incorrect istio-peer-exchange ALPN magic") or
 * `TSTATS_METADATA_INVALID` for a malformed frame.
 *
 * @example
 * const frame = decodeMetadataExchangeFrame(firstBytes);
 * if (frame) app.write(firstBytes.subarray(frame.frameLength));
 */
export function decodeMetadataExchangeFrame(
  data: Buffer,
  additionalLabels: readonly string[] = [],
): MetadataExchangeFrame | undefined {
  if (data.length < 8) return undefined;
  if (data.readUInt32BE(0) !== METADATA_EXCHANGE_MAGIC) {
    throw new MeshctlError("TSTATS_MX_BAD_MAGIC", "Incorrect istio-peer-exchange ALPN magic.", {
      kind: "external",
    });
  }
  const size = data.readUInt32BE(4);
  if (size > MAX_FRAME_BYTES) {
    throw new MeshctlError(
      "TSTATS_METADATA_INVALID",
      `istio-peer-exchange frame of ${size} bytes is too large.`,
      {
        kind: "external",
      },
    );
  }
  if (data.length < 8 + size) return undefined;
  const any = decodeAny(data.subarray(8, 8 + size));
  if (any.typeUrl !== STRUCT_TYPE_URL) {
    throw new MeshctlError(
      "TSTATS_METADATA_INVALID",
      `istio-peer-exchange frame carries ${any.typeUrl}, not a Struct.`,
      {
        kind: "external",
      },
    );
  }
  const outer = decodeStruct(any.value);
  const inner = outer[PEER_METADATA_HEADER];
  const peer =
    inner && typeof inner === "object" && !Array.isArray(inner)
      ? structToWorkload(inner, additionalLabels)
      : EMPTY_WORKLOAD;
  return { peer, peerId: str(outer[PEER_METADATA_ID_HEADER]), frameLength: 8 + size };
}

const BAGGAGE_WORKLOAD_KEYS = ["k8s.deployment.name", "k8s.pod.name", "k8s.job.name", "k8s.cronjob.name"];

/**
 * Reads peer dimensions from a W3C `baggage` header as Istio propagates them (service.name maps to
 * the canonical name and falls back to app.name; the same for versions).
 *
 * @example
 * decodeBaggagePeerMetadata("k8s.deployment.name=echo,k8s.namespace.name=default").workloadName; // "echo"
 */
export function decodeBaggagePeerMetadata(header: string): WorkloadMetadata {
  const kv = new Map<string, string>();
  for (const part of header.split(",")) {
    const item = part.split(";")[0]!;
    const eq = item.indexOf("=");
    if (eq <= 0) continue;
    kv.set(item.slice(0, eq).trim(), decodeURIComponent(item.slice(eq + 1).trim()));
  }
  let workloadName = "";
  let owner = "";
  for (const key of BAGGAGE_WORKLOAD_KEYS) {
    const v = kv.get(key);
    if (v) {
      workloadName = v;
      owner = key.split(".")[1]!;
      break;
    }
  }
  const app = kv.get("app.name") ?? "";
  const version = kv.get("app.version") ?? "";
  const namespace = kv.get("k8s.namespace.name") ?? "";
  return workloadMetadata({
    workloadName,
    namespace,
    owner:
      owner && owner !== "pod" && namespace
        ? `kubernetes://apis/apps/v1/namespaces/${namespace}/${owner}s/${workloadName}`
        : "",
    clusterId: kv.get("k8s.cluster.name") ?? "",
    instanceName: kv.get("k8s.instance.name") ?? "",
    region: kv.get("cloud.region") ?? "",
    zone: kv.get("cloud.availability_zone") ?? "",
    canonicalService: kv.get("service.name") ?? app,
    canonicalRevision: kv.get("service.version") ?? version,
    app: app || (kv.get("service.name") ?? ""),
    version: version || (kv.get("service.version") ?? ""),
  });
}
