/**
 * The local workload's identity: what this process reports as itself (source dimensions on the
 * client side, destination dimensions on the server side) and what it sends to peers. Read from the
 * same xDS bootstrap meshctl (and Istio) give proxyless gRPC: `node.id`, `node.metadata` with
 * `NAMESPACE`, `WORKLOAD_NAME`, `CLUSTER_ID`, `LABELS`, `ISTIO_VERSION`, ... and `node.locality`.
 */
import { readFile } from "node:fs/promises";
import { MeshctlError } from "@meshctl/core";
import {
  CANONICAL_NAME_LABEL,
  CANONICAL_REVISION_LABEL,
  encodePeerMetadataHeader,
  structToWorkload,
  type WorkloadMetadata,
  workloadMetadata,
} from "./peer-metadata.js";
import type { StructObject } from "./protobuf-struct.js";

export interface LocalWorkload extends WorkloadMetadata {
  /** Envoy-style node id sent as `x-envoy-peer-metadata-id`, e.g. `sidecar~10.0.0.5~echo-1.default~default.svc.cluster.local`. */
  readonly nodeId: string;
  /** `ISTIO_VERSION`, reported by `istio_build{tag=...}`; empty means unknown. */
  readonly istioVersion: string;
}

export interface LocalWorkloadInput extends Partial<WorkloadMetadata> {
  readonly nodeId?: string;
  readonly istioVersion?: string;
}

/**
 * Completes a local identity with the defaults Istio's injector applies: the canonical service
 * falls back to `app`, then the workload name; the canonical revision to `version`, then `latest`.
 *
 * @example
 * const local = localWorkload({ workloadName: "echo-v1", namespace: "default", app: "echo", version: "v1" });
 */
export function localWorkload(input: LocalWorkloadInput): LocalWorkload {
  const base = workloadMetadata(input);
  const canonicalService = base.canonicalService || base.app || base.workloadName;
  const canonicalRevision = base.canonicalRevision || base.version || "latest";
  const nodeId =
    input.nodeId ??
    (base.instanceName && base.namespace
      ? `sidecar~0.0.0.0~${base.instanceName}.${base.namespace}~${base.namespace}.svc.cluster.local`
      : "");
  return { ...base, canonicalService, canonicalRevision, nodeId, istioVersion: input.istioVersion ?? "" };
}

/** The header value this workload sends, computed once per process. */
export function localPeerMetadataHeader(local: LocalWorkload): string {
  return encodePeerMetadataHeader(local);
}

interface BootstrapNode {
  id?: unknown;
  cluster?: unknown;
  metadata?: unknown;
  locality?: { region?: unknown; zone?: unknown };
}

/**
 * Reads the local identity from a gRPC xDS bootstrap object (the file `GRPC_XDS_BOOTSTRAP` points to).
 *
 * @example
 * const local = localWorkloadFromBootstrap(JSON.parse(readFileSync(process.env.GRPC_XDS_BOOTSTRAP!, "utf8")));
 */
export function localWorkloadFromBootstrap(bootstrap: unknown): LocalWorkload {
  const node = (bootstrap as { node?: BootstrapNode } | null)?.node;
  if (!node || typeof node !== "object") {
    throw new MeshctlError("TSTATS_BOOTSTRAP_INVALID", "The xDS bootstrap has no `node` object.", {
      kind: "usage",
      suggestions: ["Generate one with `meshctl xds bootstrap`."],
    });
  }
  const md = (node.metadata && typeof node.metadata === "object" ? node.metadata : {}) as StructObject;
  const meta = structToWorkload(md);
  const labels = (md.LABELS && typeof md.LABELS === "object" ? md.LABELS : {}) as StructObject;
  const locality = node.locality ?? {};
  const nodeId = typeof node.id === "string" ? node.id : "";
  // Istio's node id is `<type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>`: a fallback for pod and namespace.
  const idParts = nodeId.split("~");
  const podDotNs = idParts.length === 4 ? idParts[2]! : "";
  const dot = podDotNs.lastIndexOf(".");
  return localWorkload({
    ...meta,
    instanceName: meta.instanceName || (dot > 0 ? podDotNs.slice(0, dot) : ""),
    namespace: meta.namespace || (dot > 0 ? podDotNs.slice(dot + 1) : ""),
    workloadName: meta.workloadName || (typeof node.cluster === "string" ? node.cluster.split(".")[0]! : ""),
    canonicalService:
      meta.canonicalService ||
      (typeof labels[CANONICAL_NAME_LABEL] === "string" ? labels[CANONICAL_NAME_LABEL] : ""),
    canonicalRevision:
      meta.canonicalRevision ||
      (typeof labels[CANONICAL_REVISION_LABEL] === "string" ? labels[CANONICAL_REVISION_LABEL] : ""),
    region: meta.region || (typeof locality.region === "string" ? locality.region : ""),
    zone: meta.zone || (typeof locality.zone === "string" ? locality.zone : ""),
    nodeId,
    istioVersion: typeof md.ISTIO_VERSION === "string" ? md.ISTIO_VERSION : "",
  });
}

/**
 * Loads the local identity from a bootstrap file (default: `$GRPC_XDS_BOOTSTRAP`).
 *
 * @example
 * const local = await loadLocalWorkloadFromBootstrap();
 */
export async function loadLocalWorkloadFromBootstrap(
  path = process.env.GRPC_XDS_BOOTSTRAP,
): Promise<LocalWorkload> {
  if (!path) {
    throw new MeshctlError(
      "TSTATS_BOOTSTRAP_MISSING",
      "No xDS bootstrap file: GRPC_XDS_BOOTSTRAP is not set.",
      {
        kind: "usage",
        suggestions: ["Set GRPC_XDS_BOOTSTRAP or pass the local workload explicitly."],
      },
    );
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new MeshctlError("TSTATS_BOOTSTRAP_MISSING", `Cannot read the xDS bootstrap ${path}.`, {
      kind: "environment",
      cause,
    });
  }
  try {
    return localWorkloadFromBootstrap(JSON.parse(text));
  } catch (cause) {
    if (cause instanceof MeshctlError) throw cause;
    throw new MeshctlError("TSTATS_BOOTSTRAP_INVALID", `The xDS bootstrap ${path} is not valid JSON.`, {
      kind: "usage",
      cause,
    });
  }
}
