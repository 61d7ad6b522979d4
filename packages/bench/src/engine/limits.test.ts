import { availableParallelism } from "node:os";
import { isMeshctlError } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { checkLoadHeaders, checkOpenFileLimit, LOAD_LIMITS, maxLoadWorkers } from "./limits.js";
import { resolveLoadOptions } from "./run-load.js";
import type { LoadOptions } from "./types.js";

const base: LoadOptions = {
  target: "http://127.0.0.1:8080/",
  connections: 4,
  payloadBytes: 0,
  warmupMs: 0,
};

/** The error a call throws, or undefined. */
function thrown(
  fn: () => unknown,
): { code: string; kind: string; message: string; details: unknown } | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (!isMeshctlError(e)) throw e;
    return { code: e.code, kind: e.kind, message: e.message, details: e.details };
  }
}

// Written from the bounds as documented (7 days, 10,000 connections, ...), not read from LOAD_LIMITS,
// so a changed bound shows up here.
const DAY_MS = 24 * 3_600_000;
const cases: {
  flag: string;
  make: (v: number) => Partial<LoadOptions>;
  below: number;
  min: number;
  max: number;
  above: number;
}[] = [
  { flag: "connections", make: (v) => ({ connections: v }), below: 0, min: 1, max: 10_000, above: 10_001 },
  { flag: "qps", make: (v) => ({ qps: v }), below: 0, min: 0.001, max: 1_000_000, above: 1_000_001 },
  {
    flag: "duration",
    make: (v) => ({ durationMs: v }),
    below: 0,
    min: 1,
    max: 7 * DAY_MS,
    above: 7 * DAY_MS + 1,
  },
  { flag: "requests", make: (v) => ({ requests: v }), below: 0, min: 1, max: 1e9, above: 1e9 + 1 },
  { flag: "warmup", make: (v) => ({ warmupMs: v }), below: -1, min: 0, max: 3_600_000, above: 3_600_001 },
  { flag: "timeout", make: (v) => ({ timeoutMs: v }), below: 0, min: 1, max: 3_600_000, above: 3_600_001 },
  {
    flag: "payload",
    make: (v) => ({ payloadBytes: v, connections: 1 }),
    below: -1,
    min: 0,
    max: 16 * 2 ** 20,
    above: 16 * 2 ** 20 + 1,
  },
  {
    flag: "workers",
    make: (v) => ({ workers: v, connections: 10_000 }),
    below: 0,
    min: 1,
    max: Math.min(64, availableParallelism() * 4),
    above: Math.min(64, availableParallelism() * 4) + 1,
  },
];

describe("every load option is bounded", () => {
  for (const c of cases) {
    test(`--${c.flag}: below ${c.min}, at ${c.min} and ${c.max}, above ${c.max}`, () => {
      expect(thrown(() => resolveLoadOptions({ ...base, ...c.make(c.min) }))).toBeUndefined();
      expect(thrown(() => resolveLoadOptions({ ...base, ...c.make(c.max) }))).toBeUndefined();
      for (const bad of [c.below, c.above, Number.NaN, Number.POSITIVE_INFINITY]) {
        const e = thrown(() => resolveLoadOptions({ ...base, ...c.make(bad) }));
        expect(e, `${c.flag}=${bad}`).toMatchObject({ code: "BENCH_OPTIONS_INVALID", kind: "usage" });
        // One clear sentence naming the flag and the allowed range.
        expect(e?.message).toContain(`--${c.flag}`);
        if (bad === c.above) expect(e?.message).toMatch(/out of range: allowed/);
        expect(e?.details).toMatchObject({ flag: c.flag });
      }
    });
  }

  test("the issue's inputs: -c 100000000, --workers 100000, -d 99999999999h", () => {
    expect(thrown(() => resolveLoadOptions({ ...base, connections: 100_000_000 }))?.message).toMatch(
      /^--connections 100,000,000 is out of range: allowed 1 to 10,000\./,
    );
    expect(thrown(() => resolveLoadOptions({ ...base, workers: 100_000 }))?.message).toMatch(
      /^--workers 100,000 is out of range/,
    );
    expect(
      thrown(() => resolveLoadOptions({ ...base, durationMs: 99_999_999_999 * 3_600_000 }))?.message,
    ).toMatch(/^--duration .* is out of range: .* 604,800,000 ms\. .*24\.8 days/);
  });

  test("durations stay below Node's timer limit (2^31-1 ms)", () => {
    for (const ms of [LOAD_LIMITS.maxDurationMs, LOAD_LIMITS.maxWarmupMs, LOAD_LIMITS.maxTimeoutMs])
      expect(ms).toBeLessThan(2 ** 31 - 1);
    expect(LOAD_LIMITS.maxDurationMs + LOAD_LIMITS.maxWarmupMs).toBeLessThan(2 ** 31 - 1);
  });

  test("whole numbers where a fraction makes no sense", () => {
    expect(thrown(() => resolveLoadOptions({ ...base, connections: 1.5 }))?.message).toMatch(
      /--connections must be a whole number/,
    );
    expect(thrown(() => resolveLoadOptions({ ...base, requests: 2.5 }))?.code).toBe("BENCH_OPTIONS_INVALID");
  });

  test("payload × connections: at most 1 GiB in flight", () => {
    const oneMiB = 2 ** 20;
    expect(
      thrown(() => resolveLoadOptions({ ...base, payloadBytes: oneMiB, connections: 1024 })),
    ).toBeUndefined();
    expect(
      thrown(() => resolveLoadOptions({ ...base, payloadBytes: oneMiB, connections: 1025 }))?.message,
    ).toMatch(/--payload 1048576 bytes × --connections 1025 .* over the 1 GiB bound/);
  });

  test("maxLoadWorkers: 4 per CPU, at most 64", () => {
    expect(maxLoadWorkers(1)).toBe(4);
    expect(maxLoadWorkers(2)).toBe(8);
    expect(maxLoadWorkers(16)).toBe(64);
    expect(maxLoadWorkers(128)).toBe(64);
  });
});

