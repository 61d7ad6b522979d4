/**
 * Filters another meshctl feature adds to the Envoy sidecar resources this control plane generates
 * (today: tstats, Istio's native stats and metadata-exchange filters). Each `typed_config` is an
 * already-encoded `google.protobuf.Any`, so this package needs neither the feature's protos nor a
 * dependency on its package; the CLI composes them (`meshctl xds serve` reads `meshctl enable tstats`).
 *
 * Not every Envoy has every filter: Istio's `istio.stats` exists only in Istio's proxy build, and a
 * stock Envoy NACKs every listener or cluster that names it. So a filter goes to a proxy only when
 * the proxy reported it (selectEnvoyFilters, from the proxy's Node, see capabilities.ts).
 */
import { createHash } from "node:crypto";
import { MeshctlError } from "@meshctl/core";
import { decodeMessage } from "../protocol/protos.js";
import { nameKey, type ProxyCapabilities, typeKey, typeNameOfUrl } from "./capabilities.js";
import type { ProxyInfo, ProxyNodeInfo } from "./proxy.js";

export interface EncodedFilter {
  readonly name: string;
  readonly typed_config: { readonly type_url: string; readonly value: Uint8Array };
}

/** Filters per place in the sidecar resources. */
export interface EnvoyFilterSet {
  /** HTTP filters inserted before the router, per listener direction. */
  readonly http?: {
    readonly inbound?: readonly EncodedFilter[];
    readonly outbound?: readonly EncodedFilter[];
  };
  /** Network filters inserted before tcp_proxy in TCP filter chains (not the passthrough chains). */
  readonly network?: {
    readonly inbound?: readonly EncodedFilter[];
    readonly outbound?: readonly EncodedFilter[];
  };
  /** Upstream network filters (`Cluster.filters`) of outbound service clusters. */
  readonly cluster?: { readonly outbound?: readonly EncodedFilter[] };
}

/**
 * Filters built for one proxy from its Node, e.g. a telemetry filter whose config carries the
 * proxy's own identity. Called once per proxy connection; it must be a pure function of the node
 * (same node, same bytes). A throw leaves the filters out for that proxy, with the message as the
 * reason.
 */
export type PerProxyFilters = (node: ProxyNodeInfo) => EnvoyFilterSet;

/** One way of providing a feature: a set of filters that only works whole. */
export interface EnvoyFilterAlternative {
  /** Names it in cache keys, `/debug/clients` and `meshctl diagnose` (`istio`, `tstats-native`). */
  readonly name: string;
  /** Filters every proxy that takes this alternative gets alike. */
  readonly filters?: EnvoyFilterSet;
  /** Filters built per proxy, added to `filters`. */
  readonly perProxy?: PerProxyFilters;
}

export interface EnvoyFilterExtensions extends EnvoyFilterSet {
  /**
   * Per-proxy filters selected like the fixed ones above (each goes where the proxy has it),
   * inserted after them.
   */
  readonly perProxy?: PerProxyFilters;
  /**
   * Ordered alternatives: a proxy gets the first whose every filter it has (never two), inserted
   * after the filters above. A proxy that has none of them gets none, and each alternative's
   * filters are reported as skipped.
   */
  readonly alternatives?: readonly EnvoyFilterAlternative[];
}

export const NO_FILTER_EXTENSIONS: EnvoyFilterExtensions = Object.freeze({});

/** The Envoy extension categories a filter must be registered in, by where it goes. */
export const HTTP_FILTER_CATEGORY = "envoy.filters.http";
export const NETWORK_FILTER_CATEGORY = "envoy.filters.network";
export const UPSTREAM_NETWORK_FILTER_CATEGORY = "envoy.filters.upstream_network";

/** A configured filter one proxy does not get, and why (`/debug/clients`, `meshctl diagnose`). */
export interface SkippedFilter {
  readonly name: string;
  /** The message type Envoy looks the filter up by (its typed_config's, without the URL prefix). */
  readonly type: string;
  /** The extension category it would need (`envoy.filters.http`, ...). */
  readonly category: string;
  /** Where it would have gone: `http/inbound`, `http/outbound`, `network/...`, `cluster/outbound`. */
  readonly at: readonly string[];
  readonly reason: string;
  /** The alternative it belongs to (none of whose sets the proxy has), when it came from one. */
  readonly alternative?: string;
}

