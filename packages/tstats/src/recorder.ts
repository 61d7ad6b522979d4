/**
 * The tstats engine: turns (local identity, peer, destination service, outcome) into Istio's
 * series. Peer metadata is decoded once per peer id and cached together with the rendered label
 * text of every call site it was seen on; the request path is two Map lookups and a few additions.
 * `mode: "decode-every-request"` reproduces the Wasm-era cost model (decode the header and build
 * the labels on every request) for the benchmark.
 */
import { randomBytes } from "node:crypto";
import {
  ISTIO_TCP_LABELS,
  ISTIO_WORKLOAD_LABELS,
  LATEST,
  NO_RESPONSE_FLAGS,
  type Reporter,
  UNKNOWN,
} from "./istio-metrics.js";
import type { LocalWorkload } from "./local-workload.js";
import { localPeerMetadataHeader } from "./local-workload.js";
import {
  escapeLabelValue,
  type HttpSeries,
  MetricRegistry,
  renderLabelText,
  type TcpSeries,
} from "./metric-registry.js";
import { PeerCache } from "./peer-cache.js";
import { decodePeerMetadataHeader, type WorkloadMetadata } from "./peer-metadata.js";
import { peerCacheToken, SentMetadataTracker } from "./response-exchange.js";

/** The service a request was addressed to (`destination_service*` labels). Empty = derive. */
export interface DestinationService {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
}

const SVC_HOST = /^([^.]+)\.([^.]+)\.svc(?:\.|$)/;

/**
 * Derives the destination service from a gRPC channel target or an `:authority`:
 * the scheme and port are dropped; `<name>.<ns>.svc[.<domain>]` yields name and namespace.
 *
 * @example
 * destinationServiceFromTarget("xds:///echo.default.svc.cluster.local:8080");
 * // { host: "echo.default.svc.cluster.local", name: "echo", namespace: "default" }
 */
export function destinationServiceFromTarget(target: string): DestinationService {
  let host = target;
  const scheme = host.indexOf(":///");
  if (scheme >= 0) host = host.slice(scheme + 4);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) host = host.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*\//i, "");
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    host = end > 0 ? host.slice(1, end) : host;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon > 0 && host.indexOf(":") === colon) host = host.slice(0, colon);
  }
  const m = SVC_HOST.exec(host);
  if (m) return { host, name: m[1]!, namespace: m[2]! };
  const dot = host.indexOf(".");
  return { host, name: dot > 0 ? host.slice(0, dot) : host, namespace: "" };
}

/** Extracts `<ns>` from a SPIFFE principal `spiffe://<td>/ns/<ns>/sa/<sa>`. */
export function namespaceFromPrincipal(principal: string): string {
  const i = principal.indexOf("/ns/");
  if (i < 0) return "";
  const start = i + 4;
  const end = principal.indexOf("/", start);
  return end < 0 ? principal.slice(start) : principal.slice(start, end);
}

export interface CallSiteOptions {
  readonly reporter: Reporter;
  readonly service?: DestinationService;
  /** The local SAN (mTLS); `unknown` when absent. */
  readonly localPrincipal?: string;
  /** The peer's SAN (mTLS); `unknown` when absent. */
  readonly peerPrincipal?: string;
  /**
   * Server side: whether the connection was mutual TLS. Istio reports `unknown` on the client side,
   * so this is ignored for `reporter: "source"`.
   */
  readonly mutualTls?: boolean;
}

/** An interned call site: everything but the peer and the outcome that shapes the labels. */
export class CallSite {
  constructor(
    readonly reporter: Reporter,
    readonly service: DestinationService,
    readonly localPrincipal: string,
    readonly peerPrincipal: string,
    readonly securityPolicy: "mutual_tls" | "none" | "unknown",
  ) {}
}

interface WorkloadPrefix {
  /** The 20 workload labels, rendered. */
  readonly text: string;
  readonly http: Map<string, HttpSeries>;
  tcp: TcpSeries | undefined;
}

/** A resolved peer (or the unknown peer), holding its cached label prefixes per call site. */
export class PeerHandle {
  readonly prefixes = new Map<CallSite, WorkloadPrefix>();
  constructor(
    /** `null` for an unknown peer (no or undecodable metadata). */
    readonly workload: WorkloadMetadata | null,
  ) {}
}

