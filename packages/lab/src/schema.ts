/**
 * JSON Schema (draft-07 compatible) of the lab result, `meshctl bench --json` (schema id
 * "meshctl.bench.lab/v2"). Adding optional fields is compatible; anything else bumps the version.
 *
 * v2 (from v1): rates (`options.rates`, `rate` on measurements, summaries and comparisons)
 * replace the single `options.qps`; measurements may carry `cpu` and `breakdown`; summaries add
 * `max`, `rateReached`, `cpu` and `breakdown`; comparison deltas are per metric (latency or CPU
 * per request) with a paired estimate, its 95% interval and a verdict; `curves` is new; gRPC
 * scenarios `direct-grpc` and `sidecar-grpc` are new.
 */
import { LAB_COMPARISON_IDS, LAB_SCENARIOS } from "./types.js";

const num = { type: "number" } as const;
const count = { type: "integer", minimum: 0 } as const;
const str = { type: "string" } as const;

const scenario = { enum: LAB_SCENARIOS } as const;

/** Requests per second (open loop) or "max" (closed loop). */
const rate = { oneOf: [{ type: "number", exclusiveMinimum: 0 }, { const: "max" }] } as const;

const cpuParts = ["client-app", "client-sidecar", "server-app", "server-sidecar"] as const;
const segments = [
  "client-app-to-sidecar",
  "client-sidecar",
  "sidecar-to-sidecar",
  "server-sidecar",
  "server-sidecar-to-app",
] as const;

/** An object with the same schema under each of `keys`, all of them required. */
function each<S>(keys: readonly string[], schema: S, required: boolean) {
  return {
    type: "object",
    ...(required ? { required: [...keys] } : {}),
    properties: Object.fromEntries(keys.map((k) => [k, schema])) as Record<string, S>,
  } as const;
}

/** Median and spread of one statistic across rounds; `values` in round order. */
const roundStat = {
  type: "object",
  required: ["median", "min", "max", "spread", "values"],
  properties: { median: num, min: num, max: num, spread: num, values: { type: "array", items: num } },
} as const;

/** Latency percentiles, µs. */
const percentiles = {
  type: "object",
  required: ["p50", "p90", "p99", "p999", "max"],
  properties: { p50: num, p90: num, p99: num, p999: num, max: num },
} as const;

/** Percentiles of one per-hop segment, µs. */
const segmentStats = {
  type: "object",
  required: ["p50", "p90", "p99", "mean"],
  properties: { p50: num, p90: num, p99: num, mean: num },
} as const;

/** CPU time used during the measured phase, µs (cgroup v2 cpu.stat). */
const cpuUse = {
  type: "object",
  required: ["userUs", "systemUs"],
  properties: { userUs: { type: "number", minimum: 0 }, systemUs: { type: "number", minimum: 0 } },
} as const;

const measurement = {
  type: "object",
  required: [
    "scenario",
    "rate",
    "round",
    "protocol",
    "requests",
    "errors",
    "achievedQps",
    "rateReached",
    "latencyUs",
    "uncorrectedLatencyUs",
    "raw",
  ],
  properties: {
    scenario,
    rate,
    round: { type: "integer", minimum: 1 },
    protocol: str,
    requests: count,
    errors: count,
    achievedQps: num,
    rateReached: { type: "boolean" },
    latencyUs: percentiles,
    uncorrectedLatencyUs: percentiles,
    cpu: {
      description: "CPU of each part during the measured phase and the requests completed in it.",
      type: "object",
      required: ["requests", "parts"],
      properties: { requests: count, parts: each(cpuParts, cpuUse, false) },
    },
    breakdown: {
      description: "Per-hop latency from both sidecars' access logs joined by request id.",
      type: "object",
      required: ["joined", "unmatched", "segments", "timeline"],
      properties: {
        joined: count,
        unmatched: count,
        segments: each(segments, segmentStats, true),
        timeline: {
          description: "[ms since the measured phase began, client sidecar µs, server sidecar µs]",
          type: "array",
          maxItems: 2000,
          items: { type: "array", minItems: 3, maxItems: 3, items: num },
        },
      },
    },
    raw: { description: "The load engine's own result (meshctl.bench.load/v1)." },
  },
} as const;

const summary = {
  type: "object",
  required: [
    "scenario",
    "rate",
    "protocol",
    "rounds",
    "requests",
    "errors",
    "achievedQps",
    "p50",
    "p90",
    "p99",
    "p999",
    "max",
    "rateReached",
  ],
  properties: {
    scenario,
    rate,
    protocol: str,
    rounds: { type: "integer", minimum: 1 },
    requests: count,
    errors: count,
    achievedQps: roundStat,
    p50: roundStat,
    p90: roundStat,
    p99: roundStat,
    p999: roundStat,
    max: roundStat,
    rateReached: { type: "boolean" },
    cpu: each(
      cpuParts,
      {
        type: "object",
        required: ["userUsPerRequest", "systemUsPerRequest"],
        properties: { userUsPerRequest: roundStat, systemUsPerRequest: roundStat },
      },
      false,
    ),
    breakdown: each(
      segments,
      {
        type: "object",
        required: ["p50", "p90", "p99"],
        properties: { p50: roundStat, p90: roundStat, p99: roundStat },
      },
      true,
    ),
  },
} as const;

