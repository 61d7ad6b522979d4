/**
 * One simulated proxy on a real gRPC ADS stream (`@grpc/grpc-js`, the service definition of
 * `loadXdsProtos()`): it subscribes like Envoy or grpc-js-xds (see proxy-subscriptions.ts),
 * ACKs every response at once, and counts bytes and responses.
 */
import * as grpc from "@grpc/grpc-js";
import { loadXdsProtos, TYPE_URLS } from "../protocol/protos.js";
import { type ProxyIdentity, proxyNode } from "./proxy-plan.js";
import {
  ProxySubscriptions,
  type ReceivedResource,
  type SubscriptionRequest,
  XDS_KINDS,
  type XdsKind,
} from "./proxy-subscriptions.js";
import type { ResourceDecoder } from "./resource-names.js";

const KIND_BY_TYPE_URL = new Map<string, XdsKind>(XDS_KINDS.map((k) => [TYPE_URLS[k], k]));
const MAX_ERRORS_KEPT = 5;

export type AdsClient = grpc.Client & Record<string, () => grpc.ClientDuplexStream<unknown, unknown>>;

/**
 * A gRPC channel for `proxiesPerChannel` proxies. Each client gets its own subchannel pool, so
 * one channel is one HTTP/2 connection, like a real proxy's.
 *
 * `extra` adds channel options (e.g. a shorter `grpc.max_reconnect_backoff_ms` for restarts).
 *
 * @example
 * const channel = createAdsChannel("127.0.0.1:15010");
 */
export function createAdsChannel(address: string, extra: grpc.ChannelOptions = {}): AdsClient {
  const Ctor = grpc.makeClientConstructor(loadXdsProtos().adsService, "AggregatedDiscoveryService");
  return new Ctor(address, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": -1,
    "grpc.keepalive_time_ms": 300_000,
    ...extra,
  }) as AdsClient;
}

export interface TrafficCounters {
  readonly bytes: Record<XdsKind, number>;
  responses: number;
}

export function emptyTraffic(): TrafficCounters {
  return { bytes: { cds: 0, eds: 0, lds: 0, rds: 0 }, responses: 0 };
}

export interface SimulatedProxyHooks {
  readonly decoder: ResourceDecoder;
  /** Milliseconds on the run's monotonic clock. */
  readonly now: () => number;
  /** Index of the phase that traffic is counted in (0 initial, 1 churn). */
  readonly phase: () => number;
  readonly onResources: (
    proxy: SimulatedProxy,
    kind: XdsKind,
    received: readonly ReceivedResource[],
    at: number,
  ) => void;
  readonly onConverged: (proxy: SimulatedProxy) => void;
  /** Resources a response took away from the proxy (Delta removals, names gone from a SotW CDS/LDS state). */
  readonly onRemoved?: (proxy: SimulatedProxy, kind: XdsKind, names: readonly string[], at: number) => void;
  /** The version of each response: SotW `version_info`, Delta `system_version_info`. */
  readonly onVersion?: (proxy: SimulatedProxy, kind: XdsKind, version: string) => void;
  /** Reconnect backoff after a rejected or failed stream, ms (jittered ±50 %, doubled per attempt). */
  readonly backoffMs?: number;
  /** Cap of that backoff, ms; default 10,000. */
  readonly maxBackoffMs?: number;
  readonly maxReconnects?: number;
}

interface DiscoveryResponseMsg {
  version_info?: string;
  system_version_info?: string;
  nonce?: string;
  type_url?: string;
  resources?: ({ type_url: string; value: Buffer } | { name: string; resource: { value: Buffer } | null })[];
  removed_resources?: string[];
}

/**
 * @example
 * const proxy = new SimulatedProxy(identity, createAdsChannel(address), hooks);
 * proxy.connect();
 */