export interface HttpOutcome {
  readonly protocol: "http" | "grpc";
  /** HTTP status; `0` when no response was received. */
  readonly responseCode: number;
  /** gRPC status code for gRPC; ignored for HTTP (Istio reports `""`). */
  readonly grpcStatus?: number;
  /** Envoy short response flags; `-` when none. */
  readonly responseFlags?: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly requestMessages?: number;
  readonly responseMessages?: number;
}

export interface TstatsRecorderOptions {
  readonly local: LocalWorkload;
  readonly registry?: MetricRegistry;
  /** Cached peers (default 1000; Istio keeps 500 per worker thread). */
  readonly peerCacheSize?: number;
  /** Extra peer labels to keep from `LABELS` (Istio's `additional_labels`); informational only. */
  readonly additionalLabels?: readonly string[];
  /** `cached` (default) or the Wasm-era baseline `decode-every-request`, for benchmarks. */
  readonly mode?: "cached" | "decode-every-request";
}

/** The once-per-client response exchange, as seen by one recorder (ADR 0053). */
export interface ExchangeStats {
  /** Server: responses that carried the full `x-envoy-peer-metadata`. */
  readonly responsesWithFullMetadata: number;
  /** Server: responses that carried only `x-envoy-peer-metadata-id`. */
  readonly responsesWithIdOnly: number;
  /** Client: id-only responses whose id was not in the cache (each also renews the token). */
  readonly clientMisses: number;
  /** Client: outcomes waiting for their peer's full metadata. */
  readonly pending: number;
  /** Client: outcomes recorded late, with the right peer, after a miss. */
  readonly recordedLate: number;
  /** Client: outcomes recorded with the unknown peer because their peer never arrived. */
  readonly recordedUnknown: number;
}

interface PendingOutcome {
  readonly site: CallSite;
  readonly outcome: HttpOutcome;
  readonly at: number;
}

/** How long a call whose peer id missed waits for that peer's full metadata. */
export const PENDING_MAX_AGE_MS = 10_000;
/** At most this many such calls wait; more are recorded with the unknown peer at once. */
const PENDING_MAX = 1024;

export interface PeerCacheStats {
  readonly size: number;
  readonly capacity: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly decodeErrors: number;
}

const WORKLOAD_LABEL_COUNT = ISTIO_WORKLOAD_LABELS.length;
const SUFFIX_NAMES_HTTP = [
  "request_protocol",
  "response_code",
  "grpc_response_status",
  "response_flags",
  "connection_security_policy",
];

/**
 * The engine. One per process; share it between interceptors, handlers and the exporter.
 *
 * @example
 * const recorder = new TstatsRecorder({ local: localWorkload({ workloadName: "echo", namespace: "default" }) });
 * const site = recorder.callSite({ reporter: "destination" });
 * const peer = recorder.resolvePeer(headers["x-envoy-peer-metadata"], headers["x-envoy-peer-metadata-id"]);
 * recorder.recordHttp(site, peer, { protocol: "http", responseCode: 200, durationMs: 3, requestBytes: 120, responseBytes: 512 });
 */
export class TstatsRecorder {
  readonly local: LocalWorkload;
  readonly registry: MetricRegistry;
  readonly mode: "cached" | "decode-every-request";
  /** This workload's `x-envoy-peer-metadata` value, encoded once. */
  readonly localMetadataHeader: string;
  readonly additionalLabels: readonly string[];
  private readonly peers: PeerCache<PeerHandle>;
  private readonly sites = new Map<string, CallSite>();
  private readonly unknownPeer = new PeerHandle(null);
  private decodeErrors = 0;
  /** Server side of the once-per-client response exchange. */
  readonly sentMetadata = new SentMetadataTracker();
  private readonly instance = randomBytes(4).toString("hex");
  private tokenBumps = 0;
  private tokenGeneration = -1;
  private token: string | undefined;
  private readonly pending = new Map<string, PendingOutcome[]>();
  private pendingCount = 0;
  private pendingTimer: NodeJS.Timeout | undefined;
  private clientMisses = 0;
  private recordedLate = 0;
  private recordedUnknown = 0;

