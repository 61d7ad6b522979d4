/** Per-stream, per-type subscription and ACK/NACK state (what `/debug/clients` shows). */

import type { ProxyInfo } from "../generate/proxy.js";
import type { ProxyConfig } from "../generate/proxy-config.js";
import type { ResourceKind } from "../protocol/protos.js";

export interface NackRecord {
  readonly nonce: string;
  readonly versionInfo: string;
  readonly message: string;
  readonly code: number;
  readonly at: string;
}

export class TypeWatch {
  readonly subscribed = new Set<string>();
  wildcard = false;
  /** SotW: a first request without names means wildcard until a name is sent (LDS/CDS only). */
  legacyWildcard = false;
  lastNonce: string | undefined;
  lastVersionSent: string | undefined;
  lastSentAt: string | undefined;
  ackedVersion: string | undefined;
  ackedNonce: string | undefined;
  nack: NackRecord | undefined;
  /** NACK handling: no response for this type before this time (ms epoch). */
  holdUntil = 0;
  holdTimer: NodeJS.Timeout | undefined;
  /** SotW: versions of the resources in (or since) the last response; Delta: versions the client has (null = told removed). */
  readonly sent = new Map<string, string | null>();
  /** Delta: names to report in removed_resources on the next response. */
  readonly pendingRemoved = new Set<string>();
  pushes = 0;
  acks = 0;
  nacks = 0;
  staleNonces = 0;

  constructor(readonly kind: ResourceKind) {}

  interested(name: string): boolean {
    return this.wildcard || this.subscribed.has(name);
  }
}

export type StreamProtocol = "sotw" | "delta";

export class XdsConnection {
  readonly watches = new Map<ResourceKind, TypeWatch>();
  proxy: ProxyInfo | undefined;
  config: ProxyConfig | undefined;
  configVersion: string | undefined;
  readonly connectedAt = new Date().toISOString();
  private nonceCounter = 0;
  closed = false;

  constructor(
    readonly id: string,
    readonly protocol: StreamProtocol,
    readonly peer: string,
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
      subscribed: [...w.subscribed].sort(),
      wildcard: w.wildcard,
      lastVersionSent: w.lastVersionSent,
      lastNonceSent: w.lastNonce,
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
    types,
  };
}
