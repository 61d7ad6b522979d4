/**
 * The ADS server: streams, timers, back-pressure and metrics around Pilot's push pipeline.
 *
 *   source change ─▶ Debouncer (quiet/max window, single flight) ─▶ push():
 *       new PushContext, clear the cache entries that depend on the change,
 *       scoping: enqueue only the proxies whose dependencies it touches
 *   ─▶ PushQueue (one merged slot per proxy) ─▶ dispatcher (bounded concurrent pushes, honours
 *       write()/drain) ─▶ full push (CDS, EDS, LDS, RDS) or EDS-only push
 *
 * What to send is decided by the pure functions of protocol-state.ts; what exists comes from
 * the cached generators (generate/proxy-config.ts).
 */
import type * as grpc from "@grpc/grpc-js";
import { createTracer, type Tracer } from "@meshctl/core";
import type { AccessLogOptions } from "../generate/access-log.js";
import { CapabilityRegistry } from "../generate/capabilities.js";
import {
  type EnvoyFilterExtensions,
  EnvoyFilterSelector,
  NO_FILTER_EXTENSIONS,
} from "../generate/filter-extensions.js";
import { type NodeLike, proxyFromNode } from "../generate/proxy.js";
import {
  type EncodedResource,
  generateProxy,
  type ProxyConfig,
  type ResourceTransform,
  refreshEndpoints,
} from "../generate/proxy-config.js";
import { PushContext } from "../generate/push-context.js";
import { ALL_NAMESPACES, XdsCache } from "../generate/xds-cache.js";
import { dependency } from "../model/diff.js";
import type { MeshModel } from "../model/types.js";
import { kindOfTypeUrl, PUSH_ORDER, type ResourceKind, TYPE_URLS } from "../protocol/protos.js";
import { RESOURCE_TYPES } from "../protocol/resource-types.js";
import { deltaResponseBytes, sotwResponseBytes } from "../protocol/wire.js";
import {
  type ClientStatus,
  connectionStatus,
  type StreamProtocol,
  TypeWatch,
  XdsConnection,
} from "./connection.js";
import { type DebounceClock, type DebounceOptions, Debouncer, SYSTEM_CLOCK } from "./debounce.js";
import type { StreamAdmission } from "./listener.js";
import { escapeControl } from "./log-text.js";
import type { XdsMetrics } from "./metrics.js";
import {
  type Available,
  deltaRequest,
  deltaResponse,
  forgetSent,
  type RequestDecision,
  sotwRequest,
  sotwResponse,
} from "./protocol-state.js";
import { PushQueue } from "./push-queue.js";
import { formatReasons, type PushRequest } from "./push-request.js";
import { SlicedQueue } from "./sliced-queue.js";

/** Something worth a log line; `meshctl xds serve` prints one per event. */
export type XdsEvent =
  | {
      readonly type: "connect";
      readonly connection: string;
      readonly nodeId: string;
      readonly proxyType: string;
      readonly protocol: StreamProtocol;
      /** Names of the configured extension filters this proxy does not get (it lacks them). */
      readonly skippedFilters: readonly string[];
    }
  | {
      readonly type: "disconnect";
      readonly connection: string;
      readonly nodeId: string;
      readonly reason: string;
    }
  | {
      readonly type: "push";
      readonly connection: string;
      readonly nodeId: string;
      readonly kind: ResourceKind;
      readonly version: string;
      readonly nonce: string;
      readonly resources: number;
      readonly removed: number;
      readonly bytes: number;
      readonly durationMs: number;
      readonly protocol: StreamProtocol;
    }
  | {
      readonly type: "ack";
      readonly connection: string;
      readonly nodeId: string;
      readonly kind: ResourceKind;
      readonly version: string;
      readonly nonce: string;
    }
  | {
      readonly type: "nack";
      readonly connection: string;
      readonly nodeId: string;
      readonly kind: ResourceKind;
      readonly version: string;
      readonly nonce: string;
      readonly message: string;
    }
  | {
      readonly type: "stale-nonce";
      readonly connection: string;
      readonly nodeId: string;
      readonly kind: ResourceKind;
      readonly nonce: string;
    }
  | {
      readonly type: "unknown-type";
      readonly connection: string;
      readonly nodeId: string;
      readonly typeUrl: string;
    }
  | {
      /** A debounced push started: how many proxies it concerns. */
      readonly type: "push-started";
      readonly version: string;
      readonly full: boolean;
      readonly reasons: string;
      readonly events: number;
      readonly proxies: number;
      readonly skipped: number;
      readonly debounceMs: number;
    }
  | { readonly type: "stream-rejected"; readonly peer: string; readonly reason: string }
  | { readonly type: "error"; readonly message: string };

