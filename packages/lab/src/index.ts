// Public entry of @meshctl/lab: the local mesh lab (`meshctl bench` with no target). It composes
// @meshctl/pod (pods), @meshctl/bench (load engine, reports), @meshctl/xds (control plane) and
// @meshctl/ebpf (acceleration). Explicit named exports only.
export { measurementFromLoadResult } from "./agent-protocol.js";
export { cleanupLabLeftovers, type LabCleanupReport } from "./cleanup.js";
export { renderLabHtmlReport, representativeRound } from "./html-report.js";
export { LAB_DEFAULTS, parseLabScenarios, resolveLabOptions } from "./options.js";
export { LAB_PREFIX, type LabPlan, type LabPodPlan, planLab } from "./plan.js";
export { checkLabPrerequisites } from "./preflight.js";
export {
  compareScenarios,
  deltasOf,
  interleaveRounds,
  type LabSlot,
  medianOf,
  roundStatOf,
  summarizeRounds,
} from "./rounds.js";
export { runLab } from "./run.js";
export { LAB_RESULT_JSON_SCHEMA } from "./schema.js";
export { LabSession } from "./session.js";
export { labEnvoyBootstrap } from "./sidecar.js";
export { renderLabText } from "./text-report.js";
export {
  LAB_SCENARIOS,
  type LabComparison,
  type LabDelta,
  type LabEbpfCounters,
  type LabEnvironment,
  type LabLiveFigures,
  type LabMeasurement,
  type LabOptions,
  type LabPercentiles,
  type LabProgressEvent,
  type LabResult,
  type LabScenario,
  type LabScenarioSummary,
  type ResolvedLabOptions,
  type RoundStat,
  type SidecarKind,
} from "./types.js";
