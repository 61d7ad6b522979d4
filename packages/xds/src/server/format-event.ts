/** One human log line per control-plane event (used by `meshctl xds serve`). */
import type { XdsServerEvent } from "./start.js";

/**
 * Formats an event as a single log line, without a timestamp.
 *
 * @example
 * startXdsServer({ onEvent: (e) => process.stderr.write(`${new Date().toISOString()} ${formatXdsEvent(e)}\n`) });
 */
export function formatXdsEvent(event: XdsServerEvent): string {
  switch (event.type) {
    case "connect":
      return `connect ${event.connection} ${event.protocol} ${event.proxyType} node=${event.nodeId}${
        event.skippedFilters.length > 0
          ? ` (not sent, the proxy lacks them: ${event.skippedFilters.join(", ")}; see /debug/clients)`
          : ""
      }`;
    case "disconnect":
      return `disconnect ${event.connection} node=${event.nodeId} (${event.reason})`;
    case "push":
      return `push ${event.kind.toUpperCase()} ${event.connection} node=${event.nodeId} version=${event.version} nonce=${event.nonce} resources=${event.resources}${event.removed ? ` removed=${event.removed}` : ""} bytes=${event.bytes} ${event.durationMs}ms`;
    case "ack":
      return `ack ${event.kind.toUpperCase()} ${event.connection} version=${event.version} nonce=${event.nonce}`;
    case "nack":
      return `NACK ${event.kind.toUpperCase()} ${event.connection} node=${event.nodeId} nonce=${event.nonce}: ${event.message} (held; not resent)`;
    case "stale-nonce":
      return `stale-nonce ${event.kind.toUpperCase()} ${event.connection} nonce=${event.nonce} (ignored)`;
    case "unknown-type":
      return `unknown-type ${event.connection} ${event.typeUrl} (ignored)`;
    case "config-applied": {
      const what =
        event.changed.length === 0
          ? ""
          : ` changed=${event.changed
              .slice(0, 5)
              .map((k) => `${k.kind}/${k.namespace}/${k.name}`)
              .join(
                ",",
              )}${event.changed.length > 5 ? `,+${event.changed.length - 5}` : ""}${event.full ? "" : " (endpoints only)"}`;
      return `config applied generation=${event.generation} services=${event.services}${what}${diagnosticSummary(event)}`;
    }
    case "diagnostics-changed":
      return `config problems changed (model unchanged)${diagnosticSummary(event)}`;
    case "push-started":
      return `push ${event.full ? "full" : "eds"} version=${event.version} proxies=${event.proxies} skipped=${event.skipped} events=${event.events} (${event.reasons}) debounce=${event.debounceMs}ms`;
    case "stream-rejected":
      return `stream rejected ${event.peer}: ${event.reason}`;
    case "error":
      return `error ${event.message}`;
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
  if (event.rejectedFiles.length) parts.push(`last good kept for: ${event.rejectedFiles.join(", ")}`);
  return parts.length ? `; ${parts.join("; ")}` : "";
}

/** `file:line:column path: reason`, the one way diagnostics are shown. */
export function formatDiagnostic(d: {
  file: string;
  line: number;
  column: number;
  path: string;
  reason: string;
  severity: string;
}): string {
  return `${d.file}:${d.line}:${d.column} ${d.severity}: ${d.path ? `${d.path}: ` : ""}${d.reason}`;
}
