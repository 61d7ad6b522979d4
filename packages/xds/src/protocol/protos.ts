/**
 * The real Envoy v3 protos, loaded from the copies `@grpc/grpc-js-xds` ships under `deps/`.
 * Nothing here hand-writes a message shape: encoding goes through protobufjs types resolved
 * from those files, and the gRPC service definition comes from @grpc/proto-loader.
 */

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { MeshctlError } from "@meshctl/core";
import protobuf from "protobufjs";

export const TYPE_URL_PREFIX = "type.googleapis.com/";

/** Short names for the four resource types this server produces, in push order. */
export const TYPE_URLS = {
  cds: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  eds: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  lds: "type.googleapis.com/envoy.config.listener.v3.Listener",
  rds: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
} as const;

export type ResourceKind = keyof typeof TYPE_URLS;

/** Istio's order (CDS, EDS, LDS, RDS): make-before-break for ADS (xDS protocol, "eventual consistency"). */
export const PUSH_ORDER: readonly ResourceKind[] = ["cds", "eds", "lds", "rds"];

/** Type URLs where SotW responses must carry the complete subscribed set. */
export const FULL_STATE_KINDS: ReadonlySet<ResourceKind> = new Set(["cds", "lds"]);

export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  for (const kind of PUSH_ORDER) if (TYPE_URLS[kind] === typeUrl) return kind;
  return undefined;
}

/** Every proto file the generators encode; imports are pulled in transitively. */
const ROOT_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/mongo_proxy/v3/mongo_proxy.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  // Route-level extensions istiod's routes name (retry predicates/priorities, CORS).
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  // Filters configured through a TypedStruct are looked up by the type inside it.
  "xds/type/v3/typed_struct.proto",
  "udpa/type/v1/typed_struct.proto",
];

export interface XdsProtos {
  readonly root: protobuf.Root;
  /** Service definition for `envoy.service.discovery.v3.AggregatedDiscoveryService`. */
  readonly adsService: ServiceDefinition;
  readonly includeDirs: readonly string[];
}

let cached: XdsProtos | undefined;

function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve("@grpc/grpc-js-xds/package.json");
  } catch (cause) {
    throw new MeshctlError(
      "XDS_PROTOS_MISSING",
      "The Envoy protos could not be found: @grpc/grpc-js-xds is not installed.",
      {
        kind: "environment",
        cause,
        suggestions: ["Reinstall meshctl (npm install) so that @grpc/grpc-js-xds is present."],
      },
    );
  }
  const deps = join(dirname(pkgJson), "deps");
  const dirs = ["envoy-api", "xds", "googleapis", "protoc-gen-validate", "cel-spec/proto"]
    .map((d) => join(deps, d))
    .filter((d) => existsSync(d));
  return dirs;
}

/**
 * Loads (once per process) the Envoy xDS v3 protos.
 *
 * @example
 * const { root } = loadXdsProtos();
 * const Cluster = root.lookupType("envoy.config.cluster.v3.Cluster");
 */
export function loadXdsProtos(): XdsProtos {
  if (cached) return cached;
  const includeDirs = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  try {
    root.loadSync(ROOT_FILES, { keepCase: true });
    root.resolveAll();
  } catch (cause) {
    throw new MeshctlError("XDS_PROTOS_INVALID", `Loading the Envoy protos failed: ${String(cause)}`, {
      kind: "bug",
      cause,
    });
  }
  const pkg = loadSync("envoy/service/discovery/v3/ads.proto", {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [...includeDirs],
  });
  const adsService = pkg[
    "envoy.service.discovery.v3.AggregatedDiscoveryService"
  ] as unknown as ServiceDefinition;
  cached = { root, adsService, includeDirs };
  return cached;
}

/** A protobuf Any whose payload is already encoded. */
export interface EncodedAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

const typeCache = new Map<string, protobuf.Type>();

