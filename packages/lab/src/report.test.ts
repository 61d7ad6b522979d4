import { podCommand } from "@meshctl/pod";
import { describe, expect, test } from "vitest";
import { encodeEchoRequest } from "./grpc-xds-load.js";
import { representativeRound } from "./html-report.js";
import { measurementFromLoadResult } from "./index.js";
import { compareScenarios, summarizeRounds } from "./rounds.js";
import { formatMicros, renderLabText } from "./text-report.js";
import type { LabMeasurement, LabResult, LabScenario } from "./types.js";

function m(scenario: LabScenario, round: number, p50: number): LabMeasurement {
  const latency = { p50, p90: p50 * 2, p99: p50 * 3, p999: p50 * 4, max: p50 * 5 };
  return {
    scenario,
    round,
    protocol: "http1",
    requests: 1000,
    errors: 0,
    achievedQps: 1000,
    rateReached: true,
    latencyUs: latency,
    uncorrectedLatencyUs: latency,
    raw: null,
  };
}

describe("engine result → lab measurement", () => {
  test("keeps corrected and uncorrected percentiles, sums errors, flags a missed rate", () => {
    const summary = (p50: number) => ({
      count: 500,
      min: p50 - 10,
      mean: p50,
      stdev: 1,
      p50,
      p75: p50,
      p90: p50 + 1,
      p99: p50 + 2,
      p999: p50 + 3,
      p9999: p50 + 4,
      max: p50 + 4,
    });
    const out = measurementFromLoadResult(
      { scenario: "sidecar", round: 2 },
      {
        protocol: "http1",
        requests: 500,
        achievedQps: 900,
        fellBehind: true,
        errors: { timeout: 2, ECONNRESET: 1 },
        corrected: summary(300),
        uncorrected: summary(200),
      },
    );
    expect(out).toMatchObject({
      scenario: "sidecar",
      round: 2,
      errors: 3,
      rateReached: false,
      achievedQps: 900,
    });
    expect(out.latencyUs.p99).toBe(302);
    expect(out.uncorrectedLatencyUs.p50).toBe(200);
  });
});

describe("text report", () => {
  const measurements = [
    m("direct", 1, 100),
    m("sidecar", 1, 300),
    m("sidecar-ebpf", 1, 240),
    m("direct", 2, 120),
    m("sidecar", 2, 320),
    m("sidecar-ebpf", 2, 260),
  ];
  const summaries = summarizeRounds(measurements, ["direct", "sidecar", "sidecar-ebpf"]);
  const result: LabResult = {
    schema: "meshctl.bench.lab/v1",
    startedAt: "2026-11-23T04:00:00.000Z",
    durationSeconds: 42,
    options: {
      scenarios: ["direct", "sidecar", "sidecar-ebpf"],
      durationSeconds: 4,
      warmupSeconds: 1,
      rounds: 2,
      qps: 1000,
      connections: 4,
      payloadBytes: 1024,
      sidecar: "envoy",
      sidecarMode: "http",
      pinCpus: false,
    },
    environment: {
      kernel: "6.18",
      cpus: 2,
      cpuModel: "EPYC",
      node: "v20",
      sidecar: "haproxy (http mode)",
      sidecarVersion: "2.6",
      cgroupRoot: "/sys/fs/cgroup/mcl-lab-0000",
      ebpf: "sockops",
      cpuPinning: "none",
    },
    skipped: [{ scenario: "grpc-proxyless", reason: "not built" }],
    measurements,
    summaries,
    comparisons: compareScenarios(summaries),
    ebpfCounters: {
      redirectedMessages: 10,
      redirectedBytes: 100,
      egressMessages: 4,
      ingressMessages: 6,
      passedMessages: 3,
      pairsCreated: 2,
      misses: 0,
    },
    warnings: ["sidecar round 1: 1 of 1000 requests failed"],
  };
  const text = renderLabText(result);

  test("has the setup, one row per scenario and the headline comparisons", () => {
    expect(text).toContain(
      "2 interleaved rounds × 4s (+1s warm-up) per scenario, 1000 req/s open loop, 4 connections, 1024 B payload",
    );
    expect(text).toMatch(/^direct\s+http1\s+2\s+1000\s+110 µs ±9%/m);
    expect(text).toContain("Sidecar overhead over direct (sidecar vs direct):");
    expect(text).toMatch(/p50\s+110 µs →\s+310 µs\s+\+200 µs \(\+181\.8%\)/);
    expect(text).toMatch(
      /sidecar-ebpf against sidecar[^\n]*\n\s+p50\s+310 µs →\s+250 µs\s+-60 µs \(-19\.4%\)\s+→ gain 19\.4%/,
    );
  });

  test("says what was skipped, what eBPF did, and warns", () => {
    expect(text).toContain("grpc-proxyless: not built");
    expect(text).toContain(
      "10 messages redirected socket-to-socket (4 between the client app and its sidecar after the 15001 REDIRECT, 6 between the server sidecar and its app)",
    );
    expect(text).toContain("! sidecar round 1: 1 of 1000 requests failed");
  });

  test("formats microseconds for humans", () => {
    expect(formatMicros(850)).toBe("850 µs");
    expect(formatMicros(1240)).toBe("1.24 ms");
    expect(formatMicros(25_000)).toBe("25.0 ms");
    expect(formatMicros(2_100_000)).toBe("2.10 s");
  });
});

describe("helpers", () => {
  test("the representative round is the one nearest the median p50", () => {
    expect(representativeRound([m("direct", 1, 100), m("direct", 2, 180), m("direct", 3, 120)])?.round).toBe(
      3,
    );
  });

  test("pod commands join the cgroup, enter the namespace, pin and drop privileges in that order", () => {
    const { command, args } = podCommand(
      { netns: "mcl-1a2b-sidecar-client", cgroup: "/cg/mcl-lab-1a2b/sidecar/client" },
      ["haproxy", "-db"],
      { asSidecar: true, cpus: "0" },
    );
    expect(command).toBe("sh");
    expect(args.slice(2)).toEqual([
      "sh",
      "/cg/mcl-lab-1a2b/sidecar/client",
      "mcl-1a2b-sidecar-client",
      "taskset",
      "-c",
      "0",
      "setpriv",
      "--reuid=1337",
      "--regid=1337",
      "--clear-groups",
      "--",
      "haproxy",
      "-db",
    ]);
    expect(args[1]).toMatch(/cgroup\.procs.*exec nsenter "--net=\/run\/netns\/\$ns"/);
  });

  test("the gRPC echo request is protobuf field 1 with a varint length", () => {
    expect([...encodeEchoRequest(Buffer.from("hi"))]).toEqual([0x0a, 2, 0x68, 0x69]);
    const big = encodeEchoRequest(Buffer.alloc(1024));
    expect([...big.subarray(0, 3)]).toEqual([0x0a, 0x80, 0x08]);
    expect(big.length).toBe(1027);
  });
});
