import { describe, expect, test } from "vitest";
import { joinBreakdown, parseAccessLog, segmentsOf, type TracedRequest } from "./breakdown.js";

describe("parseAccessLog", () => {
  test("reads JSON lines by request id; numbers may be strings; skips torn, id-less and upstream-less lines", () => {
    const text = [
      '{"id":"r-1","downstreamUs":310,"upstreamUs":250}',
      '{"id":"r-2","downstreamUs":"400","upstreamUs":"300"}',
      '{"id":"-","downstreamUs":1,"upstreamUs":1}',
      '{"id":"r-3","downstreamUs":90,"upstreamUs":null}',
      '{"id":"r-4","downstreamUs":',
    ].join("\n");
    const map = parseAccessLog(text);
    expect([...map.keys()]).toEqual(["r-1", "r-2"]);
    expect(map.get("r-2")).toEqual({ downstreamUs: 400, upstreamUs: 300 });
  });
});

describe("joinBreakdown", () => {
  test("the five segments add up to the client's latency", () => {
    const parts = segmentsOf(
      1000,
      { downstreamUs: 800, upstreamUs: 600 },
      { downstreamUs: 450, upstreamUs: 300 },
    );
    expect(parts).toEqual([200, 200, 150, 150, 300]);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  test("joins by id, counts unmatched, skips failed requests, and samples the timeline evenly", () => {
    const trace: TracedRequest[] = [];
    const client = new Map();
    const server = new Map();
    for (let i = 0; i < 100; i++) {
      const id = `r-${i}`;
      trace.push([id, i * 10, 1000 + i, 0]);
      if (i % 10 !== 9) {
        client.set(id, { downstreamUs: 800, upstreamUs: 600 });
        server.set(id, { downstreamUs: 450, upstreamUs: 300 + i });
      }
    }
    trace.push(["r-failed", 1000, 5, 1]);
    const b = joinBreakdown(trace, client, server, 30);
    expect(b.joined).toBe(90);
    expect(b.unmatched).toBe(10);
    expect(b.segments["client-sidecar"]).toMatchObject({ p50: 200, p99: 200 });
    expect(b.segments["server-sidecar-to-app"].p50).toBeGreaterThanOrEqual(300);
    expect(b.segments["server-sidecar-to-app"].p99).toBeLessThanOrEqual(398);
    expect(b.timeline.length).toBe(30);
    expect(b.timeline[0]).toEqual([0, 200, 150]);
    // Evenly spread over the run, in time order.
    const times = b.timeline.map(([t]) => t);
    expect([...times].sort((a, z) => a - z)).toEqual(times);
    expect(times.at(-1)).toBeGreaterThan(900);
  });

  test("without any sidecar log line nothing joins and the stats are zero, not NaN", () => {
    const b = joinBreakdown([["r-1", 0, 100, 0]], new Map(), new Map());
    expect(b.joined).toBe(0);
    expect(b.unmatched).toBe(1);
    expect(b.segments["sidecar-to-sidecar"]).toEqual({ p50: 0, p90: 0, p99: 0, mean: 0 });
  });
});
