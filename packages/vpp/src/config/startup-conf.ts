import { VppError } from "../errors.js";
import {
  buildConfigTree,
  type ConfigNode,
  checkSectionModel,
  flag,
  float,
  int,
  named,
  oneOf,
  type ParseContext,
  parseFieldValue,
  parseSectionBody,
  renderSectionBody,
  type SectionValue,
  size,
  tokenizeVppConfig,
  type VppConfigIssue,
  type VppSize,
  vppSizeToBytes,
  word,
} from "./engine.js";

const FOUR_GIB_MINUS_ONE = 2 ** 32 - 1;
const CORE_LIST = { pattern: /^\d+(-\d+)?(,\d+(-\d+)?)*$/, hint: "a core list such as 2-4,6" };

// Keywords are VPP's own (VLIB_CONFIG_FUNCTION parsers at v26.10-rc0); see docs/vpp.md.
export const UNIX_SCHEMA = {
  interactive: flag("interactive"),
  nodaemon: flag("nodaemon"),
  nosyslog: flag("nosyslog"),
  nocolor: flag("nocolor"),
  nobanner: flag("nobanner"),
  cliPrompt: word("cli-prompt"),
  cliListen: word("cli-listen"),
  runtimeDir: word("runtime-dir"),
  cliLineMode: flag("cli-line-mode"),
  cliNoBanner: flag("cli-no-banner"),
  cliNoPager: flag("cli-no-pager"),
  pollSleepUsec: int("poll-sleep-usec"),
  cliPagerBufferLimit: int("cli-pager-buffer-limit"),
  cliHistoryLimit: int("cli-history-limit"),
  coredumpSize: word("coredump-size", { pattern: /^(unlimited|\d+[kKmMgG]?)$/, hint: "unlimited or a size" }),
  fullCoredump: flag("full-coredump"),
  startupConfig: word("startup-config"),
  exec: word("exec"),
  log: word("log"),
  gid: word("gid"),
  pidfile: word("pidfile"),
} as const;

export const CPU_SCHEMA = {
  mainCore: int("main-core"),
  skipCores: int("skip-cores"),
  corelistWorkers: word("corelist-workers", CORE_LIST),
  coremaskWorkers: word("coremask-workers", { pattern: /^(0x)?[0-9a-fA-F]+$/, hint: "a hex core mask" }),
  workers: int("workers"),
  usePthreads: flag("use-pthreads"),
  threadPrefix: word("thread-prefix"),
  relative: flag("relative"),
  schedulerPolicy: oneOf("scheduler-policy", ["rr", "fifo", "batch", "idle", "other"]),
  schedulerPriority: int("scheduler-priority"),
} as const;

export const BUFFERS_SCHEMA = {
  buffersPerNuma: int("buffers-per-numa", { min: 1 }),
  pageSize: word("page-size", {
    pattern: /^(default|default-hugepage|\d+[kKmMgG]?)$/,
    hint: "4k, 2m, 1g, default or default-hugepage",
  }),
  defaultDataSize: int("default data-size"),
} as const;