/** Istio's PILOT_PUSH_THROTTLE default: min(15 + 5 x cores, 100). */
export function defaultPushConcurrency(cores: number): number {
  return Math.min(15 + 5 * Math.max(1, cores), 100);
}

export const DEFAULT_MAX_STREAMS_PER_SECOND = 500;
/** Resource names one stream may subscribe to per type (and list in one request). */
export const DEFAULT_MAX_RESOURCE_NAMES = 10_000;
/** Longest resource name accepted (characters). */
export const DEFAULT_MAX_RESOURCE_NAME_LENGTH = 1024;
/** A stream whose writes have not drained for this long is a slow consumer: its connection is closed. */
export const DEFAULT_WRITE_TIMEOUT_MS = 10_000;
/**
 * Longest stretch of synchronous work before the server yields to I/O (ms): the push
 * dispatcher, the start queue of new streams and the refusal queue each work in slices of about
 * this long.
 */
const SLICE_MS = 20;
/** Tokens the new-stream bucket holds at most: 1, as istiod's limiter (`rate.NewLimiter(rate, 1)`). */
const STREAM_BURST = 1;

export interface AdsServerOptions {
  readonly metrics: XdsMetrics;
  readonly onEvent?: (event: XdsEvent) => void;
  /** Minimum time between a NACK and the next response of that type on that stream. */
  readonly nackBackoffMs?: number;
  /** Test hook: alter generated resources before encoding (e.g. to provoke a NACK). */
  readonly transformResource?: ResourceTransform;
  readonly debounce?: DebounceOptions;
  /** Proxies pushed at once (pushes waiting on a slow stream's drain count). Default: Istio's formula. */
  readonly pushConcurrency?: number;
  /**
   * New streams admitted per second, paced (a bucket of one token, as istiod's); a stream that
   * would wait over 1 s gets RESOURCE_EXHAUSTED.
   */
  readonly maxStreamsPerSecond?: number;
  /** The resource cache (default on). */
  readonly cache?: boolean;
  /** Sidecar scoping, also of who is pushed (default on). */
  readonly scoping?: boolean;
  readonly envoyFilters?: EnvoyFilterExtensions;
  /** An access log on every sidecar HTTP connection manager and tcp_proxy (validated by the caller). */
  readonly accessLog?: AccessLogOptions;
  /** Tests: a fake clock for the debouncer. */
  readonly clock?: DebounceClock;
  /**
   * Per-client admission of a new stream (the listener's per-address limit); refused streams get
   * RESOURCE_EXHAUSTED. Default: every stream is admitted.
   */
  readonly admitStream?: (stream: AdsStream) => StreamAdmission;
  /** Closes a stream's connection (a slow consumer's). Default: the stream is ended with an error. */
  readonly closeConnection?: (stream: AdsStream) => void;
  /** Resource names per type per stream, and per request. Default 10,000. */
  readonly maxResourceNames?: number;
  /** Longest resource name (characters). Default 1024. */
  readonly maxResourceNameLength?: number;
  /** A write not drained after this long closes the stream's connection (ms). Default 10,000. */
  readonly writeTimeoutMs?: number;
}

interface DiscoveryRequestMsg {
  version_info?: string;
  node?: NodeLike | null;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

interface DeltaDiscoveryRequestMsg {
  node?: NodeLike | null;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

export type AdsStream = grpc.ServerDuplexStream<DiscoveryRequestMsg | DeltaDiscoveryRequestMsg, unknown>;
type Conn = XdsConnection<AdsStream>;
type AdsRequestMsg = DiscoveryRequestMsg | DeltaDiscoveryRequestMsg;

/** A new stream's first request(s), waiting in the start queue. */
interface StreamStart {
  readonly conn: Conn;
  /** Handles the buffered requests and lets the stream flow again. */
  readonly run: () => void;
}

/** A new stream refused by admission, its status not yet sent. */
interface StreamRefusal {
  readonly stream: AdsStream;
  readonly reason: string;
}

const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;

/** A request broke a per-stream limit: the stream is closed with `code`. */
class StreamLimitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Client-supplied text, safe for one log line (no control characters, bounded length). */
const clientText = (text: string | undefined, max = 256): string => escapeControl(text ?? "", max);

export class AdsServer {
  private ctx: PushContext;
  readonly cache: XdsCache;
  private readonly connections = new Map<string, Conn>();
  /** Open streams per proxy address: the last one to end takes that address's inbound cache entries along. */
  private readonly streamsByIp = new Map<string, number>();
  private readonly queue = new PushQueue<Conn>();
  private readonly debouncer: Debouncer;
  private readonly concurrency: number;
  private inFlight = 0;
  private dispatching = false;
  private connCounter = 0;
  private versionCounter = 0;
  private streamTokens: number;
  private tokensAt = Date.now();
  private readonly streamRate: number;
  private readonly rateReason: string;
  /** New streams whose first request waits for its config generation. */
  private readonly starting = new SlicedQueue<StreamStart>((start) => start.run(), { sliceMs: SLICE_MS });
  /** Refused new streams whose RESOURCE_EXHAUSTED is yet to be sent. */
  private readonly refusals = new SlicedQueue<StreamRefusal>((r) => this.sendRefusal(r), {
    sliceMs: SLICE_MS,
  });
  private closed = false;
  /** Proxies of one build share one capabilities object (and one filter selection per push). */
  private readonly capabilities = new CapabilityRegistry();
  /** Filter selections outlive push contexts: per-proxy filters are built once per connection. */
  private readonly filterSelector: EnvoyFilterSelector;
  /** `MESHCTL_TRACE=xds` prints every request and response decision. */
  private readonly trace: Tracer = createTracer("xds");

