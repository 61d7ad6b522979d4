import { describe, expect, test } from "vitest";
import { type DebounceClock, Debouncer } from "./debounce.js";
import { type PushRequest, pushRequest } from "./push-request.js";

/** A fake clock: timers fire only when the test advances time. */
function fakeClock() {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const clock: DebounceClock = {
    now: () => now,
    setTimer: (fn, ms) => {
      const id = ++ids;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (h) => {
      timers = timers.filter((t) => t.id !== h);
    },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const next = timers[0];
      if (!next || next.at > end) break;
      timers.shift();
      now = next.at;
      next.fn();
    }
    now = end;
  };
  return { clock, advance };
}

const ev = (full: boolean, at: number, dep = "svc:a") =>
  pushRequest({ reason: full ? "config" : "endpoints", full, dependencies: [dep], at });

describe("Debouncer", () => {
  test("fires once the mesh is quiet for `afterMs`, with every event merged", () => {
    const { clock, advance } = fakeClock();
    const pushes: { req: PushRequest; debounceMs: number }[] = [];
    const d = new Debouncer(
      (req, debounceMs) => void pushes.push({ req, debounceMs }),
      { afterMs: 100, maxMs: 10_000 },
      clock,
    );
    d.add(ev(true, 0, "svc:a"));
    advance(50);
    d.add(ev(true, 50, "svc:b"));
    advance(99);
    expect(pushes).toHaveLength(0); // 99 ms after the last event: not quiet yet
    advance(1);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]?.req.events).toBe(2);
    expect([...(pushes[0]?.req.dependencies ?? [])]).toEqual(["svc:a", "svc:b"]);
    expect(pushes[0]?.debounceMs).toBe(150);
    expect(d.merged).toBe(1);
  });

  test("steady full changes wait at most `maxMs`", () => {
    const { clock, advance } = fakeClock();
    const times: number[] = [];
    const d = new Debouncer(() => void times.push(clock.now()), { afterMs: 100, maxMs: 1000 }, clock);
    for (let t = 0; t < 3000; t += 50) {
      d.add(ev(true, t));
      advance(50);
    }
    expect(times[0]).toBe(1000);
    expect(times[1]).toBe(2000);
  });

  test("steady endpoint churn is pushed every `edsMaxMs`, not held for `maxMs` (Istio's starvation)", () => {
    const { clock, advance } = fakeClock();
    const times: number[] = [];
    const d = new Debouncer(() => void times.push(clock.now()), { afterMs: 100, maxMs: 10_000 }, clock);
    for (let t = 0; t < 1000; t += 10) {
      d.add(ev(false, t, "eps:a"));
      advance(10);
    }
    // 100 events per second, never 100 ms quiet: still one push per 100 ms window.
    expect(times.length).toBeGreaterThanOrEqual(9);
    for (const [i, t] of times.entries())
      if (i > 0) expect(t - (times[i - 1] as number)).toBeLessThanOrEqual(110);
  });

  test("single flight: events during a push wait for it, then form the next window", async () => {
    const { clock, advance } = fakeClock();
    let release: () => void = () => {};
    const pushes: PushRequest[] = [];
    const d = new Debouncer(
      (req) => {
        pushes.push(req);
        return new Promise<void>((r) => {
          release = r;
        });
      },
      { afterMs: 100 },
      clock,
    );
    d.add(ev(true, 0));
    advance(100);
    expect(pushes).toHaveLength(1);
    d.add(ev(true, 150, "svc:b"));
    d.add(ev(false, 160, "eps:c"));
    advance(500);
    expect(pushes).toHaveLength(1); // still busy
    release();
    await Promise.resolve();
    await Promise.resolve();
    advance(100);
    expect(pushes).toHaveLength(2);
    expect(pushes[1]).toMatchObject({ full: true, events: 2 });
  });
});
