/**
 * PushRequest: why proxies must be pushed (Istio's PushRequest). Requests from many source
 * events merge into one before the push context is built (debounce) and again per connection
 * while it waits in the push queue.
 */
import type { ConfigKey } from "../model/types.js";
import { configKeyString } from "../model/types.js";

export interface PushRequest {
  /** False when only endpoints changed: only ClusterLoadAssignments are regenerated and sent. */
  readonly full: boolean;
  /** Push every proxy and regenerate everything (startup, a change the dependency index cannot scope). */
  readonly forced: boolean;
  /** The objects that changed, by `Kind/namespace/name`. */
  readonly configsUpdated: ReadonlyMap<string, ConfigKey>;
  /** Dependency keys touched (see model/diff.ts `dependency`). */
  readonly dependencies: ReadonlySet<string>;
  /** Why, with counts (summed on merge, as Istio does). */
  readonly reasons: ReadonlyMap<string, number>;
  /** When the oldest change in this request happened (ms epoch): convergence is measured from here. */
  readonly startedAt: number;
  /** Source events merged into this request. */
  readonly events: number;
}

/**
 * @example
 * pushRequest({ reason: "endpoints", keys: [{ kind: "Endpoints", namespace: "demo", name: "a.demo.svc.cluster.local" }], full: false, dependencies: ["eps:a.demo.svc.cluster.local"], at: Date.now() });
 */
export function pushRequest(o: {
  reason: string;
  keys?: readonly ConfigKey[];
  full: boolean;
  forced?: boolean;
  dependencies?: Iterable<string>;
  at: number;
}): PushRequest {
  return {
    full: o.full || (o.forced ?? false),
    forced: o.forced ?? false,
    configsUpdated: new Map((o.keys ?? []).map((k) => [configKeyString(k), k])),
    dependencies: new Set(o.dependencies ?? []),
    reasons: new Map([[o.reason, 1]]),
    startedAt: o.at,
    events: 1,
  };
}

/**
 * Merges two requests: full and forced are or-ed, configs and dependencies unioned, reasons
 * summed, the earliest start kept.
 *
 * @example
 * const merged = mergePushRequests(a, b);
 */
export function mergePushRequests(a: PushRequest | undefined, b: PushRequest): PushRequest {
  if (!a) return b;
  const reasons = new Map(a.reasons);
  for (const [r, n] of b.reasons) reasons.set(r, (reasons.get(r) ?? 0) + n);
  return {
    full: a.full || b.full,
    forced: a.forced || b.forced,
    configsUpdated: new Map([...a.configsUpdated, ...b.configsUpdated]),
    dependencies: new Set([...a.dependencies, ...b.dependencies]),
    reasons,
    startedAt: Math.min(a.startedAt, b.startedAt),
    events: a.events + b.events,
  };
}

/** `endpoints x3, config x1` for logs. */
export function formatReasons(r: PushRequest): string {
  return [...r.reasons].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(", ");
}
