import { describe, expect, test } from "vitest";
import { summarizePercentiles } from "./stats.js";
import {
  formatXdsStormReport,
  resolveXdsStormOptions,
  type StormProbe,
  stormNodeId,
  summarizeStormProbes,
  type XdsStormReport,
} from "./storm.js";

const probe = (ms: number, ok = true, error?: string): StormProbe => ({
  at: 0,
  ms,
  ok,
  ...(error ? { error } : {}),
});

/** A report as runXdsStorm returns it, with `patch` over the streams, server and memory figures. */
function stormReport(patch: Partial<Pick<XdsStormReport, "stoppedEarly" | "notes">> = {}): XdsStormReport {
  const quiet = summarizeStormProbes([probe(2), probe(3), probe(4)]);
  return {
    schemaVersion: 1,
    config: {
      streams: 10_000,
      channels: 10,
      services: 50,
      namespaces: 5,
      idleSeconds: 5,
      holdSeconds: 5,
      releaseSeconds: 10,
      outcomeTimeoutSeconds: 120,
      probeEveryMs: 25,
      probeTimeoutMs: 5000,
      serverOptions: {},
      limits: { maxStreamsPerSecond: 500, maxStreamsPerClient: 10_000, maxStreamsPerConnection: 1000 },
    },
    stoppedEarly: null,
    streams: {
      opened: 10_000,
      ok: 1010,
      resourceExhausted: 8988,
      other: 2,
      otherByCode: { UNAVAILABLE: 2 },
      otherSamples: ["stream 17: UNAVAILABLE: connection dropped"],
      noOutcome: 0,
      droppedBeforeRelease: 0,
      connectMs: 40,
      openMs: 800,
      allOutcomesMs: 2345,
      okMs: summarizePercentiles([100, 900, 1900]),
      resourceExhaustedMs: summarizePercentiles([1000, 1100]),
    },
    server: {
      rejectedStreams: 8988,
      peakOpenStreams: 1010,
      openStreamsAfterRelease: 0,
      connectionsAfterRelease: 0,
      releasedWithinMs: 120,
    },
    debugPort: {
      idle: quiet,
      storm: summarizeStormProbes([probe(3), probe(250), probe(5001, false, "TimeoutError")]),
      hold: quiet,
      release: quiet,
      worstStormMs: 5001,
    },
    memory: {
      beforeMiB: 160,
      peakMiB: 260.5,
      hwmMiB: 261,
      afterReleaseMiB: 170,
      afterReleaseReadMs: 10_020,
      perOpenStreamKiB: 101.9,
      heapUsed: { beforeMiB: 40.2, peakMiB: 120, afterReleaseMiB: 45 },
      heapTotal: { beforeMiB: 60, peakMiB: 150, afterReleaseMiB: 140 },
      external: { beforeMiB: 5, peakMiB: null, afterReleaseMiB: 6 },
    },
    notes: [],
    ...patch,
  };
}

describe("summarizeStormProbes", () => {
  test("percentiles are of the answered probes; the max and the failures include timeouts", () => {
    const s = summarizeStormProbes([
      ...Array.from({ length: 98 }, (_, i) => probe(i + 1)),
      probe(1000.04),
      probe(5000, false, "TimeoutError: The operation was aborted due to timeout"),
    ]);
    expect(s).toMatchObject({ count: 100, failures: 1, p50: 50, p99: 1000, max: 5000 });
    expect(s.failureSamples).toEqual(["TimeoutError: The operation was aborted due to timeout"]);
  });

  test("nearest rank, rounded to 0.1 ms", () => {
    expect(summarizeStormProbes([probe(1.26), probe(7.04), probe(3)])).toMatchObject({
      p50: 3,
      p99: 7,
      max: 7,
    });
  });

  test("no probes: nulls, no failures", () => {
    expect(summarizeStormProbes([])).toEqual({
      count: 0,
      failures: 0,
      p50: null,
      p99: null,
      max: null,
      failureSamples: [],
    });
  });

  test("only failures: no percentiles, but a max", () => {
    const s = summarizeStormProbes([probe(5000, false), probe(12, false, "HTTP 500")]);
    expect(s).toMatchObject({ count: 2, failures: 2, p50: null, p99: null, max: 5000 });
    expect(s.failureSamples).toEqual(["failed", "HTTP 500"]);
  });

  test("keeps at most five failure samples", () => {
    const s = summarizeStormProbes(Array.from({ length: 9 }, (_, i) => probe(1, false, `e${i}`)));
    expect(s.failureSamples).toEqual(["e0", "e1", "e2", "e3", "e4"]);
  });
});