  constructor(
    model: MeshModel,
    private readonly options: AdsServerOptions,
    /** The model to push when a debounce window closes (the source's current one). */
    private readonly currentModel: () => MeshModel = () => this.ctx.model,
  ) {
    this.cache = new XdsCache({ enabled: options.cache ?? true });
    options.metrics.cacheStats = () => this.cache.stats();
    this.filterSelector = new EnvoyFilterSelector(options.envoyFilters ?? NO_FILTER_EXTENSIONS);
    this.ctx = this.newContext(model);
    this.debouncer = new Debouncer(
      (request, debounceMs) => this.push(request, debounceMs),
      options.debounce,
      options.clock ?? SYSTEM_CLOCK,
    );
    this.concurrency = Math.max(1, options.pushConcurrency ?? defaultPushConcurrency(2));
    this.streamRate = Math.max(1, options.maxStreamsPerSecond ?? DEFAULT_MAX_STREAMS_PER_SECOND);
    this.streamTokens = STREAM_BURST;
    this.rateReason = `more than ${this.streamRate} new streams per second`;
  }

  get pushContext(): PushContext {
    return this.ctx;
  }

  /**
   * The ADS service definition with responses serialized by this server: it writes finished
   * protobuf bytes (protocol/wire.ts), which pass through unchanged.
   */
  static serviceDefinition(base: grpc.ServiceDefinition): grpc.ServiceDefinition {
    const out: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(base)) {
      const original = method.responseSerialize;
      out[name] = {
        ...method,
        responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : original(value)),
      };
    }
    return out as grpc.ServiceDefinition;
  }

  /** gRPC handlers for envoy.service.discovery.v3.AggregatedDiscoveryService. */
  handlers(): grpc.UntypedServiceImplementation {
    return {
      StreamAggregatedResources: (stream: AdsStream) => this.admit(stream, "sotw"),
      DeltaAggregatedResources: (stream: AdsStream) => this.admit(stream, "delta"),
    };
  }

  clients(): ClientStatus[] {
    return [...this.connections.values()].map(connectionStatus);
  }

  /** The config last generated for a node id (undefined when no such client is connected). */
  configForNode(nodeId: string): ProxyConfig | undefined {
    for (const conn of this.connections.values())
      if (conn.proxy?.id === nodeId && conn.generated) return conn.generated.config;
    return undefined;
  }

  /** A change from the source: merged in the debounce window, pushed when it closes. */
  configUpdate(request: PushRequest): void {
    if (this.closed) return;
    const merged = this.debouncer.merged;
    this.debouncer.add(request);
    if (this.debouncer.merged > merged) this.options.metrics.debounceMerged.inc();
  }

  /** True when `model` is what proxies are being served and no push is pending or running. */
  settled(model: MeshModel): boolean {
    return (
      this.debouncer.idle &&
      this.starting.length === 0 &&
      this.queue.length === 0 &&
      this.queue.inProgress === 0 &&
      this.inFlight === 0 &&
      this.ctx.model === model
    );
  }

  closeAll(): void {
    this.closed = true;
    this.debouncer.close();
    for (const conn of this.connections.values()) {
      conn.closed = true;
      for (const w of conn.watches.values()) if (w.holdTimer) clearTimeout(w.holdTimer);
      this.queue.remove(conn);
      conn.stream.end();
    }
    this.connections.clear();
    this.streamsByIp.clear();
    for (const { conn } of this.starting.drain()) {
      conn.closed = true;
      conn.stream.end();
    }
    this.options.metrics.connectedClients.set(0);
  }

  private newContext(model: MeshModel): PushContext {
    this.versionCounter++;
    return new PushContext(
      model,
      `${new Date().toISOString()}/${this.versionCounter}`,
      this.filterSelector.extensions,
      {
        cache: this.cache,
        filterSelector: this.filterSelector,
        scoping: this.options.scoping ?? true,
        ...(this.options.accessLog ? { accessLog: this.options.accessLog } : {}),
      },
    );
  }

