/**
 * A FIFO of work done in slices: each turn of the event loop (a `setImmediate`) runs items for
 * about `sliceMs`, then yields, so I/O (the debug port, ACKs, new streams) gets a turn between
 * slices however much is queued. A stream storm queues thousands of items at once; run in one
 * task they would stall the process for seconds.
 */

export interface SlicedQueueOptions {
  /** Work per turn of the event loop, ms (an item that starts within it runs to its end). */
  readonly sliceMs: number;
  /** Tests: the clock slices are measured with. */
  readonly now?: () => number;
  /** Tests: how the next slice is scheduled. */
  readonly schedule?: (next: () => void) => void;
}

/**
 * @example
 * const q = new SlicedQueue<string>((name) => generateFor(name), { sliceMs: 20 });
 * q.push("a"); // runs on a later turn of the event loop, in order, 20 ms of items per turn
 */
export class SlicedQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private scheduled = false;
  private readonly now: () => number;
  private readonly schedule: (next: () => void) => void;

  constructor(
    private readonly run: (item: T) => void,
    private readonly options: SlicedQueueOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.schedule = options.schedule ?? ((next) => setImmediate(next));
  }

  /** Items waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.runSlice());
  }

  /** Removes every waiting item and returns them, in order (nothing of them runs any more). */
  drain(): T[] {
    const rest = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return rest;
  }

  private runSlice(): void {
    this.scheduled = false;
    const t0 = this.now();
    let ran = 0;
    while (this.head < this.items.length) {
      // The first item always runs: a slice makes progress however long one item takes.
      if (ran > 0 && this.now() - t0 >= this.options.sliceMs) {
        this.reschedule();
        return;
      }
      const item = this.items[this.head] as T;
      // Released at once: a long queue must not pin what its finished items point to.
      this.items[this.head] = undefined;
      this.head++;
      ran++;
      let done = false;
      try {
        this.run(item);
        done = true;
      } finally {
        // An item that throws must not strand the ones behind it.
        if (!done && this.head < this.items.length) this.reschedule();
      }
    }
    this.items = [];
    this.head = 0;
  }

  private reschedule(): void {
    if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.runSlice());
  }
}
