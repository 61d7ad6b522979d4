/**
 * Open-loop schedule: request k is *intended* at `startMs + (k + offset) * intervalMs`.
 * Latency is measured from that intended time, so a stalled target or a late generator shows up
 * as latency instead of silently lowering the request rate (coordinated omission, see wrk2).
 *
 * With W worker threads each runs `rate / W` with offset `w / W`, which interleaves the shards
 * into one evenly spaced schedule.
 */
export class OpenLoopSchedule {
  readonly intervalMs: number;

  constructor(
    readonly startMs: number,
    readonly qps: number,
    readonly offset = 0,
  ) {
    if (!(qps > 0)) throw new RangeError(`qps must be > 0, got ${qps}`);
    this.intervalMs = 1000 / qps;
  }

  /** Intended send time of request k (ms, same clock as startMs). */
  intendedAt(k: number): number {
    return this.startMs + (k + this.offset) * this.intervalMs;
  }

  /** How many requests (indices 0..n-1) are due at `nowMs`. */
  dueBy(nowMs: number): number {
    const n = Math.floor((nowMs - this.startMs) / this.intervalMs - this.offset + 1e-9) + 1;
    return n < 0 ? 0 : n;
  }

  /** First index whose intended time is at or after `timeMs`. */
  firstAtOrAfter(timeMs: number): number {
    const k = Math.ceil((timeMs - this.startMs) / this.intervalMs - this.offset - 1e-9);
    return k <= 0 ? 0 : k;
  }
}

/**
 * Corrected and uncorrected latency of one request in µs.
 *
 * @example
 * latencyPairUs(1000, 1500, 1502) // { corrected: 502000, uncorrected: 2000 }
 */
export function latencyPairUs(
  intendedMs: number,
  sentMs: number,
  endMs: number,
): { corrected: number; uncorrected: number } {
  return { corrected: (endMs - intendedMs) * 1000, uncorrected: (endMs - sentMs) * 1000 };
}

export interface SimulatedRequest {
  readonly intendedMs: number;
  readonly sentMs: number;
  readonly endMs: number;
}

/**
 * Deterministic model of the open-loop scheduler on one connection: request k goes out when it
 * is due and the connection is free, and takes `serviceMs(sentMs)`. Used to test the correction
 * and to explain it (docs/bench.md): a stall delays every request queued behind it.
 *
 * @example
 * simulateOpenLoop({ qps: 100, requests: 3, serviceMs: () => 1 }).map((r) => r.endMs) // [1, 11, 21]
 */
export function simulateOpenLoop(opts: {
  qps: number;
  requests: number;
  serviceMs: (sentMs: number) => number;
}): SimulatedRequest[] {
  const schedule = new OpenLoopSchedule(0, opts.qps);
  const out: SimulatedRequest[] = [];
  let free = 0;
  for (let k = 0; k < opts.requests; k++) {
    const intendedMs = schedule.intendedAt(k);
    const sentMs = Math.max(intendedMs, free);
    const endMs = sentMs + opts.serviceMs(sentMs);
    free = endMs;
    out.push({ intendedMs, sentMs, endMs });
  }
  return out;
}
