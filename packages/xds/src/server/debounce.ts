/**
 * Debounce before the push context is built (Istio's `debounce()`): source events merge into
 * one PushRequest until the mesh has been quiet for `afterMs`, or the first event is `maxMs`
 * old. Single flight: while a push is being prepared no other starts; events arriving meanwhile
 * wait for the next window.
 *
 * One deliberate difference from Istio: an endpoints-only window also closes `edsMaxMs` after
 * its first event. Under steady endpoint churn (events closer than `afterMs`) Istio's quiet-time
 * rule never fires and every endpoint change waits for `maxMs` (10 s); a rolling deploy then
 * routes to dead pods for seconds. See docs/decision-records/0014-xds-pilot-pipeline.md.
 */
import { mergePushRequests, type PushRequest } from "./push-request.js";

export interface DebounceOptions {
  /** Quiet period (Istio's PILOT_DEBOUNCE_AFTER). Default 100 ms. */
  readonly afterMs?: number;
  /** Longest a window stays open (PILOT_DEBOUNCE_MAX). Default 10 s. */
  readonly maxMs?: number;
  /** Longest an endpoints-only window stays open. Default: `afterMs`. */
  readonly edsMaxMs?: number;
}

/** The clock the debouncer uses; tests pass a fake one. */
export interface DebounceClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const SYSTEM_CLOCK: DebounceClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const DEFAULT_DEBOUNCE_AFTER_MS = 100;
export const DEFAULT_DEBOUNCE_MAX_MS = 10_000;

export class Debouncer {
  private pending: PushRequest | undefined;
  private windowStart = 0;
  private lastEvent = 0;
  private timer: unknown;
  private busy = false;
  private closed = false;
  readonly afterMs: number;
  readonly maxMs: number;
  readonly edsMaxMs: number;
  /** Events merged into an open window (a measure of how much debouncing saved). */
  merged = 0;

  constructor(
    /** Builds the push context and enqueues the proxies; the next window waits for it. */
    private readonly push: (request: PushRequest, debounceMs: number) => Promise<void> | void,
    options: DebounceOptions = {},
    private readonly clock: DebounceClock = SYSTEM_CLOCK,
  ) {
    this.afterMs = options.afterMs ?? DEFAULT_DEBOUNCE_AFTER_MS;
    this.maxMs = options.maxMs ?? DEFAULT_DEBOUNCE_MAX_MS;
    this.edsMaxMs = options.edsMaxMs ?? this.afterMs;
  }

  /** No window open and no push being prepared. */
  get idle(): boolean {
    return !this.pending && !this.busy;
  }

  /** Adds a source event. */
  add(request: PushRequest): void {
    if (this.closed) return;
    const now = this.clock.now();
    if (!this.pending) this.windowStart = now;
    else this.merged++;
    this.pending = mergePushRequests(this.pending, request);
    this.lastEvent = now;
    if (this.afterMs <= 0 && !this.busy) {
      this.fire();
      return;
    }
    if (this.timer === undefined && !this.busy) this.arm(this.afterMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimer(
      () => {
        this.timer = undefined;
        this.check();
      },
      Math.max(0, ms),
    );
  }

  /** Istio's timer check: push when quiet long enough or the window is too old. */
  private check(): void {
    if (!this.pending || this.busy || this.closed) return;
    const now = this.clock.now();
    const quiet = now - this.lastEvent;
    const age = now - this.windowStart;
    const limit = this.pending.full ? this.maxMs : Math.min(this.maxMs, this.edsMaxMs);
    if (quiet >= this.afterMs || age >= limit) {
      this.fire();
      return;
    }
    this.arm(Math.min(this.afterMs - quiet, limit - age));
  }

  private fire(): void {
    const request = this.pending;
    if (!request) return;
    this.pending = undefined;
    this.busy = true;
    const debounceMs = this.clock.now() - this.windowStart;
    const done = () => {
      this.busy = false;
      // Events that arrived during the push form the next window; check it now.
      if (this.pending && !this.closed) this.check();
    };
    try {
      const result = this.push(request, debounceMs);
      if (result && typeof (result as Promise<void>).then === "function")
        (result as Promise<void>).then(done, done);
      else done();
    } catch {
      done();
    }
  }
}
