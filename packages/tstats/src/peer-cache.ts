/**
 * A bounded cache of decoded peers keyed by peer id (`x-envoy-peer-metadata-id`), or by the header
 * value itself when a peer sends no id. Eviction follows Istio's metadata-exchange cache: when
 * full, the oldest quarter of entries is dropped at once, which keeps the hit path a plain Map
 * lookup with no LRU bookkeeping.
 */
export class PeerCache<V> {
  private readonly entries = new Map<string, V>();
  hits = 0;
  misses = 0;
  evictions = 0;
  /**
   * Bumped whenever entries leave the cache (an eviction sweep or `clear`). Anyone who relies on
   * an entry still being here (the once-per-client response exchange) compares generations.
   */
  generation = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError("PeerCache capacity must be a positive integer");
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  set(key: string, value: V): void {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      const drop = Math.max(1, Math.floor(this.capacity / 4));
      let n = 0;
      // Map iteration is insertion order: the first keys are the oldest.
      for (const k of this.entries.keys()) {
        if (n++ >= drop) break;
        this.entries.delete(k);
      }
      this.evictions += drop;
      this.generation++;
    }
    this.entries.set(key, value);
  }

  clear(): void {
    this.entries.clear();
    this.generation++;
  }
}
