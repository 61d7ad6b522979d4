import { MeshctlError } from "@meshctl/core";
import { HEADER_TOKEN } from "./limits.js";

/**
 * Parses a human duration: "10" (seconds), "10s", "500ms", "1.5m", "2h".
 *
 * @example
 * parseDurationMs("500ms") // 500
 */
export function parseDurationMs(text: string, flag = "duration"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) {
    throw new MeshctlError("BENCH_OPTIONS_INVALID", `--${flag} "${text}" is not a duration`, {
      kind: "usage",
      suggestions: ["Use seconds (10), or a unit: 500ms, 10s, 2m"],
    });
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/**
 * Parses repeated "Name: value" header flags into a record.
 *
 * @example
 * parseHeaders(["x-user: 1", "Accept:text/plain"]) // { "x-user": "1", Accept: "text/plain" }
 */
export function parseHeaders(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    const name = i > 0 ? line.slice(0, i).trim() : "";
    if (!name || !HEADER_TOKEN.test(name)) {
      throw new MeshctlError(
        "BENCH_OPTIONS_INVALID",
        `--header ${JSON.stringify(line)} is not "Name: value" with a valid header name`,
        {
          kind: "usage",
          suggestions: ['Pass -H "Name: value"; a name is letters, digits and !#$%&\'*+-.^_`|~'],
          details: { flag: "header", header: line },
        },
      );
    }
    // Values are checked (CR/LF, framing headers) with the other options in resolveLoadOptions.
    out[name] = line.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  }
  return out;
}

/**
 * Parses sizes: "1024", "1k"/"1KiB" (1024), "2m"/"2MiB".
 *
 * @example
 * parseBytes("1KiB") // 1024
 */
export function parseBytes(text: string, flag = "payload"): number {
  const m = /^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(text);
  if (!m)
    throw new MeshctlError("BENCH_OPTIONS_INVALID", `--${flag} "${text}" is not a size`, {
      kind: "usage",
      suggestions: ["Use bytes (1024) or 1KiB, 64k, 1MiB"],
    });
  const unit = (m[2] ?? "b").toLowerCase();
  const mult = unit.startsWith("k")
    ? 1024
    : unit.startsWith("m")
      ? 1024 ** 2
      : unit.startsWith("g")
        ? 1024 ** 3
        : 1;
  return Number(m[1]) * mult;
}