/** The filters one proxy gets. */
export interface EnvoyFilterSelection {
  readonly filters: EnvoyFilterSet;
  /**
   * What the proxy gets, as a cache-key part ("" when nothing is configured): which fixed filters
   * were kept (one digit per filter), which alternative was taken (`alt=<name>`, or `alt=none`),
   * and a digest of the per-proxy filters' bytes (`~<digest>`). Part of every cache key of
   * resources that carry filters, so proxies that get different filters never share a cached
   * listener or cluster, and proxies that get the same ones (same fixed set, same per-proxy bytes)
   * always do.
   */
  readonly key: string;
  /** The same for the cluster filters alone: what cached clusters depend on. */
  readonly clusterKey: string;
  /** The alternative taken, if any. */
  readonly alternative?: string;
  readonly skipped: readonly SkippedFilter[];
}

export const NO_FILTER_SELECTION: EnvoyFilterSelection = Object.freeze({
  filters: NO_FILTER_EXTENSIONS,
  key: "",
  clusterKey: "",
  skipped: [],
});

const TYPED_STRUCTS = new Set(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"]);

/**
 * The type Envoy resolves a filter's factory by (since `no_extension_lookup_by_name`, Envoy
 * looks filters up by their typed_config's type, not their name): the Any's message name, or
 * for a TypedStruct the type it wraps.
 *
 * @example
 * filterConfigType({ name: "istio.stats", typed_config: { type_url: "type.googleapis.com/stats.PluginConfig", value } }); // "stats.PluginConfig"
 */
export function filterConfigType(filter: EncodedFilter): string {
  const outer = typeNameOfUrl(filter.typed_config.type_url);
  if (!TYPED_STRUCTS.has(outer)) return outer;
  const inner = decodeMessage(outer, filter.typed_config.value).type_url;
  return typeof inner === "string" && inner !== "" ? typeNameOfUrl(inner) : outer;
}

/**
 * Whether a proxy reported an enabled extension of `category` that accepts the filter's type
 * (or, for extensions that list no type, is named like the filter).
 *
 * @example
 * proxyHasFilter(capabilitiesFromNode(node), HTTP_FILTER_CATEGORY, corsFilter); // true for stock Envoy
 */
export function proxyHasFilter(caps: ProxyCapabilities, category: string, filter: EncodedFilter): boolean {
  return (
    caps.index.has(typeKey(category, filterConfigType(filter))) ||
    caps.index.has(nameKey(category, filter.name))
  );
}

function skipReason(caps: ProxyCapabilities, category: string, filter: EncodedFilter, type: string): string {
  if (caps.extensionCount === 0)
    return "the proxy reported no extensions in its xDS Node (an old Envoy, or not Envoy), so it is not known to have this filter";
  const who = [caps.userAgent ?? "the proxy", caps.buildVersion].filter(Boolean).join(" ");
  return `${who} reports no ${category} extension for type ${type} (nor one named ${filter.name}) among its ${caps.extensionCount} extensions`;
}

type Place = "http/inbound" | "http/outbound" | "network/inbound" | "network/outbound" | "cluster/outbound";

const PLACES: readonly { readonly at: Place; readonly category: string }[] = [
  { at: "http/inbound", category: HTTP_FILTER_CATEGORY },
  { at: "http/outbound", category: HTTP_FILTER_CATEGORY },
  { at: "network/inbound", category: NETWORK_FILTER_CATEGORY },
  { at: "network/outbound", category: NETWORK_FILTER_CATEGORY },
  { at: "cluster/outbound", category: UPSTREAM_NETWORK_FILTER_CATEGORY },
];

function listAt(set: EnvoyFilterSet | undefined, at: Place): readonly EncodedFilter[] {
  switch (at) {
    case "http/inbound":
      return set?.http?.inbound ?? [];
    case "http/outbound":
      return set?.http?.outbound ?? [];
    case "network/inbound":
      return set?.network?.inbound ?? [];
    case "network/outbound":
      return set?.network?.outbound ?? [];
    case "cluster/outbound":
      return set?.cluster?.outbound ?? [];
  }
}

function setOf(lists: ReadonlyMap<Place, readonly EncodedFilter[]>): EnvoyFilterSet {
  const l = (at: Place) => [...(lists.get(at) ?? [])];
  return {
    http: { inbound: l("http/inbound"), outbound: l("http/outbound") },
    network: { inbound: l("network/inbound"), outbound: l("network/outbound") },
    cluster: { outbound: l("cluster/outbound") },
  };
}

/** Short digest of filters' names and bytes, per place (`cluster/outbound` alone for clusters). */
function digestOf(lists: ReadonlyMap<Place, readonly EncodedFilter[]>, only?: Place): string {
  const h = createHash("sha256");
  let any = false;
  for (const { at } of PLACES) {
    if (only && at !== only) continue;
    for (const f of lists.get(at) ?? []) {
      any = true;
      h.update(`${at}\0${f.name}\0${f.typed_config.type_url}\0${f.typed_config.value.length}\0`);
      h.update(f.typed_config.value);
    }
  }
  return any ? h.digest("base64url").slice(0, 12) : "";
}

type MutableSkip = Omit<SkippedFilter, "at"> & { at: string[] };

interface SkipCollector {
  readonly skipped: Map<string, MutableSkip>;
}

function recordSkip(
  into: SkipCollector,
  caps: ProxyCapabilities,
  category: string,
  filter: EncodedFilter,
  at: string,
  alternative?: string,
): void {
  const type = filterConfigType(filter);
  const id = `${alternative ?? ""}\0${category}\0${filter.name}\0${type}`;
  const seen = into.skipped.get(id);
  if (seen) {
    if (!seen.at.includes(at)) seen.at.push(at);
    return;
  }
  into.skipped.set(id, {
    name: filter.name,
    type,
    category,
    at: [at],
    reason: skipReason(caps, category, filter, type),
    ...(alternative !== undefined ? { alternative } : {}),
  });
}

/** A per-proxy function's filters, or the error that kept it from building them. */
function runPerProxy(fn: PerProxyFilters, node: ProxyNodeInfo): { set?: EnvoyFilterSet; error?: string } {
  try {
    return { set: fn(node) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

const EMPTY_NODE: ProxyNodeInfo = Object.freeze({ id: "", cluster: "", metadata: Object.freeze({}) });

/** Whether these extensions build anything per proxy (then selections are per proxy, not per build). */
export function hasPerProxyFilters(extensions: EnvoyFilterExtensions): boolean {
  return extensions.perProxy !== undefined || (extensions.alternatives ?? []).some((a) => a.perProxy);
}

/**
 * The configured filters this proxy has, and the ones it lacks. A proxy that reports no
 * extensions gets none of them: sending a filter it may lack would make it reject the whole
 * listener or cluster, while leaving one out only loses that feature there (and says so).
 * Fixed filters are kept one by one; of the alternatives, the first the proxy has whole is taken.
 * Per-proxy filters are built from `node` (its id and metadata).
 *
 * @example
 * const { filters, skipped } = selectEnvoyFilters(tstatsFilters, capabilitiesFromNode(stockEnvoyNode));
 * skipped.map((s) => s.name); // ["istio.metadata_exchange", "istio.stats"]
 */
export function selectEnvoyFilters(
  extensions: EnvoyFilterExtensions,
  caps: ProxyCapabilities,
  node: ProxyNodeInfo = EMPTY_NODE,
): EnvoyFilterSelection {
  const collector: SkipCollector = { skipped: new Map() };
  const has = (category: string, filter: EncodedFilter) =>
    caps.extensionCount > 0 && proxyHasFilter(caps, category, filter);
  // Fixed filters, then the top-level per-proxy ones: each kept where the proxy has it.
  const fixed = new Map<Place, EncodedFilter[]>();
  const perProxyKept = new Map<Place, EncodedFilter[]>();
  const bits: string[] = [];
  const fixedConfigured = PLACES.some(({ at }) => listAt(extensions, at).length > 0);
  const own = extensions.perProxy ? runPerProxy(extensions.perProxy, node) : undefined;
  for (const { at, category } of PLACES) {
    let digits = "";
    const kept: EncodedFilter[] = [];
    for (const filter of listAt(extensions, at)) {
      if (has(category, filter)) {
        kept.push(filter);
        digits += "1";
      } else {
        digits += "0";
        recordSkip(collector, caps, category, filter, at);
      }
    }
    fixed.set(at, kept);
    bits.push(digits);
    const mine: EncodedFilter[] = [];
    for (const filter of listAt(own?.set, at)) {
      if (has(category, filter)) mine.push(filter);
      else recordSkip(collector, caps, category, filter, at);
    }
    perProxyKept.set(at, mine);
  }
  if (own?.error !== undefined)
    collector.skipped.set("\0per-proxy", {
      name: "(per-proxy filters)",
      type: "",
      category: "",
      at: [],
      reason: `building this proxy's filters failed: ${own.error}`,
    });

  // Alternatives: the first whose every filter the proxy has.
  let chosen:
    | { name: string; lists: Map<Place, EncodedFilter[]>; perProxy: Map<Place, EncodedFilter[]> }
    | undefined;
  const alternatives = extensions.alternatives ?? [];
  const missed: { alt: EnvoyFilterAlternative; lists: Map<Place, EncodedFilter[]>; error?: string }[] = [];
  for (const alt of alternatives) {
    const built = alt.perProxy ? runPerProxy(alt.perProxy, node) : undefined;
    const lists = new Map<Place, EncodedFilter[]>();
    const perProxy = new Map<Place, EncodedFilter[]>();
    let whole = built?.error === undefined;
    let count = 0;
    for (const { at, category } of PLACES) {
      const shared = listAt(alt.filters, at);
      const mine = listAt(built?.set, at);
      lists.set(at, [...shared, ...mine]);
      perProxy.set(at, [...mine]);
      count += shared.length + mine.length;
      if (whole) whole = [...shared, ...mine].every((f) => has(category, f));
    }
    // An alternative with no filters at all (a per-proxy one that built none) is not taken.
    if (whole && count > 0) {
      chosen = { name: alt.name, lists, perProxy };
      break;
    }
    missed.push({ alt, lists, ...(built?.error !== undefined ? { error: built.error } : {}) });
  }
  if (!chosen)
    for (const { alt, lists, error } of missed) {
      if (error !== undefined)
        collector.skipped.set(`${alt.name}\0per-proxy`, {
          name: alt.name,
          type: "",
          category: "",
          at: [],
          reason: `building this proxy's ${alt.name} filters failed: ${error}`,
          alternative: alt.name,
        });
      for (const { at, category } of PLACES)
        for (const filter of lists.get(at) ?? [])
          if (!has(category, filter)) recordSkip(collector, caps, category, filter, at, alt.name);
    }

  const lists = new Map<Place, EncodedFilter[]>();
  const perProxyAll = new Map<Place, EncodedFilter[]>();
  for (const { at } of PLACES) {
    lists.set(at, [
      ...(fixed.get(at) ?? []),
      ...(perProxyKept.get(at) ?? []),
      ...(chosen?.lists.get(at) ?? []),
    ]);
    perProxyAll.set(at, [...(perProxyKept.get(at) ?? []), ...(chosen?.perProxy.get(at) ?? [])]);
  }
  const altPart = alternatives.length > 0 ? `alt=${chosen?.name ?? "none"}` : "";
  const digest = digestOf(perProxyAll);
  const key = [fixedConfigured ? bits.join(".") : "", altPart, digest ? `~${digest}` : ""]
    .filter(Boolean)
    .join("|");
  if (key === "" && collector.skipped.size === 0) return NO_FILTER_SELECTION;
  const clusterDigest = digestOf(perProxyAll, "cluster/outbound");
  const chosenHasClusters = (chosen?.lists.get("cluster/outbound") ?? []).length > 0;
  const clusterKey = [
    fixedConfigured ? (bits[4] ?? "") : "",
    chosenHasClusters ? `alt=${chosen?.name}` : "",
    clusterDigest ? `~${clusterDigest}` : "",
  ]
    .filter(Boolean)
    .join("|");
  return {
    filters: setOf(lists),
    key,
    clusterKey,
    ...(chosen ? { alternative: chosen.name } : {}),
    skipped: [...collector.skipped.values()],
  };
}

/**
 * Remembers each proxy's selection for as long as the filters are configured (the ADS server
 * keeps one for its lifetime, across push contexts): fixed and alternative filters are decided
 * once per capability set (proxies of one build share it), per-proxy ones once per proxy.
 */
export class EnvoyFilterSelector {
  private readonly byCapabilities = new WeakMap<ProxyCapabilities, EnvoyFilterSelection>();
  private readonly byProxy = new WeakMap<ProxyInfo, EnvoyFilterSelection>();
  private readonly perProxy: boolean;

  constructor(readonly extensions: EnvoyFilterExtensions) {
    this.perProxy = hasPerProxyFilters(extensions);
  }

  /**
   * The filters this proxy gets. Proxyless gRPC gets none.
   *
   * @example
   * const selector = new EnvoyFilterSelector(extensions);
   * selector.selectionFor(proxyFromNode(node)).filters.http?.inbound;
   */
  selectionFor(proxy: ProxyInfo): EnvoyFilterSelection {
    if (proxy.type !== "sidecar" || this.extensions === NO_FILTER_EXTENSIONS) return NO_FILTER_SELECTION;
    const cache = this.perProxy ? this.byProxy : this.byCapabilities;
    const slot = this.perProxy ? proxy : proxy.capabilities;
    let selection = (cache as WeakMap<object, EnvoyFilterSelection>).get(slot);
    if (!selection) {
      selection = selectEnvoyFilters(this.extensions, proxy.capabilities, proxy.node);
      (cache as WeakMap<object, EnvoyFilterSelection>).set(slot, selection);
    }
    return selection;
  }
}

/** Throws when a selector was made for other extensions than a push context's (a bug). */
export function assertSelectorFor(selector: EnvoyFilterSelector, extensions: EnvoyFilterExtensions): void {
  if (selector.extensions !== extensions)
    throw new MeshctlError(
      "XDS_FILTER_SELECTOR_MISMATCH",
      "A push context was given a filter selector made for other extension filters.",
      { kind: "bug" },
    );
}
