/**
 * The xDS protocol decisions as pure functions over a per-type watch state: given a request (or
 * a new set of available resources), whether to respond, what to send, and the next state. No
 * sockets, timers or metrics here: the ADS server (ads-server.ts) owns those and applies these
 * decisions. Rules follow the xDS protocol (docs/xds.md): SotW full-state for LDS/CDS, nonce
 * staleness, NACKs never answered with the same content, Delta subscriptions honoured whatever
 * the nonce, wildcard and legacy wildcard.
 */
import type { ResourceKind } from "../protocol/protos.js";
import { RESOURCE_TYPES } from "../protocol/resource-types.js";

/**
 * What one stream knows about one type. Every decision returns the next state; a state handed
 * to a decision is consumed by it. Most decisions copy, but the endpoint-push paths (partial
 * SotW responses, Delta responses restricted to changed names) update `sent` in place: they run
 * thousands of times a second, and copying a proxy's whole `sent` map each time was the largest
 * allocation of an endpoint push.
 */
export interface WatchState {
  readonly kind: ResourceKind;
  readonly subscribed: ReadonlySet<string>;
  readonly wildcard: boolean;
  /** SotW/Delta: a first request without names means wildcard until a name is sent (LDS/CDS only). */
  readonly legacyWildcard: boolean;
  /** SotW: versions in (or since) the last response; Delta: versions the client has (null = told removed). */
  readonly sent: ReadonlyMap<string, string | null>;
  /** Delta: names to report in removed_resources on the next response. */
  readonly pendingRemoved: ReadonlySet<string>;
  readonly lastNonce: string | undefined;
}

/** Resource name -> content version, of what the proxy should have now. */
export type Available = ReadonlyMap<string, { readonly version: string }>;

export interface RequestDecision {
  readonly state: WatchState;
  /** The request acknowledges the last response. */
  readonly ack: boolean;
  /** The request rejects a response (error_detail). */
  readonly nack: boolean;
  /** SotW: the nonce is not the last one sent: superseded, ignored. */
  readonly stale: boolean;
  /** Whether to consider responding now (the response function decides whether anything goes). */
  readonly respond: boolean;
  /** Respond even when nothing changed (first request, new interest). */
  readonly force: boolean;
}

export function interested(w: WatchState, name: string): boolean {
  return w.wildcard || w.subscribed.has(name);
}

function emptyWatch(kind: ResourceKind): WatchState {
  return {
    kind,
    subscribed: new Set(),
    wildcard: false,
    legacyWildcard: false,
    sent: new Map(),
    pendingRemoved: new Set(),
    lastNonce: undefined,
  };
}

// ---------------------------------------------------------------- SotW

export interface SotwRequest {
  readonly kind: ResourceKind;
  readonly names: readonly string[];
  readonly nonce: string;
  readonly hasError: boolean;
}

/**
 * Applies a SotW DiscoveryRequest to the watch of its type.
 *
 * @example
 * const d = sotwRequest(undefined, { kind: "cds", names: [], nonce: "", hasError: false });
 * d.state.wildcard; // true (legacy wildcard), d.respond && d.force
 */
export function sotwRequest(prev: WatchState | undefined, req: SotwRequest): RequestDecision {
  const fullState = RESOURCE_TYPES[req.kind].fullStateSotw;
  if (!prev) {
    const legacyWildcard = fullState && req.names.length === 0;
    const state: WatchState = {
      ...emptyWatch(req.kind),
      legacyWildcard,
      wildcard: legacyWildcard || (fullState && req.names.includes("*")),
      subscribed: new Set(req.names.filter((n) => n !== "*")),
    };
    return { state, ack: false, nack: req.hasError, stale: false, respond: true, force: true };
  }
  if (req.nonce !== "" && req.nonce !== prev.lastNonce)
    return { state: prev, ack: false, nack: false, stale: true, respond: false, force: false };
  if (req.hasError)
    return { state: prev, ack: false, nack: true, stale: false, respond: false, force: false };
  const star = req.names.includes("*");
  const legacyWildcard = prev.legacyWildcard && req.names.length === 0;
  const wildcard = fullState && (legacyWildcard || star);
  // A plain ACK naming what was already subscribed: the client has what was sent, new content
  // comes with the next push. Decided without allocating: SotW EDS ACKs repeat every name,
  // thousands of times a second under churn.
  if (
    req.nonce !== "" &&
    !star &&
    wildcard === prev.wildcard &&
    legacyWildcard === prev.legacyWildcard &&
    req.names.length === prev.subscribed.size &&
    req.names.every((n) => prev.subscribed.has(n))
  )
    return { state: prev, ack: true, nack: false, stale: false, respond: false, force: false };
  const names = star ? req.names.filter((n) => n !== "*") : req.names;
  const subscribed = new Set(names);
  const sent = new Map(prev.sent);
  for (const n of prev.subscribed) if (!subscribed.has(n) && !wildcard) sent.delete(n);
  for (const n of subscribed) if (!prev.subscribed.has(n)) sent.delete(n); // newly requested: resend even if unchanged
  return {
    state: { ...prev, subscribed, legacyWildcard, wildcard, sent },
    ack: req.nonce !== "",
    nack: false,
    stale: false,
    respond: true,
    force: req.nonce === "" || (wildcard && !prev.wildcard),
  };
}

