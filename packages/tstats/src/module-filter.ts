/**
 * The tstats module as an Envoy HTTP filter: the same C core (native/) loaded either as an Envoy
 * dynamic module (`libtstats.so`, stock Envoy 1.40+) or as a proxy-wasm plugin (`tstats.wasm`, run
 * by Envoy's V8), configured with one text (native/src/tstats_core.h):
 *
 *   reporter=source|destination
 *   id=<node id, sent as x-envoy-peer-metadata-id>
 *   metadata=<base64 Struct, sent as x-envoy-peer-metadata; also the local dimensions>
 *
 * The text names the proxy itself, so each proxy gets its own filter config (the control plane
 * builds it from the proxy's xDS Node). The metadata is encoded by this package's own encoder, so
 * the module, Istio's proxies and the gRPC interceptors exchange byte-identical headers.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MeshctlError } from "@meshctl/core";
import protobuf from "protobufjs";
import type { EncodedEnvoyFilter, TrafficDirection } from "./envoy-config.js";
import { TSTATS_METRICS_NAMESPACE, tstatsModuleFilterConfigText } from "./envoy-module.js";
import { ENVOY_MODULE_PROTO_SOURCES } from "./generated/envoy-module-protos.js";
import { type LocalWorkload, localWorkloadFromBootstrap } from "./local-workload.js";

/** The module's name: `lib<name>.so`, its dynamic-module `filter_name`, the Wasm root and VM id. */
export const TSTATS_MODULE_NAME = "tstats";
/** The HTTP filter names in the connection manager (what /debug/clients and diagnose show). */
export const TSTATS_NATIVE_FILTER_NAME = "tstats";
export const TSTATS_WASM_FILTER_NAME = "tstats.wasm";
export const DYNAMIC_MODULE_FILTER_TYPE_URL =
  "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
export const DYNAMIC_MODULE_NETWORK_FILTER_TYPE_URL =
  "type.googleapis.com/envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter";
export const DYNAMIC_MODULE_BOOTSTRAP_EXTENSION_TYPE_URL =
  "type.googleapis.com/envoy.extensions.bootstrap.dynamic_modules.v3.DynamicModuleBootstrapExtension";
/**
 * The xDS Node metadata key (value `"true"`) by which a proxy says its bootstrap carries the tstats
 * bootstrap extension (`tstatsBootstrapExtension`), so it may get the TCP network filter: without
 * the extension Envoy rejects that filter, and with it the listener.
 */
export const TSTATS_TCP_NODE_METADATA_KEY = "MESHCTL_TSTATS_TCP";
export const WASM_FILTER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
export const WASM_V8_RUNTIME = "envoy.wasm.runtime.v8";
const STRING_VALUE_TYPE_URL = "type.googleapis.com/google.protobuf.StringValue";

/** Which build of the module a proxy loads. */
export type TstatsModuleKind = "native" | "wasm";

/**
 * The configuration text for one proxy and direction: inbound listeners report as `destination`,
 * outbound ones as `source` (as Istio's stats filter does).
 */
function moduleConfigText(local: LocalWorkload, direction: TrafficDirection): string {
  return tstatsModuleFilterConfigText(local, direction === "inbound" ? "destination" : "source");
}

/** Where a module file is and whether it has been built. */
export interface TstatsModuleFile {
  readonly kind: TstatsModuleKind;
  readonly path: string;
  readonly exists: boolean;
}

/** The file name of each build inside the output directory (native/build.sh's contract). */
export const TSTATS_MODULE_FILE_NAMES: Readonly<Record<TstatsModuleKind, string>> = Object.freeze({
  native: "libtstats.so",
  wasm: "tstats.wasm",
});

/**
 * The package's `obj/` directory, where `npm run build` and `meshctl tstats build` put the modules.
 * Resolved from this file, which is one level below the package root both as `src/*.ts` and as
 * `dist/index.js`.
 */
export function tstatsObjDir(): string {
  return fileURLToPath(new URL("../obj/", import.meta.url)).replace(/\/$/, "");
}

/**
 * The module files this package ships (or would, once built), and whether each exists.
 *
 * @example
 * const { native } = tstatsModuleFiles();
 * if (!native.exists) console.error(`run meshctl tstats build (${native.path} is missing)`);
 */
export function tstatsModuleFiles(): Readonly<Record<TstatsModuleKind, TstatsModuleFile>> {
  const file = (kind: TstatsModuleKind): TstatsModuleFile => {
    const path = defaultModulePath(kind);
    return { kind, path, exists: existsSync(path) };
  };
  return { native: file("native"), wasm: file("wasm") };
}

/** Where the package's build of `kind` is (or will be), without looking. */
function defaultModulePath(kind: TstatsModuleKind): string {
  return `${tstatsObjDir()}/${TSTATS_MODULE_FILE_NAMES[kind]}`;
}