  constructor(options: TstatsRecorderOptions) {
    this.local = options.local;
    this.registry = options.registry ?? new MetricRegistry({ istioVersion: options.local.istioVersion });
    this.mode = options.mode ?? "cached";
    this.peers = new PeerCache(options.peerCacheSize ?? 1000);
    this.additionalLabels = options.additionalLabels ?? [];
    this.localMetadataHeader = localPeerMetadataHeader(options.local);
  }

  /** Interns a call site; integrations keep the result for as long as its inputs do not change. */
  callSite(options: CallSiteOptions): CallSite {
    const service = options.service ?? { host: "", name: "", namespace: "" };
    const policy = options.reporter === "source" ? "unknown" : options.mutualTls ? "mutual_tls" : "none";
    const key = `${options.reporter}\0${service.host}\0${service.name}\0${service.namespace}\0${options.localPrincipal ?? ""}\0${options.peerPrincipal ?? ""}\0${policy}`;
    let site = this.sites.get(key);
    if (site === undefined) {
      site = new CallSite(
        options.reporter,
        service,
        options.localPrincipal ?? "",
        options.peerPrincipal ?? "",
        policy,
      );
      this.sites.set(key, site);
    }
    return site;
  }

  /**
   * The peer for a request's metadata-exchange headers; decoded once per peer id and cached.
   * Missing or undecodable metadata gives the unknown peer (its labels read `unknown`).
   */
  resolvePeer(metadataHeader: string | undefined, peerId?: string): PeerHandle {
    if (!metadataHeader) return this.unknownPeer;
    if (this.mode === "decode-every-request") return this.decodePeer(metadataHeader);
    const key = peerId || metadataHeader;
    let handle = this.peers.get(key);
    if (handle === undefined) {
      handle = this.decodePeer(metadataHeader);
      if (handle !== this.unknownPeer) this.peers.set(key, handle);
    }
    if (this.pendingCount !== 0 && peerId) this.flushPending(peerId, handle);
    return handle;
  }

  /**
   * Client side of the once-per-client exchange: the token to send with requests
   * (`x-meshctl-peer-cache`), or `undefined` when this recorder cannot resolve peers by id alone
   * (no node id, or `decode-every-request`). It changes whenever the peer cache drops entries.
   */
  peerCacheToken(): string | undefined {
    if (this.mode !== "cached" || !this.local.nodeId) return undefined;
    const generation = this.peers.generation + this.tokenBumps;
    if (generation !== this.tokenGeneration) {
      this.token = peerCacheToken(this.local.nodeId, this.instance, generation);
      this.tokenGeneration = generation;
    }
    return this.token;
  }

  /** A peer already decoded under `peerId`, if the cache still holds it. */
  cachedPeer(peerId: string): PeerHandle | undefined {
    if (this.mode !== "cached") return undefined;
    const handle = this.peers.get(peerId);
    if (handle !== undefined && this.pendingCount !== 0) this.flushPending(peerId, handle);
    return handle;
  }

  /**
   * Records `outcome` once `peerId`'s full metadata arrives (an id-only response whose id missed
   * the cache). Renews the token so that servers send their full metadata again. Outcomes still
   * waiting after {@link PENDING_MAX_AGE_MS}, or beyond 1,024 waiting, are recorded with the
   * unknown peer and counted in `exchangeStats().recordedUnknown`.
   */
  recordWhenPeerKnown(peerId: string, site: CallSite, outcome: HttpOutcome): void {
    this.clientMisses++;
    this.tokenBumps++;
    if (this.pendingCount >= PENDING_MAX) {
      this.recordedUnknown++;
      this.recordHttp(site, this.unknownPeer, outcome);
      return;
    }
    let list = this.pending.get(peerId);
    if (list === undefined) {
      list = [];
      this.pending.set(peerId, list);
    }
    list.push({ site, outcome, at: performance.now() });
    this.pendingCount++;
    if (this.pendingTimer === undefined) {
      this.pendingTimer = setTimeout(() => this.expirePending(PENDING_MAX_AGE_MS), PENDING_MAX_AGE_MS);
      this.pendingTimer.unref();
    }
  }

