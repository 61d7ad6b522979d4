/**
 * The ADS protocol engine: StreamAggregatedResources (SotW) and DeltaAggregatedResources.
 * It owns stream state and decides when to respond; what to send comes from a PushContext and
 * the per-proxy generators. Rules follow the xDS protocol spec (see docs/xds.md).
 */
import type * as grpc from "@grpc/grpc-js";
import { createTracer, type Tracer } from "@meshctl/core";
import { type NodeLike, proxyFromNode } from "../generate/proxy.js";
import { generateProxyConfig, type ProxyConfig, type ResourceTransform } from "../generate/proxy-config.js";
import type { PushContext } from "../generate/push-context.js";
import {
  FULL_STATE_KINDS,
  kindOfTypeUrl,
  PUSH_ORDER,
  type ResourceKind,
  TYPE_URLS,
} from "../protocol/protos.js";
import {
  type ClientStatus,
  connectionStatus,
  type StreamProtocol,
  TypeWatch,
  XdsConnection,
} from "./connection.js";
import type { XdsMetrics } from "./metrics.js";

/** Something worth a log line; `meshctl xds serve` prints one per event. */
export type XdsEvent =
  | {
      readonly type: "connect";
      readonly connection: string;
      readonly nodeId: string;
      readonly proxyType: string;
      readonly protocol: StreamProtocol;
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
  | { readonly type: "error"; readonly message: string };

export interface AdsServerOptions {
  readonly metrics: XdsMetrics;
  readonly onEvent?: (event: XdsEvent) => void;
  /** Minimum time between a NACK and the next response of that type on that stream. */
  readonly nackBackoffMs?: number;
  /** Test hook: alter generated resources before encoding (e.g. to provoke a NACK). */
  readonly transformResource?: ResourceTransform;
}

interface AnyMsg {
  type_url: string;
  value: Uint8Array | Buffer;
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

type SotwStream = grpc.ServerDuplexStream<DiscoveryRequestMsg, unknown>;
type DeltaStream = grpc.ServerDuplexStream<DeltaDiscoveryRequestMsg, unknown>;

/** Why a push happens and when it started (for latency). The seam for debouncing later. */
export interface PushRequest {
  readonly reason: string;
  readonly startedAt: number;
}

export class AdsServer {
  private ctx: PushContext;
  private readonly connections = new Map<string, XdsConnection & { stream: SotwStream | DeltaStream }>();
  private connCounter = 0;
  /** `MESHCTL_TRACE=xds` prints every request and response decision. */
  private readonly trace: Tracer = createTracer("xds");

  constructor(
    initial: PushContext,
    private readonly options: AdsServerOptions,
  ) {
    this.ctx = initial;
  }

  get pushContext(): PushContext {
    return this.ctx;
  }

  /** gRPC handlers for envoy.service.discovery.v3.AggregatedDiscoveryService. */
  handlers(): grpc.UntypedServiceImplementation {
    return {
      StreamAggregatedResources: (stream: SotwStream) => this.serveStream(stream, "sotw"),
      DeltaAggregatedResources: (stream: DeltaStream) => this.serveStream(stream, "delta"),
    };
  }

  clients(): ClientStatus[] {
    return [...this.connections.values()].map(connectionStatus);
  }

  /** The config last generated for a node id (undefined when no such client is connected). */
  configForNode(nodeId: string): ProxyConfig | undefined {
    for (const conn of this.connections.values())
      if (conn.proxy?.id === nodeId && conn.config) return conn.config;
    return undefined;
  }

  /** Applies a new mesh version: regenerate per connection, then push what changed, CDS -> EDS -> LDS -> RDS. */
  push(ctx: PushContext, request: PushRequest): void {
    this.ctx = ctx;
    for (const conn of this.connections.values()) {
      if (!conn.proxy || conn.closed) continue;
      this.regenerate(conn);
      for (const kind of PUSH_ORDER) this.respond(conn, kind, { startedAt: request.startedAt });
    }
  }

  closeAll(): void {
    for (const conn of this.connections.values()) {
      conn.closed = true;
      for (const w of conn.watches.values()) if (w.holdTimer) clearTimeout(w.holdTimer);
      conn.stream.end();
    }
    this.connections.clear();
    this.options.metrics.connectedClients.set(0);
  }

  private emit(event: XdsEvent): void {
    this.trace(() => JSON.stringify(event));
    try {
      this.options.onEvent?.(event);
    } catch {
      // a logging callback must never break a stream
    }
  }

  private serveStream(stream: SotwStream | DeltaStream, protocol: StreamProtocol): void {
    this.connCounter++;
    const conn = Object.assign(
      new XdsConnection(`${protocol}-${this.connCounter}`, protocol, stream.getPeer()),
      { stream },
    );
    const finish = (reason: string) => {
      if (conn.closed) return;
      conn.closed = true;
      for (const w of conn.watches.values()) if (w.holdTimer) clearTimeout(w.holdTimer);
      if (this.connections.delete(conn.id) && conn.proxy) {
        this.emit({ type: "disconnect", connection: conn.id, nodeId: conn.proxy.id, reason });
      }
      this.options.metrics.connectedClients.set(this.connections.size);
    };
    stream.on("data", (msg: DiscoveryRequestMsg | DeltaDiscoveryRequestMsg) => {
      try {
        if (protocol === "sotw") this.onSotwRequest(conn, msg as DiscoveryRequestMsg);
        else this.onDeltaRequest(conn, msg as DeltaDiscoveryRequestMsg);
      } catch (error) {
        this.emit({
          type: "error",
          message: `stream ${conn.id}: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
    });
    stream.on("end", () => {
      finish("client closed the stream");
      stream.end();
    });
    stream.on("error", (e: Error) => finish(e.message));
    stream.on("cancelled", () => finish("cancelled"));
    stream.on("close", () => finish("closed"));
  }

  private ensureProxy(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    node: NodeLike | null | undefined,
  ): void {
    if (conn.proxy) return;
    conn.proxy = proxyFromNode(node);
    this.connections.set(conn.id, conn);
    this.options.metrics.connectedClients.set(this.connections.size);
    this.emit({
      type: "connect",
      connection: conn.id,
      nodeId: conn.proxy.id,
      proxyType: conn.proxy.type,
      protocol: conn.protocol,
    });
    this.regenerate(conn);
  }

  private regenerate(conn: XdsConnection): void {
    if (!conn.proxy) return;
    if (conn.configVersion === this.ctx.version && conn.config) return;
    conn.config = generateProxyConfig(this.ctx, conn.proxy, this.options.transformResource);
    conn.configVersion = this.ctx.version;
  }

  private recordNack(
    conn: XdsConnection,
    w: TypeWatch,
    nonce: string,
    versionInfo: string,
    detail: { code?: number; message?: string },
  ): void {
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
    this.options.metrics.nacks.inc({ type: w.kind });
    this.emit({
      type: "nack",
      connection: conn.id,
      nodeId: conn.proxy?.id ?? "",
      kind: w.kind,
      version: versionInfo,
      nonce,
      message: w.nack.message,
    });
  }

  private recordAck(conn: XdsConnection, w: TypeWatch, nonce: string, versionInfo: string): void {
    w.acks++;
    w.ackedVersion = versionInfo;
    w.ackedNonce = nonce;
    this.options.metrics.acks.inc({ type: w.kind });
    this.emit({
      type: "ack",
      connection: conn.id,
      nodeId: conn.proxy?.id ?? "",
      kind: w.kind,
      version: versionInfo,
      nonce,
    });
  }

  /** Records the node of a request and resolves its type; unknown types are reported and ignored. */
  private requestKind(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    req: DiscoveryRequestMsg | DeltaDiscoveryRequestMsg,
  ): ReturnType<typeof kindOfTypeUrl> {
    this.ensureProxy(conn, req.node);
    const typeUrl = req.type_url ?? "";
    const kind = kindOfTypeUrl(typeUrl);
    if (!kind)
      this.emit({ type: "unknown-type", connection: conn.id, nodeId: conn.proxy?.id ?? "", typeUrl });
    return kind;
  }

  // ---------------------------------------------------------------- SotW

  private onSotwRequest(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    req: DiscoveryRequestMsg,
  ): void {
    const kind = this.requestKind(conn, req);
    if (!kind) return;
    const names = req.resource_names ?? [];
    const nonce = req.response_nonce ?? "";
    let w = conn.watch(kind);
    if (!w) {
      w = new TypeWatch(kind);
      conn.watches.set(kind, w);
      const wildcardType = FULL_STATE_KINDS.has(kind);
      w.legacyWildcard = wildcardType && names.length === 0;
      w.wildcard = w.legacyWildcard || (wildcardType && names.includes("*"));
      for (const n of names) if (n !== "*") w.subscribed.add(n);
      if (req.error_detail) this.recordNack(conn, w, nonce, req.version_info ?? "", req.error_detail);
      this.respond(conn, kind, { startedAt: Date.now(), force: true });
      return;
    }
    if (nonce !== "" && nonce !== w.lastNonce) {
      // Stale: superseded by a newer response; the client will answer that one.
      w.staleNonces++;
      this.options.metrics.staleNonces.inc();
      this.emit({ type: "stale-nonce", connection: conn.id, nodeId: conn.proxy?.id ?? "", kind, nonce });
      return;
    }
    if (req.error_detail) {
      this.recordNack(conn, w, nonce, req.version_info ?? "", req.error_detail);
      return;
    }
    if (nonce !== "") this.recordAck(conn, w, nonce, req.version_info ?? "");
    const before = new Set(w.subscribed);
    const wasWildcard = w.wildcard;
    w.subscribed.clear();
    for (const n of names) if (n !== "*") w.subscribed.add(n);
    if (w.legacyWildcard && names.length > 0) w.legacyWildcard = false;
    w.wildcard = FULL_STATE_KINDS.has(kind) && (w.legacyWildcard || names.includes("*"));
    const added = new Set([...w.subscribed].filter((n) => !before.has(n)));
    for (const n of before) if (!w.subscribed.has(n) && !w.wildcard) w.sent.delete(n);
    for (const n of added) w.sent.delete(n); // newly requested: resend even if unchanged
    this.respond(conn, kind, { startedAt: Date.now(), force: nonce === "" || (w.wildcard && !wasWildcard) });
  }

  // ---------------------------------------------------------------- Delta

  private onDeltaRequest(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    req: DeltaDiscoveryRequestMsg,
  ): void {
    const kind = this.requestKind(conn, req);
    if (!kind) return;
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    const nonce = req.response_nonce ?? "";
    let w = conn.watch(kind);
    const first = !w;
    if (!w) {
      w = new TypeWatch(kind);
      conn.watches.set(kind, w);
      w.legacyWildcard = FULL_STATE_KINDS.has(kind) && subscribe.length === 0;
      w.wildcard = w.legacyWildcard;
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {}))
        w.sent.set(name, version);
    }
    if (req.error_detail) this.recordNack(conn, w, nonce, "", req.error_detail);
    else if (nonce !== "" && nonce === w.lastNonce) this.recordAck(conn, w, nonce, w.lastVersionSent ?? "");
    else if (nonce !== "" && !first) {
      // Delta honours subscription changes whatever the nonce; only the ACK bookkeeping is skipped.
      w.staleNonces++;
      this.options.metrics.staleNonces.inc();
    }
    const config = conn.config?.[kind];
    for (const name of subscribe) {
      if (name === "*") {
        w.wildcard = true;
        continue;
      }
      w.subscribed.add(name);
      if (!first) w.sent.delete(name); // a re-subscribe must be answered: the client may have forgotten it
    }
    for (const name of unsubscribe) {
      if (name === "*") {
        w.wildcard = false;
        w.legacyWildcard = false;
        continue;
      }
      w.subscribed.delete(name);
      if (w.wildcard) {
        // Still covered by the wildcard: answer with the resource, or say it does not exist.
        w.sent.delete(name);
        if (!config?.has(name)) w.pendingRemoved.add(name);
      } else {
        w.sent.delete(name);
      }
    }
    if (subscribe.length > 0 && w.legacyWildcard && !subscribe.includes("*") && !first)
      w.legacyWildcard = false;
    this.respond(conn, kind, { startedAt: Date.now(), force: first });
  }

  // ---------------------------------------------------------------- responses

  private respond(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    kind: ResourceKind,
    opts: { startedAt: number; force?: boolean },
  ): void {
    const w = conn.watch(kind);
    if (!w || conn.closed || !conn.config) return;
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
    if (conn.protocol === "sotw") this.respondSotw(conn, w, opts);
    else this.respondDelta(conn, w, opts);
  }

  private respondSotw(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    w: TypeWatch,
    opts: { startedAt: number; force?: boolean },
  ): void {
    const config = conn.config?.[w.kind];
    if (!config) return;
    const candidates = [...config.values()].filter((r) => w.interested(r.name));
    let toSend = candidates;
    if (FULL_STATE_KINDS.has(w.kind)) {
      // LDS/CDS: every response is the complete subscribed set; anything missing is deleted.
      const same =
        candidates.length === w.sent.size && candidates.every((r) => w.sent.get(r.name) === r.version);
      if (same && !opts.force) return;
      w.sent.clear();
      for (const r of candidates) w.sent.set(r.name, r.version);
    } else {
      // EDS/RDS may be partial: only what changed or was newly requested.
      toSend = opts.force ? candidates : candidates.filter((r) => w.sent.get(r.name) !== r.version);
      if (toSend.length === 0 && !opts.force) return;
      for (const r of toSend) w.sent.set(r.name, r.version);
    }
    if (w.kind === "cds")
      this.invalidateClusterLoadAssignments(
        conn,
        toSend.map((r) => r.name),
      );
    const nonce = conn.nextNonce();
    const version = this.ctx.version;
    const resources: AnyMsg[] = toSend.map((r) => ({
      type_url: r.any.type_url,
      value: Buffer.from(r.any.value),
    }));
    conn.stream.write({
      version_info: version,
      resources,
      type_url: TYPE_URLS[w.kind],
      nonce,
      control_plane: { identifier: "meshctl" },
    });
    this.recordPush(conn, w, nonce, version, toSend.length, 0, resources, opts.startedAt);
  }

  private respondDelta(
    conn: XdsConnection & { stream: SotwStream | DeltaStream },
    w: TypeWatch,
    opts: { startedAt: number; force?: boolean },
  ): void {
    const config = conn.config?.[w.kind];
    if (!config) return;
    const toSend = [...config.values()].filter(
      (r) => w.interested(r.name) && w.sent.get(r.name) !== r.version,
    );
    const removed = new Set(w.pendingRemoved);
    w.pendingRemoved.clear();
    for (const [name, version] of w.sent) {
      if (version !== null && !config.has(name)) removed.add(name);
      else if (version !== null && !w.interested(name)) w.sent.delete(name);
    }
    for (const name of w.subscribed) if (!config.has(name) && !w.sent.has(name)) removed.add(name);
    if (toSend.length === 0 && removed.size === 0 && !opts.force) return;
    for (const r of toSend) w.sent.set(r.name, r.version);
    for (const name of removed) w.sent.set(name, null);
    if (w.kind === "cds")
      this.invalidateClusterLoadAssignments(
        conn,
        toSend.map((r) => r.name),
      );
    const nonce = conn.nextNonce();
    const version = this.ctx.version;
    const resources = toSend.map((r) => ({
      name: r.name,
      version: r.version,
      resource: { type_url: r.any.type_url, value: Buffer.from(r.any.value) },
    }));
    conn.stream.write({
      system_version_info: version,
      resources,
      type_url: TYPE_URLS[w.kind],
      removed_resources: [...removed].sort(),
      nonce,
      control_plane: { identifier: "meshctl" },
    });
    this.recordPush(
      conn,
      w,
      nonce,
      version,
      toSend.length,
      removed.size,
      resources.map((r) => r.resource),
      opts.startedAt,
    );
    if (w.kind === "cds" && toSend.length > 0) this.respond(conn, "eds", { startedAt: opts.startedAt });
  }

  /** A changed cluster needs its CLA again before it leaves warming (Envoy), so forget we sent it. */
  private invalidateClusterLoadAssignments(conn: XdsConnection, clusters: readonly string[]): void {
    const eds = conn.watch("eds");
    if (!eds) return;
    for (const name of clusters) if (eds.sent.has(name) && eds.sent.get(name) !== null) eds.sent.delete(name);
  }

  private recordPush(
    conn: XdsConnection,
    w: TypeWatch,
    nonce: string,
    version: string,
    count: number,
    removed: number,
    resources: readonly AnyMsg[],
    startedAt: number,
  ): void {
    const bytes = resources.reduce((s, r) => s + r.value.length, 0);
    const durationMs = Date.now() - startedAt;
    w.pushes++;
    w.lastNonce = nonce;
    w.lastVersionSent = version;
    w.lastSentAt = new Date().toISOString();
    const m = this.options.metrics;
    m.pushes.inc({ type: w.kind });
    m.pushBytes.inc({ type: w.kind }, bytes);
    m.pushLatency.observe(durationMs / 1000, { type: w.kind });
    this.emit({
      type: "push",
      connection: conn.id,
      nodeId: conn.proxy?.id ?? "",
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