describe("resolveXdsStormOptions", () => {
  test("defaults: 10,000 streams over 10 connections, the server's own limits", () => {
    const o = resolveXdsStormOptions();
    expect(o).toMatchObject({
      streams: 10_000,
      channels: 10,
      idleSeconds: 5,
      holdSeconds: 5,
      releaseSeconds: 10,
      outcomeTimeoutSeconds: 120,
      probeEveryMs: 25,
      probeTimeoutMs: 5000,
      rssEveryMs: 250,
      serverOptions: {},
      limits: { maxStreamsPerSecond: 500, maxStreamsPerClient: 10_000, maxStreamsPerConnection: 1000 },
    });
  });

  test("channels default to at most 1000 streams each, fewer when the server allows fewer", () => {
    expect(resolveXdsStormOptions({ streams: 1 }).channels).toBe(1);
    expect(resolveXdsStormOptions({ streams: 1000 }).channels).toBe(1);
    expect(resolveXdsStormOptions({ streams: 1001 }).channels).toBe(2);
    expect(
      resolveXdsStormOptions({ streams: 1000, serverOptions: { maxStreamsPerConnection: 100 } }).channels,
    ).toBe(10);
  });

  test("server options override the limits the report states", () => {
    const o = resolveXdsStormOptions({
      streams: 300,
      serverOptions: { maxStreamsPerClient: 200, maxStreamsPerSecond: "2000" },
    });
    expect(o.limits).toEqual({
      maxStreamsPerSecond: 2000,
      maxStreamsPerClient: 200,
      maxStreamsPerConnection: 1000,
    });
  });

  test.each([
    [{ streams: 0 }, /--streams must be an integer from 1 to 100000, got 0/],
    [{ streams: 1.5 }, /--streams must be an integer/],
    [{ streams: 200_000 }, /--streams must be an integer from 1 to 100000/],
    [{ streams: 10, channels: 0 }, /--channels must be an integer from 1 to 10/],
    [{ streams: 10, channels: 11 }, /--channels must be an integer from 1 to 10, got 11/],
    [{ streams: 3000, channels: 2 }, /1500 per connection, beyond the server's 1000/],
    [{ probeEveryMs: 0 }, /--probe-every must be a number from 1/],
    [{ outcomeTimeoutSeconds: 0 }, /--timeout must be a number from 1/],
    [{ holdSeconds: -1 }, /--hold must be a number from 0/],
    [
      { serverOptions: { maxStreamsPerClient: "many" } },
      /--server-option maxStreamsPerClient must be a number/,
    ],
  ])("%j is a usage error", (options, message) => {
    let error: unknown;
    try {
      resolveXdsStormOptions(options);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "XDS_LOAD_INVALID_OPTION", kind: "usage" });
    expect((error as Error).message).toMatch(message);
  });

  test("too many streams per connection suggests enough channels", () => {
    expect(() => resolveXdsStormOptions({ streams: 3000, channels: 2 })).toThrow(
      expect.objectContaining({ suggestions: ["Use --channels 3 or more."] }),
    );
  });
});