export class SimulatedProxy {
  readonly subscriptions: ProxySubscriptions;
  readonly traffic: [TrafficCounters, TrafficCounters] = [emptyTraffic(), emptyTraffic()];
  /** Time of first full convergence (ms on the run's clock). */
  convergedAt: number | undefined;
  /** Time the first stream was opened. */
  connectedAt: number | undefined;
  /** When the current stream converged (unset until it has, and again on every new stream). */
  streamConvergedAt: number | undefined;
  /** Streams opened. */
  streams = 0;
  /** When the last response arrived (ms on the run's clock). */
  lastResponseAt: number | undefined;
  rejected = 0;
  reconnects = 0;
  errorCount = 0;
  readonly errors: string[] = [];
  private call: grpc.ClientDuplexStream<unknown, DiscoveryResponseMsg> | undefined;
  private sentNode = false;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly identity: ProxyIdentity,
    private readonly channel: AdsClient,
    private readonly hooks: SimulatedProxyHooks,
  ) {
    this.subscriptions = new ProxySubscriptions(identity.shape, identity.targets, hooks.decoder);
  }

  get connected(): boolean {
    return this.call !== undefined;
  }

  connect(): void {
    if (this.closed) return;
    this.connectedAt ??= this.hooks.now();
    this.streamConvergedAt = undefined;
    this.streams++;
    const method =
      this.subscriptions.protocol === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
    const call = (this.channel[method] as () => grpc.ClientDuplexStream<unknown, DiscoveryResponseMsg>)();
    this.call = call;
    this.sentNode = false;
    call.on("data", (msg: DiscoveryResponseMsg) => this.onResponse(msg));
    call.on("error", (e: grpc.ServiceError) => this.onStreamEnd(call, e));
    call.on("status", (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) this.onStreamEnd(call, undefined);
    });
    for (const r of this.subscriptions.start()) this.send(r);
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.call = undefined;
  }

  private recordError(message: string): void {
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push(message);
  }

  private onStreamEnd(
    call: grpc.ClientDuplexStream<unknown, unknown>,
    error: grpc.ServiceError | undefined,
  ): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.closed) return;
    if (error?.code === grpc.status.RESOURCE_EXHAUSTED) this.rejected++;
    else
      this.recordError(error ? `stream ended: ${error.code} ${error.details}` : "stream ended by the server");
    if (this.attempt >= (this.hooks.maxReconnects ?? 10)) {
      this.recordError(`gave up after ${this.attempt} reconnects`);
      return;
    }
    const base = (this.hooks.backoffMs ?? 250) * 2 ** Math.min(this.attempt, 5);
    this.attempt++;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.reconnects++;
        this.connect();
      },
      Math.min(this.hooks.maxBackoffMs ?? 10_000, base * (0.5 + Math.random())),
    );
  }

  private send(r: SubscriptionRequest): void {
    const call = this.call;
    if (!call) return;
    const node = this.sentNode ? {} : { node: proxyNode(this.identity) };
    this.sentNode = true;
    if (r.protocol === "sotw")
      call.write({
        ...node,
        version_info: r.versionInfo,
        resource_names: r.names,
        type_url: TYPE_URLS[r.kind],
        response_nonce: r.nonce,
      });
    else
      call.write({
        ...node,
        type_url: TYPE_URLS[r.kind],
        resource_names_subscribe: r.subscribe,
        resource_names_unsubscribe: r.unsubscribe,
        response_nonce: r.nonce,
      });
  }

  private onResponse(msg: DiscoveryResponseMsg): void {
    const at = this.hooks.now();
    this.lastResponseAt = at;
    const kind = KIND_BY_TYPE_URL.get(msg.type_url ?? "");
    if (!kind) {
      this.recordError(`unexpected type ${msg.type_url}`);
      return;
    }
    this.attempt = 0;
    const counters = this.traffic[this.hooks.phase()] as TrafficCounters;
    counters.responses++;
    let outcome: ReturnType<ProxySubscriptions["onSotwResponse"]>;
    if (this.subscriptions.protocol === "sotw") {
      const resources = (msg.resources ?? []) as { value: Buffer }[];
      for (const r of resources) counters.bytes[kind] += r.value.length;
      outcome = this.subscriptions.onSotwResponse(
        kind,
        msg.version_info ?? "",
        msg.nonce ?? "",
        resources.map((r) => r.value),
      );
    } else {
      const resources = (msg.resources ?? []) as { name: string; resource: { value: Buffer } | null }[];
      const items: { name: string; bytes: Uint8Array }[] = [];
      for (const r of resources) {
        const bytes = r.resource?.value ?? Buffer.alloc(0);
        counters.bytes[kind] += bytes.length;
        items.push({ name: r.name, bytes });
      }
      outcome = this.subscriptions.onDeltaResponse(kind, msg.nonce ?? "", items, msg.removed_resources ?? []);
    }
    for (const e of outcome.errors) this.recordError(e);
    for (const r of outcome.requests) this.send(r);
    this.hooks.onVersion?.(this, kind, msg.version_info || msg.system_version_info || "");
    if (outcome.received.length > 0) this.hooks.onResources(this, kind, outcome.received, at);
    if (outcome.removed.length > 0) this.hooks.onRemoved?.(this, kind, outcome.removed, at);
    if (this.streamConvergedAt === undefined && this.subscriptions.converged) {
      this.streamConvergedAt = at;
      if (this.convergedAt === undefined) {
        this.convergedAt = at;
        this.hooks.onConverged(this);
      }
    }
  }
}