let moduleRoot: protobuf.Root | undefined;

/** The dynamic-module and Wasm filter messages (proto/envoy, embedded), plus Any and wrappers. */
export function envoyModuleProtoRoot(): protobuf.Root {
  if (moduleRoot) return moduleRoot;
  const root = new protobuf.Root();
  for (const common of ["google/protobuf/any.proto", "google/protobuf/wrappers.proto"]) {
    const nested = protobuf.common.get(common)?.nested;
    if (!nested)
      throw new MeshctlError("TSTATS_PROTO_MISSING", `protobufjs lacks ${common}.`, { kind: "bug" });
    root.addJSON(nested);
  }
  for (const source of Object.values(ENVOY_MODULE_PROTO_SOURCES))
    protobuf.parse(source, root, { keepCase: true });
  root.resolveAll();
  moduleRoot = root;
  return root;
}

function encode(typeName: string, value: Record<string, unknown>): Uint8Array {
  const type = envoyModuleProtoRoot().lookupType(typeName);
  const problem = type.verify(value);
  if (problem) throw new MeshctlError("TSTATS_CONFIG_INVALID", `${typeName}: ${problem}`, { kind: "bug" });
  return type.encode(type.fromObject(value)).finish();
}

function stringValueAny(text: string): { type_url: string; value: Uint8Array } {
  return { type_url: STRING_VALUE_TYPE_URL, value: encode("google.protobuf.StringValue", { value: text }) };
}

function absolutePath(path: string, what: string): string {
  if (!path.startsWith("/"))
    throw new MeshctlError("TSTATS_CONFIG_INVALID", `The ${what} path must be absolute, got "${path}".`, {
      kind: "usage",
      suggestions: ["Give the path as the proxy's host sees it, e.g. /opt/meshctl/libtstats.so."],
    });
  return path;
}

export interface TstatsModuleFilterOptions {
  /** The proxy's own identity (see `localWorkloadFromBootstrap`). */
  readonly local: LocalWorkload;
  /** `inbound` listeners report as `destination`, `outbound` ones as `source`. */
  readonly direction: TrafficDirection;
  /**
   * The module file as the proxy's host sees it (absolute). Default: this package's
   * `obj/libtstats.so` (native) or `obj/tstats.wasm` (wasm).
   */
  readonly path?: string;
}

/**
 * The native module as an encoded `DynamicModuleFilter` (stock Envoy 1.40+): loaded from its
 * absolute path (`dynamic_module_config.module.local.filename`), never unloaded, its metrics
 * under `istio.`.
 *
 * @example
 * const filter = buildTstatsModuleFilter({ local, direction: "inbound" });
 * hcm.http_filters = [...others, filter, router];
 */
export function buildTstatsModuleFilter(options: TstatsModuleFilterOptions): EncodedEnvoyFilter {
  return encodeModuleFilter("http", DYNAMIC_MODULE_FILTER_TYPE_URL, options);
}

/** The HTTP or network `DynamicModule*Filter` message: the same module, options and config text. */
function encodeModuleFilter(
  kind: "http" | "network",
  typeUrl: string,
  options: TstatsModuleFilterOptions,
): EncodedEnvoyFilter {
  const path = absolutePath(options.path ?? defaultModulePath("native"), "dynamic module");
  const message =
    kind === "http"
      ? "envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
      : "envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter";
  const value = encode(message, {
    dynamic_module_config: {
      name: TSTATS_MODULE_NAME,
      // The module keeps per-thread peer caches and its metric ids for the process's lifetime.
      do_not_close: true,
      metrics_namespace: TSTATS_METRICS_NAMESPACE,
      module: { local: { filename: path } },
    },
    filter_name: TSTATS_MODULE_NAME,
    filter_config: stringValueAny(moduleConfigText(options.local, options.direction)),
  });
  return { name: TSTATS_NATIVE_FILTER_NAME, typed_config: { type_url: typeUrl, value } };
}

/**
 * The native module as an encoded `DynamicModuleNetworkFilter` (stock Envoy 1.40+), for TCP filter
 * chains before `tcp_proxy`: the same module, options and configuration text as the HTTP filter.
 * Its labelled counters live in the module's bootstrap extension, so only a proxy whose bootstrap
 * has `tstatsBootstrapExtension()` may get it.
 *
 * @example
 * const filter = buildTstatsModuleNetworkFilter({ local, direction: "outbound" });
 * chain.filters = [filter, tcpProxy];
 */
export function buildTstatsModuleNetworkFilter(options: TstatsModuleFilterOptions): EncodedEnvoyFilter {
  return encodeModuleFilter("network", DYNAMIC_MODULE_NETWORK_FILTER_TYPE_URL, options);
}

