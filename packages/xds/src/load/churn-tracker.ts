/**
 * Who should receive each change, and when they did. At t0 (just before the driver applies a
 * change) every proxy whose current subscription holds a resource that carries the change is
 * an expected receiver. A receipt is the first resource of that name whose raw bytes hold the
 * change's marker; a later state of the same service supersedes earlier ones (its file was
 * written after theirs), so finding a newer marker also completes the older changes.
 */
import type { ChurnChange, ChurnKind } from "./churn.js";
import type { ReceivedResource, XdsKind } from "./proxy-subscriptions.js";
import type { SimulatedProxy } from "./simulated-proxy.js";
import { type PercentileSummary, summarizePercentiles } from "./stats.js";

export interface TrackedChange {
  readonly change: ChurnChange;
  /** Set by the caller right before the driver applies the change. */
  t0: number;
  /** When the server acknowledged the write (file renamed, API answer); unset if it never did. */
  written?: number;
  expected: number;
  received: number;
}

interface Outstanding {
  readonly tracked: TrackedChange;
  done: boolean;
}

export interface ChurnKindResult {
  readonly changes: number;
  readonly expectedReceipts: number;
  readonly received: number;
  /** Expected receipts not seen within the drain period after the churn ended. */
  readonly leftBehind: number;
  /** Latency from t0 to receipt, ms. */
  readonly latencyMs: PercentileSummary;
  /**
   * From the acknowledged write to receipt, ms: latencyMs without the write itself (an API
   * server's answer may come after some proxies already have the change: those count as 0).
   */
  readonly afterWriteMs: PercentileSummary;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * @example
 * const tracker = new ChurnTracker((proxy, change) => meshVisible(mesh, proxy.identity.namespace, change.service.namespace));
 * const tracked = tracker.expect(change, proxies);
 * tracked.t0 = performance.now(); // then apply the change
 * // in the proxies' onResources hook:
 * tracker.onResources(proxy, kind, received, at);
 */
export class ChurnTracker {
  private readonly tracked: TrackedChange[] = [];
  private readonly outstanding = new Map<number, Map<string, Outstanding[]>>();
  private readonly latencies: Record<ChurnKind, number[]> = { endpoints: [], services: [], routes: [] };
  /** Receipt times per change, to measure from the write's acknowledgement at the end. */
  private readonly receipts = new Map<TrackedChange, number[]>();
  private open = 0;
  /** Receipts after `close()` are not counted (they are left behind). */
  private accepting = true;

  constructor(private readonly visible: (proxy: SimulatedProxy, change: ChurnChange) => boolean) {}

  /** Receipts still expected. */
  get pending(): number {
    return this.open;
  }

  private isReceiver(proxy: SimulatedProxy, change: ChurnChange): boolean {
    const subs = proxy.subscriptions;
    if (change.resourceKind === "cds")
      // Only Envoy subscribes to CDS by wildcard; a gRPC client never asks for a new service.
      return subs.shape !== "grpc" && this.visible(proxy, change);
    const current = subs.subscription(change.resourceKind);
    if (!change.affectedNames.some((n) => current.has(n))) return false;
    return change.resourceKind === "eds" || this.visible(proxy, change);
  }

  /** Records the expected receivers of a change; set `t0` on the result right before applying it. */
  expect(change: ChurnChange, proxies: readonly SimulatedProxy[]): TrackedChange {
    const tracked: TrackedChange = { change, t0: Number.NaN, expected: 0, received: 0 };
    this.tracked.push(tracked);
    for (const proxy of proxies) {
      if (!this.isReceiver(proxy, change)) continue;
      tracked.expected++;
      this.open++;
      const entry: Outstanding = { tracked, done: false };
      let byName = this.outstanding.get(proxy.identity.index);
      if (!byName) {
        byName = new Map();
        this.outstanding.set(proxy.identity.index, byName);
      }
      for (const name of change.affectedNames) {
        const list = byName.get(name);
        if (list) list.push(entry);
        else byName.set(name, [entry]);
      }
    }
    return tracked;
  }

