import { describe, expect, test } from "vitest";
import { buildHttp1Request, http1TracedRequestEncoder } from "./clients/http1.js";
import { makePayload } from "./run-load.js";
import { parseLoadTarget } from "./target.js";
import { formatTraceRequestId, mergeShardTraces, type ShardTrace, TraceRecorder } from "./trace.js";

const options = { header: "x-request-id", idPrefix: "lab-r1" };

function shardTrace(
  rows: [n: number, sentMs: number, latencyUs: number, error: 0 | 1][],
  dropped = 0,
): ShardTrace {
  return { entries: Float64Array.from(rows.flat()), dropped };
}

describe("TraceRecorder", () => {
  test("keeps every entry past its initial capacity, in order", () => {
    const rec = new TraceRecorder();
    for (let i = 0; i < 10_000; i++) rec.record(i, i / 10, 100 + i, (i % 7 === 0 ? 1 : 0) as 0 | 1);
    const { entries, dropped } = rec.finish();
    expect(dropped).toBe(0);
    expect(entries).toHaveLength(40_000);
    expect(Array.from(entries.subarray(4 * 9999))).toEqual([9999, 999.9, 10_099, 0]);
    expect(Array.from(entries.subarray(4 * 7, 4 * 8))).toEqual([7, 0.7, 107, 1]);
  });

  test("stops at its cap and counts the rest", () => {
    const rec = new TraceRecorder(3);
    for (let i = 0; i < 5; i++) rec.record(i, i, 1, 0);
    const { entries, dropped } = rec.finish();
    expect(entries).toHaveLength(12);
    expect(dropped).toBe(2);
  });
});

describe("mergeShardTraces", () => {
  test("formats ids, moves shards onto one clock and orders by send time", () => {
    const a = shardTrace([
      [0, 0.5, 120, 0],
      [2, 5.5, 130, 1],
    ]);
    const b = shardTrace([[1, 2.0001234, 110, 0]]);
    const { trace, total } = mergeShardTraces(options, [
      { trace: a, offsetMs: 0 },
      { trace: b, offsetMs: 1.25 },
    ]);
    expect(total).toBe(3);
    expect(trace).toEqual({
      header: "x-request-id",
      idPrefix: "lab-r1",
      requests: [
        ["lab-r1-0", 0.5, 120, 0],
        ["lab-r1-1", 3.25, 110, 0], // 2.0001234 + 1.25, rounded to µs
        ["lab-r1-2", 5.5, 130, 1],
      ],
    });
  });

  test("keeps the earliest sent up to the cap; total counts dropped ones", () => {
    const a = shardTrace(
      [
        [0, 3, 1, 0],
        [2, 1, 1, 0],
      ],
      5,
    );
    const b = shardTrace([[1, 2, 1, 0]]);
    const { trace, total } = mergeShardTraces(
      options,
      [
        { trace: a, offsetMs: 0 },
        { trace: b, offsetMs: 0 },
      ],
      2,
    );
    expect(trace.requests.map((q) => q[0])).toEqual(["lab-r1-2", "lab-r1-1"]);
    expect(total).toBe(8);
  });

  test("ids are prefix-n", () => {
    expect(formatTraceRequestId("mcl-1a2b-sidecar-r3", 41)).toBe("mcl-1a2b-sidecar-r3-41");
  });
});

describe("traced HTTP/1.1 requests", () => {
  // Oracle: the untraced builder with the id as the last extra header gives the same bytes.
  test.each([0, 100])("equal the prebuilt request with the id header appended (payload %i B)", (size) => {
    const opts = {
      target: parseLoadTarget("http://127.0.0.1:8080/echo?x=1"),
      payload: makePayload(size),
      headers: { "x-user": "1" },
    };
    const encode = http1TracedRequestEncoder(opts, "X-Request-Id");
    for (const id of ["lab-r1-0", "lab-r1-123456789"]) {
      const expected = buildHttp1Request({ ...opts, headers: { ...opts.headers, "X-Request-Id": id } });
      expect(encode(id).equals(expected)).toBe(true);
    }
  });
});