export const SESSION_SCHEMA = {
  enable: flag("enable"),
  rtBackend: oneOf("rt-backend", ["rule-table", "sdl"]),
  useAppSocketApi: flag("use-app-socket-api"),
  useBapiSocketApi: flag("use-bapi-socket-api"),
  wrkMqLength: int("wrk-mq-length"),
  eventQueueLength: int("event-queue-length"),
  wrkMqsSegmentSize: size("wrk-mqs-segment-size"),
  evtQsSegSize: size("evt_qs_seg_size"),
  evtQsMemfdSeg: flag("evt_qs_memfd_seg"),
  segmentBaseva: word("segment-baseva", { pattern: /^0x[0-9a-fA-F]+$/, hint: "a 0x hex address" }),
  preallocatedSessions: int("preallocated-sessions"),
  v4SessionTableBuckets: int("v4-session-table-buckets"),
  v4SessionTableMemory: size("v4-session-table-memory", { max: FOUR_GIB_MINUS_ONE }),
  v4HalfopenTableBuckets: int("v4-halfopen-table-buckets"),
  v4HalfopenTableMemory: size("v4-halfopen-table-memory", { max: FOUR_GIB_MINUS_ONE }),
  v6SessionTableBuckets: int("v6-session-table-buckets"),
  v6SessionTableMemory: size("v6-session-table-memory", { max: FOUR_GIB_MINUS_ONE }),
  v6HalfopenTableBuckets: int("v6-halfopen-table-buckets"),
  v6HalfopenTableMemory: size("v6-halfopen-table-memory", { max: FOUR_GIB_MINUS_ONE }),
  localEndpointsTableMemory: size("local-endpoints-table-memory", { max: FOUR_GIB_MINUS_ONE }),
  localEndpointsTableBuckets: int("local-endpoints-table-buckets"),
  minSrcPort: int("min-src-port", { min: 1, max: 65535 }),
  maxSrcPort: int("max-src-port", { min: 1, max: 65535 }),
  pollMain: flag("poll-main"),
  usePrivateRxMqs: flag("use-private-rx-mqs"),
  noAdaptive: flag("no-adaptive"),
  useDma: flag("use-dma"),
  nat44OriginalDstEnable: flag("nat44-original-dst-enable"),
  noDumpSegments: flag("no-dump-segments"),
} as const;

export const TCP_SCHEMA = {
  ccAlgo: word("cc-algo", {
    pattern: /^[a-z0-9_-]+$/,
    hint: "cubic or newreno (or one a plugin registers, e.g. bbr)",
  }),
  maxRxFifo: size("max-rx-fifo", { max: FOUR_GIB_MINUS_ONE }),
  minRxFifo: size("min-rx-fifo", { max: FOUR_GIB_MINUS_ONE }),
  mtu: int("mtu", { min: 68, max: 65535 }),
  tso: flag("tso"),
  noTxPacing: flag("no-tx-pacing"),
  noCsumOffload: flag("no-csum-offload"),
  initialCwndMultiplier: int("initial-cwnd-multiplier"),
  maxGsoSize: int("max-gso-size"),
  preallocatedConnections: int("preallocated-connections"),
  preallocatedHalfOpenConnections: int("preallocated-half-open-connections"),
  bufferFailFraction: float("buffer-fail-fraction"),
  rwndMinUpdateAck: int("rwnd-min-update-ack"),
  closewaitTime: int("closewait-time"),
  timewaitTime: int("timewait-time"),
  finwait1Time: int("finwait1-time"),
  finwait2Time: int("finwait2-time"),
  lastackTime: int("lastack-time"),
  closingTime: int("closing-time"),
  cleanupTime: int("cleanup-time"),
  synRcvdTime: int("syn-rcvd-time"),
} as const;

export const SOCKSVR_SCHEMA = {
  default: flag("default"),
  socketName: word("socket-name"),
} as const;

export const API_SEGMENT_SCHEMA = {
  prefix: word("prefix"),
  uid: word("uid"),
  gid: word("gid"),
  globalSize: size("global-size"),
  apiSize: size("api-size"),
  globalPvtHeapSize: size("global-pvt-heap-size"),
  apiPvtHeapSize: size("api-pvt-heap-size"),
} as const;

export const API_TRACE_SCHEMA = {
  on: flag("on"),
  enable: flag("enable"),
  nitems: int("nitems"),
  saveApiTable: word("save-api-table"),
} as const;

export const MEMORY_SCHEMA = {
  mainHeapSize: size("main-heap-size"),
  mainHeapPageSize: word("main-heap-page-size", {
    pattern: /^(default|default-hugepage|\d+[kKmMgG]?)$/,
    hint: "4k, 2m, 1g, default or default-hugepage",
  }),
  defaultHugepage: flag("default-hugepage"),
} as const;

