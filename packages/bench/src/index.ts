// Public entry of @meshctl/bench: the load engine, reports and echo servers. Explicit named exports only.

export { encodeEchoMessage } from "./engine/clients/http2.js";
export { describeEnvironment } from "./engine/environment.js";
export { LatencyHistogram, logBuckets, spectrumPoints } from "./engine/histogram.js";
export {
  checkLoadHeaders,
  checkOpenFileLimit,
  LOAD_LIMITS,
  maxLoadWorkers,
  openFileLimit,
} from "./engine/limits.js";
export { parseBytes, parseDurationMs, parseHeaders } from "./engine/parse.js";
export {
  buildResult as buildLoadResult,
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
export { formatTraceRequestId, LOAD_TRACE_MAX_REQUESTS } from "./engine/trace.js";
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
  LoadTrace,
  LoadTraceOptions,
  LoadTraceRequest,
  ResolvedLoadOptions,
} from "./engine/types.js";
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
export {
  formatBytes,
  formatDelta,
  formatDuration,
  formatRate,
  formatUs,
  table as textTable,
} from "./report/format.js";
export { type FortioHistogram, type FortioResult, toFortioJson } from "./report/fortio.js";
export { HTML_CHART_IDS, type HtmlReportOptions, renderHtmlReport } from "./report/html.js";
export { checkReportPath, writeReportFile } from "./report/output-file.js";
export { LOAD_RESULT_JSON_SCHEMA } from "./report/schema.js";
export {
  type AxisTick,
  type ChartAxis,
  esc as escapeHtml,
  type IntervalRow,
  intervalChart,
  lineChart,
  niceTicks,
  PALETTE,
  type StackedBarOptions,
  type StackedBarRow,
  type StackedBarSegment,
  scatterChart,
  stackedBarChart,
  type XyChartOptions,
  type XySeries,
} from "./report/svg.js";
export { describeRun, renderTextReport, type TextReportOptions } from "./report/text.js";
export { startEchoServer } from "./servers/echo-server.js";
