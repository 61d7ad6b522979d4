import { isMeshctlError } from "@meshctl/core";
import {
  type VppApiClient as ApiClient,
  DEFAULT_API_SOCKET,
  VppApiClient,
  type VppInterface,
} from "../client/api-client.js";
import { DEFAULT_CLI_SOCKET, VppCliClient } from "../client/cli-client.js";
import {
  parseShowApp,
  parseShowAppNs,
  parseShowErrors,
  parseShowSession,
  parseShowVersion,
  type VppApp,
  type VppAppNamespace,
  type VppErrorCounter,
  type VppSessions,
} from "./parse-show.js";

export interface VppStatusOptions {
  readonly cliSocket?: string;
  readonly apiSocket?: string;
  /** Per-operation timeout, ms. Default 3000. */
  readonly timeoutMs?: number;
  /** API client name VPP shows (`show api clients`). Default "meshctl". */
  readonly clientName?: string;
}

export interface VppSocketProbe {
  readonly path: string;
  readonly reachable: boolean;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface VppStatus {
  /** True when either socket answered. */
  readonly running: boolean;
  /** Which transport the show commands went through (the API reports command failures). */
  readonly transport: "api" | "cli" | null;
  readonly cliSocket: VppSocketProbe;
  readonly apiSocket: VppSocketProbe;
  readonly version: string | null;
  readonly pid: number | null;
  readonly sessionLayer: "enabled" | "disabled" | "unknown";
  readonly apps: readonly VppApp[];
  readonly appNamespaces: readonly VppAppNamespace[];
  readonly sessions: VppSessions | null;
  /** Error counters whose severity is not `info`. */
  readonly errors: readonly VppErrorCounter[];
  /** All node counters (`show errors`), including informational ones. */
  readonly counters: readonly VppErrorCounter[];
  /** From sw_interface_dump (API only). */
  readonly interfaces: readonly VppInterface[] | null;
}

function probeError(error: unknown): { code: string; message: string } {
  return isMeshctlError(error)
    ? { code: error.code, message: error.message }
    : { code: "UNKNOWN", message: String(error) };
}

/**
 * Asks a running VPP for its version, session layer, attached apps, sessions and error counters,
 * through the binary API when it answers (it reports command failures) and the CLI socket
 * otherwise. Never throws for an absent VPP: `running` is false and each probe says why.
 *
 * @example
 * const status = await getVppStatus({ cliSocket: "/run/vpp/cli.sock" });
 * if (status.sessionLayer !== "enabled") console.log("session layer is off");
 */
export async function getVppStatus(options: VppStatusOptions = {}): Promise<VppStatus> {
  const cliPath = options.cliSocket ?? DEFAULT_CLI_SOCKET;
  const apiPath = options.apiSocket ?? DEFAULT_API_SOCKET;
  const timeoutMs = options.timeoutMs ?? 3000;
  const cli = new VppCliClient({ socketPath: cliPath, timeoutMs });

  let api: ApiClient | undefined;
  let apiError: { code: string; message: string } | null = null;
  try {
    api = await VppApiClient.connect({
      socketPath: apiPath,
      timeoutMs,
      ...(options.clientName ? { clientName: options.clientName } : {}),
    });
  } catch (error) {
    apiError = probeError(error);
  }

  let cliError: { code: string; message: string } | null = null;
  let cliVersion: string | undefined;
  try {
    cliVersion = parseShowVersion((await cli.run("show version")).output)?.version;
  } catch (error) {
    cliError = probeError(error);
  }

  const run = async (command: string): Promise<string | undefined> => {
    // One failing show command must not hide the others; an API without cli_inband (a changed
    // CRC) falls back to the CLI socket.
    if (api) {
      const reply = await api.cliInband(command).then(
        (r) => r.reply,
        () => undefined,
      );
      if (reply !== undefined) return reply;
    }
    if (!cliError)
      return cli.run(command).then(
        (r) => r.output,
        () => undefined,
      );
    return undefined;
  };

  let version: string | null = cliVersion ?? null;
  let pid: number | null = null;
  let interfaces: VppInterface[] | null = null;
  try {
    if (api) {
      // Each call may hit a message whose CRC changed (VPP_VERSION_MISMATCH); keep the rest.
      const v = await api.showVersion().catch(() => undefined);
      if (v) version = `v${v.version}`;
      pid = (await api.controlPing().catch(() => undefined))?.vpePid ?? null;
      interfaces = await api.swInterfaceDump().catch(() => null);
    }
    const sessionText = await run("show session verbose");
    const sessions = sessionText === undefined ? null : parseShowSession(sessionText);
    const appText = await run("show app");
    const nsText = await run("show app ns");
    const errText = await run("show errors");
    const counters = errText === undefined ? [] : parseShowErrors(errText);
    return {
      running: api !== undefined || cliError === null,
      transport: api ? "api" : cliError === null ? "cli" : null,
      cliSocket: { path: cliPath, reachable: cliError === null, error: cliError },
      apiSocket: { path: apiPath, reachable: api !== undefined, error: apiError },
      version,
      pid,
      sessionLayer: sessions === null ? "unknown" : sessions.enabled ? "enabled" : "disabled",
      apps: appText === undefined || sessions?.enabled === false ? [] : parseShowApp(appText),
      appNamespaces: nsText === undefined ? [] : parseShowAppNs(nsText),
      sessions,
      errors: counters.filter((c) => c.severity !== "info"),
      counters,
      interfaces,
    };
  } finally {
    await api?.close();
  }
}

export interface VppCommandResult {
  readonly command: string;
  readonly output: string;
  readonly transport: "api" | "cli";
  /** cli_inband's retval; null over the CLI socket, which cannot report failures. */
  readonly retval: number | null;
}

/**
 * Runs one CLI command: through the API's cli_inband when the API socket answers (so a failing
 * command is reported), else through the CLI socket like vppctl.
 *
 * @example
 * const r = await runVppCommand("show int", { apiSocket: "/run/vpp/api.sock" });
 */
export async function runVppCommand(
  command: string,
  options: VppStatusOptions & { readonly prefer?: "api" | "cli" } = {},
): Promise<VppCommandResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (options.prefer !== "cli") {
    let api: ApiClient | undefined;
    try {
      api = await VppApiClient.connect({
        socketPath: options.apiSocket ?? DEFAULT_API_SOCKET,
        timeoutMs,
        ...(options.clientName ? { clientName: options.clientName } : {}),
      });
    } catch (error) {
      if (options.prefer === "api") throw error;
    }
    if (api) {
      try {
        const r = await api.cliInband(command);
        return { command, output: r.reply, transport: "api", retval: r.retval };
      } finally {
        await api.close();
      }
    }
  }
  const r = await new VppCliClient({ socketPath: options.cliSocket ?? DEFAULT_CLI_SOCKET, timeoutMs }).run(
    command,
  );
  return { command, output: r.output, transport: "cli", retval: null };
}