export const STATSEG_SCHEMA = {
  socketName: word("socket-name"),
  size: size("size"),
  pageSize: word("page-size", {
    pattern: /^(default|default-hugepage|\d+[kKmMgG]?)$/,
    hint: "4k, 2m, 1g, default or default-hugepage",
  }),
  perNodeCounters: oneOf("per-node-counters", ["on", "off"]),
  updateInterval: float("update-interval"),
} as const;

export const PLUGINS_SCHEMA = {
  path: word("path"),
  addPath: word("add-path"),
  plugin: named("plugin", {
    enable: flag("enable"),
    disable: flag("disable"),
    skipVersionCheck: flag("skip-version-check"),
  }),
} as const;

export const DPDK_SCHEMA = {
  dev: named("dev", {
    name: word("name"),
    numRxQueues: int("num-rx-queues", { min: 1 }),
    numTxQueues: int("num-tx-queues", { min: 1 }),
    numRxDesc: int("num-rx-desc", { min: 1 }),
    numTxDesc: int("num-tx-desc", { min: 1 }),
    workers: word("workers", CORE_LIST),
    devargs: word("devargs"),
    tso: oneOf("tso", ["on", "off"]),
  }),
  uioDriver: word("uio-driver"),
  socketMem: word("socket-mem"),
  numMbufs: int("num-mbufs"),
  noMultiSeg: flag("no-multi-seg"),
  noTxChecksumOffload: flag("no-tx-checksum-offload"),
} as const;

/** Known sections in render order: property name → [keyword, schema]. */
const SECTIONS = {
  unix: ["unix", UNIX_SCHEMA],
  apiTrace: ["api-trace", API_TRACE_SCHEMA],
  apiSegment: ["api-segment", API_SEGMENT_SCHEMA],
  socksvr: ["socksvr", SOCKSVR_SCHEMA],
  memory: ["memory", MEMORY_SCHEMA],
  cpu: ["cpu", CPU_SCHEMA],
  buffers: ["buffers", BUFFERS_SCHEMA],
  statseg: ["statseg", STATSEG_SCHEMA],
  session: ["session", SESSION_SCHEMA],
  tcp: ["tcp", TCP_SCHEMA],
  plugins: ["plugins", PLUGINS_SCHEMA],
  dpdk: ["dpdk", DPDK_SCHEMA],
} as const;
type SectionProp = keyof typeof SECTIONS;

export type UnixSection = SectionValue<typeof UNIX_SCHEMA>;
export type CpuSection = SectionValue<typeof CPU_SCHEMA>;
export type BuffersSection = SectionValue<typeof BUFFERS_SCHEMA>;
export type SessionSection = SectionValue<typeof SESSION_SCHEMA>;
export type TcpSection = SectionValue<typeof TCP_SCHEMA>;
export type SocksvrSection = SectionValue<typeof SOCKSVR_SCHEMA>;
export type ApiSegmentSection = SectionValue<typeof API_SEGMENT_SCHEMA>;
export type ApiTraceSection = SectionValue<typeof API_TRACE_SCHEMA>;
export type MemorySection = SectionValue<typeof MEMORY_SCHEMA>;
export type StatsegSection = SectionValue<typeof STATSEG_SCHEMA>;
export type PluginsSection = SectionValue<typeof PLUGINS_SCHEMA>;
export type DpdkSection = SectionValue<typeof DPDK_SCHEMA>;

/** A section meshctl does not model (e.g. one a plugin registers), kept word for word. */
export interface RawSection {
  readonly name: string;
  /** The words inside the braces, single-space separated (nested braces included). */
  readonly body: string;
}

/** The typed model of VPP's startup.conf. */
export interface StartupConf {
  unix?: UnixSection;
  apiTrace?: ApiTraceSection;
  apiSegment?: ApiSegmentSection;
  socksvr?: SocksvrSection;
  memory?: MemorySection;
  /** Top-level `heapsize <n>[mg]` (older VPP; newer ones use `memory { main-heap-size }`). */
  heapsize?: VppSize;
  /** Top-level `plugin_path <dir>`. */
  pluginPath?: string;
  cpu?: CpuSection;
  buffers?: BuffersSection;
  statseg?: StatsegSection;
  session?: SessionSection;
  tcp?: TcpSection;
  plugins?: PluginsSection;
  dpdk?: DpdkSection;
  /** Sections not modelled here, rendered after the known ones. */
  extraSections?: RawSection[];
}

