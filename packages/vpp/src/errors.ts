import { MeshctlError, type MeshctlErrorOptions } from "@meshctl/core";

/**
 * Stable error codes of @meshctl/vpp. They are part of the public API: the CLI maps them to exit
 * codes and `--json` output carries them verbatim.
 */
export const VPP_ERROR_CODES = [
  "VPP_SOCKET_MISSING",
  "VPP_PERMISSION_DENIED",
  "VPP_CONNECTION_REFUSED",
  "VPP_CONNECTION_CLOSED",
  "VPP_API_TIMEOUT",
  "VPP_CLI_TIMEOUT",
  "VPP_VERSION_MISMATCH",
  "VPP_PROTOCOL_ERROR",
  "VPP_API_ERROR",
  "VPP_CLI_ERROR",
  "VPP_CONFIG_INVALID",
  "VPP_PROCESS_NOT_FOUND",
  "VPP_NOT_INSTALLED",
  "VPP_STATE_DIR_UNKNOWN",
] as const;
export type VppErrorCode = (typeof VPP_ERROR_CODES)[number];

/** A MeshctlError whose code is one of {@link VPP_ERROR_CODES}. */
export class VppError extends MeshctlError {
  declare readonly code: VppErrorCode;
  constructor(code: VppErrorCode, message: string, options: MeshctlErrorOptions = {}) {
    super(code, message, options);
    this.name = "VppError";
  }
}

/** Maps a socket error from `net.connect` on a unix socket to a typed VppError. */
export function socketConnectError(
  error: NodeJS.ErrnoException,
  path: string,
  what: "CLI" | "API",
): VppError {
  const flag = what === "CLI" ? "--cli-socket" : "--api-socket";
  const stanza = what === "CLI" ? "unix { cli-listen <path> }" : "socksvr { socket-name <path> }";
  switch (error.code) {
    case "ENOENT":
    case "ENOTDIR":
      return new VppError(
        "VPP_SOCKET_MISSING",
        `The VPP ${what} socket ${path} does not exist: VPP is not running, or listens elsewhere.`,
        {
          kind: "environment",
          cause: error,
          suggestions: [`Start VPP, or pass ${flag} with the path set by \`${stanza}\` in startup.conf.`],
          details: { path, errno: error.code },
        },
      );
    case "EACCES":
    case "EPERM":
      return new VppError(
        "VPP_PERMISSION_DENIED",
        `Permission denied connecting to the VPP ${what} socket ${path}.`,
        {
          kind: "environment",
          cause: error,
          suggestions: [
            "Run as root, or add your user to the group VPP runs with (`unix { gid vpp }`) and log in again.",
          ],
          details: { path, errno: error.code },
        },
      );
    case "ECONNREFUSED":
      return new VppError(
        "VPP_CONNECTION_REFUSED",
        `Nothing accepts connections on the VPP ${what} socket ${path} (a stale socket file?).`,
        {
          kind: "environment",
          cause: error,
          suggestions: [
            "Check that VPP is running (`systemctl status vpp`); a socket file left by a crashed VPP refuses connections.",
          ],
          details: { path, errno: error.code },
        },
      );
    default:
      return new VppError(
        "VPP_CONNECTION_CLOSED",
        `Could not talk to the VPP ${what} socket ${path}: ${error.message}`,
        {
          kind: "environment",
          cause: error,
          details: { path, errno: error.code },
        },
      );
  }
}
