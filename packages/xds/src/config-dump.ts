/** What a proxy receives, decoded for humans (like `istioctl proxy-config`). */

import { defaultMeshDirectory } from "./default-mesh.js";
import { proxyFromNode } from "./generate/proxy.js";
import { generateProxyConfig, type ProxyConfig } from "./generate/proxy-config.js";
import { PushContext } from "./generate/push-context.js";
import { loadMeshDirectory } from "./model/directory-source.js";
import { staticMeshSource } from "./model/static-source.js";
import type { ConfigDiagnostic } from "./model/types.js";
import { decodeAnyDeep, PUSH_ORDER, type ResourceKind, TYPE_URLS } from "./protocol/protos.js";

export interface ConfigDumpResource {
  readonly name: string;
  readonly version: string;
  readonly resource: Record<string, unknown>;
}

export interface ConfigDump {
  readonly nodeId: string;
  readonly proxyType: string;
  readonly types: Partial<
    Record<ResourceKind, { readonly typeUrl: string; readonly resources: readonly ConfigDumpResource[] }>
  >;
  readonly diagnostics?: readonly ConfigDiagnostic[];
}

export function configDumpOf(config: ProxyConfig, nodeId: string, type?: ResourceKind): ConfigDump {
  const types: ConfigDump["types"] = {};
  for (const kind of PUSH_ORDER) {
    if (type && kind !== type) continue;
    types[kind] = {
      typeUrl: TYPE_URLS[kind],
      resources: [...config[kind].values()].map((r) => ({
        name: r.name,
        version: r.version,
        resource: decodeAnyDeep(r.any),
      })),
    };
  }
  return { nodeId, proxyType: proxyFromNode({ id: nodeId }).type, types };
}

export interface RenderConfigDumpOptions {
  /** A mesh directory... */
  readonly configDir?: string;
  /** ...or plain Kubernetes/Istio objects (exactly one of the two). */
  readonly objects?: readonly object[];
  /** Istio-style node id, e.g. `grpc~10.0.0.5~app-1.demo~demo.svc.cluster.local` or `sidecar~...`. */
  readonly nodeId: string;
  readonly type?: ResourceKind;
}

/**
 * Generates, offline, what a proxy with this node id would receive from a mesh directory.
 * Resources are encoded with the real protos and decoded back, so the dump is exactly what
 * goes on the wire.
 *
 * @example
 * const dump = await renderConfigDump({ configDir: "./mesh", nodeId: "grpc~127.0.0.1~app.demo~demo.svc.cluster.local", type: "cds" });
 * dump.types.cds?.resources.map((r) => r.name);
 */
export async function renderConfigDump(options: RenderConfigDumpOptions): Promise<ConfigDump> {
  const snapshot = options.objects
    ? staticMeshSource(options.objects).current()
    : await loadMeshDirectory(options.configDir ?? defaultMeshDirectory());
  const ctx = new PushContext(snapshot.model, "offline");
  const config = generateProxyConfig(ctx, proxyFromNode({ id: options.nodeId }));
  return { ...configDumpOf(config, options.nodeId, options.type), diagnostics: snapshot.diagnostics };
}
