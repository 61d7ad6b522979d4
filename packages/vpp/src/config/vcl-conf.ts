import {
  checkSectionModel,
  flag,
  float,
  int,
  type ParseContext,
  parseFieldValue,
  renderSectionBody,
  type SectionValue,
  size,
  type VppConfigIssue,
  word,
} from "./engine.js";
import { finishParse, issueCollector, type ParseOptions } from "./startup-conf.js";

const U32 = 2 ** 32 - 1;

/**
 * vcl.conf options, as `vppcom_cfg_read_file` (src/vcl/vcl_cfg.c) reads them. Numbers are read with
 * `%u`/`%lu`: a suffix such as `4m` is NOT understood there (only `heapsize` takes one).
 */
export const VCL_SCHEMA = {
  heapsize: size("heapsize", { suffixes: "mg-required" }),
  maxWorkers: int("max-workers", { min: 1, max: U32 }),
  appSocketApi: word("app-socket-api"),
  segmentSize: int("segment-size", { hex: true, min: 1 }),
  addSegmentSize: int("add-segment-size", { hex: true, min: 1 }),
  preallocatedFifoPairs: int("preallocated-fifo-pairs", { max: U32 }),
  rxFifoSize: int("rx-fifo-size", { hex: true, min: 1, max: U32 }),
  txFifoSize: int("tx-fifo-size", { hex: true, min: 1, max: U32 }),
  eventQueueSize: int("event-queue-size", { hex: true, min: 1, max: U32 }),
  appTimeout: float("app-timeout"),
  sessionTimeout: float("session-timeout"),
  appProxyTransportTcp: flag("app-proxy-transport-tcp"),
  appProxyTransportUdp: flag("app-proxy-transport-udp"),
  appScopeLocal: flag("app-scope-local"),
  appScopeGlobal: flag("app-scope-global"),
  hugePage: flag("huge_page"),
  useMqEventfd: flag("use-mq-eventfd"),
  tlsEngine: int("tls-engine"),
  multiThreadWorkers: flag("multi-thread-workers"),
  appOriginalDst: flag("app_original_dst"),
  // Only when VCL is built with VCL_BAPI_ENABLED (the default).
  namespaceId: word("namespace-id"),
  namespaceSecret: word("namespace-secret", { pattern: /^\d+$/, hint: "an unsigned 64-bit integer" }),
  apiSocketName: word("api-socket-name"),
  uid: int("uid"),
  gid: int("gid"),
} as const;

/** The typed model of vcl.conf (the `vcl { ... }` block). */
export type VclConf = SectionValue<typeof VCL_SCHEMA>;

/** VCL's built-in defaults (`vppcom_cfg_init`), for documentation and diff output. */
export const VCL_DEFAULTS = {
  heapsize: "256m",
  maxWorkers: 16,
  segmentSize: 256 * 2 ** 20,
  addSegmentSize: 128 * 2 ** 20,
  preallocatedFifoPairs: 8,
  rxFifoSize: 2 ** 20,
  txFifoSize: 2 ** 20,
  eventQueueSize: 2048,
  appTimeout: 600,
  sessionTimeout: 600,
} as const satisfies VclConf;

export interface VclConfParseResult {
  readonly config: VclConf;
  readonly issues: readonly VppConfigIssue[];
  readonly valid: boolean;
}

/**
 * Parses vcl.conf the way VCL does: line by line, one option per line inside `vcl {` ... `}`.
 * Things VCL silently ignores (a second option on the same line, text outside the block, a
 * `4m` where it reads `%u`) are reported, with the line, because they are the usual mistakes.
 *
 * @example
 * const { config } = parseVclConf("vcl {\n  use-mq-eventfd\n}\n", { file: "vcl.conf" });
 * config.useMqEventfd; // true
 */
