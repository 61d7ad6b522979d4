/** Per-stream state: the proxy, its generated config, and per-type watch state plus bookkeeping (what `/debug/clients` shows). */

import type { SkippedFilter } from "../generate/filter-extensions.js";
import type { ProxyInfo } from "../generate/proxy.js";
import type { GeneratedProxy } from "../generate/proxy-config.js";
import type { ResourceKind } from "../protocol/protos.js";
import type { WatchState } from "./protocol-state.js";

export interface NackRecord {
  readonly nonce: string;
  readonly versionInfo: string;
  readonly message: string;
  readonly code: number;
  readonly at: string;
}

/** One type on one stream: the protocol state (pure, see protocol-state.ts) and what happened. */
export class TypeWatch {
  lastVersionSent: string | undefined;
  lastSentAt: string | undefined;
  ackedVersion: string | undefined;
  ackedNonce: string | undefined;
  nack: NackRecord | undefined;
  /** NACK handling: no response for this type before this time (ms epoch). */
  holdUntil = 0;
  holdTimer: NodeJS.Timeout | undefined;
  /** Nonce of the last response that carried a push, and when that push's change happened. */
  pushNonce: string | undefined;
  pushStartedAt = 0;
  pushes = 0;
  acks = 0;
  nacks = 0;
  staleNonces = 0;

  constructor(public state: WatchState) {}

  get kind(): ResourceKind {
    return this.state.kind;
  }
}

export type StreamProtocol = "sotw" | "delta";

/** One ADS stream; `S` is the transport stream (a gRPC duplex stream in the server). */
export class XdsConnection<S = unknown> {
  readonly watches = new Map<ResourceKind, TypeWatch>();
  proxy: ProxyInfo | undefined;
  generated: GeneratedProxy | undefined;
  configVersion: string | undefined;
  readonly connectedAt = new Date().toISOString();
  private nonceCounter = 0;
  closed = false;
  /** Writes waiting for the stream to drain (back-pressure). */
  draining: Promise<void> | undefined;
  /** Resolves `draining` (the stream drained, closed or timed out). */
  releaseDrain: (() => void) | undefined;
  /** Closes a consumer that stopped reading (see AdsServer's write timeout). */
  writeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly protocol: StreamProtocol,
    readonly peer: string,
    readonly stream: S,
  ) {}

  nextNonce(): string {
    this.nonceCounter++;
    return String(this.nonceCounter);
  }

  watch(kind: ResourceKind): TypeWatch | undefined {
    return this.watches.get(kind);
  }
}

/** JSON shape of one client on `/debug/clients`. */
export interface ClientStatus {
  readonly id: string;
  readonly nodeId: string;
  readonly proxyType: string;
  readonly namespace: string;
  readonly protocol: StreamProtocol;
  readonly peer: string;
  readonly connectedAt: string;
  readonly configVersion: string | undefined;
  /** The view it shares with other proxies (type|namespace|Sidecar[|filters=...]). */
  readonly view: string | undefined;
  /** What its Node reported (Envoy lists its extensions; gRPC clients list none). */
  readonly capabilities: {
    readonly userAgent: string | undefined;
    readonly buildVersion: string | undefined;
    /** Enabled extensions reported; 0 when it reported none. */
    readonly extensionCount: number;
  };
  /** Configured extension filters (e.g. tstats') it does not get because it lacks them, and why. */
  readonly skippedFilters: readonly SkippedFilter[];
  readonly types: Record<
    string,
    {
      readonly subscribed: readonly string[];
      readonly wildcard: boolean;
      readonly lastVersionSent: string | undefined;
      readonly lastNonceSent: string | undefined;
      readonly lastSentAt: string | undefined;
      readonly ackedVersion: string | undefined;
      readonly nackedVersion: string | undefined;
      readonly lastNackError: string | undefined;
      readonly lastNackAt: string | undefined;
      readonly pushes: number;
      readonly acks: number;
      readonly nacks: number;
      readonly staleNonces: number;
    }
  >;
}

export function connectionStatus(conn: XdsConnection): ClientStatus {
  const types: ClientStatus["types"] = {};
  for (const [kind, w] of conn.watches) {
    types[kind] = {
      subscribed: [...w.state.subscribed].sort(),
      wildcard: w.state.wildcard,
      lastVersionSent: w.lastVersionSent,
      lastNonceSent: w.state.lastNonce,
      lastSentAt: w.lastSentAt,
      ackedVersion: w.ackedVersion,
      nackedVersion: w.nack?.versionInfo,
      lastNackError: w.nack?.message,
      lastNackAt: w.nack?.at,
      pushes: w.pushes,
      acks: w.acks,
      nacks: w.nacks,
      staleNonces: w.staleNonces,
    };
  }
  return {
    id: conn.id,
    nodeId: conn.proxy?.id ?? "",
    proxyType: conn.proxy?.type ?? "unknown",
    namespace: conn.proxy?.namespace ?? "",
    protocol: conn.protocol,
    peer: conn.peer,
    connectedAt: conn.connectedAt,
    configVersion: conn.configVersion,
    view: conn.generated?.viewKey,
    capabilities: {
      userAgent: conn.proxy?.capabilities.userAgent,
      buildVersion: conn.proxy?.capabilities.buildVersion,
      extensionCount: conn.proxy?.capabilities.extensionCount ?? 0,
    },
    skippedFilters: conn.generated?.skippedFilters ?? [],
    types,
  };
}