const delta = {
  type: "object",
  required: [
    "metric",
    "unit",
    "baseline",
    "value",
    "delta",
    "deltaFraction",
    "pairedFraction",
    "interval",
    "verdict",
    "perRoundFractions",
  ],
  properties: {
    metric: { enum: ["p50", "p90", "p99", "sidecar-cpu", "sidecar-system-cpu", "total-cpu"] },
    unit: { enum: ["us", "us/request"] },
    baseline: num,
    value: num,
    delta: num,
    deltaFraction: num,
    pairedFraction: { type: ["number", "null"] },
    interval: {
      description: "95% confidence interval of pairedFraction; null below 2 rounds.",
      oneOf: [
        { type: "null" },
        { type: "object", required: ["low", "high"], properties: { low: num, high: num } },
      ],
    },
    verdict: { enum: ["lower", "higher", "not resolved"] },
    perRoundFractions: { type: "array", items: num },
  },
} as const;

const comparison = {
  type: "object",
  required: ["id", "title", "rate", "baseline", "scenario", "deltas"],
  properties: {
    id: { enum: LAB_COMPARISON_IDS },
    title: str,
    rate,
    baseline: scenario,
    scenario,
    deltas: { type: "array", items: delta },
  },
} as const;

const curve = {
  type: "object",
  required: ["scenario", "points", "maxSustainableQps"],
  properties: {
    scenario,
    points: {
      type: "array",
      items: {
        type: "object",
        required: ["rate", "achievedQps", "p50", "p99", "rateReached", "errors"],
        properties: {
          rate,
          achievedQps: num,
          p50: num,
          p99: num,
          rateReached: { type: "boolean" },
          errors: count,
        },
      },
    },
    maxSustainableQps: { type: ["number", "null"] },
  },
} as const;

export const LAB_RESULT_JSON_SCHEMA = {
  $id: "https://meshctl.dev/schemas/bench/lab-result.v2.json",
  title: "meshctl bench lab result v2",
  type: "object",
  required: [
    "schema",
    "startedAt",
    "durationSeconds",
    "options",
    "environment",
    "skipped",
    "measurements",
    "summaries",
    "comparisons",
    "curves",
    "warnings",
  ],
  properties: {
    schema: { const: "meshctl.bench.lab/v2" },
    startedAt: str,
    durationSeconds: num,
    options: {
      type: "object",
      required: [
        "scenarios",
        "durationSeconds",
        "warmupSeconds",
        "rounds",
        "rates",
        "connections",
        "pacing",
        "payloadBytes",
        "sidecar",
        "sidecarMode",
        "pinCpus",
      ],
      properties: {
        scenarios: { type: "array", items: scenario, minItems: 1 },
        durationSeconds: num,
        warmupSeconds: num,
        rounds: { type: "integer", minimum: 1 },
        rates: { type: "array", items: rate, minItems: 1 },
        connections: { type: "integer", minimum: 1 },
        pacing: { enum: ["precise", "timer"] },
        payloadBytes: count,
        sidecar: { enum: ["envoy", "haproxy"] },
        sidecarMode: { enum: ["http", "tcp"] },
        pinCpus: { type: "boolean" },
      },
    },
    environment: {
      type: "object",
      required: [
        "kernel",
        "cpus",
        "cpuModel",
        "node",
        "sidecar",
        "sidecarVersion",
        "cgroupRoot",
        "ebpf",
        "cpuPinning",
      ],
      properties: {
        kernel: str,
        cpus: count,
        cpuModel: str,
        node: str,
        sidecar: str,
        sidecarVersion: str,
        cgroupRoot: str,
        ebpf: str,
        cpuPinning: str,
      },
    },
    skipped: {
      type: "array",
      items: {
        type: "object",
        required: ["scenario", "reason"],
        properties: { scenario, reason: str },
      },
    },
    measurements: { type: "array", items: measurement },
    summaries: { description: "One per scenario and rate.", type: "array", items: summary },
    comparisons: { description: "One per comparison and rate.", type: "array", items: comparison },
    curves: { description: "One per scenario, over the rates.", type: "array", items: curve },
    ebpfCounters: {
      type: "object",
      required: [
        "redirectedMessages",
        "redirectedBytes",
        "egressMessages",
        "ingressMessages",
        "passedMessages",
        "pairsCreated",
        "misses",
      ],
      properties: Object.fromEntries(
        [
          "redirectedMessages",
          "redirectedBytes",
          "egressMessages",
          "ingressMessages",
          "passedMessages",
          "pairsCreated",
          "misses",
        ].map((k) => [k, count]),
      ),
    },
    warnings: { type: "array", items: str },
  },
} as const;
