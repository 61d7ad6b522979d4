/**
 * JSON Schema (draft-07 compatible) of the lab result, `meshctl bench --json` (schema id
 * "meshctl.bench.lab/v1"). Adding optional fields is compatible; anything else bumps the version.
 */
const num = { type: "number" } as const;
const roundStat = {
  type: "object",
  required: ["median", "min", "max", "spread", "values"],
  properties: { median: num, min: num, max: num, spread: num, values: { type: "array", items: num } },
} as const;
const percentiles = {
  type: "object",
  required: ["p50", "p90", "p99", "p999", "max"],
  properties: { p50: num, p90: num, p99: num, p999: num, max: num },
} as const;
const scenario = { enum: ["direct", "sidecar", "sidecar-ebpf", "grpc-proxyless"] } as const;

export const LAB_RESULT_JSON_SCHEMA = {
  $id: "https://meshctl.dev/schemas/bench/lab-result.v1.json",
  title: "meshctl bench lab result v1",
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
    "warnings",
  ],
  properties: {
    schema: { const: "meshctl.bench.lab/v1" },
    startedAt: { type: "string" },
    durationSeconds: num,
    options: {
      type: "object",
      required: [
        "scenarios",
        "durationSeconds",
        "warmupSeconds",
        "rounds",
        "qps",
        "connections",
        "payloadBytes",
        "sidecarMode",
        "pinCpus",
      ],
      properties: { scenarios: { type: "array", items: scenario }, rounds: { type: "integer", minimum: 1 } },
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
    },
    skipped: {
      type: "array",
      items: {
        type: "object",
        required: ["scenario", "reason"],
        properties: { scenario, reason: { type: "string" } },
      },
    },
    measurements: {
      type: "array",
      items: {
        type: "object",
        required: [
          "scenario",
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
          round: { type: "integer", minimum: 1 },
          latencyUs: percentiles,
          uncorrectedLatencyUs: percentiles,
        },
      },
    },
    summaries: {
      type: "array",
      items: {
        type: "object",
        required: [
          "scenario",
          "protocol",
          "rounds",
          "requests",
          "errors",
          "achievedQps",
          "p50",
          "p90",
          "p99",
          "p999",
        ],
        properties: {
          scenario,
          achievedQps: roundStat,
          p50: roundStat,
          p90: roundStat,
          p99: roundStat,
          p999: roundStat,
        },
      },
    },
    comparisons: {
      type: "array",
      items: {
        type: "object",
        required: ["id", "title", "baseline", "scenario", "deltas"],
        properties: {
          id: { enum: ["sidecar-overhead", "ebpf-gain", "ebpf-overhead", "grpc-proxyless-overhead"] },
          deltas: {
            type: "array",
            items: {
              type: "object",
              required: [
                "percentile",
                "baselineUs",
                "valueUs",
                "deltaUs",
                "deltaFraction",
                "pairedFraction",
                "perRoundFractions",
              ],
              properties: {
                percentile: { enum: ["p50", "p90", "p99"] },
                pairedFraction: { type: ["number", "null"] },
              },
            },
          },
        },
      },
    },
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
    },
    warnings: { type: "array", items: { type: "string" } },
  },
} as const;
