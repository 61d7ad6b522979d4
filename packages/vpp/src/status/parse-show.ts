/**
 * Parsers for the text of a few `show` commands. They accept the output of either transport
 * (CLI socket with CRLF, or cli_inband with LF) and ignore ANSI colours.
 */
import { stripAnsi } from "../client/cli-client.js";

function lines(text: string): string[] {
  return stripAnsi(text)
    .replaceAll("\0", "")
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "");
}

/** True when a command's output says the session layer is off. */
export function saysSessionLayerDisabled(text: string): boolean {
  return /session layer is not enabled/i.test(text);
}

/**
 * `show version` → the version (`v26.10-rc0~374-gb575ec2c56d`).
 *
 * @example
 * parseShowVersion("vpp v26.10-rc0~374-gb575ec2c56d built by root on vm at 2026-11-23T02:28:06");
 */
export function parseShowVersion(
  text: string,
): { version: string; builtBy?: string; buildDate?: string } | undefined {
  const m = /vpp (v\S+)(?: built by (\S+) on \S+ at (\S+))?/.exec(stripAnsi(text));
  if (!m) return undefined;
  return { version: m[1]!, ...(m[2] ? { builtBy: m[2] } : {}), ...(m[3] ? { buildDate: m[3] } : {}) };
}

export interface VppSessionRow {
  readonly thread: number;
  readonly index: number;
  /** `T` tcp, `U` udp, `CT:T` cut-through tcp, ... */
  readonly proto: string;
  readonly local: string;
  readonly remote: string;
  readonly state: string;
  readonly rxFifo: number;
  readonly txFifo: number;
}

export interface VppSessions {
  readonly enabled: boolean;
  readonly total: number;
  readonly byThread: readonly { thread: number; active: number }[];
  /** Only with `show session verbose`. */
  readonly rows: readonly VppSessionRow[];
}

/**
 * `show session [verbose]`.
 *
 * @example
 * parseShowSession("Thread 0: active sessions 3").total; // 3
 */
export function parseShowSession(text: string): VppSessions {
  if (saysSessionLayerDisabled(text)) return { enabled: false, total: 0, byThread: [], rows: [] };
  const byThread: { thread: number; active: number }[] = [];
  const rows: VppSessionRow[] = [];
  for (const line of lines(text)) {
    const t = /^Thread (\d+): (?:no sessions|active sessions (\d+))/.exec(line);
    if (t) {
      byThread.push({ thread: Number(t[1]), active: Number(t[2] ?? 0) });
      continue;
    }
    const r = /^\[(\d+):(\d+)\]\[([^\]]+)\]\s+(\S+?)->(\S+)\s+(\S+)\s+(\d+)\s+(\d+)/.exec(line.trim());
    if (r) {
      rows.push({
        thread: Number(r[1]),
        index: Number(r[2]),
        proto: r[3]!,
        local: r[4]!,
        remote: r[5]!,
        state: r[6]!,
        rxFifo: Number(r[7]),
        txFifo: Number(r[8]),
      });
    }
  }
  return { enabled: true, total: byThread.reduce((a, b) => a + b.active, 0), byThread, rows };
}

export interface VppApp {
  readonly index: number;
  readonly name: string;
  readonly namespace: string;
}

/**
 * `show app`: the attached applications (an LDP app is `<name>-ldp-<pid>`).
 *
 * @example
 * parseShowApp("Index Name Namespace\n2 envoy-ldp-42 default")[0]?.name; // "envoy-ldp-42"
 */
export function parseShowApp(text: string): VppApp[] {
  const apps: VppApp[] = [];
  for (const line of lines(text)) {
    const m = /^\s*(\d+)\s+(\S+)\s+(\S+)/.exec(line);
    if (m) apps.push({ index: Number(m[1]), name: m[2]!, namespace: m[3]! });
  }
  return apps;
}

export interface VppAppNamespace {
  readonly index: number;
  readonly secret: string;
  readonly interface: string;
  readonly id: string;
  readonly socket: string;
}

/**
 * `show app ns`.
 *
 * @example
 * parseShowAppNs(text).map((ns) => ns.socket);
 */
export function parseShowAppNs(text: string): VppAppNamespace[] {
  const out: VppAppNamespace[] = [];
  for (const line of lines(text)) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.+?)\s+(\S+)\s+(\/\S+)\s*$/.exec(line);
    if (m) out.push({ index: Number(m[1]), secret: m[2]!, interface: m[3]!, id: m[4]!, socket: m[5]! });
  }
  return out;
}

export interface VppErrorCounter {
  readonly count: number;
  readonly node: string;
  readonly reason: string;
  readonly severity: string;
}

/**
 * `show errors`: the node counters (most are informational, severity `info`).
 *
 * @example
 * parseShowErrors(text).filter((e) => e.severity !== "info");
 */
export function parseShowErrors(text: string): VppErrorCounter[] {
  const out: VppErrorCounter[] = [];
  for (const line of lines(text)) {
    const m = /^\s*(\d+)\s+(\S+)\s+(.+?)\s+(info|warn|error|unknown)\s*$/.exec(line);
    if (m) out.push({ count: Number(m[1]), node: m[2]!, reason: m[3]!, severity: m[4]! });
  }
  return out;
}
