// Public entry of @meshctl/lab: the local mesh lab (`meshctl bench` with no target). It composes
// @meshctl/pod (pods), @meshctl/bench (load engine, reports), @meshctl/xds (control plane) and
// @meshctl/ebpf (acceleration). Explicit named exports only.
export { measurementFromLoadResult } from "./agent-protocol.js";
export { joinBreakdown, LAB_ACCESS_LOG_FORMAT, parseAccessLog, REQUEST_ID_HEADER } from "./breakdown.js";
export { cleanupLabLeftovers, type LabCleanupReport } from "./cleanup.js";
export { renderLabHtmlReport, representativeRound } from "./html-report.js";
export { LAB_DEFAULTS, parseLabRates, parseLabScenarios, resolveLabOptions } from "./options.js";
export { LAB_PREFIX, type LabPlan, type LabPodPlan, planLab } from "./plan.js";
export { checkLabPrerequisites } from "./preflight.js";
export {
  compareScenarios,
  curvesOf,
  deltasOf,
  interleaveRounds,
  type LabSlot,
  medianOf,
  pairedDifference,
  quantileOf,
  roundStatOf,
  summarizeRounds,
} from "./rounds.js";
export { runLab } from "./run.js";
export { LAB_RESULT_JSON_SCHEMA } from "./schema.js";
export { LabSession } from "./session.js";
export { labEnvoyBootstrap } from "./sidecar.js";
export { renderLabText } from "./text-report.js";
export {
  LAB_CPU_PARTS,
  LAB_SCENARIOS,
  LAB_SEGMENTS,
  type LabBreakdown,
  type LabComparison,
  type LabCpuPart,
  type LabCpuUse,
  type LabCurve,
  type LabDelta,
  type LabEbpfCounters,
  type LabEnvironment,
  type LabLiveFigures,
  type LabMeasurement,
  type LabMetric,
  type LabOptions,
  type LabPercentiles,
  type LabProgressEvent,
  type LabRate,
  type LabResult,
  type LabScenario,
  type LabScenarioSummary,
  type LabSegment,
  type LabSegmentStats,
  type ResolvedLabOptions,
  type RoundStat,
  type SidecarKind,
} from "./types.js";