/**
 * The module's bootstrap extension (protobuf JSON, for a bootstrap's `bootstrap_extensions`),
 * which owns the TCP filter's labelled counters: the same module file as the filters, never
 * unloaded, metrics under `istio.`.
 *
 * @example
 * bootstrap.bootstrap_extensions = [tstatsBootstrapExtension("/opt/meshctl/libtstats.so")];
 */
export function tstatsBootstrapExtension(
  path: string = defaultModulePath("native"),
): Record<string, unknown> {
  return {
    name: "envoy.bootstrap.dynamic_modules",
    typed_config: {
      "@type": DYNAMIC_MODULE_BOOTSTRAP_EXTENSION_TYPE_URL,
      dynamic_module_config: {
        name: TSTATS_MODULE_NAME,
        do_not_close: true,
        metrics_namespace: TSTATS_METRICS_NAMESPACE,
        module: { local: { filename: absolutePath(path, "dynamic module") } },
      },
      extension_name: TSTATS_MODULE_NAME,
    },
  };
}

/** Whether a proxy's Node says its bootstrap has the tstats bootstrap extension (TCP telemetry). */
export function nodeHasTstatsTcp(node: { readonly metadata?: Readonly<Record<string, unknown>> }): boolean {
  return node.metadata?.[TSTATS_TCP_NODE_METADATA_KEY] === "true";
}

/**
 * The Wasm build as an encoded `envoy.extensions.filters.http.wasm.v3.Wasm` filter (V8), for
 * comparing the host ABIs: one VM per worker (`vm_id` tstats), the same configuration text.
 *
 * @example
 * const filter = buildTstatsWasmFilter({ local, direction: "outbound" });
 */
export function buildTstatsWasmFilter(options: TstatsModuleFilterOptions): EncodedEnvoyFilter {
  const path = absolutePath(options.path ?? defaultModulePath("wasm"), "Wasm module");
  const value = encode("envoy.extensions.filters.http.wasm.v3.Wasm", {
    config: {
      name: TSTATS_MODULE_NAME,
      root_id: TSTATS_MODULE_NAME,
      vm_config: {
        vm_id: TSTATS_MODULE_NAME,
        runtime: WASM_V8_RUNTIME,
        code: { local: { filename: path } },
      },
      configuration: stringValueAny(moduleConfigText(options.local, options.direction)),
    },
  });
  return { name: TSTATS_WASM_FILTER_NAME, typed_config: { type_url: WASM_FILTER_TYPE_URL, value } };
}

/** What the control plane knows of a proxy: its xDS Node, metadata as plain JSON. */
export interface TstatsProxyNode {
  readonly id: string;
  readonly cluster?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly locality?: { readonly region?: string; readonly zone?: string };
}

/** The module filters of one proxy, per listener direction. */
export interface TstatsModuleHttpFilters {
  readonly http: { readonly inbound: EncodedEnvoyFilter[]; readonly outbound: EncodedEnvoyFilter[] };
  /** TCP chains (before tcp_proxy): native only, for proxies with `MESHCTL_TSTATS_TCP: "true"`. */
  readonly network?: { readonly inbound: EncodedEnvoyFilter[]; readonly outbound: EncodedEnvoyFilter[] };
}

/**
 * One proxy's module filters, from its xDS Node (`id`, `metadata` NAMESPACE / NAME /
 * WORKLOAD_NAME / LABELS / CLUSTER_ID ..., `cluster`, `locality`): what the control plane calls per
 * proxy. Same node, same bytes. A native proxy whose metadata has `MESHCTL_TSTATS_TCP: "true"`
 * (its bootstrap carries `tstatsBootstrapExtension`, as `meshctl xds bootstrap` writes it when the
 * module is enabled and built) also gets the TCP network filter; every other proxy HTTP only.
 *
 * @example
 * const { http } = tstatsModuleFiltersForNode("native", { id: "sidecar~10.0.0.5~web-1.demo~demo.svc.cluster.local", metadata: { NAMESPACE: "demo" } });
 */
export function tstatsModuleFiltersForNode(
  kind: TstatsModuleKind,
  node: TstatsProxyNode,
  options: { readonly path?: string } = {},
): TstatsModuleHttpFilters {
  const local = localWorkloadFromBootstrap({ node });
  const path = options.path !== undefined ? { path: options.path } : {};
  const build = kind === "native" ? buildTstatsModuleFilter : buildTstatsWasmFilter;
  const at = (direction: TrafficDirection) => build({ local, direction, ...path });
  const http = { inbound: [at("inbound")], outbound: [at("outbound")] };
  if (kind !== "native" || !nodeHasTstatsTcp(node)) return { http };
  const tcp = (direction: TrafficDirection) => buildTstatsModuleNetworkFilter({ local, direction, ...path });
  return { http, network: { inbound: [tcp("inbound")], outbound: [tcp("outbound")] } };
}
