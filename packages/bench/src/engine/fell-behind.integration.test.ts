import { afterEach, expect, test } from "vitest";
import { startEchoServer } from "../servers/echo-server.js";
import { runLoad } from "./run-load.js";
import type { EchoServer } from "./types.js";

let server: EchoServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

// The achieved-rate flag in open loop, against targets that do and do not keep up with 200 req/s.

test("one HTTP/1.1 connection to a 20 ms target cannot carry 200 req/s: flagged", async () => {
  server = await startEchoServer({ protocol: "http1", port: 0, delayMs: () => 20 });
  const r = await runLoad({
    target: server.url,
    qps: 200,
    connections: 1,
    durationMs: 1000,
    payloadBytes: 0,
    warmupMs: 200,
  });
  expect(r.fellBehind).toBe(true);
  expect(r.achievedRatio).toBeLessThan(0.5); // at most 50 req/s get through
  expect(r.warnings.join("\n")).toMatch(/could not keep up/);
});

test("a backlog that drains after the window lowers the achieved rate: flagged", async () => {
  // One HTTP/2 connection takes every request at once (100 streams), but the target serves them
  // one after another, 20 ms each (50 req/s): most responses arrive long after the window.
  let freeAt = 0;
  server = await startEchoServer({
    protocol: "http2",
    port: 0,
    delayMs: () => {
      const now = performance.now();
      freeAt = Math.max(now, freeAt) + 20;
      return freeAt - now;
    },
  });
  const r = await runLoad({
    target: server.url,
    qps: 200,
    connections: 1,
    durationMs: 1000,
    payloadBytes: 0,
    warmupMs: 0,
  });
  expect(r.durationMs).toBeGreaterThan(1500);
  expect(r.fellBehind).toBe(true);
  expect(r.achievedRatio).toBeLessThan(0.7);
});

test("a 50 ms target that keeps up is not flagged for answering after the window", async () => {
  // Every request is answered 50 ms after it was sent, in parallel: the last one lands 50 ms
  // after the window, which alone must not read as falling behind (it read as 0.98 before).
  server = await startEchoServer({ protocol: "http2", port: 0, delayMs: () => 50 });
  const r = await runLoad({
    target: server.url,
    qps: 200,
    connections: 1,
    durationMs: 2000,
    payloadBytes: 0,
    warmupMs: 200,
  });
  expect(r.requests).toBe(400);
  expect(r.uncorrected.p50).toBeGreaterThanOrEqual(49_000);
  expect(r.warnings).toEqual([]);
  expect(r.fellBehind).toBe(false);
});