  /** Checks resources a proxy received against the changes it still waits for. */
  onResources(proxy: SimulatedProxy, kind: XdsKind, received: readonly ReceivedResource[], at: number): void {
    const byName = this.outstanding.get(proxy.identity.index);
    if (!byName || byName.size === 0) return;
    for (const r of received) {
      const list = byName.get(r.name);
      if (!list) continue;
      const resolved = new Set<number>();
      let bytes: Buffer | undefined;
      for (let i = list.length - 1; i >= 0; i--) {
        const o = list[i] as Outstanding;
        const c = o.tracked.change;
        if (o.done || c.resourceKind !== kind) continue;
        let hit = resolved.has(c.service.index) || c.needle === null;
        if (!hit) {
          bytes ??= asBuffer(r.bytes);
          hit = bytes.indexOf(c.needle as Buffer) >= 0;
        }
        if (!hit) continue;
        resolved.add(c.service.index);
        o.done = true;
        if (this.accepting) {
          o.tracked.received++;
          this.open--;
          this.latencies[c.kind].push(at - o.tracked.t0);
          const times = this.receipts.get(o.tracked);
          if (times) times.push(at);
          else this.receipts.set(o.tracked, [at]);
        }
      }
      const left = list.filter((o) => !o.done);
      if (left.length === 0) byName.delete(r.name);
      else if (left.length !== list.length) byName.set(r.name, left);
    }
  }

  /**
   * The receipts still expected (at most `max`): which proxy waits for which change. For reports
   * of what was left behind.
   */
  pendingDetails(max = 10): { proxyIndex: number; change: ChurnChange; t0: number }[] {
    const out: { proxyIndex: number; change: ChurnChange; t0: number }[] = [];
    for (const [proxyIndex, byName] of this.outstanding) {
      const seen = new Set<Outstanding>();
      for (const list of byName.values())
        for (const o of list) {
          if (o.done || seen.has(o)) continue;
          seen.add(o);
          if (out.length >= max) return out;
          out.push({ proxyIndex, change: o.tracked.change, t0: o.tracked.t0 });
        }
    }
    return out;
  }

  /**
   * Withdraws the receipts still expected of changes to service `serviceIndex`: its file was
   * deleted, so they can no longer arrive and are not due (they count neither as received nor
   * as left behind).
   */
  withdrawService(serviceIndex: number): void {
    for (const [proxyIndex, byName] of this.outstanding) {
      for (const [name, list] of byName) {
        for (const o of list) {
          if (o.done || o.tracked.change.service.index !== serviceIndex) continue;
          o.done = true;
          o.tracked.expected--;
          this.open--;
        }
        const left = list.filter((o) => !o.done);
        if (left.length === 0) byName.delete(name);
        else if (left.length !== list.length) byName.set(name, left);
      }
      if (byName.size === 0) this.outstanding.delete(proxyIndex);
    }
  }

  /**
   * Gives up on every receipt still expected: they stay counted as left behind, and a later
   * arrival (e.g. the full state after a reconnect) is not taken for a receipt.
   */
  abandon(): void {
    for (const byName of this.outstanding.values())
      for (const list of byName.values()) for (const o of list) o.done = true;
    this.outstanding.clear();
    this.open = 0;
  }

  /** Stops counting receipts (end of the drain period). */
  close(): void {
    this.accepting = false;
  }

  /** Change-to-receipt latency over every kind, ms. */
  overallLatency(): PercentileSummary {
    return summarizePercentiles([
      ...this.latencies.endpoints,
      ...this.latencies.services,
      ...this.latencies.routes,
    ]);
  }

  results(kinds: readonly ChurnKind[]): Record<string, ChurnKindResult> {
    const out: Record<string, ChurnKindResult> = {};
    for (const kind of kinds) {
      const mine = this.tracked.filter((t) => t.change.kind === kind);
      const expected = mine.reduce((s, t) => s + t.expected, 0);
      const received = mine.reduce((s, t) => s + t.received, 0);
      const afterWrite: number[] = [];
      for (const t of mine) {
        const written = t.written;
        if (written === undefined) continue;
        for (const at of this.receipts.get(t) ?? []) afterWrite.push(Math.max(0, at - written));
      }
      out[kind] = {
        changes: mine.length,
        expectedReceipts: expected,
        received,
        leftBehind: expected - received,
        latencyMs: summarizePercentiles(this.latencies[kind]),
        afterWriteMs: summarizePercentiles(afterWrite),
      };
    }
    return out;
  }
}
