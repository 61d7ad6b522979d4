import { performance } from "node:perf_hooks";
import { isMeshctlError, MeshctlError } from "@meshctl/core";
import { errorKind, type LoadConnection } from "./clients/connection.js";
import { connectLoad } from "./clients/index.js";
import { LatencyHistogram } from "./histogram.js";
import { OpenLoopSchedule } from "./schedule.js";
import type { ParsedTarget } from "./target.js";
import { formatTraceRequestId, type ShardTrace, type ShardTraceOptions, TraceRecorder } from "./trace.js";

/** What one thread (main or worker) runs: a slice of the connections and of the rate. */
export interface ShardOptions {
  readonly target: ParsedTarget;
  readonly mode: "open" | "closed";
  /** This shard's rate (open loop). */
  readonly qps: number | null;
  /** Offset in intervals, so W shards interleave into one even schedule. */
  readonly scheduleOffset: number;
  readonly connections: number;
  readonly durationMs: number | null;
  /** This shard's share of measured requests. */
  readonly requests: number | null;
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly warmupMs: number;
  readonly timeoutMs: number;
  readonly pacing: "precise" | "timer";
  /** Per-request ids and timings; null sends the prebuilt request. */
  readonly trace: ShardTraceOptions | null;
}

export interface ShardProgress {
  readonly phase: "warmup" | "measure";
  readonly elapsedMs: number;
  readonly requests: number;
  readonly errors: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface ShardResult {
  readonly corrected: LatencyHistogram;
  readonly uncorrected: LatencyHistogram;
  readonly errors: Record<string, number>;
  /** Completed measured requests (successes and errors). */
  readonly requests: number;
  /** Epoch ms (sub-ms precision, comparable across threads) when the measured phase started. */
  readonly measureStartEpochMs: number;
  readonly durationMs: number;
  /** Measured requests that were due before the end but never sent (generator or target too slow). */
  readonly unsent: number;
  /** Measured requests of a traced run. */
  readonly trace?: ShardTrace;
}

interface Slot {
  conn: number;
  busy: boolean;
  measured: boolean;
  intended: number;
  sent: number;
  /** Id number of the request in flight (traced runs). */
  traceN: number;
  readonly onDone: (err: string | null) => void;
}

/** Below this many ms to the next send the scheduler polls with setImmediate instead of a timer. */
const SPIN_MS = 1.5;
const RECONNECT_BACKOFF_MS = 100;

/**
 * A connected, ready-to-start shard. Connecting is separate from starting so worker threads can
 * connect first and then start on one shared clock.
 */
export class LoadShard {
  private readonly conns: Array<LoadConnection | null> = [];
  private readonly reconnecting: boolean[] = [];
  private readonly slots: Slot[] = [];
  private readonly idle: number[] = [];
  private readonly corrected = new LatencyHistogram();
  private readonly uncorrected = new LatencyHistogram();
  private readonly errors: Record<string, number> = {};
  private schedule: OpenLoopSchedule | null = null;
  private nextIndex = 0;
  private measureStart = 0;
  private measureEnd = Number.POSITIVE_INFINITY;
  private measuredSent = 0;
  private completed = 0;
  private errorCount = 0;
  private inFlight = 0;
  private lastCompletion = 0;
  private sendingDone = false;
  private stopped = false;
  private unsent = 0;
  private wakeScheduled = false;
  private timers: NodeJS.Timeout[] = [];
  private resolveDone: (() => void) | null = null;
  private measureStartEpoch = 0;
  private lastProgressAt = performance.now();
  /** Fastest measured successful response (ms): how far completions trail their sends at best. */
  private fastestMs = Number.POSITIVE_INFINITY;
  private traceSeq = 0;
  private readonly traceRecorder: TraceRecorder | null;

  private constructor(private readonly opts: ShardOptions) {
    this.traceRecorder = opts.trace ? new TraceRecorder() : null;
  }

