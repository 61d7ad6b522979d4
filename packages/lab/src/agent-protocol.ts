/**
 * The protocol between the lab and its pod agent (dist/lab-agent.js), both directions in one place:
 * the agent's argv, its `@progress` lines on stderr, and its last stdout line (a load result or an
 * error), which the lab validates against the load result's JSON schema before using it.
 */
import { LOAD_RESULT_JSON_SCHEMA, type LoadProgress, type LoadResult } from "@meshctl/bench";
import { MeshctlError } from "@meshctl/core";
import { Ajv } from "ajv";
import type { LabLiveFigures, LabMeasurement, LabPercentiles } from "./types.js";

/** Script run inside pods (echo servers, load generation, xDS); built next to the library in dist/. */
export const LAB_AGENT_SCRIPT = "lab-agent.js";

/** The agent's modes: echo (EchoServerOptions), load (LoadOptions), grpc-load (GrpcLoadOptions), xds. */
export type AgentMode = "echo" | "load" | "grpc-load" | "xds";

/** What the agent's `xds` mode serves: meshctl's control plane on the pod's 127.0.0.1. */
export interface XdsAgentSpec {
  /** Kubernetes objects of the mesh (a static source). */
  readonly objects: readonly object[];
  readonly port: number;
  /** Access logs the sidecars write (Istio's accessLogFile/Format/Encoding). */
  readonly accessLog?: {
    readonly path: string;
    readonly encoding: "JSON";
    readonly format: Readonly<Record<string, string>>;
  };
  /** Telemetry for the sidecars: the tstats build their listeners carry (none when absent). */
  readonly telemetry?: "native" | "wasm";
}

/**
 * The argv that runs the agent in one mode.
 *
 * @example
 * agentArgv("/…/dist/lab-agent.js", "echo", { protocol: "http1", port: 8080 });
 */
export function agentArgv(agentPath: string, mode: AgentMode, spec: unknown): string[] {
  return [process.execPath, agentPath, mode, JSON.stringify(spec)];
}

/** Decodes the agent's argv (its side of `agentArgv`). */
export function decodeAgentArgv(argv: readonly string[]): { mode: string; spec: unknown } {
  const [mode, json] = argv;
  return { mode: mode ?? "", spec: JSON.parse(json ?? "") as unknown };
}

const PROGRESS_PREFIX = "@progress ";

/** One live-progress line the agent writes to stderr. */
export function encodeProgressLine(p: LoadProgress): string {
  return `${PROGRESS_PREFIX}${JSON.stringify(p)}\n`;
}

/**
 * The live figures of a progress line; undefined for other stderr lines, `null` for a torn one.
 *
 * @example
 * decodeProgressLine('@progress {"phase":"measure","requests":10,"errors":0,"currentQps":1000,"p50Us":80,"p99Us":300}');
 */
export function decodeProgressLine(line: string): LabLiveFigures | null | undefined {
  if (!line.startsWith(PROGRESS_PREFIX)) return undefined;
  try {
    const p = JSON.parse(line.slice(PROGRESS_PREFIX.length)) as LabLiveFigures;
    return {
      phase: p.phase,
      requests: p.requests,
      errors: p.errors,
      currentQps: p.currentQps,
      p50Us: p.p50Us,
      p99Us: p.p99Us,
    };
  } catch {
    return null;
  }
}

/** The agent's error line. */
export interface AgentError {
  readonly code: string;
  readonly message: string;
  readonly kind: string;
}

/** The agent's last stdout line: a result (of its mode) or an error. */
export function encodeAgentOutput(output: { error: AgentError } | object): string {
  return `${JSON.stringify(output)}\n`;
}

/** The agent's error line among its stdout, if it wrote one. */
export function agentErrorOf(stdout: string): AgentError | undefined {
  for (const line of stdout.trim().split("\n").reverse()) {
    try {
      const error = (JSON.parse(line) as { error?: AgentError }).error;
      if (error) return error;
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

let validateLoadResult: ((data: unknown) => boolean) & { errors?: unknown } = undefined as never;

/**
 * Decodes a load agent's stdout: the last line must be a load result valid against
 * LOAD_RESULT_JSON_SCHEMA, or the agent's error. Anything else is LAB_LOAD_FAILED.
 *
 * @example
 * const result = decodeLoadOutput(stdout, 0, stderr, "direct round 1");
 */
export function decodeLoadOutput(
  stdout: string,
  exitCode: number | null,
  stderr: string,
  what: string,
): LoadResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.trim().split("\n").pop() ?? "");
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: Partial<AgentError> } | undefined)?.error;
  if (exitCode !== 0 || !parsed || error) {
    throw new MeshctlError(
      "LAB_LOAD_FAILED",
      `Load generation for ${what} failed: ${error?.message ?? (stderr.trim() || `exit code ${exitCode ?? "?"}`)}`,
      { kind: "bug", details: { what, exitCode, stderr, code: error?.code } },
    );
  }
  validateLoadResult ??= new Ajv({ strict: false, allErrors: false }).compile(LOAD_RESULT_JSON_SCHEMA);
  if (!validateLoadResult(parsed)) {
    throw new MeshctlError(
      "LAB_LOAD_FAILED",
      `Load generation for ${what} returned a result that does not match its schema: ${JSON.stringify(validateLoadResult.errors).slice(0, 500)}`,
      { kind: "bug", details: { what } },
    );
  }
  return parsed as LoadResult;
}

function percentilesOf(s: LoadResult["corrected"]): LabPercentiles {
  return { p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max };
}

/** Turns the engine's result into one lab measurement. */
export function measurementFromLoadResult(
  slot: Pick<LabMeasurement, "scenario" | "round" | "rate">,
  result: Pick<
    LoadResult,
    "protocol" | "requests" | "achievedQps" | "fellBehind" | "errors" | "corrected" | "uncorrected"
  >,
): LabMeasurement {
  return {
    scenario: slot.scenario,
    rate: slot.rate,
    round: slot.round,
    protocol: result.protocol,
    requests: result.requests,
    errors: Object.values(result.errors).reduce((a, b) => a + b, 0),
    achievedQps: result.achievedQps,
    rateReached: !result.fellBehind,
    latencyUs: percentilesOf(result.corrected),
    uncorrectedLatencyUs: percentilesOf(result.uncorrected),
    raw: result,
  };
}