describe("stormNodeId", () => {
  test("a sidecar per stream, in its namespace, at a unique benchmark-range address", () => {
    expect(stormNodeId(0, "ns-01")).toBe("sidecar~198.18.0.0~storm-0.ns-01~ns-01.svc.cluster.local");
    expect(stormNodeId(9999, "ns-02")).toBe("sidecar~198.18.39.15~storm-9999.ns-02~ns-02.svc.cluster.local");
    expect(stormNodeId(70_000, "a")).toContain("~198.19.17.112~");
    const ids = new Set(Array.from({ length: 100_000 }, (_, i) => stormNodeId(i, "x").split("~")[1]));
    expect(ids.size).toBe(100_000);
  });
});

describe("formatXdsStormReport", () => {
  test("streams by outcome, probe windows, RSS, and the worst storm latency line", () => {
    const text = formatXdsStormReport(stormReport());
    expect(text).toContain(
      "xDS stream storm: 10,000 ADS streams at once from one process over 10 HTTP/2 connections\n",
    );
    expect(text).toContain(
      "server limits: 500 new streams/s, 10,000 streams per client, 1,000 per connection (defaults)",
    );
    expect(text).toMatch(/streams answered \(ok\) +1,010 {2}\(first response p50 900 ms, p99 1,900 ms\)/);
    expect(text).toMatch(/RESOURCE_EXHAUSTED +8,988 /);
    expect(text).toMatch(/other errors +2 {2}\(UNAVAILABLE 2\)/);
    expect(text).toMatch(/time until all outcomes +2,345 ms/);
    expect(text).toMatch(/server: rejected streams +8,988 \(.*the harness saw 8,988\)/);
    expect(text).toMatch(/server: open streams +peak 1,010; after release 0 \(0 within 120 ms\)/);
    expect(text).toMatch(
      /server RSS +before 160 MiB, peak 260.5 MiB \(VmHWM 261 MiB\), 10 s after release 170 MiB/,
    );
    expect(text).toMatch(/per open stream +101.9 KiB/);
    expect(text).toMatch(/V8 heap in use +before 40.2 MiB, peak 120 MiB, after release 45 MiB\n/);
    expect(text).toMatch(/V8 heap committed +before 60 MiB, peak 150 MiB, after release 140 MiB\n/);
    expect(text).toMatch(/outside the heap +before 5 MiB, peak –, after release 6 MiB\n/);
    expect(text).toContain("  window          probes  failures   p50 (ms)   p99 (ms)   max (ms)\n");
    expect(text).toContain("  idle                 3         0          3          4          4\n");
    expect(text).toContain("  storm                3         1          3        250      5,001\n");
    expect(text).toContain("  after release        3         0          3          4          4\n");
    expect(text).toContain("debug port worst latency during the storm: 5,001 ms\n");
    expect(text).toContain("  stream 17: UNAVAILABLE: connection dropped\n");
    expect(text).toContain("  debug port (storm): TimeoutError\n");
    expect(text.endsWith("\n")).toBe(true);
  });

  test("server options, a stop and notes are shown; missing figures print as a dash", () => {
    const r = stormReport({ stoppedEarly: "stopped by SIGINT", notes: ["3 streams had no outcome."] });
    const text = formatXdsStormReport({
      ...r,
      config: { ...r.config, channels: 1, serverOptions: { maxStreamsPerClient: 200 } },
      streams: { ...r.streams, allOutcomesMs: null, other: 0, otherSamples: [] },
      memory: { ...r.memory, afterReleaseMiB: null, afterReleaseReadMs: null, perOpenStreamKiB: null },
      debugPort: { ...r.debugPort, worstStormMs: null },
    });
    expect(text).toContain("over 1 HTTP/2 connection (stopped early: stopped by SIGINT)\n");
    expect(text).toContain("(options: maxStreamsPerClient=200)");
    expect(text).toMatch(/other errors +0\n/);
    expect(text).toMatch(/time until all outcomes +– \(not every stream had one\)/);
    expect(text).toMatch(/, – after release –\n/);
    expect(text).toMatch(/per open stream +–\n/);
    expect(text).toContain("debug port worst latency during the storm: –\n");
    expect(text).toContain("Notes:\n  3 streams had no outcome.\n");
  });
});
