/**
 * JSON Schema (draft 2020-12 subset, also valid draft-07) of `meshctl bench run --json` output,
 * schema id "meshctl.bench.load/v1". Adding optional fields is compatible; anything else bumps
 * the version.
 */
const summary = {
  type: "object",
  required: ["count", "min", "mean", "stdev", "max", "p50", "p75", "p90", "p99", "p999", "p9999"],
  properties: Object.fromEntries(
    ["count", "min", "mean", "stdev", "max", "p50", "p75", "p90", "p99", "p999", "p9999"].map((k) => [
      k,
      { type: "number", minimum: 0 },
    ]),
  ),
} as const;

/** `LoadOptions.trace` as run. */
const traceOptions = {
  type: "object",
  required: ["header", "idPrefix"],
  properties: {
    header: { type: "string", minLength: 1 },
    idPrefix: { type: "string", minLength: 1 },
  },
} as const;

const spectrum = {
  type: "array",
  items: { type: "array", items: { type: "number" }, minItems: 2, maxItems: 2 },
} as const;

export const LOAD_RESULT_JSON_SCHEMA = {
  $id: "https://meshctl.dev/schemas/bench/load-result.v1.json",
  title: "meshctl bench load result v1",
  type: "object",
  required: [
    "schema",
    "target",
    "protocol",
    "options",
    "startedAt",
    "durationMs",
    "requests",
    "targetQps",
    "achievedQps",
    "achievedRatio",
    "fellBehind",
    "errors",
    "corrected",
    "uncorrected",
    "histogram",
    "warnings",
    "environment",
  ],
  properties: {
    schema: { const: "meshctl.bench.load/v1" },
    target: { type: "string" },
    protocol: { enum: ["http1", "http2", "grpc", "tcp"] },
    options: {
      type: "object",
      required: [
        "target",
        "protocol",
        "mode",
        "qps",
        "connections",
        "durationMs",
        "requests",
        "payloadBytes",
        "warmupMs",
        "headers",
        "workers",
        "timeoutMs",
      ],
      properties: {
        mode: { enum: ["open", "closed"] },
        qps: { type: ["number", "null"] },
        connections: { type: "integer", minimum: 1 },
        durationMs: { type: ["number", "null"] },
        requests: { type: ["integer", "null"] },
        payloadBytes: { type: "integer", minimum: 0 },
        warmupMs: { type: "number", minimum: 0 },
        headers: { type: "object", additionalProperties: { type: "string" } },
        workers: { type: "integer", minimum: 1 },
        pacing: { enum: ["precise", "timer"] },
        timeoutMs: { type: "number" },
        trace: traceOptions,
      },
    },
    startedAt: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}T" },
    durationMs: { type: "number", minimum: 0 },
    requests: { type: "integer", minimum: 0 },
    targetQps: { type: ["number", "null"] },
    achievedQps: { type: "number", minimum: 0 },
    achievedRatio: { type: "number", minimum: 0 },
    fellBehind: { type: "boolean" },
    errors: { type: "object", additionalProperties: { type: "integer", minimum: 1 } },
    corrected: summary,
    uncorrected: summary,
    histogram: {
      type: "object",
      required: ["correctedHdr", "uncorrectedHdr", "buckets", "spectrum", "uncorrectedSpectrum"],
      properties: {
        correctedHdr: { type: "string", pattern: "^HISTF" },
        uncorrectedHdr: { type: "string", pattern: "^HISTF" },
        buckets: {
          type: "array",
          items: {
            type: "object",
            required: ["startUs", "endUs", "count"],
            properties: {
              startUs: { type: "number" },
              endUs: { type: "number" },
              count: { type: "integer" },
            },
          },
        },
        spectrum,
        uncorrectedSpectrum: spectrum,
      },
    },
    warnings: { type: "array", items: { type: "string" } },
    trace: {
      type: "object",
      required: ["header", "idPrefix", "requests"],
      properties: {
        ...traceOptions.properties,
        // [id, sentMs since the measured start, uncorrected latency µs, error 0|1], ordered by
        // sentMs. Positions are not checked: tuple keywords differ between draft-07 and 2020-12.
        requests: {
          type: "array",
          items: {
            type: "array",
            minItems: 4,
            maxItems: 4,
            items: { type: ["string", "number"] },
          },
        },
      },
    },
    environment: {
      type: "object",
      required: [
        "hostname",
        "kernel",
        "platform",
        "arch",
        "cpuModel",
        "cpus",
        "node",
        "meshctlBench",
        "loadavg",
      ],
    },
  },
} as const;
