// Public entry of @meshctl/bench. Explicit named exports only.
export { describeEnvironment } from "./engine/environment.js";
export { LatencyHistogram, logBuckets, spectrumPoints } from "./engine/histogram.js";
export { parseBytes, parseDurationMs, parseHeaders } from "./engine/parse.js";
export {
  DEFAULT_DURATION_MS,
  DEFAULT_QPS,
  LOAD_RESULT_SCHEMA,
  makePayload,
  resolveLoadOptions,
  runLoad,
} from "./engine/run-load.js";
export {
  latencyPairUs,
  OpenLoopSchedule,
  type SimulatedRequest,
  simulateOpenLoop,
} from "./engine/schedule.js";
export { GRPC_ECHO_METHOD, type ParsedTarget, parseLoadTarget } from "./engine/target.js";
export type {
  BenchEnvironment,
  EchoServer,
  EchoServerOptions,
  EncodedHistogram,
  HistogramBucket,
  LatencySummary,
  LoadOptions,
  LoadProgress,
  LoadProtocol,
  LoadResult,
  ResolvedLoadOptions,
} from "./engine/types.js";
// The local mesh lab (`meshctl bench` with no target).
export { findCgroup2Root, parseCgroup2Mount } from "./lab/cgroup.js";
export { renderHaproxyConfig, type SidecarInboundPort, type SidecarModel } from "./lab/haproxy.js";
export { renderLabHtmlReport, representativeRound } from "./lab/html-report.js";
export { type CaptureRulesOptions, captureChainNames, renderCaptureRules } from "./lab/iptables.js";
export { LAB_DEFAULTS, parseLabScenarios, resolveLabOptions } from "./lab/options.js";
export { LAB_PREFIX, type LabPlan, type LabPodPlan, planLab } from "./lab/plan.js";
export {
  compareScenarios,
  deltasOf,
  interleaveRounds,
  type LabSlot,
  medianOf,
  roundStatOf,
  summarizeRounds,
} from "./lab/rounds.js";
export {
  checkLabPrerequisites,
  cleanupLabLeftovers,
  type LabCleanupReport,
  LabSession,
  runLab,
} from "./lab/runner.js";
export { LAB_RESULT_JSON_SCHEMA } from "./lab/schema.js";
export { envoyArgv, labEnvoyBootstrap, selectSidecarKind } from "./lab/sidecar.js";
export { renderLabText } from "./lab/text-report.js";
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
} from "./lab/types.js";
// Reports (text, fortio JSON, HTML), reusable for scenario comparisons.
export {
  compareLatency,
  compareResults,
  type LatencyDelta,
  PERCENTILE_KEYS,
  type ReportEntry,
  type ReportInput,
  type ResultComparison,
  toReportEntries,
} from "./report/compare.js";
export { formatBytes, formatDelta, formatDuration, formatRate, formatUs } from "./report/format.js";
export { type FortioHistogram, type FortioResult, toFortioJson } from "./report/fortio.js";
export { HTML_CHART_IDS, type HtmlReportOptions, renderHtmlReport } from "./report/html.js";
export { LOAD_RESULT_JSON_SCHEMA } from "./report/schema.js";
export { describeRun, renderTextReport, type TextReportOptions } from "./report/text.js";
export { startEchoServer } from "./servers/echo-server.js";