export function parseVclConf(text: string, options: ParseOptions = {}): VclConfParseResult {
  const { issues, issue } = issueCollector(options.file);
  const ctx: ParseContext = { lines: new Map(), issue, dialect: "vcl" };
  const config: Record<string, unknown> = {};
  const byKey = new Map(Object.entries(VCL_SCHEMA).map(([prop, f]) => [f.key, [prop, f] as const]));
  let state: "before" | "inside" | "after" = "before";
  let openedAt = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const words = raw
      .trim()
      .split(/[ \t]+/)
      .filter(Boolean);
    const first = words[0];
    if (first === undefined || first.startsWith("#")) return;
    if (state === "before") {
      if (/^vcl\s*\{\s*$/.test(raw.trim())) {
        state = "inside";
        openedAt = line;
      } else if (/^vcl\s*\{/.test(raw.trim())) {
        state = "inside";
        openedAt = line;
        issue({
          severity: "error",
          line,
          path: "vcl",
          message: "VCL reads `vcl {` as a line of its own; options on the same line are ignored",
        });
      } else {
        issue({ severity: "warning", line, path: "vcl", message: "text before `vcl {` is ignored by VCL" });
      }
      return;
    }
    if (state === "after") {
      issue({
        severity: "warning",
        line,
        path: "vcl",
        message: "text after the closing `}` is ignored by VCL",
      });
      return;
    }
    if (first === "}") {
      state = "after";
      if (words.length > 1 && !words[1]!.startsWith("#"))
        issue({ severity: "warning", line, path: "vcl", message: "text after `}` is ignored by VCL" });
      return;
    }
    const entry = byKey.get(first);
    if (!entry) {
      issue({
        severity: "error",
        line,
        path: "vcl",
        message: `unknown vcl.conf option \`${first}\` (VCL warns "Unknown vppcom config option" and ignores it)`,
      });
      return;
    }
    const [prop, field] = entry;
    const path = `vcl.${field.key}`;
    const valueText = field.kind === "flag" ? undefined : words[1];
    const rest = words.slice(field.kind === "flag" ? 1 : 2);
    const junkAt = rest.findIndex((w) => w.startsWith("#"));
    const junk = junkAt === -1 ? rest : rest.slice(0, junkAt);
    if (junk.length) {
      issue({
        severity: "error",
        line,
        path,
        message: `VCL reads one option per line; \`${junk.join(" ")}\` after \`${field.key}\` is ignored`,
      });
    }
    const value = parseFieldValue(field, valueText, path, line, ctx);
    if (value === undefined) return;
    if (prop in config && field.kind !== "flag")
      issue({ severity: "warning", line, path, message: "given twice; the last one wins" });
    config[prop] = value;
    ctx.lines.set(path, line);
  });
  if ((state as string) === "before")
    issue({
      severity: "error",
      line: 1,
      path: "vcl",
      message: "no `vcl {` block: VCL would run with its defaults",
    });
  if ((state as string) === "inside")
    issue({ severity: "warning", line: openedAt, path: "vcl", message: "`vcl {` is never closed" });
  for (const i of semanticVclIssues(config as VclConf))
    issue({ ...i, ...(ctx.lines.has(i.path) ? { line: ctx.lines.get(i.path)! } : {}) });
  return finishParse(config as VclConf, issues, options, "vcl.conf");
}

/**
 * Validates a vcl.conf model and returns the issues (bad values, and settings that make a
 * sidecar spin or fail to attach).
 *
 * @example
 * validateVclConf({ rxFifoSize: 400000 }); // warning: no use-mq-eventfd
 */
export function validateVclConf(config: VclConf): VppConfigIssue[] {
  const { issues, issue } = issueCollector(undefined);
  const ctx: ParseContext = { lines: new Map(), issue, dialect: "vcl" };
  checkSectionModel(config as Record<string, unknown>, VCL_SCHEMA, "vcl", ctx);
  for (const i of semanticVclIssues(config)) issue(i);
  return issues;
}

function semanticVclIssues(c: VclConf): Omit<VppConfigIssue, "file">[] {
  const out: Omit<VppConfigIssue, "file">[] = [];
  if (!c.useMqEventfd) {
    out.push({
      severity: "warning",
      path: "vcl",
      message:
        "no `use-mq-eventfd`: LDP's epoll_wait then busy-polls (100% CPU per idle thread) and Envoy's VCL socket interface cannot work",
    });
  }
  if (c.appSocketApi === undefined && c.apiSocketName === undefined) {
    out.push({
      severity: "warning",
      path: "vcl",
      message:
        "neither `app-socket-api` nor `api-socket-name` is set; VCL falls back to its built-in defaults",
    });
  }
  if (c.namespaceId !== undefined && c.namespaceSecret === undefined) {
    out.push({
      severity: "warning",
      path: "vcl.namespace-id",
      message: "`namespace-id` without `namespace-secret`: attaching fails if the namespace has a secret",
    });
  }
  const fifo = (c.rxFifoSize ?? 2 ** 20) + (c.txFifoSize ?? 2 ** 20);
  const segment = c.segmentSize ?? 256 * 2 ** 20;
  if (fifo * (c.preallocatedFifoPairs ?? 8) > segment) {
    out.push({
      severity: "warning",
      path: "vcl.segment-size",
      message: `preallocated fifo pairs need ${fifo * (c.preallocatedFifoPairs ?? 8)} bytes, more than segment-size ${segment}`,
    });
  }
  return out;
}

/**
 * Renders the model as vcl.conf: `vcl {` and `}` on lines of their own, one option per line —
 * the only layout VCL's line reader accepts.
 *
 * @example
 * renderVclConf({ useMqEventfd: true, appSocketApi: "/var/run/vpp/app_ns_sockets/default" });
 */
export function renderVclConf(config: VclConf, options: { header?: string } = {}): string {
  const head = options.header
    ? `${options.header
        .split("\n")
        .map((l) => `# ${l}`.trimEnd())
        .join("\n")}\n`
    : "";
  const body = renderSectionBody(config as Record<string, unknown>, VCL_SCHEMA, "  ");
  return `${head}vcl {\n${body.map((l) => `${l}\n`).join("")}}\n`;
}