describe("headers", () => {
  const bad = (headers: Record<string, string>, protocol = "http1") =>
    thrown(() => checkLoadHeaders(headers, protocol));

  test("CR, LF, NUL and other control characters in a value are rejected up front", () => {
    for (const value of ["a\r\nb", "a\nb", "a\rb", "a\u0000b", "a\u001bb", "a\u007fb"]) {
      const e = bad({ x: value });
      expect(e, JSON.stringify(value)).toMatchObject({ code: "BENCH_OPTIONS_INVALID", kind: "usage" });
      expect(e?.message).toMatch(/--header "x" has a value with a control character/);
    }
    // Through the option parser too (the CLI and the lab's load generator both use it).
    expect(thrown(() => resolveLoadOptions({ ...base, headers: { x: "a\r\nInjected: 1" } }))?.code).toBe(
      "BENCH_OPTIONS_INVALID",
    );
  });

  test("a tab, spaces and obs-text are allowed in a value", () => {
    expect(bad({ x: "a\tb c", y: "é", z: "" })).toBeUndefined();
  });

  test("names must be tokens", () => {
    for (const name of ["bad name", "x:y", ":path", "", "a\r\nb", "ü"])
      expect(bad({ [name]: "v" }), JSON.stringify(name)).toMatchObject({ code: "BENCH_OPTIONS_INVALID" });
  });

  test("framing headers stay the engine's; HTTP/2 forbids connection-specific ones", () => {
    expect(bad({ "Content-Length": "5" })?.message).toMatch(/corrupt the message framing/);
    expect(bad({ "transfer-encoding": "chunked" })).toBeDefined();
    expect(bad({ Connection: "close" }, "http1")).toBeUndefined();
    expect(bad({ Connection: "close" }, "http2")?.message).toMatch(/HTTP\/2/);
    expect(bad({ upgrade: "h2c" }, "grpc")).toBeDefined();
    expect(bad({ host: "example.com" }, "http1")).toBeUndefined();
  });

  test("tcp targets carry no headers", () => {
    expect(bad({ x: "1" }, "tcp")?.message).toMatch(/tcp:\/\//);
    expect(bad({}, "tcp")).toBeUndefined();
  });

  test("count and size: below, at and above", () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-${i}`, "v"]));
    expect(bad(many(64))).toBeUndefined();
    expect(bad(many(65))?.message).toMatch(/--header \(65 headers\) is out of range/);
    // name + value + 4 bytes (": " and CRLF) per header, 16 KiB in all.
    const sized = (bytes: number) => ({ x: "v".repeat(bytes - 5) });
    expect(bad(sized(16 * 1024))).toBeUndefined();
    expect(bad(sized(16 * 1024 + 1))?.message).toMatch(/bytes of headers\) is out of range/);
  });
});

describe("open-file limit", () => {
  test("connections + 64 reserved must fit in ulimit -n", async () => {
    await expect(checkOpenFileLimit(960, 1024)).resolves.toBeUndefined();
    await expect(checkOpenFileLimit(961, 1024)).rejects.toMatchObject({
      code: "BENCH_FD_LIMIT",
      kind: "environment",
      message: expect.stringMatching(
        /--connections 961 needs 1025 file descriptors, but this process may open 1024/,
      ),
    });
    await expect(checkOpenFileLimit(10_000, null)).resolves.toBeUndefined();
    await expect(checkOpenFileLimit(10_000, Number.POSITIVE_INFINITY)).resolves.toBeUndefined();
  });
});
