/**
 * The third level of Pilot's cache (Istio's XdsCache): generated, serialized resources keyed by
 * every input that affects their bytes, each entry listing the dependency keys it was built from
 * (see model/diff.ts `dependency`). A change clears exactly the entries that depend on it, and
 * the cache survives across mesh versions, so N proxies share one serialization per resource.
 */

export interface XdsCacheOptions {
  /** Off: every lookup builds (to measure what the cache saves). Default on. */
  readonly enabled?: boolean;
  /** Entries kept per cache before the least recently used go (Istio: 60,000 per type). Default 60,000. */
  readonly maxEntriesPerType?: number;
}

export interface XdsCacheStats {
  readonly hits: Readonly<Record<string, number>>;
  readonly misses: Readonly<Record<string, number>>;
  /** Entries removed because an input changed. */
  readonly invalidations: number;
  /** Entries removed to stay within the size limit. */
  readonly evictions: number;
  readonly entries: number;
  /** Serialized bytes held. */
  readonly bytes: number;
}

interface Entry {
  readonly value: unknown;
  readonly deps: readonly string[];
  readonly bytes: number;
}

/** A dependency that stands for "every namespace": cleared by any `ns:<name>` change. */
export const ALL_NAMESPACES = "ns:*";

export class XdsCache {
  private readonly types = new Map<string, Map<string, Entry>>();
  /** dependency key -> entries (`type\0key`) that depend on it. */
  private readonly index = new Map<string, Set<string>>();
  private readonly hitCounts: Record<string, number> = {};
  private readonly missCounts: Record<string, number> = {};
  private invalidations = 0;
  private evictions = 0;
  private bytes = 0;
  readonly enabled: boolean;
  private readonly maxEntries: number;

  constructor(options: XdsCacheOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.maxEntries = options.maxEntriesPerType ?? 60_000;
  }

  /**
   * The cached value for `key`, or `build()`'s result, stored with its dependencies.
   *
   * @example
   * const cla = cache.memo("eds", `${name}|${drId}`, [`eps:${host}`, `svc:${host}`], () => encodeResource("eds", name, build()));
   */
  memo<T>(
    type: string,
    key: string,
    /** What the value is built from; a function when only the built value knows it. */
    deps: readonly string[] | ((value: T) => readonly string[]),
    build: () => T,
    bytesOf: (value: T) => number = () => 0,
  ): T {
    if (!this.enabled) {
      this.missCounts[type] = (this.missCounts[type] ?? 0) + 1;
      return build();
    }
    let entries = this.types.get(type);
    if (!entries) {
      entries = new Map();
      this.types.set(type, entries);
    }
    const hit = entries.get(key);
    if (hit) {
      this.hitCounts[type] = (this.hitCounts[type] ?? 0) + 1;
      // Most recently used last: eviction takes the first entry. Reordering costs a delete and
      // an insert, so it only starts when the cache is near its limit.
      if (entries.size > this.maxEntries * 0.9) {
        entries.delete(key);
        entries.set(key, hit);
      }
      return hit.value as T;
    }
    this.missCounts[type] = (this.missCounts[type] ?? 0) + 1;
    const value = build();
    const bytes = bytesOf(value);
    const entryDeps = typeof deps === "function" ? deps(value) : deps;
    entries.set(key, { value, deps: entryDeps, bytes });
    this.bytes += bytes;
    const id = `${type}\0${key}`;
    for (const d of entryDeps) {
      let set = this.index.get(d);
      if (!set) {
        set = new Set();
        this.index.set(d, set);
      }
      set.add(id);
    }
    if (entries.size > this.maxEntries) {
      // Least recently used first: Map iteration order is insertion order.
      const oldest = entries.keys().next().value as string;
      this.drop(type, oldest);
      this.evictions++;
    }
    return value;
  }

  /** Removes every entry that depends on one of `deps`; returns how many went. */
  clear(deps: Iterable<string>): number {
    let removed = 0;
    const ids = new Set<string>();
    let namespaces = false;
    for (const d of deps) {
      if (d === "*") {
        removed = this.size();
        this.clearAll();
        this.invalidations += removed;
        return removed;
      }
      if (d.startsWith("ns:")) namespaces = true;
      for (const id of this.index.get(d) ?? []) ids.add(id);
    }
    if (namespaces) for (const id of this.index.get(ALL_NAMESPACES) ?? []) ids.add(id);
    for (const id of ids) {
      const sep = id.indexOf("\0");
      if (this.drop(id.slice(0, sep), id.slice(sep + 1))) removed++;
    }
    this.invalidations += removed;
    return removed;
  }

  /**
   * Removes the entries that depend on one of `deps` because nothing will ask for them again
   * (e.g. a proxy address whose last stream ended); counted as evictions, not invalidations.
   *
   * @example
   * cache.evict([dependency.address("10.0.0.7")]); // that proxy's inbound listeners and clusters
   */
  evict(deps: Iterable<string>): number {
    const invalidations = this.invalidations;
    const removed = this.clear(deps);
    this.invalidations = invalidations;
    this.evictions += removed;
    return removed;
  }

  clearAll(): void {
    this.types.clear();
    this.index.clear();
    this.bytes = 0;
  }

  size(): number {
    let n = 0;
    for (const entries of this.types.values()) n += entries.size;
    return n;
  }

  stats(): XdsCacheStats {
    return {
      hits: { ...this.hitCounts },
      misses: { ...this.missCounts },
      invalidations: this.invalidations,
      evictions: this.evictions,
      entries: this.size(),
      bytes: this.bytes,
    };
  }

  private drop(type: string, key: string): boolean {
    const entries = this.types.get(type);
    const entry = entries?.get(key);
    if (!entries || !entry) return false;
    entries.delete(key);
    this.bytes -= entry.bytes;
    const id = `${type}\0${key}`;
    for (const d of entry.deps) {
      const set = this.index.get(d);
      if (!set) continue;
      set.delete(id);
      if (set.size === 0) this.index.delete(d);
    }
    return true;
  }
}
