#!/usr/bin/env node
// Issue 15's comparison, measured: Istio's telemetry in Envoy sidecars as the native tstats module
// against the same C core as a proxy-wasm filter (V8), and against no telemetry. The lab runs the
// three scenarios interleaved in every round, at two loads:
//   1. capacity: `sidecar` (no telemetry) closed loop for a few rounds -> C req/s;
//   2. comparison: sidecar, sidecar-tstats, sidecar-tstats-wasm at --moderate x C and --high x C.
// Targets: native >= 10% less Envoy CPU per request than Wasm and >= 20% lower p99 at the higher
// load; native <= 5% Envoy CPU over no telemetry. Each with its paired 95% interval.
// Usage (root, after `npm run build`):
//   flock /tmp/meshctl-bench.lock node packages/lab/scripts/tstats-target.mjs [--rounds 20]
//     [--duration 3] [--moderate 0.4] [--high 0.8] [--connections 4] [--html file] [--json]
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { renderLabHtmlReport, renderLabText, runLab } from "@meshctl/lab";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    duration: { type: "string", default: "3" },
    moderate: { type: "string", default: "0.4" },
    high: { type: "string", default: "0.8" },
    connections: { type: "string", default: "4" },
    pacing: { type: "string", default: "timer" },
    html: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
process.once("SIGTERM", () => controller.abort());
const connections = Number(values.connections);
// Timer pacing: a generator polling for precise send times would keep a CPU busy that the
// sidecars then lack (2 CPUs), which blurs what each telemetry build costs.
const common = { connections, pacing: values.pacing, removeLeftovers: true, signal: controller.signal };
const pct = (f) => `${f >= 0 ? "+" : "−"}${Math.abs(f * 100).toFixed(1)}%`;

/** A target on one comparison's metric: `goal` is the paired change it must reach (negative = lower). */
function verdict(result, { comparison, metric, rate, goal, label, atMost }) {
  const c = result.comparisons.find((x) => x.id === comparison && x.rate === rate);
  const d = c?.deltas.find((x) => x.metric === metric);
  if (!d || d.pairedFraction === null || !d.interval)
    return { comparison, metric, rate, met: false, line: `${label} at ${rate} req/s: not measured` };
  // "atMost": a cost that must stay under `goal` (its interval's upper end below it);
  // otherwise a gain that must reach `goal` with the interval entirely below zero.
  const met = atMost ? d.interval.high <= goal : d.interval.high < 0 && d.pairedFraction <= goal;
  const want = atMost
    ? `≤ ${pct(goal)} (interval's upper end)`
    : `≤ ${pct(goal)} with the interval below zero`;
  return {
    comparison,
    metric,
    rate,
    met,
    pairedFraction: d.pairedFraction,
    interval: d.interval,
    line: `${label} at ${rate} req/s: ${pct(d.pairedFraction)} [${pct(d.interval.low)}, ${pct(d.interval.high)}] ${d.verdict}; target ${want}: ${met ? "met" : "not met"}`,
  };
}

try {
  console.error("[1/2] capacity: sidecar (no telemetry), closed loop");
  const capacity = await runLab({
    ...common,
    scenarios: ["sidecar"],
    rates: ["max"],
    rounds: 3,
    durationSeconds: 2,
  });
  const max = capacity.curves[0]?.maxSustainableQps;
  if (!max) throw new Error("the capacity run measured no rate");
  const moderate = Math.round((max * Number(values.moderate)) / 10) * 10;
  const high = Math.round((max * Number(values.high)) / 10) * 10;
  console.error(`      sidecar sustains ${max.toFixed(0)} req/s; comparing at ${moderate} and ${high} req/s`);
  console.error(`[2/2] sidecar, sidecar-tstats, sidecar-tstats-wasm: ${values.rounds} interleaved rounds`);
  const result = await runLab({
    ...common,
    scenarios: ["sidecar", "sidecar-tstats", "sidecar-tstats-wasm"],
    rates: [moderate, high],
    rounds: Number(values.rounds),
    durationSeconds: Number(values.duration),
  });
  process.stdout.write(renderLabText(result));
  if (values.html) await writeFile(values.html, renderLabHtmlReport(result));
  const verdicts = [
    ...[moderate, high].map((rate) =>
      verdict(result, {
        comparison: "tstats-native-vs-wasm",
        metric: "sidecar-cpu",
        rate,
        goal: -0.1,
        label: "native vs Wasm, Envoy CPU per request",
      }),
    ),
    ...[moderate, high].map((rate) =>
      verdict(result, {
        comparison: "tstats-native-vs-wasm",
        metric: "p50",
        rate,
        goal: 0,
        label: "native vs Wasm, p50",
      }),
    ),
    verdict(result, {
      comparison: "tstats-native-vs-wasm",
      metric: "p99",
      rate: high,
      goal: -0.2,
      label: "native vs Wasm, p99",
    }),
    ...[moderate, high].map((rate) =>
      verdict(result, {
        comparison: "tstats-native-cost",
        metric: "sidecar-cpu",
        rate,
        goal: 0.05,
        atMost: true,
        label: "native over no telemetry, Envoy CPU per request",
      }),
    ),
  ];
  const cpuPer1000 = result.summaries.map((s) => {
    const parts = ["client-sidecar", "server-sidecar"].map((p) => s.cpu?.[p]);
    const us = parts.every(Boolean)
      ? parts.reduce((sum, x) => sum + x.userUsPerRequest.median + x.systemUsPerRequest.median, 0)
      : null;
    return {
      scenario: s.scenario,
      rate: s.rate,
      envoyCpuMsPer1000: us === null ? null : us,
      p50Us: s.p50.median,
      p99Us: s.p99.median,
    };
  });
  process.stdout.write(
    `\nEnvoy CPU per 1,000 requests (both sidecars) and latency, medians across rounds:\n`,
  );
  for (const r of cpuPer1000)
    process.stdout.write(
      `  ${String(r.rate).padStart(6)} req/s  ${r.scenario.padEnd(20)} ${r.envoyCpuMsPer1000 === null ? "-" : `${r.envoyCpuMsPer1000.toFixed(0)} ms`}  p50 ${r.p50Us.toFixed(0)} µs  p99 ${r.p99Us.toFixed(0)} µs\n`,
    );
  process.stdout.write(`\nIssue 15 targets (sidecar capacity ${max.toFixed(0)} req/s):\n`);
  for (const v of verdicts) process.stdout.write(`  ${v.line}\n`);
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ capacityQps: max, rates: [moderate, high], verdicts, cpuPer1000, comparisons: result.comparisons })}\n`,
    );
} catch (error) {
  console.error(`tstats target failed: ${error.code ?? ""} ${error.message}`);
  process.exitCode = 1;
}
