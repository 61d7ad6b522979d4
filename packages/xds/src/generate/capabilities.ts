/**
 * What a proxy says it can do: the extensions Envoy lists in the `Node` of its first discovery
 * request (`node.extensions[]`: name, category, type_urls, disabled) and its user agent. The
 * generators ask this before sending a filter that not every build has (see filter-extensions.ts).
 *
 * Measured with stock Envoy 1.40: 516 extensions; `type_urls` are bare message names
 * (`envoy.extensions.filters.http.cors.v3.Cors`, no `type.googleapis.com/` prefix); one name may
 * appear in several categories (`envoy.filters.http.buffer` is both an HTTP and an upstream HTTP
 * filter); legacy alias names (`envoy.cors`) list no type URL.
 */
import { createHash } from "node:crypto";

/** One `envoy.config.core.v3.Extension`, as proto-loader decodes it. */
export interface NodeExtensionLike {
  readonly name?: string;
  readonly category?: string;
  readonly type_urls?: readonly string[] | null;
  readonly disabled?: boolean;
}

/** The capability fields of `envoy.config.core.v3.Node`. */
export interface CapabilityNodeLike {
  readonly user_agent_name?: string;
  /** gRPC clients send a plain version string. */
  readonly user_agent_version?: string;
  /** Envoy sends a structured build version. */
  readonly user_agent_build_version?: {
    readonly version?: {
      readonly major_number?: number;
      readonly minor_number?: number;
      readonly patch?: number;
    } | null;
  } | null;
  readonly extensions?: readonly NodeExtensionLike[] | null;
}

export interface ProxyCapabilities {
  /** `envoy`, `gRPC Node Pure JS`, ... (undefined when the node does not say). */
  readonly userAgent: string | undefined;
  /** `1.40.0` for Envoy, the library version for gRPC clients. */
  readonly buildVersion: string | undefined;
  /** Enabled extensions the proxy reported; 0 means it reported none. */
  readonly extensionCount: number;
  /** Hash of the reported list: proxies of one build share one capabilities object. */
  readonly fingerprint: string;
  /**
   * `category\0t\0<type>` for every type an enabled extension accepts, and
   * `category\0n\0<name>` for enabled extensions that list no type (older Envoys, aliases).
   */
  readonly index: ReadonlySet<string>;
}

export const NO_CAPABILITIES: ProxyCapabilities = Object.freeze({
  userAgent: undefined,
  buildVersion: undefined,
  extensionCount: 0,
  fingerprint: "",
  index: new Set<string>(),
});

export const typeKey = (category: string, typeName: string) => `${category}\0t\0${typeName}`;
export const nameKey = (category: string, name: string) => `${category}\0n\0${name}`;

/**
 * The message name of a type URL, as Envoy resolves it: what follows the last `/`
 * (`type.googleapis.com/envoy.x.v3.Y` -> `envoy.x.v3.Y`; a bare name stays as it is).
 *
 * @example
 * typeNameOfUrl("type.googleapis.com/stats.PluginConfig"); // "stats.PluginConfig"
 */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

function buildVersionOf(node: CapabilityNodeLike): string | undefined {
  const v = node.user_agent_build_version?.version;
  if (v && (v.major_number !== undefined || v.minor_number !== undefined))
    return `${v.major_number ?? 0}.${v.minor_number ?? 0}.${v.patch ?? 0}`;
  return node.user_agent_version || undefined;
}

function fingerprintOf(node: CapabilityNodeLike): string {
  const extensions = node.extensions ?? [];
  if (extensions.length === 0) return "";
  // Received order, not sorted: one build always lists them in one order, and hashing
  // without sorting keeps a reconnect storm cheap. Another order only costs sharing.
  const h = createHash("sha256");
  for (const e of extensions)
    h.update(
      `${e.category ?? ""}\0${e.name ?? ""}\0${(e.type_urls ?? []).join(",")}\0${e.disabled ? 1 : 0}\n`,
    );
  return h.digest("base64url").slice(0, 22);
}

function indexOf(node: CapabilityNodeLike): { index: Set<string>; count: number } {
  const index = new Set<string>();
  let count = 0;
  for (const e of node.extensions ?? []) {
    if (e.disabled || !e.category) continue;
    count++;
    const types = e.type_urls ?? [];
    for (const t of types) index.add(typeKey(e.category, typeNameOfUrl(t)));
    if (types.length === 0 && e.name) index.add(nameKey(e.category, e.name));
  }
  return { index, count };
}

/**
 * Reads a proxy's capabilities from its Node.
 *
 * @example
 * const caps = capabilitiesFromNode(request.node);
 * caps.extensionCount; // 516 for stock Envoy 1.40
 */
export function capabilitiesFromNode(node: CapabilityNodeLike | null | undefined): ProxyCapabilities {
  return node ? capabilitiesWith(node, fingerprintOf(node)) : NO_CAPABILITIES;
}

function capabilitiesWith(node: CapabilityNodeLike, fingerprint: string): ProxyCapabilities {
  const { index, count } = fingerprint ? indexOf(node) : { index: new Set<string>(), count: 0 };
  return {
    userAgent: node.user_agent_name || undefined,
    buildVersion: buildVersionOf(node),
    extensionCount: count,
    fingerprint,
    index,
  };
}

/**
 * Shares one capabilities object between proxies of the same build: an Envoy's extension index
 * is a few hundred entries, and a control plane holds thousands of proxies of a handful of builds.
 * Bounded, so a client sending random lists cannot grow it without limit.
 */
export class CapabilityRegistry {
  private readonly byKey = new Map<string, ProxyCapabilities>();

  constructor(private readonly maxEntries = 256) {}

  /**
   * @example
   * const registry = new CapabilityRegistry();
   * registry.capabilitiesOf(nodeA) === registry.capabilitiesOf(nodeB); // same build: true
   */
  capabilitiesOf(node: CapabilityNodeLike | null | undefined): ProxyCapabilities {
    if (!node) return NO_CAPABILITIES;
    const fingerprint = fingerprintOf(node);
    const key = `${fingerprint}\0${node.user_agent_name ?? ""}\0${buildVersionOf(node) ?? ""}`;
    const hit = this.byKey.get(key);
    if (hit) return hit;
    const caps = capabilitiesWith(node, fingerprint);
    if (this.byKey.size < this.maxEntries) this.byKey.set(key, caps);
    return caps;
  }

  get size(): number {
    return this.byKey.size;
  }
}