  /**
   * Records every waiting outcome older than `maxAgeMs` with the unknown peer (all of them with
   * the default 0; call it before a final scrape at shutdown).
   */
  expirePending(maxAgeMs = 0): void {
    if (this.pendingTimer !== undefined) clearTimeout(this.pendingTimer);
    this.pendingTimer = undefined;
    const cutoff = performance.now() - maxAgeMs;
    for (const [id, list] of this.pending) {
      const keep = list.filter((p) => p.at > cutoff);
      for (const p of list) {
        if (p.at > cutoff) continue;
        this.recordedUnknown++;
        this.recordHttp(p.site, this.unknownPeer, p.outcome);
      }
      this.pendingCount -= list.length - keep.length;
      if (keep.length === 0) this.pending.delete(id);
      else this.pending.set(id, keep);
    }
    if (this.pendingCount > 0) {
      this.pendingTimer = setTimeout(() => this.expirePending(PENDING_MAX_AGE_MS), PENDING_MAX_AGE_MS);
      this.pendingTimer.unref();
    }
  }

  private flushPending(peerId: string, handle: PeerHandle): void {
    const list = this.pending.get(peerId);
    if (list === undefined) return;
    this.pending.delete(peerId);
    this.pendingCount -= list.length;
    for (const p of list) {
      this.recordedLate++;
      this.recordHttp(p.site, handle, p.outcome);
    }
  }

  exchangeStats(): ExchangeStats {
    return {
      responsesWithFullMetadata: this.sentMetadata.fullSent,
      responsesWithIdOnly: this.sentMetadata.idOnlySent,
      clientMisses: this.clientMisses,
      pending: this.pendingCount,
      recordedLate: this.recordedLate,
      recordedUnknown: this.recordedUnknown,
    };
  }

  /** A peer known from elsewhere (e.g. a TCP metadata-exchange frame or service discovery). */
  peerFromWorkload(workload: WorkloadMetadata | null, peerId?: string): PeerHandle {
    if (workload === null) return this.unknownPeer;
    if (peerId && this.mode === "cached") {
      const cached = this.peers.get(peerId);
      if (cached !== undefined) return cached;
      const handle = new PeerHandle(workload);
      this.peers.set(peerId, handle);
      return handle;
    }
    return new PeerHandle(workload);
  }

  private decodePeer(header: string): PeerHandle {
    try {
      return new PeerHandle(decodePeerMetadataHeader(header, this.additionalLabels));
    } catch {
      this.decodeErrors++;
      return this.unknownPeer;
    }
  }

  peerCacheStats(): PeerCacheStats {
    return {
      size: this.peers.size,
      capacity: this.peers.capacity,
      hits: this.peers.hits,
      misses: this.peers.misses,
      evictions: this.peers.evictions,
      decodeErrors: this.decodeErrors,
    };
  }

  private prefixFor(site: CallSite, peer: PeerHandle): WorkloadPrefix {
    if (this.mode === "decode-every-request") {
      return {
        text: renderLabelText(ISTIO_WORKLOAD_LABELS, workloadLabelValues(this.local, site, peer.workload)),
        http: new Map(),
        tcp: undefined,
      };
    }
    let prefix = peer.prefixes.get(site);
    if (prefix === undefined) {
      prefix = {
        text: renderLabelText(ISTIO_WORKLOAD_LABELS, workloadLabelValues(this.local, site, peer.workload)),
        http: new Map(),
        tcp: undefined,
      };
      peer.prefixes.set(site, prefix);
    }
    return prefix;
  }

  /** Records one finished HTTP request or gRPC call (Istio records at stream end). */
  recordHttp(site: CallSite, peer: PeerHandle, outcome: HttpOutcome): void {
    const prefix = this.prefixFor(site, peer);
    const grpc = outcome.protocol === "grpc";
    const grpcStatus = grpc && outcome.grpcStatus !== undefined ? outcome.grpcStatus : -1;
    const flags = outcome.responseFlags ?? NO_RESPONSE_FLAGS;
    const key = `${outcome.protocol}${outcome.responseCode}|${grpcStatus}|${flags}`;
    let series = prefix.http.get(key);
    if (series === undefined) {
      const suffix = renderLabelText(SUFFIX_NAMES_HTTP, [
        outcome.protocol,
        String(outcome.responseCode),
        grpcStatus < 0 ? "" : String(grpcStatus),
        flags,
        site.securityPolicy,
      ]);
      series = this.registry.httpSeries(`${prefix.text},${suffix}`, grpc);
      prefix.http.set(key, series);
    }
    series.requests++;
    series.duration.observe(outcome.durationMs);
    series.requestBytes.observe(outcome.requestBytes);
    series.responseBytes.observe(outcome.responseBytes);
    if (grpc) {
      series.requestMessages += outcome.requestMessages ?? 0;
      series.responseMessages += outcome.responseMessages ?? 0;
    }
  }