export interface ParseOptions {
  /** Used in issues (`file:line`). */
  readonly file?: string;
  /** Throw VPP_CONFIG_INVALID when there is any error. */
  readonly strict?: boolean;
}

export interface StartupConfParseResult {
  readonly config: StartupConf;
  readonly issues: readonly VppConfigIssue[];
  /** True when no issue is an error. */
  readonly valid: boolean;
}

function flattenNodes(nodes: readonly ConfigNode[]): string {
  return nodes
    .map((n) => (n.kind === "word" ? n.text : `{ ${flattenNodes(n.children)} }`.replace("{  }", "{ }")))
    .join(" ");
}

export function issueCollector(file: string | undefined): {
  issues: VppConfigIssue[];
  issue: ParseContext["issue"];
} {
  const issues: VppConfigIssue[] = [];
  return {
    issues,
    issue: (i) => {
      const { line, ...rest } = i;
      issues.push({ ...rest, ...(file !== undefined ? { file } : {}), ...(line ? { line } : {}) });
    },
  };
}

export function finishParse<T>(
  config: T,
  issues: VppConfigIssue[],
  options: ParseOptions,
  what: string,
): { config: T; issues: VppConfigIssue[]; valid: boolean } {
  // Report in file order; issues without a line (whole-file findings) go last.
  issues.sort((a, b) => (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY));
  const valid = !issues.some((i) => i.severity === "error");
  if (!valid && options.strict) {
    const errors = issues.filter((i) => i.severity === "error");
    throw new VppError(
      "VPP_CONFIG_INVALID",
      `${options.file ?? what} is invalid:\n${errors.map(formatConfigIssue).join("\n")}`,
      {
        kind: "usage",
        details: { issues: errors },
        suggestions: [
          "Fix the lines listed above; `meshctl vpp config --profile sidecar` renders a known-good pair.",
        ],
      },
    );
  }
  return { config, issues, valid };
}

/**
 * One issue as `file:line: path: message`, the form editors and CI logs link.
 *
 * @example
 * formatConfigIssue({ severity: "error", file: "startup.conf", line: 3, path: "session", message: "unknown keyword" });
 */
export function formatConfigIssue(issue: VppConfigIssue): string {
  const where = [issue.file, issue.line].filter((x) => x !== undefined).join(":");
  return `${where ? `${where}: ` : ""}${issue.severity}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`;
}

/**
 * Parses startup.conf text into the typed model, with every problem reported as an issue carrying
 * file, line and reason. Comments and layout are not kept (render is canonical).
 *
 * @example
 * const { config, issues } = parseStartupConf("session { enable use-app-socket-api }", { file: "startup.conf" });
 * config.session?.enable; // true
 */
