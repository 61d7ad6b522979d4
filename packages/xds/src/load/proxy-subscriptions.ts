/**
 * The subscription logic of one simulated proxy, free of any transport: fed with responses, it
 * answers with the requests a real client would send next.
 *  - Envoy: CDS and LDS wildcard; EDS by the service_name of every EDS cluster; RDS by every
 *    `rds.route_config_name` of the listeners' HttpConnectionManagers. SotW or Delta.
 *  - Proxyless gRPC (like grpc-js-xds, SotW only): LDS by name for its targets, RDS from the
 *    api_listeners, CDS from the routes' clusters, EDS from the clusters.
 * It never NACKs: a resource it cannot decode is skipped and reported as an error.
 */
import type { ResourceDecoder } from "./resource-names.js";
import { readResourceName } from "./resource-names.js";

export type ProxyShape = "envoy-sotw" | "envoy-delta" | "grpc";
export type XdsKind = "cds" | "eds" | "lds" | "rds";
export const XDS_KINDS: readonly XdsKind[] = ["cds", "eds", "lds", "rds"];

/** A request to send, protocol-specific but not yet wire-encoded (no type_url, no node). */
export type SubscriptionRequest =
  | {
      readonly protocol: "sotw";
      readonly kind: XdsKind;
      readonly names: readonly string[];
      readonly versionInfo: string;
      readonly nonce: string;
    }
  | {
      readonly protocol: "delta";
      readonly kind: XdsKind;
      readonly subscribe: readonly string[];
      readonly unsubscribe: readonly string[];
      readonly nonce: string;
    };

