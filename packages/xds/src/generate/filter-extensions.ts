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
import { decodeMessage } from "../protocol/protos.js";
import { nameKey, type ProxyCapabilities, typeKey, typeNameOfUrl } from "./capabilities.js";

export interface EncodedFilter {
  readonly name: string;
  readonly typed_config: { readonly type_url: string; readonly value: Uint8Array };
}

export interface EnvoyFilterExtensions {
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
}

/** The filters one proxy gets. */
export interface EnvoyFilterSelection {
  readonly filters: EnvoyFilterExtensions;
  /**
   * Which configured filters were kept, one digit per filter ("" when none are configured):
   * part of every cache key of resources that carry them, so proxies that get different filters
   * never share a cached listener or cluster, and proxies that get the same ones always do.
   */
  readonly key: string;
  readonly skipped: readonly SkippedFilter[];
}

export const NO_FILTER_SELECTION: EnvoyFilterSelection = Object.freeze({
  filters: NO_FILTER_EXTENSIONS,
  key: "",
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

/**
 * The configured filters this proxy has, and the ones it lacks. A proxy that reports no
 * extensions gets none of them: sending a filter it may lack would make it reject the whole
 * listener or cluster, while leaving one out only loses that feature there (and says so).
 *
 * @example
 * const { filters, skipped } = selectEnvoyFilters(tstatsFilters, capabilitiesFromNode(stockEnvoyNode));
 * skipped.map((s) => s.name); // ["istio.metadata_exchange", "istio.stats"]
 */
export function selectEnvoyFilters(
  extensions: EnvoyFilterExtensions,
  caps: ProxyCapabilities,
): EnvoyFilterSelection {
  const bits: string[] = [];
  const skipped = new Map<
    string,
    { name: string; type: string; category: string; at: string[]; reason: string }
  >();
  const keep = (list: readonly EncodedFilter[] | undefined, category: string, at: string) => {
    let digits = "";
    const out: EncodedFilter[] = [];
    for (const filter of list ?? []) {
      if (caps.extensionCount > 0 && proxyHasFilter(caps, category, filter)) {
        out.push(filter);
        digits += "1";
        continue;
      }
      digits += "0";
      const type = filterConfigType(filter);
      const id = `${category}\0${filter.name}\0${type}`;
      const seen = skipped.get(id);
      if (seen) seen.at.push(at);
      else
        skipped.set(id, {
          name: filter.name,
          type,
          category,
          at: [at],
          reason: skipReason(caps, category, filter, type),
        });
    }
    bits.push(digits);
    return out;
  };
  const filters: EnvoyFilterExtensions = {
    http: {
      inbound: keep(extensions.http?.inbound, HTTP_FILTER_CATEGORY, "http/inbound"),
      outbound: keep(extensions.http?.outbound, HTTP_FILTER_CATEGORY, "http/outbound"),
    },
    network: {
      inbound: keep(extensions.network?.inbound, NETWORK_FILTER_CATEGORY, "network/inbound"),
      outbound: keep(extensions.network?.outbound, NETWORK_FILTER_CATEGORY, "network/outbound"),
    },
    cluster: {
      outbound: keep(extensions.cluster?.outbound, UPSTREAM_NETWORK_FILTER_CATEGORY, "cluster/outbound"),
    },
  };
  if (bits.every((b) => b === "")) return NO_FILTER_SELECTION;
  return { filters, key: bits.join("."), skipped: [...skipped.values()] };
}