  /** Opens all connections; throws BENCH_TARGET_UNREACHABLE when none can be opened. */
  static async connect(opts: ShardOptions): Promise<LoadShard> {
    const shard = new LoadShard(opts);
    await shard.openAll();
    return shard;
  }

  private connectOne(): Promise<LoadConnection> {
    return connectLoad({
      target: this.opts.target,
      payload: this.opts.payload,
      headers: this.opts.headers,
      connectTimeoutMs: Math.min(this.opts.timeoutMs, 10_000),
      traceHeader: this.opts.trace?.header ?? null,
    });
  }

  private async openAll(): Promise<void> {
    const results = await Promise.allSettled(
      Array.from({ length: this.opts.connections }, () => this.connectOne()),
    );
    const firstError = results.find((r) => r.status === "rejected");
    if (results.every((r) => r.status === "rejected")) {
      const reason = (firstError as PromiseRejectedResult).reason as Error;
      // A diagnosis of its own (e.g. the server does not speak the protocol) says more than "cannot connect".
      if (isMeshctlError(reason)) throw reason;
      const t = this.opts.target;
      throw new MeshctlError(
        "BENCH_TARGET_UNREACHABLE",
        `cannot connect to ${t.host}:${t.port}: ${reason.message}`,
        {
          kind: "environment",
          suggestions: [
            "Check that the target is listening (meshctl bench server --protocol ... starts an echo server)",
          ],
          cause: reason,
          details: { code: errorKind(reason) },
        },
      );
    }
    results.forEach((r, i) => {
      const conn = r.status === "fulfilled" ? r.value : null;
      this.conns.push(conn);
      this.reconnecting.push(false);
      // Closed loop keeps one request per connection (concurrency = connections, as fortio -c);
      // open loop may use every stream an HTTP/2 connection offers.
      const capacity = this.opts.mode === "closed" || !conn ? 1 : conn.capacity;
      for (let s = 0; s < capacity; s++) {
        const id = this.slots.length;
        const slot: Slot = {
          conn: i,
          busy: false,
          measured: false,
          intended: 0,
          sent: 0,
          traceN: 0,
          onDone: (err) => this.complete(id, err),
        };
        this.slots.push(slot);
      }
    });
    for (let id = this.slots.length - 1; id >= 0; id--) this.idle.push(id);
  }

  /**
   * Runs warm-up plus the measured phase, starting at `startAt` (performance.now() clock).
   * Resolves when every measured request completed or timed out.
   */
  run(startAt: number, onProgress?: (p: ShardProgress) => void, progressMs = 250): Promise<ShardResult> {
    const o = this.opts;
    this.measureStart = startAt + o.warmupMs;
    if (o.durationMs !== null) this.measureEnd = this.measureStart + o.durationMs;
    if (o.mode === "open") this.schedule = new OpenLoopSchedule(startAt, o.qps ?? 1000, o.scheduleOffset);
    const done = new Promise<void>((resolve) => {
      this.resolveDone = resolve;
    });
    const sweepMs = Math.max(10, Math.min(progressMs, o.timeoutMs / 4));
    this.timers.push(setInterval(() => this.sweepTimeouts(), sweepMs));
    if (onProgress) {
      this.timers.push(
        setInterval(() => {
          const now = performance.now();
          const measuring = now >= this.measureStart;
          onProgress({
            phase: measuring ? "measure" : "warmup",
            elapsedMs: measuring ? now - this.measureStart : now - startAt,
            requests: this.completed,
            errors: this.errorCount,
            p50Us: this.corrected.percentile(50),
            p99Us: this.corrected.percentile(99),
          });
        }, progressMs),
      );
    }
    if (Number.isFinite(this.measureEnd)) {
      this.timers.push(setTimeout(() => this.endSending(), Math.max(0, this.measureEnd - performance.now())));
    }
    const begin = (): void => {
      // timeOrigin + a performance.now() time: an epoch with sub-ms precision on which threads
      // agree to microseconds (Date.now() is whole ms); merged trace send times rely on it.
      this.measureStartEpoch = performance.timeOrigin + this.measureStart;
      this.pump();
    };
    const delay = startAt - performance.now();
    if (delay > 0) this.timers.push(setTimeout(begin, delay));
    else begin();
    return done.then(() => this.result());
  }