export function parseStartupConf(text: string, options: ParseOptions = {}): StartupConfParseResult {
  const { issues, issue } = issueCollector(options.file);
  const ctx: ParseContext = { lines: new Map(), issue, dialect: "startup" };
  const tree = buildConfigTree(tokenizeVppConfig(text), issue);
  const config: StartupConf = {};
  const byKeyword = new Map<string, SectionProp>(
    Object.entries(SECTIONS).map(([prop, [kw]]) => [kw, prop as SectionProp]),
  );
  let i = 0;
  while (i < tree.length) {
    const node = tree[i]!;
    if (node.kind === "block") {
      issue({ severity: "error", line: node.line, path: "", message: "a `{` block without a section name" });
      i++;
      continue;
    }
    const next = tree[i + 1];
    const body: ConfigNode[] = next?.kind === "block" ? next.children : next ? [next] : [];
    i += next ? 2 : 1;
    if (node.text === "heapsize" || node.text === "plugin_path") {
      const value = body[0]?.kind === "word" ? body[0].text : undefined;
      if (node.text === "heapsize") {
        const v = parseFieldValue(size("heapsize"), value, "heapsize", node.line, ctx);
        if (v !== undefined) config.heapsize = v as VppSize;
      } else if (value === undefined)
        issue({
          severity: "error",
          line: node.line,
          path: "plugin_path",
          message: "`plugin_path` needs a directory",
        });
      else config.pluginPath = value;
      ctx.lines.set(node.text, node.line);
      continue;
    }
    const prop = byKeyword.get(node.text);
    if (!prop) {
      issue({
        severity: "warning",
        line: node.line,
        path: node.text,
        message: `section \`${node.text}\` is not modelled by meshctl; kept as is (VPP refuses to start if no plugin registers it)`,
      });
      config.extraSections = [...(config.extraSections ?? []), { name: node.text, body: flattenNodes(body) }];
      continue;
    }
    if (config[prop] !== undefined)
      issue({
        severity: "warning",
        line: node.line,
        path: node.text,
        message: "section given twice; its keywords are merged",
      });
    ctx.lines.set(node.text, node.line);
    const [keyword, schema] = SECTIONS[prop];
    const parsed = parseSectionBody(body, schema, keyword, ctx);
    (config as Record<string, unknown>)[prop] = {
      ...((config as Record<string, unknown>)[prop] as object | undefined),
      ...parsed,
    };
  }
  for (const i2 of semanticStartupIssues(config))
    issue({ ...i2, ...(ctx.lines.has(i2.path) ? { line: ctx.lines.get(i2.path)! } : {}) });
  return finishParse(config, issues, options, "startup.conf");
}

/**
 * Validates a startup.conf model (built in code or parsed) and returns the issues: values VPP
 * rejects, keywords it ignores, and combinations that defeat the host stack.
 *
 * @example
 * validateStartupConf({ session: { eventQueueLength: 100 } }); // warning: VPP ignores lengths < 2048
 */
export function validateStartupConf(config: StartupConf): VppConfigIssue[] {
  const { issues, issue } = issueCollector(undefined);
  const ctx: ParseContext = { lines: new Map(), issue, dialect: "startup" };
  for (const [prop, [keyword, schema]] of Object.entries(SECTIONS)) {
    const value = (config as Record<string, unknown>)[prop];
    if (value !== undefined) checkSectionModel(value as Record<string, unknown>, schema, keyword, ctx);
  }
  for (const key of Object.keys(config)) {
    if (!(key in SECTIONS) && !["heapsize", "pluginPath", "extraSections"].includes(key)) {
      issue({ severity: "error", path: key, message: `unknown startup.conf section property \`${key}\`` });
    }
  }
  if (config.heapsize !== undefined)
    parseFieldValue(size("heapsize"), String(config.heapsize), "heapsize", 0, ctx);
  for (const s of config.extraSections ?? []) {
    if (!/^[A-Za-z0-9_-]+$/.test(s.name))
      issue({ severity: "error", path: s.name, message: "a section name is one word" });
  }
  for (const i of semanticStartupIssues(config)) issue(i);
  return issues;
}

