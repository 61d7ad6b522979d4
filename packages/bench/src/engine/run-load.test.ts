import { isMeshctlError } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { LatencyHistogram } from "./histogram.js";
import { buildResult, makePayload, resolveLoadOptions, shardOptions } from "./run-load.js";
import type { ShardResult } from "./shard.js";
import { parseLoadTarget } from "./target.js";
import { LOAD_TRACE_MAX_REQUESTS } from "./trace.js";

const base = { target: "http://127.0.0.1:8080/echo", connections: 4, payloadBytes: 0, warmupMs: 0 };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isMeshctlError(err) ? err.code : "not-a-meshctl-error";
  }
  return undefined;
}

describe("parseLoadTarget", () => {
  test("infers the protocol from the scheme", () => {
    expect(parseLoadTarget("http://127.0.0.1:8080/a?b=1")).toMatchObject({
      protocol: "http1",
      host: "127.0.0.1",
      port: 8080,
      path: "/a?b=1",
      authority: "127.0.0.1:8080",
    });
    expect(parseLoadTarget("h2c://localhost:81/")).toMatchObject({ protocol: "http2", port: 81 });
    expect(parseLoadTarget("grpc://[::1]:50051")).toMatchObject({
      protocol: "grpc",
      host: "::1",
      path: "/meshctl.bench.v1.Echo/Echo",
    });
    expect(parseLoadTarget("tcp://10.0.0.1:7000")).toMatchObject({ protocol: "tcp", path: "" });
  });

  test("--protocol overrides the scheme", () => {
    expect(parseLoadTarget("http://127.0.0.1:8080/", "http2").protocol).toBe("http2");
  });

  test("rejects what the engine cannot speak", () => {
    expect(code(() => parseLoadTarget("not a url"))).toBe("BENCH_TARGET_INVALID");
    expect(code(() => parseLoadTarget("ftp://x/"))).toBe("BENCH_TARGET_INVALID");
    expect(code(() => parseLoadTarget("https://x/"))).toBe("BENCH_TLS_UNSUPPORTED");
    expect(code(() => parseLoadTarget("http://x/", "tcp"))).toBe("BENCH_TARGET_INVALID");
  });
});

describe("resolveLoadOptions", () => {
  test("defaults to open loop at 1000 req/s for 10 s", () => {
    const r = resolveLoadOptions(base);
    expect(r).toMatchObject({
      mode: "open",
      qps: 1000,
      durationMs: 10_000,
      requests: null,
      workers: 1,
      pacing: "precise",
      timeoutMs: 30_000,
      protocol: "http1",
    });
    expect(resolveLoadOptions({ ...base, pacing: "timer" }).pacing).toBe("timer");
  });

  test("max means closed loop without a rate", () => {
    expect(resolveLoadOptions({ ...base, max: true })).toMatchObject({ mode: "closed", qps: null });
  });

  test("a request count replaces the default duration", () => {
    expect(resolveLoadOptions({ ...base, requests: 500 })).toMatchObject({ durationMs: null, requests: 500 });
  });

  test("workers never exceed connections", () => {
    expect(resolveLoadOptions({ ...base, connections: 2, workers: 8 }).workers).toBe(2);
  });

  test.each([
    [{ qps: 10, max: true }],
    [{ connections: 0 }],
    [{ qps: -1 }],
    [{ durationMs: 1000, requests: 10 }],
    [{ requests: 1.5 }],
    [{ payloadBytes: -1 }],
  ])("rejects %j", (bad) => {
    expect(code(() => resolveLoadOptions({ ...base, ...bad }))).toBe("BENCH_OPTIONS_INVALID");
  });

  test("keeps trace options, and has no trace key without them", () => {
    const trace = { header: "x-request-id", idPrefix: "mcl-1a2b-sidecar-r3" };
    expect(resolveLoadOptions({ ...base, trace }).trace).toEqual(trace);
    expect("trace" in resolveLoadOptions(base)).toBe(false);
  });

  test("a tcp:// target cannot be traced", () => {
    const trace = { header: "x-request-id", idPrefix: "r1" };
    expect(code(() => resolveLoadOptions({ ...base, target: "tcp://127.0.0.1:7000", trace }))).toBe(
      "BENCH_OPTIONS_INVALID",
    );
    expect(() => resolveLoadOptions({ ...base, target: "tcp://127.0.0.1:7000", trace })).toThrow(/tcp/);
  });

  test.each([
    [{ header: "x request id", idPrefix: "r1" }],
    [{ header: ":path", idPrefix: "r1" }],
    [{ header: "Content-Length", idPrefix: "r1" }],
    [{ header: "x-request-id", idPrefix: "" }],
    [{ header: "x-request-id", idPrefix: "r 1" }],
    [{ header: "x-request-id", idPrefix: "r1\r\nx-evil: 1" }],
    [{ header: "x-request-id", idPrefix: "réq" }],
  ])("rejects trace %j", (trace) => {
    expect(code(() => resolveLoadOptions({ ...base, trace }))).toBe("BENCH_OPTIONS_INVALID");
  });

  test("rejects a trace header also given in headers", () => {
    const trace = { header: "x-request-id", idPrefix: "r1" };
    expect(code(() => resolveLoadOptions({ ...base, headers: { "X-Request-Id": "fixed" }, trace }))).toBe(
      "BENCH_OPTIONS_INVALID",
    );
  });
});

