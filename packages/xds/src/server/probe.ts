/** Read-only probe of a running control plane through its debug HTTP port (for `meshctl diagnose`). */
import type { ConfigDiagnostic } from "../model/types.js";
import type { ClientStatus } from "./connection.js";
import { DEFAULT_DEBUG_PORT } from "./start.js";

export interface XdsProbeResult {
  readonly url: string;
  readonly reachable: boolean;
  /** Why it was not reachable (connection refused, timeout, HTTP status). */
  readonly error: string | null;
  readonly clients: readonly ClientStatus[];
  readonly rejectedFiles: readonly string[];
  readonly diagnostics: readonly ConfigDiagnostic[];
}

/**
 * Asks a control plane's debug endpoint for its clients and mesh diagnostics. Never throws:
 * an absent control plane is `reachable: false`.
 *
 * @example
 * const probe = await probeXdsControlPlane({ url: "http://127.0.0.1:15014" });
 * if (probe.reachable) console.log(probe.clients.length, "clients");
 */
export async function probeXdsControlPlane(
  options: { url?: string; timeoutMs?: number } = {},
): Promise<XdsProbeResult> {
  // The base URL, also when given as the clients endpoint itself (as --control-plane accepts).
  const url = (options.url ?? `http://127.0.0.1:${DEFAULT_DEBUG_PORT}`)
    .replace(/\/+$/, "")
    .replace(/\/debug\/clients$/, "");
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(options.timeoutMs ?? 1000) });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return res.json();
  };
  try {
    const [clients, mesh] = (await Promise.all([get("/debug/clients"), get("/debug/mesh")])) as [
      { clients: ClientStatus[] },
      { rejectedFiles: string[]; diagnostics: ConfigDiagnostic[] },
    ];
    return {
      url,
      reachable: true,
      error: null,
      clients: clients.clients,
      rejectedFiles: mesh.rejectedFiles,
      diagnostics: mesh.diagnostics,
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return {
      url,
      reachable: false,
      error: cause ?? (error instanceof Error ? error.message : String(error)),
      clients: [],
      rejectedFiles: [],
      diagnostics: [],
    };
  }
}