function semanticStartupIssues(config: StartupConf): Omit<VppConfigIssue, "file">[] {
  const out: Omit<VppConfigIssue, "file">[] = [];
  const s = config.session;
  if (s) {
    for (const [prop, key] of [
      ["wrkMqLength", "wrk-mq-length"],
      ["eventQueueLength", "event-queue-length"],
    ] as const) {
      const v = s[prop];
      if (v !== undefined && v < 2048) {
        out.push({
          severity: "warning",
          path: `session.${key}`,
          message: `${v} is below 2048; VPP ignores it ("event queue length too small") and keeps its default`,
        });
      }
    }
    if (s.wrkMqLength !== undefined && s.eventQueueLength !== undefined) {
      out.push({
        severity: "warning",
        path: "session.event-queue-length",
        message: "`event-queue-length` is the deprecated alias of `wrk-mq-length`; set only one",
      });
    }
    if (s.rtBackend !== undefined && !s.enable) {
      out.push({
        severity: "error",
        path: "session.rt-backend",
        message: "`rt-backend` is only valid right after `enable`",
      });
    }
    if (s.minSrcPort !== undefined && s.maxSrcPort !== undefined && s.minSrcPort > s.maxSrcPort) {
      out.push({
        severity: "error",
        path: "session.min-src-port",
        message: `min-src-port ${s.minSrcPort} is above max-src-port ${s.maxSrcPort}`,
      });
    }
    if (s.useAppSocketApi && s.useBapiSocketApi) {
      out.push({
        severity: "error",
        path: "session.use-bapi-socket-api",
        message: "`use-app-socket-api` and `use-bapi-socket-api` contradict each other",
      });
    }
    if (!s.enable) {
      out.push({
        severity: "warning",
        path: "session",
        message:
          "the session layer is not enabled at startup (`enable`); VCL apps cannot attach until `session enable` is run",
      });
    }
  }
  const t = config.tcp;
  if (
    t?.minRxFifo !== undefined &&
    t.maxRxFifo !== undefined &&
    vppSizeToBytes(t.minRxFifo) > vppSizeToBytes(t.maxRxFifo)
  ) {
    out.push({
      severity: "error",
      path: "tcp.min-rx-fifo",
      message: "min-rx-fifo is larger than max-rx-fifo",
    });
  }
  const c = config.cpu;
  if (c) {
    if (c.corelistWorkers !== undefined && c.coremaskWorkers !== undefined) {
      out.push({
        severity: "warning",
        path: "cpu.coremask-workers",
        message: "both corelist-workers and coremask-workers are set; use one",
      });
    }
    if (c.workers !== undefined && (c.corelistWorkers !== undefined || c.coremaskWorkers !== undefined)) {
      out.push({
        severity: "warning",
        path: "cpu.workers",
        message: "`workers` is ignored when worker cores are listed explicitly",
      });
    }
    if (
      c.mainCore !== undefined &&
      c.corelistWorkers !== undefined &&
      expandCoreList(c.corelistWorkers).includes(c.mainCore)
    ) {
      out.push({
        severity: "error",
        path: "cpu.corelist-workers",
        message: `main-core ${c.mainCore} is also in corelist-workers; the main thread and a worker would share a polling core`,
      });
    }
  }
  return out;
}

/**
 * Expands a VPP core list (`2-4,6`) to core numbers.
 *
 * @example
 * expandCoreList("2-4,6"); // [2, 3, 4, 6]
 */
export function expandCoreList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let n = a; n <= (b ?? a); n++) out.push(n);
  }
  return out;
}

/**
 * Renders the model as startup.conf text, one keyword per line, sections in a fixed order.
 * `parseStartupConf(renderStartupConf(x)).config` deep-equals `x` for every valid model.
 *
 * @example
 * renderStartupConf({ unix: { nodaemon: true, cliListen: "/run/vpp/cli.sock" } });
 */
export function renderStartupConf(config: StartupConf, options: { header?: string } = {}): string {
  const blocks: string[] = [];
  if (options.header)
    blocks.push(
      options.header
        .split("\n")
        .map((l) => `# ${l}`.trimEnd())
        .join("\n"),
    );
  const render = (prop: SectionProp) => {
    const value = config[prop];
    if (value === undefined) return;
    const [keyword, schema] = SECTIONS[prop];
    const lines = renderSectionBody(value as Record<string, unknown>, schema, "  ");
    blocks.push(`${keyword} {\n${lines.map((l) => `${l}\n`).join("")}}`);
  };
  for (const prop of Object.keys(SECTIONS) as SectionProp[]) {
    render(prop);
    if (prop === "memory") {
      if (config.heapsize !== undefined) blocks.push(`heapsize ${config.heapsize}`);
      if (config.pluginPath !== undefined) blocks.push(`plugin_path ${config.pluginPath}`);
    }
  }
  for (const raw of config.extraSections ?? [])
    blocks.push(`${raw.name} { ${raw.body} }`.replace("{  }", "{ }"));
  return `${blocks.join("\n\n")}\n`;
}
