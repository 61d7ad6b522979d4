/**
 * The once-per-client response exchange (ADR 0053). Istio's HTTP metadata exchange sends both
 * `x-envoy-peer-metadata` headers on every response; between two tstats workloads the server's
 * full header only needs to reach each client cache once, after which its id is enough.
 *
 * - The client advertises its peer cache with a request header
 *   `x-meshctl-peer-cache: 1.<fnv1a32(own node id)>.<instance>.<generation>`. The generation
 *   changes whenever the client's cache drops entries, so a token names a cache state in which
 *   every server metadata ever received under it is still present.
 * - The server answers a request that carries a token with its full header the first time it
 *   sees that token (together with the same client id), and with `x-envoy-peer-metadata-id` only
 *   afterwards. Without a token (Envoy sidecars, older clients, `every-request` mode) it follows
 *   Istio's rule: both headers on every response.
 * - The token is bound to the client's node id: an Istio proxy in between replaces the id with
 *   its own, the binding no longer holds, and the server falls back to full headers.
 * - A client that still misses an id (a race with an eviction, or two connections answering out
 *   of order) keeps the call's outcome until the full header for that id arrives, changes its
 *   token so servers resend, and records late rather than with wrong labels. Outcomes left over
 *   after `PENDING_MAX_AGE_MS` are recorded with the unknown peer and counted.
 */

/** Request header: the client's peer-cache token. Stripped by the server. */
export const PEER_CACHE_TOKEN_HEADER = "x-meshctl-peer-cache";

/** How the server answers with its own metadata. */
export type ResponseExchangeMode = "once-per-client" | "every-request";

const TOKEN_VERSION = "1";

/** FNV-1a, 32 bit, as 8 hex digits: binds a token to a node id (not a security measure). */
export function fnv1a32Hex(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * A client's token for the current state of its peer cache.
 *
 * @example
 * peerCacheToken("sidecar~10.0.0.1~fe-1.default~default.svc.cluster.local", "3f2a9c01", 0);
 * // "1.<8 hex>.3f2a9c01.0"
 */
export function peerCacheToken(nodeId: string, instance: string, generation: number): string {
  return `${TOKEN_VERSION}.${fnv1a32Hex(nodeId)}.${instance}.${generation.toString(36)}`;
}

/** Whether `token` was made by the workload whose node id is `peerId`. */
export function peerCacheTokenMatches(token: string, peerId: string): boolean {
  return (
    token.length > 11 && token.startsWith(`${TOKEN_VERSION}.`) && token.slice(2, 10) === fnv1a32Hex(peerId)
  );
}

/**
 * Server side: which client tokens have already received this workload's full metadata. Bounded;
 * forgetting a token only costs one more full header, never a wrong label.
 */
export class SentMetadataTracker {
  private readonly sent = new Map<string, string>();
  fullSent = 0;
  idOnlySent = 0;

  constructor(readonly capacity = 10_000) {}

  /**
   * Decides one response: `true` means send the full header (and remember the token), `false`
   * means the id alone is enough.
   */
  needsFullMetadata(token: string | undefined, peerId: string | undefined): boolean {
    if (token === undefined || !peerId) {
      this.fullSent++;
      return true;
    }
    const known = this.sent.get(token);
    if (known === peerId) {
      this.idOnlySent++;
      return false;
    }
    this.fullSent++;
    if (known === undefined && peerCacheTokenMatches(token, peerId)) {
      if (this.sent.size >= this.capacity) {
        let n = 0;
        const drop = Math.max(1, Math.floor(this.capacity / 4));
        for (const k of this.sent.keys()) {
          if (n++ >= drop) break;
          this.sent.delete(k);
        }
      }
      this.sent.set(token, peerId);
    }
    return true;
  }
}
