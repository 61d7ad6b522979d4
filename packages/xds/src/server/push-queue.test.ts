import { describe, expect, test } from "vitest";
import { PushQueue } from "./push-queue.js";
import { pushRequest } from "./push-request.js";

const req = (full: boolean, dep: string, at = 0) =>
  pushRequest({ reason: "t", full, dependencies: [dep], at });

describe("PushQueue", () => {
  test("one slot per connection: later requests merge into it, FIFO order kept", () => {
    const q = new PushQueue<string>();
    q.enqueue("a", req(false, "eps:x", 10));
    q.enqueue("b", req(false, "eps:y"));
    q.enqueue("a", req(true, "svc:z", 5));
    expect(q.length).toBe(2);
    const first = q.dequeue();
    expect(first?.conn).toBe("a");
    expect(first?.request).toMatchObject({ full: true, startedAt: 5, events: 2 });
    expect([...(first?.request.dependencies ?? [])].sort()).toEqual(["eps:x", "svc:z"]);
    expect(q.dequeue()?.conn).toBe("b");
    expect(q.dequeue()).toBeUndefined();
  });

  test("a connection is never pushed concurrently: requests during its push come back after markDone", () => {
    const q = new PushQueue<string>();
    q.enqueue("a", req(false, "eps:x"));
    expect(q.dequeue()?.conn).toBe("a");
    q.enqueue("a", req(false, "eps:y"));
    q.enqueue("a", req(false, "eps:z"));
    expect(q.dequeue()).toBeUndefined();
    q.markDone("a");
    const again = q.dequeue();
    expect(again?.conn).toBe("a");
    expect(again?.request.events).toBe(2);
  });

  test("a removed connection leaves the queue", () => {
    const q = new PushQueue<string>();
    q.enqueue("a", req(false, "eps:x"));
    q.enqueue("b", req(false, "eps:x"));
    q.remove("a");
    expect(q.dequeue()?.conn).toBe("b");
    expect(q.length).toBe(0);
  });
});
