/** `--server-option key=value` parsing, shared by `meshctl xds load` and the benchmark script. */
import { MeshctlError } from "@meshctl/core";
import type { ServerOptionValue } from "./target.js";

/**
 * `key=value` pairs; values become booleans or numbers when they look like one.
 *
 * @example
 * parseServerOptions(["cache=false", "debounceAfterMs=100"]); // { cache: false, debounceAfterMs: 100 }
 */
export function parseServerOptions(pairs: readonly string[]): Record<string, ServerOptionValue> {
  const out: Record<string, ServerOptionValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new MeshctlError("XDS_LOAD_INVALID_OPTION", `--server-option must be key=value, got "${pair}".`, {
        kind: "usage",
        suggestions: ["e.g. --server-option debounceAfterMs=100"],
      });
    const raw = pair.slice(eq + 1);
    out[pair.slice(0, eq)] =
      raw === "true"
        ? true
        : raw === "false"
          ? false
          : raw !== "" && Number.isFinite(Number(raw))
            ? Number(raw)
            : raw;
  }
  return out;
}
