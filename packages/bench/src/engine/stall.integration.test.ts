import { afterEach, expect, test } from "vitest";
import { startEchoServer } from "../servers/echo-server.js";
import { runLoad } from "./run-load.js";
import type { EchoServer } from "./types.js";

let server: EchoServer | undefined;
afterEach(async () => {
  await server?.close();
});

// The correctness target, shortened: the server stalls once for 1 s during a run at
// 100 req/s. Requests scheduled during the stall must show it (corrected), while service time
// (uncorrected) only shows it for the one request in flight.
test("a 1 s stall shows in corrected p99 and not in uncorrected p99", async () => {
  let stallUntil = 0;
  let started = 0;
  server = await startEchoServer({
    protocol: "http1",
    port: 0,
    delayMs: () => {
      const now = Date.now();
      if (started === 0) started = now;
      // Stall once, 1.5 s after the first request, for 1 s.
      if (stallUntil === 0 && now - started >= 1500) stallUntil = now + 1000;
      return now < stallUntil ? stallUntil - now : 0;
    },
  });
  const r = await runLoad({
    target: server.url,
    qps: 100,
    connections: 1,
    durationMs: 4000,
    payloadBytes: 16,
    warmupMs: 0,
  });
  expect(stallUntil).toBeGreaterThan(0);
  expect(r.corrected.p99).toBeGreaterThanOrEqual(500_000);
  expect(r.uncorrected.p99).toBeLessThan(500_000);
  expect(r.uncorrected.max).toBeGreaterThanOrEqual(500_000);
}, 20_000);