  /** Stops sending; in-flight requests still complete (or time out). */
  /** Closes the connections of a shard that will not run (interrupted while connecting). */
  close(): void {
    this.stopped = true;
    for (const c of this.conns) c?.destroy("closed");
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.endSending();
  }

  private endSending(): void {
    if (this.sendingDone) return;
    this.sendingDone = true;
    if (this.schedule && !this.stopped) {
      // Requests due before the end that never went out: the generator or the target fell behind.
      const due = this.schedule.dueBy(Math.min(performance.now(), this.measureEnd - 1e-6));
      const firstMeasured = this.schedule.firstAtOrAfter(this.measureStart);
      this.unsent = Math.max(0, due - Math.max(this.nextIndex, firstMeasured));
    }
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (!this.sendingDone || this.inFlight > 0 || !this.resolveDone) return;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const c of this.conns) c?.destroy("closed");
    const resolve = this.resolveDone;
    this.resolveDone = null;
    resolve();
  }

  private result(): ShardResult {
    const o = this.opts;
    const actual = Math.max(0, (this.lastCompletion || this.measureStart) - this.measureStart);
    let planned = 0;
    if (o.durationMs !== null) planned = o.durationMs;
    else if (o.mode === "open" && o.requests !== null && o.qps) planned = (o.requests * 1000) / o.qps;
    // Open loop: completions follow the schedule shifted by the response time, so even a target
    // that keeps up answers the last request that long after the window. Only the lag beyond the
    // fastest response lengthens the duration: a backlog that drains after the window still
    // lowers the achieved rate (and flags the run); a 20 ms target that keeps up is not flagged.
    const trailing = o.mode === "open" && Number.isFinite(this.fastestMs) ? this.fastestMs : 0;
    const result: ShardResult = {
      corrected: this.corrected,
      uncorrected: this.uncorrected,
      errors: this.errors,
      requests: this.completed,
      measureStartEpochMs: this.measureStartEpoch,
      durationMs: this.stopped ? actual : Math.max(planned, actual - trailing),
      unsent: this.unsent,
    };
    return this.traceRecorder ? { ...result, trace: this.traceRecorder.finish() } : result;
  }

  private pump = (): void => {
    this.pumpAt(performance.now());
  };

  /** Sends what is due at `now` (a completion passes its own timestamp: one clock read less). */
  private pumpAt(now: number): void {
    if (this.sendingDone) return;
    const o = this.opts;
    if (now >= this.measureEnd) {
      this.endSending();
      return;
    }
    const sched = this.schedule;
    if (sched) {
      while (this.idle.length > 0) {
        const intended = sched.intendedAt(this.nextIndex);
        if (intended > now) break;
        if (intended >= this.measureEnd) {
          this.endSending();
          return;
        }
        const measured = intended >= this.measureStart;
        if (!this.send(this.idle.pop() as number, intended, now, measured)) continue;
        this.nextIndex++;
        if (measured && o.requests !== null && ++this.measuredSent >= o.requests) {
          this.endSending();
          return;
        }
      }
      if (this.idle.length > 0 && !this.wakeScheduled) {
        const wait = sched.intendedAt(this.nextIndex) - performance.now();
        this.wakeScheduled = true;
        if (wait > SPIN_MS || (o.pacing === "timer" && wait > 0))
          setTimeout(this.wake, Math.max(1, wait - (o.pacing === "timer" ? 0 : 1)));
        else setImmediate(this.wake);
      }
    } else {
      while (this.idle.length > 0) {
        const measured = now >= this.measureStart;
        if (!this.send(this.idle.pop() as number, now, now, measured)) continue;
        if (measured && o.requests !== null && ++this.measuredSent >= o.requests) {
          this.endSending();
          return;
        }
      }
      if (now < this.measureStart && this.idle.length === 0 && this.inFlight === 0 && !this.wakeScheduled) {
        // Every connection is down during warm-up: retry after the reconnect backoff.
        this.wakeScheduled = true;
        setTimeout(this.wake, RECONNECT_BACKOFF_MS);
      }
    }
  }