export interface SotwResponseDecision {
  readonly state: WatchState;
  /** Names to send, in order. */
  readonly send: readonly string[];
}

/**
 * What a SotW response for this watch carries now, or undefined for "nothing to send". LDS/CDS
 * responses carry the complete subscribed set (anything missing is deleted); EDS/RDS only what
 * changed or was newly requested.
 *
 * @example
 * const r = sotwResponse(state, new Map([["a", { version: "v1" }]]), false, "7");
 */
export function sotwResponse(
  w: WatchState,
  available: Available,
  force: boolean,
  nonce: string,
  /** Partial types only: the names that may have changed (an endpoints-only push). */
  only?: readonly string[],
): SotwResponseDecision | undefined {
  const fullState = RESOURCE_TYPES[w.kind].fullStateSotw;
  const candidates: string[] = [];
  if (only && !fullState && !force) {
    for (const name of only) if (available.has(name) && interested(w, name)) candidates.push(name);
  } else for (const name of available.keys()) if (interested(w, name)) candidates.push(name);
  if (fullState) {
    const same =
      candidates.length === w.sent.size &&
      candidates.every((n) => w.sent.get(n) === available.get(n)?.version);
    if (same && !force) return undefined;
    const sent = new Map<string, string | null>();
    for (const n of candidates) sent.set(n, available.get(n)?.version ?? null);
    return { state: { ...w, sent, lastNonce: nonce }, send: candidates };
  }
  const send = force ? candidates : candidates.filter((n) => w.sent.get(n) !== available.get(n)?.version);
  if (send.length === 0 && !force) return undefined;
  // Partial types are the hot path (every endpoint push): `sent` is updated in place, so the
  // state given here is consumed by the one returned (see the note on WatchState).
  const sent = w.sent as Map<string, string | null>;
  for (const n of send) sent.set(n, available.get(n)?.version ?? null);
  return { state: { ...w, lastNonce: nonce }, send };
}

// ---------------------------------------------------------------- Delta

export interface DeltaRequest {
  readonly kind: ResourceKind;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly nonce: string;
  readonly hasError: boolean;
  /** What the client already has (only read on the first request of a type). */
  readonly initialVersions: Readonly<Record<string, string>>;
}

/**
 * Applies a DeltaDiscoveryRequest. Subscription changes are honoured whatever the nonce; only
 * the ACK bookkeeping depends on it.
 *
 * @example
 * const d = deltaRequest(undefined, { kind: "eds", subscribe: ["a"], unsubscribe: [], nonce: "", hasError: false, initialVersions: {} }, new Set());
 */
