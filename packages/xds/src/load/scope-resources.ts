/**
 * The one place the load harness calls meshctl's generator: go-control-plane's peer serves
 * exactly what meshctl would send, so both servers are compared on the same resources.
 * (The generator's internals are being redesigned: adapt this function, nothing else.)
 */

import { proxyFromNode } from "../generate/proxy.js";
import { generateProxyConfig } from "../generate/proxy-config.js";
import { PushContext } from "../generate/push-context.js";
import { loadMeshDirectory } from "../model/directory-source.js";
import { PUSH_ORDER, TYPE_URLS } from "../protocol/protos.js";

/** A scope and the xDS Node of one representative proxy of it. */
export interface ScopeSpec {
  readonly scope: string;
  readonly node: Readonly<Record<string, unknown>>;
}

export interface NamedResource {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** typeUrl -> resources, for one scope. */
export type ScopeResources = Readonly<Record<string, readonly NamedResource[]>>;

/**
 * Generates, with meshctl's own generator, every resource each scope's representative proxy
 * would receive from the mesh in `meshDir`.
 *
 * @example
 * const byScope = await generateScopeResources("/tmp/mesh", [{ scope: "sidecar/ns-00", node }]);
 * byScope.get("sidecar/ns-00")?.[TYPE_URLS.cds]?.length;
 */
export async function generateScopeResources(
  meshDir: string,
  scopes: readonly ScopeSpec[],
): Promise<Map<string, ScopeResources>> {
  const snapshot = await loadMeshDirectory(meshDir);
  const ctx = new PushContext(snapshot.model, `load-${snapshot.hash.slice(0, 12)}`);
  const out = new Map<string, ScopeResources>();
  for (const { scope, node } of scopes) {
    const config = generateProxyConfig(ctx, proxyFromNode(node as Parameters<typeof proxyFromNode>[0]));
    const resources: Record<string, NamedResource[]> = {};
    for (const kind of PUSH_ORDER)
      resources[TYPE_URLS[kind]] = [...config[kind].values()].map((r) => ({
        name: r.name,
        bytes: r.any.value,
      }));
    out.set(scope, resources);
  }
  return out;
}
