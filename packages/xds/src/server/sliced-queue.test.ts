import { describe, expect, test } from "vitest";
import { SlicedQueue } from "./sliced-queue.js";

/** A queue on a fake clock whose items each take `costMs`; slices run when the test says. */
function fakeQueue(costMs: number, sliceMs = 20, fail?: (item: number) => boolean) {
  let clock = 0;
  const pending: (() => void)[] = [];
  const ran: number[][] = [];
  let slice: number[] = [];
  const q = new SlicedQueue<number>(
    (item) => {
      slice.push(item);
      clock += costMs;
      if (fail?.(item)) throw new Error(`item ${item}`);
    },
    { sliceMs, now: () => clock, schedule: (next) => pending.push(next) },
  );
  const turn = () => {
    const next = pending.shift();
    if (!next) return false;
    slice = [];
    try {
      next();
    } finally {
      ran.push(slice);
    }
    return true;
  };
  return { q, turn, ran, pending };
}

describe("SlicedQueue", () => {
  test("runs items in order, about sliceMs of them per turn, scheduling one turn at a time", () => {
    const { q, turn, ran, pending } = fakeQueue(6);
    for (let i = 0; i < 10; i++) q.push(i);
    expect(pending).toHaveLength(1);
    expect(q.length).toBe(10);
    while (turn()) {}
    // 6 ms each: the fourth starts at 18 ms (< 20), the fifth would start at 24 ms.
    expect(ran).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(q.length).toBe(0);
  });

  test("an item longer than the slice still runs, one per turn", () => {
    const { q, turn, ran } = fakeQueue(50);
    for (let i = 0; i < 3; i++) q.push(i);
    while (turn()) {}
    expect(ran).toEqual([[0], [1], [2]]);
  });

  test("items pushed while a slice runs join its end", () => {
    const { q, turn, ran } = fakeQueue(1);
    q.push(1);
    expect(turn()).toBe(true);
    q.push(2);
    q.push(3);
    while (turn()) {}
    expect(ran.flat()).toEqual([1, 2, 3]);
  });

  test("an item that throws does not strand the ones behind it", () => {
    const { q, turn, ran } = fakeQueue(1, 20, (item) => item === 1);
    for (let i = 0; i < 3; i++) q.push(i);
    expect(() => turn()).toThrow("item 1");
    while (turn()) {}
    expect(ran).toEqual([[0, 1], [2]]);
  });

  test("drain returns what waits, and nothing of it runs any more", () => {
    const { q, turn, ran } = fakeQueue(10);
    for (let i = 0; i < 5; i++) q.push(i);
    turn();
    expect(q.drain()).toEqual([2, 3, 4]);
    expect(q.length).toBe(0);
    while (turn()) {}
    expect(ran.flat()).toEqual([0, 1]);
  });
});