  /** The TCP series for a connection; callers add byte deltas and open/close counts to it. */
  tcpSeries(site: CallSite, peer: PeerHandle, responseFlags: string = NO_RESPONSE_FLAGS): TcpSeries {
    const prefix = this.prefixFor(site, peer);
    if (responseFlags === NO_RESPONSE_FLAGS && prefix.tcp !== undefined) return prefix.tcp;
    const suffix = `request_protocol="tcp",response_flags="${escapeLabelValue(responseFlags)}",connection_security_policy="${site.securityPolicy}"`;
    const series = this.registry.tcpSeries(`${prefix.text},${suffix}`);
    if (responseFlags === NO_RESPONSE_FLAGS) prefix.tcp = series;
    return series;
  }
}

/** Exposed for tests: the label names of a TCP series (sanity check against the constant). */
export const TCP_LABEL_NAMES = ISTIO_TCP_LABELS;

/**
 * The 20 workload label values, following Envoy's `istio_stats.cc` `populatePeerInfo`:
 * local values are used as they are, peer values fall back to `unknown` (canonical revision to
 * `latest`), the peer namespace comes from its SPIFFE principal first.
 */
export function workloadLabelValues(
  local: LocalWorkload,
  site: CallSite,
  peer: WorkloadMetadata | null,
): string[] {
  const peerSan = site.peerPrincipal || (site.reporter === "source" && peer ? peer.identity : "");
  const peerNamespace = (peerSan && namespaceFromPrincipal(peerSan)) || (peer ? peer.namespace : "");
  const or = (v: string | undefined, fallback: string): string => (v ? v : fallback);
  const svc = site.service;
  const values: string[] = new Array(WORKLOAD_LABEL_COUNT);
  values[0] = site.reporter;
  if (site.reporter === "source") {
    values[1] = local.workloadName;
    values[2] = local.canonicalService;
    values[3] = local.canonicalRevision;
    values[4] = local.namespace;
    values[5] = or(site.localPrincipal, UNKNOWN);
    values[6] = local.app;
    values[7] = local.version;
    values[8] = local.clusterId;
    values[9] = or(peer?.workloadName, UNKNOWN);
    values[10] = or(peerNamespace, UNKNOWN);
    values[11] = or(peerSan, UNKNOWN);
    values[12] = or(peer?.app, UNKNOWN);
    values[13] = or(peer?.version, UNKNOWN);
    values[14] = or(svc.host, UNKNOWN);
    values[15] = or(peer?.canonicalService, UNKNOWN);
    values[16] = or(peer?.canonicalRevision, LATEST);
    values[17] = or(svc.name, UNKNOWN);
    values[18] = or(svc.namespace, or(peerNamespace, UNKNOWN));
    values[19] = or(peer?.clusterId, UNKNOWN);
  } else {
    values[1] = or(peer?.workloadName, UNKNOWN);
    values[2] = or(peer?.canonicalService, UNKNOWN);
    values[3] = or(peer?.canonicalRevision, LATEST);
    values[4] = or(peerNamespace, UNKNOWN);
    values[5] = or(peerSan, UNKNOWN);
    values[6] = or(peer?.app, UNKNOWN);
    values[7] = or(peer?.version, UNKNOWN);
    values[8] = or(peer?.clusterId, UNKNOWN);
    values[9] = local.workloadName;
    values[10] = local.namespace;
    values[11] = or(site.localPrincipal, UNKNOWN);
    values[12] = local.app;
    values[13] = local.version;
    values[14] = or(svc.host, local.canonicalService);
    values[15] = local.canonicalService;
    values[16] = local.canonicalRevision;
    values[17] = or(svc.name, local.canonicalService);
    values[18] = local.namespace;
    values[19] = local.clusterId;
  }
  return values;
}
