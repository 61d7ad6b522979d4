#!/usr/bin/env node
import { writeFile } from "node:fs/promises";
// Runs the local mesh lab and prints the comparison (text, then the JSON result on the last line
// with --json). Build first (`npm run build`: the pods run dist/lab-agent.js). Usage:
//   flock /tmp/meshctl-bench.lock node packages/lab/scripts/lab.mjs [--scenarios a,b] [--duration s] [--rounds n]
//     [--qps n|500,2000,max] [--connections n] [--sidecar envoy|haproxy] [--pacing precise|timer] [--sidecar-mode http|tcp] [--pin-cpus]
//     [--html file] [--json]
// Against the sibling packages' sources instead of their builds:
//   node --conditions=@meshctl/source --import tsx packages/lab/scripts/lab.mjs ...
import { parseArgs } from "node:util";
import { parseLabRates, parseLabScenarios, renderLabHtmlReport, renderLabText, runLab } from "@meshctl/lab";

const { values } = parseArgs({
  options: {
    scenarios: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    rounds: { type: "string" },
    qps: { type: "string" },
    connections: { type: "string" },
    payload: { type: "string" },
    "sidecar-mode": { type: "string" },
    sidecar: { type: "string" },
    pacing: { type: "string" },
    html: { type: "string" },
    json: { type: "boolean", default: false },
    "pin-cpus": { type: "boolean", default: false },
  },
});
const num = (v) => (v === undefined ? undefined : Number(v));
const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
process.once("SIGTERM", () => controller.abort());
const options = {
  ...(values.scenarios ? { scenarios: parseLabScenarios(values.scenarios) } : {}),
  ...(values.duration ? { durationSeconds: num(values.duration) } : {}),
  ...(values.warmup ? { warmupSeconds: num(values.warmup) } : {}),
  ...(values.rounds ? { rounds: num(values.rounds) } : {}),
  ...(values.qps ? { rates: parseLabRates(values.qps) } : {}),
  ...(values.sidecar ? { sidecar: values.sidecar } : {}),
  ...(values.pacing ? { pacing: values.pacing } : {}),
  ...(values.connections ? { connections: num(values.connections) } : {}),
  ...(values.payload ? { payloadBytes: num(values.payload) } : {}),
  ...(values["sidecar-mode"] ? { sidecarMode: values["sidecar-mode"] } : {}),
  ...(values["pin-cpus"] ? { pinCpus: true } : {}),
  removeLeftovers: true,
  signal: controller.signal,
  onProgress: (e) => {
    if (e.type === "phase") console.error(`[${e.phase}] ${e.message}`);
    if (e.type === "warning") console.error(`warning: ${e.message}`);
    if (e.type === "measurement-done") {
      const m = e.measurement;
      console.error(
        `  ${e.index + 1}/${e.total} ${m.scenario} @${m.rate} #${m.round}: p50 ${m.latencyUs.p50} µs p90 ${m.latencyUs.p90} µs p99 ${m.latencyUs.p99} µs, ${m.achievedQps.toFixed(0)} req/s, ${m.errors} errors`,
      );
    }
  },
};
try {
  const result = await runLab(options);
  process.stdout.write(renderLabText(result));
  if (values.html) await writeFile(values.html, renderLabHtmlReport(result));
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ ...result, measurements: result.measurements.map(({ raw, breakdown, ...m }) => ({ ...m, ...(breakdown ? { breakdown: { ...breakdown, timeline: undefined } } : {}) })) })}\n`,
    );
} catch (error) {
  console.error(`lab failed: ${error.code ?? ""} ${error.message}`);
  process.exitCode = 1;
}