  private emit(event: XdsEvent): void {
    this.trace(() => JSON.stringify(event));
    try {
      this.options.onEvent?.(event);
    } catch {
      // a logging callback must never break a stream
    }
  }

  // ---------------------------------------------------------------- the push pipeline

  /** A debounce window closed: new context, invalidate, decide who is pushed, enqueue. */
  private push(request: PushRequest, debounceMs: number): void {
    const m = this.options.metrics;
    this.ctx = this.newContext(this.currentModel());
    if (request.forced) this.cache.clear(["*"]);
    else this.cache.clear(request.dependencies);
    m.debounceTime.observe(debounceMs / 1000);
    m.pushTriggers.inc({ type: request.full ? "full" : "eds" });
    let proxies = 0;
    let skipped = 0;
    const seen = new Map<ReadonlySet<string>, boolean>();
    for (const conn of this.connections.values()) {
      if (!conn.proxy || conn.closed) continue;
      if (this.needsPush(conn, request, seen)) {
        this.queue.enqueue(conn, request);
        proxies++;
      } else skipped++;
    }
    m.proxiesPerPush.observe(proxies);
    m.proxiesSkipped.inc({}, skipped);
    m.queueLength.set(this.queue.length);
    this.emit({
      type: "push-started",
      version: this.ctx.version,
      full: request.full,
      reasons: formatReasons(request),
      events: request.events,
      proxies,
      skipped,
      debounceMs,
    });
    this.dispatch();
  }

  /**
   * Scoping decides who is pushed: only proxies whose config depends on what changed. Proxies
   * of one view share its dependency set, so the view is asked once per push (`seen`).
   */
  private needsPush(conn: Conn, request: PushRequest, seen: Map<ReadonlySet<string>, boolean>): boolean {
    if (request.forced || !(this.options.scoping ?? true)) return true;
    const g = conn.generated;
    if (!g) return true;
    let viewHit = seen.get(g.viewDependencies);
    if (viewHit === undefined) {
      viewHit = intersects(g.viewDependencies, request.dependencies);
      seen.set(g.viewDependencies, viewHit);
    }
    return viewHit || g.ownDependencies.some((d) => request.dependencies.has(d));
  }

