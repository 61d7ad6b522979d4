import { isMeshctlError } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { LatencyHistogram } from "./histogram.js";
import { buildResult, makePayload, resolveLoadOptions, shardOptions } from "./run-load.js";
import type { ShardResult } from "./shard.js";
import { parseLoadTarget } from "./target.js";

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
      timeoutMs: 30_000,
      protocol: "http1",
    });
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

  test("closed loop has no target and is never flagged", () => {
    const result = buildResult(resolveLoadOptions({ ...base, max: true }), [shard([1])], [], 0);
    expect(result.targetQps).toBeNull();
    expect(result.achievedRatio).toBe(1);
    expect(result.fellBehind).toBe(false);
  });
});