function lookupType(typeName: string): protobuf.Type {
  const hit = typeCache.get(typeName);
  if (hit) return hit;
  const { root } = loadXdsProtos();
  try {
    const type = root.lookupType(typeName);
    typeCache.set(typeName, type);
    return type;
  } catch (cause) {
    throw new MeshctlError("XDS_PROTO_TYPE_UNKNOWN", `Unknown proto message ${typeName}.`, {
      kind: "bug",
      cause,
    });
  }
}

/**
 * Encodes a plain object (snake_case field names, as in the .proto files) as the named message.
 * Unknown fields are a bug in the generator, so they throw instead of being dropped silently.
 */
export function encodeMessage(typeName: string, value: Record<string, unknown>): Uint8Array {
  const type = lookupType(typeName);
  assertKnownFields(type, value, typeName);
  try {
    return type.encode(type.fromObject(value)).finish();
  } catch (cause) {
    throw new MeshctlError("XDS_ENCODE_FAILED", `${typeName}: ${String(cause)}`, { kind: "bug", cause });
  }
}

/** Decodes bytes as the named message into a plain object with the proto-loader conventions. */
export function decodeMessage(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = lookupType(typeName);
  return type.toObject(type.decode(bytes), {
    longs: String,
    enums: String,
    defaults: false,
    oneofs: false,
    bytes: String,
  });
}

/** Wraps a message into an Any, encoding it with the real proto type. */
export function packAny(typeName: string, value: Record<string, unknown>): EncodedAny {
  return { type_url: TYPE_URL_PREFIX + typeName, value: encodeMessage(typeName, value) };
}

/**
 * Decodes an Any, recursively expanding nested Any fields (`typed_config`, `api_listener`, ...)
 * so a config dump is readable. The result has `@type` like Envoy's JSON config dumps.
 */
export function decodeAnyDeep(any: {
  type_url: string;
  value: Uint8Array | Buffer;
}): Record<string, unknown> {
  const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
  const decoded = decodeMessage(typeName, any.value);
  return { "@type": any.type_url, ...(expandNestedAny(decoded) as Record<string, unknown>) };
}

function expandNestedAny(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandNestedAny);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (
      typeof record.type_url === "string" &&
      typeof record.value === "string" &&
      Object.keys(record).length === 2
    ) {
      try {
        return decodeAnyDeep({ type_url: record.type_url, value: Buffer.from(record.value, "base64") });
      } catch {
        return record;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) out[k] = expandNestedAny(v);
    return out;
  }
  return value;
}

let opaque: Set<protobuf.Type> | undefined;
/** Messages whose plain-object form is not field-by-field (checked by protobufjs itself). */
function opaqueTypes(): Set<protobuf.Type> {
  opaque ??= new Set(
    ["google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value"].map((n) => lookupType(n)),
  );
  return opaque;
}

function assertKnownFields(type: protobuf.Type, value: unknown, path: string): void {
  if (!value || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) return;
  if (opaqueTypes().has(type)) return;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const field = type.fields[key];
    if (!field)
      throw new MeshctlError("XDS_ENCODE_FAILED", `${path}: unknown field "${key}" for ${type.fullName}`, {
        kind: "bug",
      });
    const childType = field.resolvedType;
    if (childType instanceof protobuf.Enum) {
      const values = Array.isArray(child) ? child : [child];
      for (const v of values) {
        if (typeof v === "string" && !(v in childType.values))
          throw new MeshctlError(
            "XDS_ENCODE_FAILED",
            `${path}.${key}: unknown enum value "${v}" for ${childType.fullName}`,
            { kind: "bug" },
          );
      }
      continue;
    }
    if (!(childType instanceof protobuf.Type)) continue;
    if (field.map) {
      for (const [k, v] of Object.entries(child as Record<string, unknown>))
        assertKnownFields(childType, v, `${path}.${key}[${k}]`);
    } else if (field.repeated && Array.isArray(child)) {
      for (const [i, v] of child.entries()) assertKnownFields(childType, v, `${path}.${key}[${i}]`);
    } else {
      assertKnownFields(childType, child, `${path}.${key}`);
    }
  }
}
