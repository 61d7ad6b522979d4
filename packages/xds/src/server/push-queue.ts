/**
 * The push queue (Istio's PushQueue): one pending slot per connection. A request for a
 * connection already waiting merges into its slot; a request for a connection being pushed is
 * kept and re-queued when that push is done. So a connection is never pushed concurrently, and a
 * burst collapses into one follow-up push.
 */
import { mergePushRequests, type PushRequest } from "./push-request.js";

export class PushQueue<C> {
  private readonly pending = new Map<C, { request: PushRequest; enqueuedAt: number }>();
  private readonly order: C[] = [];
  private head = 0;
  private readonly processing = new Map<C, PushRequest | undefined>();

  /** Connections waiting (not counting those being pushed). */
  get length(): number {
    return this.pending.size;
  }

  get inProgress(): number {
    return this.processing.size;
  }

  enqueue(conn: C, request: PushRequest, now = Date.now()): void {
    if (this.processing.has(conn)) {
      this.processing.set(conn, mergePushRequests(this.processing.get(conn), request));
      return;
    }
    const slot = this.pending.get(conn);
    if (slot) {
      slot.request = mergePushRequests(slot.request, request);
      return;
    }
    this.pending.set(conn, { request, enqueuedAt: now });
    this.order.push(conn);
  }

  /** The next connection to push, its merged request and how long it waited; undefined when empty. */
  dequeue(now = Date.now()): { conn: C; request: PushRequest; queuedMs: number } | undefined {
    while (this.head < this.order.length) {
      const conn = this.order[this.head++] as C;
      const slot = this.pending.get(conn);
      if (!slot) continue; // removed while waiting
      this.pending.delete(conn);
      this.processing.set(conn, undefined);
      if (this.head > 1024 && this.head * 2 > this.order.length) {
        this.order.splice(0, this.head);
        this.head = 0;
      }
      return { conn, request: slot.request, queuedMs: now - slot.enqueuedAt };
    }
    return undefined;
  }

  /** The push of `conn` is done; what arrived meanwhile is queued again. */
  markDone(conn: C, now = Date.now()): void {
    const next = this.processing.get(conn);
    this.processing.delete(conn);
    if (next) this.enqueue(conn, next, now);
  }

  /** A closed connection leaves the queue. */
  remove(conn: C): void {
    this.pending.delete(conn);
    this.processing.delete(conn);
  }
}
