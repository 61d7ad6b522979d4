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
      return `connect ${event.connection} ${event.protocol} ${event.proxyType} node=${event.nodeId}`;
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
      const problems = event.diagnostics.length ? `; ${event.diagnostics.length} diagnostics` : "";
      const rejected = event.rejectedFiles.length
        ? `; rejected (last good kept): ${event.rejectedFiles.join(", ")}`
        : "";
      return `config version=${event.version} services=${event.services}${rejected}${problems}`;
    }
    case "config-rejected":
      return `config rejected (last good kept): ${event.rejectedFiles.join(", ") || "no file"}; ${event.diagnostics
        .filter((d) => d.severity === "error")
        .map((d) => `${d.file}:${d.line}:${d.column} ${d.path ? `${d.path}: ` : ""}${d.reason}`)
        .join("; ")}`;
    case "error":
      return `error ${event.message}`;
  }
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