  private wake = (): void => {
    this.wakeScheduled = false;
    this.pump();
  };

  /** Returns false (slot parked) when its connection is down. */
  private send(id: number, intended: number, now: number, measured: boolean): boolean {
    const slot = this.slots[id] as Slot;
    const conn = this.conns[slot.conn];
    if (!conn?.alive) {
      this.reconnect(slot.conn);
      return false;
    }
    slot.busy = true;
    slot.measured = measured;
    slot.intended = intended;
    slot.sent = now;
    this.inFlight++;
    const trace = this.opts.trace;
    if (trace === null) conn.request(slot.onDone);
    else {
      slot.traceN = this.traceSeq++ * trace.shards + trace.shard;
      conn.request(slot.onDone, formatTraceRequestId(trace.idPrefix, slot.traceN));
    }
    return true;
  }

  private complete(id: number, err: string | null): void {
    const end = performance.now();
    const slot = this.slots[id] as Slot;
    if (!slot.busy) return;
    slot.busy = false;
    this.inFlight--;
    this.lastProgressAt = end;
    if (slot.measured) {
      this.completed++;
      this.lastCompletion = end;
      const serviceMs = end - slot.sent;
      if (err === null) {
        this.corrected.record((end - slot.intended) * 1000);
        this.uncorrected.record(serviceMs * 1000);
        if (serviceMs < this.fastestMs) this.fastestMs = serviceMs;
      } else {
        this.errorCount++;
        this.errors[err] = (this.errors[err] ?? 0) + 1;
      }
      this.traceRecorder?.record(
        slot.traceN,
        slot.sent - this.measureStart,
        Math.round(serviceMs * 1000),
        err === null ? 0 : 1,
      );
    }
    const conn = this.conns[slot.conn];
    if (conn?.alive) this.idle.push(id);
    else this.reconnect(slot.conn);
    if (this.sendingDone) this.maybeFinish();
    else this.pumpAt(end);
  }

  private reconnect(index: number): void {
    if (this.reconnecting[index] || this.sendingDone) return;
    this.reconnecting[index] = true;
    this.conns[index] = null;
    const attempt = (): void => {
      this.connectOne().then(
        (conn) => {
          this.reconnecting[index] = false;
          if (this.sendingDone) {
            conn.destroy("closed");
            return;
          }
          this.conns[index] = conn;
          this.lastProgressAt = performance.now();
          // Slots of this connection that are not in flight go back to the idle stack.
          this.slots.forEach((s, id) => {
            if (s.conn === index && !s.busy && !this.idle.includes(id)) this.idle.push(id);
          });
          this.pump();
        },
        (err: unknown) => {
          if (performance.now() >= this.measureStart) {
            const kind = errorKind(err);
            this.errors[kind] = (this.errors[kind] ?? 0) + 1;
            this.errorCount++;
          }
          if (this.sendingDone) {
            this.reconnecting[index] = false;
            this.maybeFinish();
            return;
          }
          const t = setTimeout(attempt, RECONNECT_BACKOFF_MS);
          this.timers.push(t);
        },
      );
    };
    attempt();
  }

  private sweepTimeouts(): void {
    const now = performance.now();
    const limit = this.opts.timeoutMs;
    // Every connection down and nothing completing for a whole timeout: the target is gone; end
    // the run (with its connection errors) instead of retrying forever in a request-count run.
    if (this.inFlight === 0 && now - this.lastProgressAt > limit && this.conns.every((c) => !c?.alive)) {
      this.stop();
      return;
    }
    for (const slot of this.slots) {
      if (slot.busy && now - slot.sent > limit) this.conns[slot.conn]?.destroy("timeout");
    }
  }
}
