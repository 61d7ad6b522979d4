import { MeshctlError } from "@meshctl/core";
import {
  LAB_SCENARIOS,
  type LabOptions,
  type LabRate,
  type LabScenario,
  type ResolvedLabOptions,
} from "./types.js";

/**
 * Defaults: Istio's latency method (1 KiB payload, fixed 1000 rps, a few client connections, open
 * loop) scaled to one small machine so the whole comparison takes about a minute.
 */
export const LAB_DEFAULTS = {
  /**
   * Every scenario but the telemetry ones (pick those with `--scenarios sidecar,sidecar-tstats,...`);
   * each is skipped with a reason when it cannot run here.
   */
  scenarios: LAB_SCENARIOS.filter((s) => s !== "sidecar-tstats" && s !== "sidecar-tstats-wasm"),
  durationSeconds: 3,
  warmupSeconds: 1,
  rounds: 3,
  rates: [1000] as readonly LabRate[],
  connections: 4,
  payloadBytes: 1024,
} as const;

function positive(name: string, value: number, integer: boolean): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new MeshctlError(
      "LAB_OPTION_INVALID",
      `${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`,
      {
        kind: "usage",
      },
    );
  }
  return value;
}

/**
 * Parses a comma-separated scenario list (`direct,sidecar`), rejecting unknown names.
 *
 * @example
 * parseLabScenarios("direct, sidecar-ebpf"); // ["direct", "sidecar-ebpf"]
 */
export function parseLabScenarios(text: string): LabScenario[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(LAB_SCENARIOS as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new MeshctlError(
      "LAB_OPTION_INVALID",
      `unknown scenario${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ") || "(none given)"}`,
      {
        kind: "usage",
        suggestions: [`Pick from: ${LAB_SCENARIOS.join(", ")}.`],
      },
    );
  }
  return [...new Set(names)] as LabScenario[];
}

/**
 * Parses a rate list: requests per second and/or `max` (closed loop), comma-separated, e.g. a
 * sweep `500,2000,5000,max`. Rates are sorted ascending with `max` last, duplicates dropped.
 *
 * @example
 * parseLabRates("5000, 500, max"); // [500, 5000, "max"]
 */
export function parseLabRates(text: string): LabRate[] {
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) {
    throw new MeshctlError("LAB_OPTION_INVALID", "no rate given", {
      kind: "usage",
      suggestions: ["Give requests per second, e.g. `--qps 1000`, or a sweep: `--qps 500,2000,5000,max`."],
    });
  }
  const rates = items.map((item): LabRate => {
    if (item === "max") return "max";
    const n = Number(item);
    if (!Number.isFinite(n) || n <= 0 || !/^\d+(\.\d+)?$/.test(item)) {
      throw new MeshctlError("LAB_OPTION_INVALID", `rate must be a positive number or "max", got "${item}"`, {
        kind: "usage",
        suggestions: ["Example: `--qps 500,2000,5000,max`."],
      });
    }
    return n;
  });
  return sortRates(rates);
}

function sortRates(rates: readonly LabRate[]): LabRate[] {
  const numbers = [...new Set(rates.filter((r): r is number => r !== "max"))].sort((a, b) => a - b);
  return rates.includes("max") ? [...numbers, "max"] : numbers;
}

/**
 * Applies defaults and validates lab options.
 *
 * @example
 * resolveLabOptions({ rounds: 5 }).rates; // [1000]
 */
export function resolveLabOptions(options: LabOptions = {}): ResolvedLabOptions {
  const scenarios = options.scenarios ?? LAB_DEFAULTS.scenarios;
  if (scenarios.length === 0)
    throw new MeshctlError("LAB_OPTION_INVALID", "no scenarios selected", { kind: "usage" });
  parseLabScenarios(scenarios.join(","));
  if (options.rates?.length === 0)
    throw new MeshctlError("LAB_OPTION_INVALID", "no rate selected", { kind: "usage" });
  return {
    scenarios: [...new Set(scenarios)],
    durationSeconds: positive("duration", options.durationSeconds ?? LAB_DEFAULTS.durationSeconds, false),
    warmupSeconds:
      options.warmupSeconds === 0
        ? 0
        : positive("warmup", options.warmupSeconds ?? LAB_DEFAULTS.warmupSeconds, false),
    rounds: positive("rounds", options.rounds ?? LAB_DEFAULTS.rounds, true),
    rates: sortRates(
      (options.rates ?? LAB_DEFAULTS.rates).map((r) => (r === "max" ? r : positive("qps", r, false))),
    ),
    connections: positive("connections", options.connections ?? LAB_DEFAULTS.connections, true),
    pacing: options.pacing ?? "precise",
    payloadBytes:
      options.payloadBytes === 0
        ? 0
        : positive("payload", options.payloadBytes ?? LAB_DEFAULTS.payloadBytes, true),
    sidecar: options.sidecar ?? "envoy",
    sidecarMode: options.sidecarMode ?? "http",
    pinCpus: options.pinCpus ?? false,
  };
}
