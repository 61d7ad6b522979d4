/**
 * Filters another meshctl feature adds to the Envoy sidecar resources this control plane generates
 * (today: tstats, Istio's native stats and metadata-exchange filters). Each `typed_config` is an
 * already-encoded `google.protobuf.Any`, so this package needs neither the feature's protos nor a
 * dependency on its package; the CLI composes them (`meshctl xds serve` reads `meshctl enable tstats`).
 */
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