  /** Pushes queued proxies, at most `concurrency` at a time, yielding to I/O between slices. */
  private dispatch(): void {
    if (this.dispatching || this.closed) return;
    this.dispatching = true;
    const started = performance.now();
    try {
      while (this.inFlight < this.concurrency) {
        const item = this.queue.dequeue();
        if (!item) break;
        this.inFlight++;
        const { conn, request, queuedMs } = item;
        this.options.metrics.queueTime.observe(queuedMs / 1000);
        const done = () => {
          this.inFlight--;
          this.queue.markDone(conn);
          this.options.metrics.queueLength.set(this.queue.length);
          this.dispatch();
        };
        let drained: Promise<void> | undefined;
        try {
          drained = this.pushConnection(conn, request);
        } catch (error) {
          this.emit({
            type: "error",
            message: `push to ${conn.proxy?.id ?? conn.id}: ${error instanceof Error ? error.message : String(error)}`,
          });
        }
        if (drained) drained.then(done, done);
        else done();
        // Generation is synchronous: after a slice of work, let ACKs and new streams in.
        if (performance.now() - started > SLICE_MS && this.queue.length > 0) {
          setImmediate(() => this.dispatch());
          break;
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** One proxy's push: a full regeneration, or only its changed ClusterLoadAssignments. */
  private pushConnection(conn: Conn, request: PushRequest): Promise<void> | undefined {
    if (!conn.proxy || conn.closed || !conn.generated) return undefined;
    const t0 = performance.now();
    const ownAddress =
      conn.proxy.ip !== undefined && request.dependencies.has(dependency.address(conn.proxy.ip));
    const full = request.full || (ownAddress && conn.proxy.type === "sidecar");
    if (full) {
      conn.generated = generateProxy(this.ctx, conn.proxy, this.options.transformResource);
      conn.configVersion = this.ctx.version;
      for (const kind of PUSH_ORDER) this.respond(conn, kind, { startedAt: request.startedAt });
    } else {
      const hosts: string[] = [];
      for (const key of request.configsUpdated.values()) if (key.kind === "Endpoints") hosts.push(key.name);
      const { generated, changed } = refreshEndpoints(
        this.ctx,
        conn.proxy,
        conn.generated,
        hosts,
        this.options.transformResource,
      );
      conn.generated = generated;
      conn.configVersion = this.ctx.version;
      if (changed.length > 0) this.respond(conn, "eds", { startedAt: request.startedAt, only: changed });
    }
    const m = this.options.metrics;
    m.proxyPushes.inc({ type: full ? "full" : "eds" });
    m.pushTime.observe((performance.now() - t0) / 1000, { type: full ? "full" : "eds" });
    return conn.draining;
  }

  // ---------------------------------------------------------------- streams

  /**
   * Admission of a new stream: the new-stream rate limit (a token bucket; a stream that would
   * wait over a second is refused, Istio's rule), then the per-client limit. Both decide at once,
   * in arrival order; a refused stream's status is sent from the refusal queue (see `refuse`).
   */
  private admit(stream: AdsStream, protocol: StreamProtocol): void {
    if (this.closed) {
      stream.emit("error", { code: 14, details: "meshctl: the control plane is shutting down" });
      return;
    }
    const now = Date.now();
    this.streamTokens = Math.min(
      STREAM_BURST,
      this.streamTokens + ((now - this.tokensAt) / 1000) * this.streamRate,
    );
    this.tokensAt = now;
    const waitMs = this.streamTokens >= 1 ? 0 : ((1 - this.streamTokens) / this.streamRate) * 1000;
    // The bucket is asked first but charged last: a stream the per-client limit refuses costs no
    // token, and a storm's refusals cost no per-client bookkeeping.
    if (waitMs > 1000) {
      this.refuse(stream, this.rateReason);
      return;
    }
    const admission = this.options.admitStream?.(stream) ?? { ok: true as const, release: () => {} };
    if (!admission.ok) {
      this.refuse(stream, admission.reason);
      return;
    }
    this.streamTokens -= 1;
    // Released however the stream ends, also while it waits for its token.
    stream.once("close", admission.release);
    stream.once("cancelled", admission.release);
    if (waitMs === 0) this.serveStream(stream, protocol);
    else
      setTimeout(() => {
        if (!stream.cancelled && !stream.destroyed) this.serveStream(stream, protocol);
      }, waitMs).unref();
  }

  /**
   * Counts a refusal at once and queues its RESOURCE_EXHAUSTED. Sending a status is most of what
   * a refusal costs (grpc-js ends the call, HTTP/2 writes trailers); a storm's streams arrive
   * thousands per socket read, and refusing them all in that one task stalled the process for
   * over a second. From the queue they go out in slices, with I/O in between.
   */
  private refuse(stream: AdsStream, reason: string): void {
    this.options.metrics.rejectedStreams.inc();
    this.refusals.push({ stream, reason });
  }

  private sendRefusal({ stream, reason }: StreamRefusal): void {
    this.emit({ type: "stream-rejected", peer: clientText(stream.getPeer()), reason });
    // A client that gave up meanwhile needs no status.
    if (stream.cancelled || stream.destroyed) return;
    stream.emit("error", { code: RESOURCE_EXHAUSTED, details: `meshctl: ${reason}; retry later` });
  }

  private serveStream(stream: AdsStream, protocol: StreamProtocol): void {
    this.connCounter++;
    const conn: Conn = new XdsConnection(
      `${protocol}-${this.connCounter}`,
      protocol,
      stream.getPeer(),
      stream,
    );
    const finish = (reason: string) => {
      if (conn.closed) return;
      conn.closed = true;
      this.queue.remove(conn);
      for (const w of conn.watches.values()) if (w.holdTimer) clearTimeout(w.holdTimer);
      if (conn.writeTimer) clearTimeout(conn.writeTimer);
      conn.releaseDrain?.();
      if (this.connections.delete(conn.id) && conn.proxy) {
        this.forgetAddress(conn.proxy.ip);
        this.emit({
          type: "disconnect",
          connection: conn.id,
          nodeId: clientText(conn.proxy.id),
          reason: clientText(reason),
        });
      }
      this.options.metrics.connectedClients.set(this.connections.size);
    };
    const handle = (msg: AdsRequestMsg) => {
      try {
        if (protocol === "sotw") this.onSotwRequest(conn, msg as DiscoveryRequestMsg);
        else this.onDeltaRequest(conn, msg as DeltaDiscoveryRequestMsg);
      } catch (error) {
        if (error instanceof StreamLimitError) {
          this.options.metrics.rejectedStreams.inc();
          this.emit({ type: "stream-rejected", peer: clientText(conn.peer), reason: error.message });
          finish(error.message);
          stream.emit("error", { code: error.code, details: `meshctl: ${error.message}` });
          return;
        }
        this.emit({
          type: "error",
          message: clientText(
            `stream ${conn.id}: ${error instanceof Error ? error.message : String(error)}`,
            1024,
          ),
        });
      }
    };
    // The first request generates the proxy's whole config, synchronously (~1 ms for a 50-service
    // mesh, more for larger ones). A storm's admitted streams must not do that all in one task:
    // their first requests wait in the start queue, which works in slices and yields to I/O (the
    // debug port, ACKs, the storm's own refusals) between them. The stream is paused meanwhile,
    // so what it sends next stays in gRPC's flow control rather than in memory here.
    let started = false;
    let buffered: AdsRequestMsg[] | undefined;
    stream.on("data", (msg: AdsRequestMsg) => {
      if (conn.closed) return;
      if (started) {
        handle(msg);
        return;
      }
      if (buffered) {
        buffered.push(msg);
        return;
      }
      buffered = [msg];
      stream.pause();
      this.starting.push({
        conn,
        run: () => {
          const msgs = buffered ?? [];
          buffered = undefined;
          started = true;
          for (const m of msgs) {
            if (conn.closed) return;
            handle(m);
          }
          if (!conn.closed) stream.resume();
        },
      });
    });
    stream.on("end", () => {
      finish("client closed the stream");
      stream.end();
    });
    stream.on("error", (e: Error) => finish(e.message));
    stream.on("cancelled", () => finish("cancelled"));
    stream.on("close", () => finish("closed"));
  }

  /**
   * A proxy's stream ended. When it was the last at that address, the cached inbound config for
   * the address goes too: it is per proxy (keyed by the IP the client's node id names), no mesh
   * change ever clears an address that is not an endpoint, and each entry held ~10 KiB (heap and
   * buffers) until the cache's bound of 60,000. A reconnect regenerates it (about a millisecond).
   */
  private forgetAddress(ip: string | undefined): void {
    if (ip === undefined) return;
    const n = (this.streamsByIp.get(ip) ?? 1) - 1;
    if (n > 0) {
      this.streamsByIp.set(ip, n);
      return;
    }
    this.streamsByIp.delete(ip);
    this.cache.evict([dependency.address(ip)]);
  }

  private ensureProxy(conn: Conn, node: NodeLike | null | undefined): void {
    if (conn.proxy) return;
    // Capabilities come from the first request's Node only: Envoy sends the Node once
    // (set_node_on_first_message_only), and a stream's proxy does not change build.
    conn.proxy = proxyFromNode(node, this.capabilities);
    this.connections.set(conn.id, conn);
    const ip = conn.proxy.ip;
    if (ip !== undefined) this.streamsByIp.set(ip, (this.streamsByIp.get(ip) ?? 0) + 1);
    this.options.metrics.connectedClients.set(this.connections.size);
    const proxy = conn.proxy;
    try {
      conn.generated = generateProxy(this.ctx, proxy, this.options.transformResource);
      conn.configVersion = this.ctx.version;
    } finally {
      // Logged also when generation failed (that error follows): the proxy did connect.
      this.emit({
        type: "connect",
        connection: conn.id,
        nodeId: clientText(proxy.id),
        proxyType: proxy.type,
        protocol: conn.protocol,
        skippedFilters: [...new Set(conn.generated?.skippedFilters.map((f) => f.name))],
      });
    }
  }

  /** Records the node of a request and resolves its type; unknown types are reported and ignored. */
  private requestKind(
    conn: Conn,
    req: DiscoveryRequestMsg | DeltaDiscoveryRequestMsg,
  ): ResourceKind | undefined {
    this.ensureProxy(conn, req.node);
    const typeUrl = req.type_url ?? "";
    const kind = kindOfTypeUrl(typeUrl);
    if (!kind)
      this.emit({
        type: "unknown-type",
        connection: conn.id,
        nodeId: clientText(conn.proxy?.id),
        typeUrl: clientText(typeUrl),
      });
    return kind;
  }

  private applyDecision(
    conn: Conn,
    w: TypeWatch,
    d: RequestDecision,
    nonce: string,
    versionInfo: string,
    detail: { code?: number; message?: string } | null | undefined,
  ): void {
    w.state = d.state;
    const m = this.options.metrics;
    const nodeId = clientText(conn.proxy?.id);
    if (d.stale) {
      w.staleNonces++;
      m.staleNonces.inc();
      this.emit({ type: "stale-nonce", connection: conn.id, nodeId, kind: w.kind, nonce: clientText(nonce) });
    }
    if (d.nack && detail) {
      w.nacks++;
      w.nack = {
        nonce,
        versionInfo,
        message: detail.message ?? "",
        code: detail.code ?? 0,
        at: new Date().toISOString(),
      };
      // Hold this type: the same content is never resent (it is recorded as sent), and new
      // content waits for the backoff so a client that rejects everything cannot spin us.
      w.holdUntil = Date.now() + (this.options.nackBackoffMs ?? 1000);
      m.nacks.inc({ type: w.kind });
      this.emit({
        type: "nack",
        connection: conn.id,
        nodeId,
        kind: w.kind,
        version: clientText(versionInfo),
        nonce: clientText(nonce),
        message: clientText(w.nack.message, 1024),
      });
    }
    if (d.ack) {
      w.acks++;
      w.ackedVersion = versionInfo;
      w.ackedNonce = nonce;
      m.acks.inc({ type: w.kind });
      if (w.pushNonce === nonce && w.pushStartedAt > 0) {
        m.convergence.observe((Date.now() - w.pushStartedAt) / 1000, { type: w.kind });
        w.pushStartedAt = 0;
      }
      this.emit({
        type: "ack",
        connection: conn.id,
        nodeId,
        kind: w.kind,
        version: clientText(versionInfo),
        nonce: clientText(nonce),
      });
    }
  }

  private onSotwRequest(conn: Conn, req: DiscoveryRequestMsg): void {
    const kind = this.requestKind(conn, req);
    if (!kind) return;
    const nonce = req.response_nonce ?? "";
    const existing = conn.watch(kind);
    this.checkNames(kind, req.resource_names);
    const d = sotwRequest(existing?.state, {
      kind,
      names: req.resource_names ?? [],
      nonce,
      hasError: Boolean(req.error_detail),
    });
    this.checkSubscribed(kind, d.state.subscribed.size);
    const w = existing ?? new TypeWatch(d.state);
    if (!existing) conn.watches.set(kind, w);
    this.applyDecision(conn, w, d, nonce, req.version_info ?? "", req.error_detail);
    if (d.respond) this.respond(conn, kind, { startedAt: Date.now(), force: d.force, request: true });
  }

  private onDeltaRequest(conn: Conn, req: DeltaDiscoveryRequestMsg): void {
    const kind = this.requestKind(conn, req);
    if (!kind) return;
    const nonce = req.response_nonce ?? "";
    const existing = conn.watch(kind);
    this.checkNames(kind, req.resource_names_subscribe);
    this.checkNames(kind, req.resource_names_unsubscribe);
    this.checkNames(kind, Object.keys(req.initial_resource_versions ?? {}));
    const available = new Set(conn.generated?.config[kind].keys() ?? []);
    const d = deltaRequest(
      existing?.state,
      {
        kind,
        subscribe: req.resource_names_subscribe ?? [],
        unsubscribe: req.resource_names_unsubscribe ?? [],
        nonce,
        hasError: Boolean(req.error_detail),
        initialVersions: req.initial_resource_versions ?? {},
      },
      available,
    );
    this.checkSubscribed(kind, d.state.subscribed.size);
    const w = existing ?? new TypeWatch(d.state);
    if (!existing) conn.watches.set(kind, w);
    this.applyDecision(conn, w, d, nonce, existing?.lastVersionSent ?? "", req.error_detail);
    if (d.respond) this.respond(conn, kind, { startedAt: Date.now(), force: d.force, request: true });
  }

  /** Per-request limits on resource names: how many, how long (before any state is touched). */
  private checkNames(kind: ResourceKind, names: readonly string[] | undefined): void {
    if (!names) return;
    const max = this.options.maxResourceNames ?? DEFAULT_MAX_RESOURCE_NAMES;
    if (names.length > max)
      throw new StreamLimitError(
        RESOURCE_EXHAUSTED,
        `a ${kind} request lists ${names.length} resource names (limit ${max} per stream and type)`,
      );
    const maxLength = this.options.maxResourceNameLength ?? DEFAULT_MAX_RESOURCE_NAME_LENGTH;
    for (const n of names)
      if (n.length > maxLength)
        throw new StreamLimitError(
          INVALID_ARGUMENT,
          `a ${kind} resource name is ${n.length} characters long (limit ${maxLength}): ${clientText(n, 64)}`,
        );
  }

  /** What a stream has subscribed to, summed over its requests, stays bounded too. */
  private checkSubscribed(kind: ResourceKind, subscribed: number): void {
    const max = this.options.maxResourceNames ?? DEFAULT_MAX_RESOURCE_NAMES;
    if (subscribed > max)
      throw new StreamLimitError(
        RESOURCE_EXHAUSTED,
        `the stream subscribed to ${subscribed} ${kind} resources (limit ${max} per stream and type)`,
      );
  }

  // ---------------------------------------------------------------- responses

  private respond(
    conn: Conn,
    kind: ResourceKind,
    opts: { startedAt: number; force?: boolean; request?: boolean; only?: readonly string[] },
  ): void {
    const w = conn.watch(kind);
    if (!w || conn.closed || !conn.generated) return;
    const now = Date.now();
    if (now < w.holdUntil) {
      if (!w.holdTimer) {
        w.holdTimer = setTimeout(() => {
          w.holdTimer = undefined;
          this.respond(conn, kind, opts);
        }, w.holdUntil - now);
        w.holdTimer.unref();
      }
      return;
    }
    const available: Available = conn.generated.config[kind];
    const nonce = conn.nextNonce();
    const version = this.ctx.version;
    let sentNames: readonly string[];
    let removed: readonly string[] = [];
    let message: Buffer;
    const config = conn.generated.config[kind];
    const resourceOf = (n: string) => {
      const r = config.get(n);
      if (!r) throw new Error(`resource ${n} vanished between decision and write`);
      return r;
    };
    let sent: EncodedResource[];
    if (conn.protocol === "sotw") {
      const r = sotwResponse(w.state, available, opts.force ?? false, nonce, opts.only);
      if (!r) return;
      w.state = r.state;
      sentNames = r.send;
      sent = sentNames.map(resourceOf);
      message = sotwResponseBytes({
        versionInfo: version,
        typeUrl: TYPE_URLS[kind],
        nonce,
        resources: sent.map((x) => x.any),
      });
    } else {
      const r = deltaResponse(w.state, available, opts.force ?? false, nonce, opts.only);
      if (!r) return;
      w.state = r.state;
      if (!r.write) return;
      sentNames = r.send;
      removed = r.removed;
      sent = sentNames.map(resourceOf);
      message = deltaResponseBytes({
        systemVersionInfo: version,
        typeUrl: TYPE_URLS[kind],
        nonce,
        resources: sent.map((x) => ({ name: x.name, version: x.version, any: x.any })),
        removed,
      });
    }
    // A (re)sent cluster needs its ClusterLoadAssignment again (Envoy warming).
    for (const dep of RESOURCE_TYPES[kind].dependents) {
      const dw = conn.watch(dep);
      if (dw) dw.state = forgetSent(dw.state, sentNames);
    }
    if (!conn.stream.write(message)) this.awaitDrain(conn);
    this.recordPush(conn, w, nonce, version, sentNames.length, removed.length, sent, opts);
    if (conn.protocol === "delta" && kind === "cds" && sentNames.length > 0)
      this.respond(conn, "eds", { startedAt: opts.startedAt });
  }

  /**
   * Back-pressure: pushes to `conn` wait for its `drain`. A consumer that does not read for
   * `writeTimeoutMs` would hold a push slot and its buffered bytes forever: its connection is
   * closed (which frees both), as a slow Envoy's is by istiod's send timeout.
   */
  private awaitDrain(conn: Conn): void {
    if (conn.draining) return;
    conn.draining = new Promise<void>((resolve) => {
      const release = () => {
        if (conn.writeTimer) clearTimeout(conn.writeTimer);
        conn.writeTimer = undefined;
        conn.releaseDrain = undefined;
        conn.draining = undefined;
        conn.stream.off("drain", release);
        resolve();
      };
      conn.releaseDrain = release;
      conn.stream.once("drain", release);
      conn.stream.once("close", release);
      const timeoutMs = this.options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
      conn.writeTimer = setTimeout(() => {
        conn.writeTimer = undefined;
        const reason = `slow consumer: nothing read for ${timeoutMs} ms`;
        this.options.metrics.slowConsumers.inc();
        this.emit({ type: "stream-rejected", peer: clientText(conn.peer), reason });
        release();
        // The error event ends the stream's bookkeeping at once (finish); the status itself
        // would queue behind the unread bytes, so the connection is closed under it.
        conn.stream.emit("error", {
          code: RESOURCE_EXHAUSTED,
          details: `meshctl: ${reason}`,
          message: reason,
        });
        this.options.closeConnection?.(conn.stream);
      }, timeoutMs);
      conn.writeTimer.unref();
    });
  }

  private recordPush(
    conn: Conn,
    w: TypeWatch,
    nonce: string,
    version: string,
    count: number,
    removed: number,
    resources: readonly EncodedResource[],
    opts: { startedAt: number; request?: boolean },
  ): void {
    let bytes = 0;
    for (const r of resources) bytes += r.any.value.length;
    const durationMs = Date.now() - opts.startedAt;
    w.pushes++;
    w.lastVersionSent = version;
    w.lastSentAt = new Date().toISOString();
    if (!opts.request) {
      w.pushNonce = nonce;
      w.pushStartedAt = opts.startedAt;
    }
    const m = this.options.metrics;
    m.pushes.inc({ type: w.kind });
    m.pushBytes.inc({ type: w.kind }, bytes);
    m.pushSize.observe(bytes, { type: w.kind });
    m.pushLatency.observe(durationMs / 1000, { type: w.kind });
    this.emit({
      type: "push",
      connection: conn.id,
      nodeId: clientText(conn.proxy?.id),
      kind: w.kind,
      version,
      nonce,
      resources: count,
      removed,
      bytes,
      durationMs,
      protocol: conn.protocol,
    });
  }
}

/** Whether a change's dependency keys touch a view's set (`ns:*` stands for every namespace). */
function intersects(deps: ReadonlySet<string>, changed: ReadonlySet<string>): boolean {
  const allNamespaces = deps.has(ALL_NAMESPACES);
  for (const d of changed) {
    if (deps.has(d)) return true;
    if (allNamespaces && d.startsWith("ns:")) return true;
  }
  return false;
}