export function deltaRequest(
  prev: WatchState | undefined,
  req: DeltaRequest,
  available: ReadonlySet<string>,
): RequestDecision {
  const first = !prev;
  if (prev && !req.hasError && req.subscribe.length === 0 && req.unsubscribe.length === 0) {
    // A plain ACK (or a stale one): no subscription change, nothing to copy.
    const ack = req.nonce !== "" && req.nonce === prev.lastNonce;
    return { state: prev, ack, nack: false, stale: req.nonce !== "" && !ack, respond: false, force: false };
  }
  const base: WatchState = prev ?? {
    ...emptyWatch(req.kind),
    legacyWildcard: RESOURCE_TYPES[req.kind].fullStateSotw && req.subscribe.length === 0,
    wildcard: RESOURCE_TYPES[req.kind].fullStateSotw && req.subscribe.length === 0,
    sent: new Map(Object.entries(req.initialVersions)),
  };
  const ack = !req.hasError && req.nonce !== "" && req.nonce === base.lastNonce;
  const stale = !req.hasError && req.nonce !== "" && !first && req.nonce !== base.lastNonce;
  const subscribed = new Set(base.subscribed);
  const sent = new Map(base.sent);
  const pendingRemoved = new Set(base.pendingRemoved);
  let wildcard = base.wildcard;
  let legacyWildcard = base.legacyWildcard;
  for (const name of req.subscribe) {
    if (name === "*") {
      wildcard = true;
      continue;
    }
    subscribed.add(name);
    if (!first) sent.delete(name); // a re-subscribe must be answered: the client may have forgotten it
  }
  for (const name of req.unsubscribe) {
    if (name === "*") {
      wildcard = false;
      legacyWildcard = false;
      continue;
    }
    subscribed.delete(name);
    sent.delete(name);
    // Still covered by the wildcard: answer with the resource, or say it does not exist.
    if (wildcard && !available.has(name)) pendingRemoved.add(name);
  }
  if (req.subscribe.length > 0 && legacyWildcard && !req.subscribe.includes("*") && !first)
    legacyWildcard = false;
  const interestChanged = first || req.subscribe.length > 0 || req.unsubscribe.length > 0;
  return {
    state: { ...base, subscribed, sent, pendingRemoved, wildcard, legacyWildcard },
    ack,
    nack: req.hasError,
    stale,
    // A plain ACK needs no response: new content comes with the next push.
    respond: interestChanged,
    force: first,
  };
}

export interface DeltaResponseDecision {
  readonly state: WatchState;
  readonly send: readonly string[];
  readonly removed: readonly string[];
  /** False: nothing to send, only the state changed. */
  readonly write: boolean;
}

/**
 * What a Delta response carries now: resources the client does not have at this version, and
 * names it has (or asked for) that no longer exist. Undefined for "nothing to send".
 *
 * @example
 * const r = deltaResponse(state, available, false, "3");
 */
export function deltaResponse(
  w: WatchState,
  available: Available,
  force: boolean,
  nonce: string,
  /** The names that may have changed (an endpoints-only push): nothing else is looked at. */
  only?: readonly string[],
): DeltaResponseDecision | undefined {
  if (only && !force && w.pendingRemoved.size === 0) {
    const changed = only.filter(
      (n) => interested(w, n) && available.has(n) && w.sent.get(n) !== available.get(n)?.version,
    );
    if (changed.length === 0) return undefined;
    const sent = w.sent as Map<string, string | null>; // in place: see the note on WatchState
    for (const n of changed) sent.set(n, available.get(n)?.version ?? null);
    return { state: { ...w, lastNonce: nonce }, send: changed, removed: [], write: true };
  }
  const send: string[] = [];
  for (const [name, r] of available)
    if (interested(w, name) && w.sent.get(name) !== r.version) send.push(name);
  const removed = new Set(w.pendingRemoved);
  const sent = new Map(w.sent);
  for (const [name, version] of w.sent) {
    if (version !== null && !available.has(name)) removed.add(name);
    else if (version !== null && !interested(w, name)) sent.delete(name);
  }
  for (const name of w.subscribed) if (!available.has(name) && !w.sent.has(name)) removed.add(name);
  if (send.length === 0 && removed.size === 0 && !force) {
    // Nothing to say, but names no longer of interest are forgotten (a later wildcard resends them).
    return sent.size === w.sent.size
      ? undefined
      : { state: { ...w, sent }, send: [], removed: [], write: false };
  }
  for (const n of send) sent.set(n, available.get(n)?.version ?? null);
  for (const n of removed) sent.set(n, null);
  return {
    state: { ...w, sent, pendingRemoved: new Set(), lastNonce: nonce },
    send,
    removed: [...removed].sort(),
    write: true,
  };
}

/**
 * A (re)sent cluster needs its ClusterLoadAssignment again before it leaves warming (Envoy):
 * forget that those were sent, so the next EDS response carries them.
 *
 * @example
 * edsWatch = forgetSent(edsWatch, ["outbound|80||a.demo.svc.cluster.local"]);
 */
export function forgetSent(w: WatchState, names: readonly string[]): WatchState {
  if (!names.some((n) => w.sent.has(n) && w.sent.get(n) !== null)) return w;
  const sent = new Map(w.sent);
  for (const n of names) if (sent.get(n) !== null) sent.delete(n);
  return { ...w, sent };
}
