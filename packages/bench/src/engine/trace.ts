import type { LoadTrace, LoadTraceOptions, LoadTraceRequest } from "./types.js";

/**
 * Most requests a result's trace keeps (about 10 MB of JSON). A shard stops recording there, and
 * the merged trace keeps the earliest sent; the result says how many were left out.
 */
export const LOAD_TRACE_MAX_REQUESTS = 200_000;

/** The trace settings one shard runs with: ids n = k × shards + shard never collide across threads. */
export interface ShardTraceOptions extends LoadTraceOptions {
  readonly shard: number;
  readonly shards: number;
}

/** One shard's measured requests, as flat numbers so a worker can post them cheaply. */
export interface ShardTrace {
  /** [n, sentMs, latencyUs, error] per request, in completion order; sentMs from the shard's measured start. */
  readonly entries: Float64Array;
  /** Measured requests past the cap, not recorded. */
  readonly dropped: number;
}

const FIELDS = 4;

/**
 * Collects a shard's measured requests. Preallocated and grown by doubling: recording is a few
 * stores per completion, no allocation on the hot path.
 */
export class TraceRecorder {
  private data = new Float64Array(FIELDS * 4096);
  private count = 0;
  private dropped = 0;

  constructor(private readonly cap = LOAD_TRACE_MAX_REQUESTS) {}

  record(n: number, sentMs: number, latencyUs: number, error: 0 | 1): void {
    if (this.count >= this.cap) {
      this.dropped++;
      return;
    }
    let i = this.count * FIELDS;
    if (i + FIELDS > this.data.length) {
      const grown = new Float64Array(Math.min(this.data.length * 2, this.cap * FIELDS));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[i++] = n;
    this.data[i++] = sentMs;
    this.data[i++] = latencyUs;
    this.data[i] = error;
    this.count++;
  }

  finish(): ShardTrace {
    return { entries: this.data.slice(0, this.count * FIELDS), dropped: this.dropped };
  }
}

/**
 * The id a request carries: `<idPrefix>-<n>`.
 *
 * @example
 * formatTraceRequestId("mcl-1a2b-sidecar-r3", 7) // "mcl-1a2b-sidecar-r3-7"
 */
export function formatTraceRequestId(idPrefix: string, n: number): string {
  return `${idPrefix}-${n}`;
}

/**
 * Merges shard traces into one, ordered by send time. `offsetMs` moves a shard's times onto the
 * run's clock (its measured start minus the earliest shard's). Keeps the `cap` earliest-sent
 * requests; `total` counts all measured requests, recorded or not.
 *
 * @example
 * mergeShardTraces({ header: "x-request-id", idPrefix: "r1" }, [{ trace, offsetMs: 0 }]).trace.requests[0] // ["r1-0", 0.012, 180, 0]
 */
export function mergeShardTraces(
  options: LoadTraceOptions,
  shards: readonly { readonly trace: ShardTrace; readonly offsetMs: number }[],
  cap = LOAD_TRACE_MAX_REQUESTS,
): { trace: LoadTrace; total: number } {
  const rows: LoadTraceRequest[] = [];
  let total = 0;
  for (const { trace, offsetMs } of shards) {
    const e = trace.entries;
    total += e.length / FIELDS + trace.dropped;
    for (let i = 0; i < e.length; i += FIELDS) {
      rows.push([
        formatTraceRequestId(options.idPrefix, e[i] as number),
        Math.round(((e[i + 1] as number) + offsetMs) * 1000) / 1000,
        e[i + 2] as number,
        e[i + 3] === 1 ? 1 : 0,
      ]);
    }
  }
  rows.sort((a, b) => a[1] - b[1]);
  if (rows.length > cap) rows.length = cap;
  return { trace: { header: options.header, idPrefix: options.idPrefix, requests: rows }, total };
}
