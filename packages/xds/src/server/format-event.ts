/**
 * One human log line per control-plane event (used by `meshctl xds serve`). Every field that
 * can carry text from a client (node id, NACK detail, nonce, type URL, peer) or from a file
 * (object names, diagnostic paths and reasons) goes through escapeControl: nothing a client or
 * a file says can end the line or drive the terminal.
 */
import { escapeControl } from "./log-text.js";
import type { XdsServerEvent } from "./start.js";

export { escapeControl } from "./log-text.js";

const e = (text: string | number): string => escapeControl(String(text));

/**
 * Formats an event as a single log line, without a timestamp.
 *
 * @example
 * startXdsServer({ onEvent: (e) => process.stderr.write(`${new Date().toISOString()} ${formatXdsEvent(e)}\n`) });
 */
export function formatXdsEvent(event: XdsServerEvent): string {
  switch (event.type) {
    case "connect":
      return `connect ${e(event.connection)} ${e(event.protocol)} ${e(event.proxyType)} node=${e(event.nodeId)}${
        event.skippedFilters.length > 0
          ? ` (not sent, the proxy lacks them: ${e(event.skippedFilters.join(", "))}; see /debug/clients)`
          : ""
      }`;
    case "disconnect":
      return `disconnect ${e(event.connection)} node=${e(event.nodeId)} (${e(event.reason)})`;
    case "push":
      return `push ${event.kind.toUpperCase()} ${e(event.connection)} node=${e(event.nodeId)} version=${e(event.version)} nonce=${e(event.nonce)} resources=${event.resources}${event.removed ? ` removed=${event.removed}` : ""} bytes=${event.bytes} ${event.durationMs}ms`;
    case "ack":
      return `ack ${event.kind.toUpperCase()} ${e(event.connection)} version=${e(event.version)} nonce=${e(event.nonce)}`;
    case "nack":
      return `NACK ${event.kind.toUpperCase()} ${e(event.connection)} node=${e(event.nodeId)} nonce=${e(event.nonce)}: ${e(event.message)} (held; not resent)`;
    case "stale-nonce":
      return `stale-nonce ${event.kind.toUpperCase()} ${e(event.connection)} nonce=${e(event.nonce)} (ignored)`;
    case "unknown-type":
      return `unknown-type ${e(event.connection)} ${e(event.typeUrl)} (ignored)`;
    case "config-applied": {
      const what =
        event.changed.length === 0
          ? ""
          : ` changed=${event.changed
              .slice(0, 5)
              .map((k) => e(`${k.kind}/${k.namespace}/${k.name}`))
              .join(
                ",",
              )}${event.changed.length > 5 ? `,+${event.changed.length - 5}` : ""}${event.full ? "" : " (endpoints only)"}`;
      return `config applied generation=${event.generation} services=${event.services}${what}${diagnosticSummary(event)}`;
    }
    case "diagnostics-changed": {
      // Only the problems changed: say which way, never "rejected" for a fix.
      const found = event.newDiagnostics.length > 0;
      const fixed = event.resolvedDiagnostics.length > 0;
      const what = found && fixed ? "changed" : found ? "found" : "resolved";
      return `config problems ${what} (served model unchanged)${diagnosticSummary(event)}`;
    }
    case "push-started":
      return `push ${event.full ? "full" : "eds"} version=${event.version} proxies=${event.proxies} skipped=${event.skipped} events=${event.events} (${event.reasons}) debounce=${event.debounceMs}ms`;
    case "stream-rejected":
      return `stream rejected ${e(event.peer)}: ${e(event.reason)}`;
    case "error":
      return `error ${e(event.message)}`;
  }
}

function diagnosticSummary(event: {
  rejectedFiles: readonly string[];
  newDiagnostics: readonly { severity: string }[];
  resolvedDiagnostics: readonly unknown[];
}): string {
  const parts: string[] = [];
  const errors = event.newDiagnostics.filter((d) => d.severity === "error").length;
  const warnings = event.newDiagnostics.length - errors;
  if (errors) parts.push(`${errors} new error${errors === 1 ? "" : "s"}`);
  if (warnings) parts.push(`${warnings} new warning${warnings === 1 ? "" : "s"}`);
  if (event.resolvedDiagnostics.length) parts.push(`${event.resolvedDiagnostics.length} resolved`);
  if (event.rejectedFiles.length)
    parts.push(`last good kept for: ${event.rejectedFiles.map((f) => e(f)).join(", ")}`);
  return parts.length ? `; ${parts.join("; ")}` : "";
}

/** `file:line:column severity: path: reason`, the one way diagnostics are shown (control characters escaped). */
export function formatDiagnostic(d: {
  file: string;
  line: number;
  column: number;
  path: string;
  reason: string;
  severity: string;
}): string {
  return `${e(d.file)}:${d.line}:${d.column} ${e(d.severity)}: ${d.path ? `${e(d.path)}: ` : ""}${e(d.reason)}`;
}