export interface ReceivedResource {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface ResponseOutcome {
  /** The ACK first, then any subscription changes. */
  readonly requests: readonly SubscriptionRequest[];
  readonly received: readonly ReceivedResource[];
  /** Names this response took away (Delta `removed_resources`, or absent from a SotW CDS/LDS state). */
  readonly removed: readonly string[];
  readonly errors: readonly string[];
}

function setsEqual(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/**
 * @example
 * const subs = new ProxySubscriptions("envoy-sotw", [], new ResourceDecoder());
 * const first = subs.start(); // CDS and LDS wildcard requests
 * const { requests } = subs.onSotwResponse("cds", "v1", "n1", [clusterBytes]); // ACK + EDS request
 */
export class ProxySubscriptions {
  readonly protocol: "sotw" | "delta";
  private readonly clusters = new Map<string, string | undefined>();
  private readonly listeners = new Map<string, readonly string[]>();
  private readonly routes = new Map<string, readonly string[]>();
  private readonly receivedTypes = new Set<XdsKind>();
  /** What the proxy holds now, per kind: name -> the resource's bytes (references, not copies). */
  private readonly receivedNames: Record<XdsKind, Map<string, Uint8Array>> = {
    cds: new Map(),
    eds: new Map(),
    lds: new Map(),
    rds: new Map(),
  };
  /** What the server was last told, per named (non-wildcard) kind. */
  private readonly subscribed: Record<XdsKind, Set<string>> = {
    cds: new Set(),
    eds: new Set(),
    lds: new Set(),
    rds: new Set(),
  };
  private readonly requested = new Set<XdsKind>();
  private readonly sotwState: Record<XdsKind, { version: string; nonce: string }> = {
    cds: { version: "", nonce: "" },
    eds: { version: "", nonce: "" },
    lds: { version: "", nonce: "" },
    rds: { version: "", nonce: "" },
  };

  constructor(
    readonly shape: ProxyShape,
    /** Listener names a proxyless gRPC client dials (`host:port`). */
    private readonly targets: readonly string[],
    private readonly decoder: ResourceDecoder,
  ) {
    this.protocol = shape === "envoy-delta" ? "delta" : "sotw";
  }

  private get envoy(): boolean {
    return this.shape !== "grpc";
  }

  private wildcard(kind: XdsKind): boolean {
    return this.envoy && (kind === "cds" || kind === "lds");
  }

  /** The names this proxy wants now, for a named kind. */
  desired(kind: XdsKind): Set<string> {
    const out = new Set<string>();
    if (kind === "lds") for (const t of this.targets) out.add(t);
    else if (kind === "rds") {
      for (const [name, routeNames] of this.listeners)
        if (this.envoy || this.targets.includes(name)) for (const r of routeNames) out.add(r);
    } else if (kind === "cds") {
      for (const [name, clusters] of this.routes)
        if (this.subscribed.rds.has(name)) for (const c of clusters) out.add(c);
    } else {
      for (const eds of this.clusters.values()) if (eds !== undefined) out.add(eds);
    }
    return out;
  }

  /** Current subscription of a named kind (EDS/RDS for Envoy, all four for gRPC). */
  subscription(kind: XdsKind): ReadonlySet<string> {
    return this.subscribed[kind];
  }

  /**
   * The resources this proxy holds now, per kind (name -> bytes): its config as a real client
   * would hold it. Subscriptions it dropped are forgotten.
   */
  held(kind: XdsKind): ReadonlyMap<string, Uint8Array> {
    return this.receivedNames[kind];
  }

  /** Has every type and every subscribed name arrived at least once? */
  get converged(): boolean {
    for (const kind of XDS_KINDS) {
      if (this.wildcard(kind)) {
        if (!this.receivedTypes.has(kind)) return false;
        continue;
      }
      if (!this.requested.has(kind) && kind === "lds") return false;
      for (const name of this.subscribed[kind]) if (!this.receivedNames[kind].has(name)) return false;
    }
    return true;
  }

  /** The first requests of a new stream (also after a reconnect). */
  start(): SubscriptionRequest[] {
    this.reset();
    if (this.envoy) return [this.request("cds", new Set()), this.request("lds", new Set())];
    return [this.request("lds", new Set(this.targets))];
  }

  private reset(): void {
    this.clusters.clear();
    this.listeners.clear();
    this.routes.clear();
    this.receivedTypes.clear();
    this.requested.clear();
    for (const k of XDS_KINDS) {
      this.receivedNames[k].clear();
      this.subscribed[k].clear();
      this.sotwState[k] = { version: "", nonce: "" };
    }
  }

  /** A subscription request setting `kind` to `names` (SotW: the full list; Delta: the diff). */
  private request(kind: XdsKind, names: Set<string>): SubscriptionRequest {
    const before = this.subscribed[kind];
    const first = !this.requested.has(kind);
    this.requested.add(kind);
    this.subscribed[kind] = names;
    if (this.protocol === "sotw") {
      const s = this.sotwState[kind];
      return { protocol: "sotw", kind, names: [...names], versionInfo: s.version, nonce: s.nonce };
    }
    const subscribe = [...names].filter((n) => !before.has(n) || first);
    const unsubscribe = [...before].filter((n) => !names.has(n));
    return { protocol: "delta", kind, subscribe, unsubscribe, nonce: "" };
  }

  private decode(kind: XdsKind, name: string | undefined, bytes: Uint8Array): string | undefined {
    if (kind === "cds") {
      const c = this.decoder.cluster(bytes);
      this.clusters.set(c.name, c.edsName);
      return c.name;
    }
    if (kind === "lds") {
      const l = this.decoder.listener(bytes);
      this.listeners.set(l.name, l.routeNames);
      return l.name;
    }
    if (kind === "rds" && !this.envoy) {
      const r = this.decoder.route(bytes);
      this.routes.set(r.name, r.clusters);
      return r.name;
    }
    // Envoy RDS and every CLA: the name is all the subscriptions need.
    return name ?? readResourceName(bytes);
  }

  private ingest(
    kind: XdsKind,
    resources: readonly { name?: string; bytes: Uint8Array }[],
    errors: string[],
  ): ReceivedResource[] {
    const received: ReceivedResource[] = [];
    for (const r of resources) {
      try {
        const name = this.decode(kind, r.name, r.bytes);
        if (name === undefined) throw new Error("resource without a name");
        this.receivedNames[kind].set(name, r.bytes);
        received.push({ name, bytes: r.bytes });
      } catch (error) {
        errors.push(
          `${kind}: could not decode a resource: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    this.receivedTypes.add(kind);
    return received;
  }

  /** Follow-up subscription changes after `kind` changed what this proxy knows. */
  private followUps(): SubscriptionRequest[] {
    const out: SubscriptionRequest[] = [];
    // Dependency order: LDS -> RDS -> CDS -> EDS (each step reads the previous one's subscription).
    for (const kind of ["rds", "cds", "eds"] as const) {
      if (this.wildcard(kind)) continue;
      const want = this.desired(kind);
      if (setsEqual(want, this.subscribed[kind])) continue;
      if (!this.requested.has(kind) && want.size === 0) continue;
      // Forget what is no longer wanted, so a later re-subscribe counts as new.
      for (const n of this.subscribed[kind]) if (!want.has(n)) this.forget(kind, n);
      out.push(this.request(kind, want));
    }
    return out;
  }

  private forget(kind: XdsKind, name: string): void {
    this.receivedNames[kind].delete(name);
    if (kind === "rds") this.routes.delete(name);
    if (kind === "cds") this.clusters.delete(name);
  }

  /**
   * A SotW response: full state for CDS/LDS (anything missing is gone), partial for EDS/RDS.
   * The ACK echoes the type, the current names, the version and the nonce.
   */
  onSotwResponse(
    kind: XdsKind,
    versionInfo: string,
    nonce: string,
    resources: readonly Uint8Array[],
  ): ResponseOutcome {
    const errors: string[] = [];
    let before: Map<string, Uint8Array> | undefined;
    if (kind === "cds" || kind === "lds") {
      (kind === "cds" ? this.clusters : this.listeners).clear();
      before = this.receivedNames[kind];
      this.receivedNames[kind] = new Map();
    }
    const received = this.ingest(
      kind,
      resources.map((bytes) => ({ bytes })),
      errors,
    );
    const removed: string[] = [];
    if (before) for (const name of before.keys()) if (!this.receivedNames[kind].has(name)) removed.push(name);
    this.sotwState[kind] = { version: versionInfo, nonce };
    const ack: SubscriptionRequest = {
      protocol: "sotw",
      kind,
      names: this.wildcard(kind) ? [] : [...this.subscribed[kind]],
      versionInfo,
      nonce,
    };
    return { requests: [ack, ...this.followUps()], received, removed, errors };
  }

  /** A Delta response: upserts and removals; the ACK is the type and the nonce only. */
  onDeltaResponse(
    kind: XdsKind,
    nonce: string,
    resources: readonly { name: string; bytes: Uint8Array }[],
    removed: readonly string[],
  ): ResponseOutcome {
    const errors: string[] = [];
    const received = this.ingest(kind, resources, errors);
    const gone: string[] = [];
    for (const name of removed) {
      if (this.receivedNames[kind].delete(name)) gone.push(name);
      this.clusters.delete(kind === "cds" ? name : "\0");
      this.listeners.delete(kind === "lds" ? name : "\0");
      this.routes.delete(kind === "rds" ? name : "\0");
    }
    const ack: SubscriptionRequest = { protocol: "delta", kind, subscribe: [], unsubscribe: [], nonce };
    return { requests: [ack, ...this.followUps()], received, removed: gone, errors };
  }
}
