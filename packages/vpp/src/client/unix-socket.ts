import net from "node:net";
import { socketConnectError, VppError, type VppErrorCode } from "../errors.js";

/** Connects to a unix stream socket with a timeout; errors become typed VppErrors. */
export function connectUnixSocket(path: string, timeoutMs: number, what: "CLI" | "API"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const timeoutCode: VppErrorCode = what === "CLI" ? "VPP_CLI_TIMEOUT" : "VPP_API_TIMEOUT";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new VppError(
          timeoutCode,
          `Connecting to the VPP ${what} socket ${path} timed out after ${timeoutMs} ms.`,
          { kind: "environment", details: { path, timeoutMs } },
        ),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(socketConnectError(error, path, what));
    });
  });
}