describe("sharding", () => {
  test("splits connections, rate and requests across workers", () => {
    const shards = shardOptions(
      resolveLoadOptions({ ...base, connections: 5, qps: 900, requests: 10, workers: 3 }),
      3,
      "precise",
    );
    expect(shards.map((s) => s.connections)).toEqual([2, 2, 1]);
    expect(shards.map((s) => s.requests)).toEqual([4, 3, 3]);
    expect(shards.map((s) => s.qps)).toEqual([300, 300, 300]);
    expect(shards.map((s) => s.scheduleOffset)).toEqual([0, 1 / 3, 2 / 3]);
    expect(shards.map((s) => s.trace)).toEqual([null, null, null]);
  });

  test("numbers traced shards after dropping empty ones", () => {
    const trace = { header: "x-request-id", idPrefix: "r1" };
    const shards = shardOptions(resolveLoadOptions({ ...base, connections: 2, trace }), 3, "precise");
    expect(shards.map((s) => s.trace)).toEqual([
      { ...trace, shard: 0, shards: 2 },
      { ...trace, shard: 1, shards: 2 },
    ]);
  });

  test("payload has the requested size", () => {
    expect(makePayload(0)).toHaveLength(0);
    expect(makePayload(1024)).toHaveLength(1024);
    expect(makePayload(5).toString()).toBe("meshc");
  });
});

function shard(values: number[], extra: Partial<ShardResult> = {}): ShardResult {
  const corrected = new LatencyHistogram();
  const uncorrected = new LatencyHistogram();
  for (const v of values) {
    corrected.record(v * 2);
    uncorrected.record(v);
  }
  return {
    corrected,
    uncorrected,
    errors: {},
    requests: values.length,
    measureStartEpochMs: Date.parse("2026-01-01T00:00:00Z"),
    durationMs: 1000,
    unsent: 0,
    ...extra,
  };
}

describe("buildResult", () => {
  test("merges shards and computes the achieved rate", () => {
    const r = resolveLoadOptions({ ...base, qps: 200, durationMs: 1000 });
    const result = buildResult(
      r,
      [shard([100, 200]), shard([300], { errors: { http_503: 1 }, requests: 2 })],
      [],
      0,
    );
    expect(result.schema).toBe("meshctl.bench.load/v1");
    expect(result.requests).toBe(4);
    expect(result.achievedQps).toBe(4);
    expect(result.achievedRatio).toBe(0.02);
    expect(result.fellBehind).toBe(true);
    expect(result.errors).toEqual({ http_503: 1 });
    expect(result.corrected.max).toBe(600);
    expect(result.uncorrected.max).toBe(300);
    expect(result.startedAt).toBe("2026-01-01T00:00:00.000Z");
    expect(result.warnings.join("\n")).toMatch(/2\.0% of the 200 req\/s target/);
    expect(result.warnings.join("\n")).toMatch(/http_503: 1/);
  });

  test("a run on target is not flagged", () => {
    const r = resolveLoadOptions({ ...base, qps: 3, durationMs: 1000 });
    const result = buildResult(r, [shard([1, 2, 3])], [], 0);
    expect(result.achievedRatio).toBe(1);
    expect(result.fellBehind).toBe(false);
    expect(result.warnings).toEqual([]);
  });

  test("an untraced result has no trace field", () => {
    const result = buildResult(
      resolveLoadOptions({ ...base, qps: 1, durationMs: 1000 }),
      [shard([1])],
      [],
      0,
    );
    expect("trace" in result).toBe(false);
  });

  test("merges shard traces on the earliest shard's clock", () => {
    const trace = { header: "x-request-id", idPrefix: "r1" };
    const r = resolveLoadOptions({ ...base, qps: 2, durationMs: 1000, trace });
    const t0 = Date.parse("2026-01-01T00:00:00Z");
    const result = buildResult(
      r,
      [
        shard([100], { trace: { entries: Float64Array.from([0, 10, 100, 0]), dropped: 0 } }),
        shard([200], {
          measureStartEpochMs: t0 + 0.25,
          trace: { entries: Float64Array.from([1, 5, 200, 1]), dropped: 0 },
        }),
      ],
      [],
      0,
    );
    expect(result.trace).toEqual({
      ...trace,
      requests: [
        ["r1-1", 5.25, 200, 1],
        ["r1-0", 10, 100, 0],
      ],
    });
    expect(result.warnings.join("\n")).not.toMatch(/trace/);
  });

  test("warns when the trace was cut at its cap", () => {
    const r = resolveLoadOptions({
      ...base,
      qps: 1,
      durationMs: 1000,
      trace: { header: "x-id", idPrefix: "r" },
    });
    const entries = new Float64Array(4 * LOAD_TRACE_MAX_REQUESTS);
    for (let i = 0; i < LOAD_TRACE_MAX_REQUESTS; i++) entries.set([i, i / 100, 50, 0], 4 * i);
    const result = buildResult(r, [shard([1], { trace: { entries, dropped: 7 } })], [], 0);
    expect(result.trace?.requests).toHaveLength(LOAD_TRACE_MAX_REQUESTS);
    expect(result.warnings.join("\n")).toMatch(/first 200000 of 200007 measured requests/);
  });

  test("closed loop has no target and is never flagged", () => {
    const result = buildResult(resolveLoadOptions({ ...base, max: true }), [shard([1])], [], 0);
    expect(result.targetQps).toBeNull();
    expect(result.achievedRatio).toBe(1);
    expect(result.fellBehind).toBe(false);
  });
});
