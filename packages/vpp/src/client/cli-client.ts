import { VppError } from "../errors.js";
import { connectUnixSocket } from "./unix-socket.js";

export const DEFAULT_CLI_SOCKET = "/run/vpp/cli.sock";

/** Where vppctl looks for the CLI socket, in order (src/vpp/app/vppctl.c). */
export function defaultCliSocketCandidates(uid: number = process.getuid?.() ?? 0): string[] {
  return [DEFAULT_CLI_SOCKET, "/var/run/vpp/cli.sock", `/var/run/user/${uid}/vpp/cli.sock`];
}

const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const WILL = 0xfb;
const WONT = 0xfc;
const DO = 0xfd;
const DONT = 0xfe;
const TTYPE = 0x18;
const TTYPE_SEND = 0x01;

/** The reply vppctl sends: IAC SB TTYPE IS "vppctl" IAC SE. VPP treats "vppctl" as non-interactive. */
export const TTYPE_VPPCTL = Buffer.from([IAC, SB, TTYPE, 0x00, ...Buffer.from("vppctl"), IAC, SE]);

/**
 * A streaming telnet decoder: strips IAC sequences (also when split across reads) and reports
 * sub-negotiations, so the client can answer `SB TTYPE SEND`.
 */
export class TelnetDecoder {
  private state: "data" | "iac" | "option" | "sb" | "sb-iac" = "data";
  private sb: number[] = [];
  /** Sub-negotiations seen so far (payload between SB and IAC SE). */
  readonly subnegotiations: Buffer[] = [];
  /** Bytes that were telnet commands (for statistics and tests). */
  commandBytes = 0;

  push(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (const byte of chunk) {
      switch (this.state) {
        case "data":
          if (byte === IAC) {
            this.state = "iac";
            this.commandBytes++;
          } else out.push(byte);
          break;
        case "iac":
          this.commandBytes++;
          if (byte === IAC) {
            out.push(IAC);
            this.commandBytes -= 2;
            this.state = "data";
          } else if (byte === WILL || byte === WONT || byte === DO || byte === DONT) this.state = "option";
          else if (byte === SB) {
            this.sb = [];
            this.state = "sb";
          } else this.state = "data";
          break;
        case "option":
          this.commandBytes++;
          this.state = "data";
          break;
        case "sb":
          this.commandBytes++;
          if (byte === IAC) this.state = "sb-iac";
          else this.sb.push(byte);
          break;
        case "sb-iac":
          this.commandBytes++;
          if (byte === SE) {
            this.subnegotiations.push(Buffer.from(this.sb));
            this.state = "data";
          } else {
            this.sb.push(byte);
            this.state = "sb";
          }
          break;
      }
    }
    return Buffer.from(out);
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC.
const ANSI_RE = /\u001b\[[0-?]*[ -/]*[@-~]/g;

/**
 * Removes ANSI colour/cursor sequences (`show app ns` colours its header even for vppctl).
 *
 * @example
 * stripAnsi("\u001b[33mIndex\u001b[0m"); // "Index"
 */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, "");
}

export interface VppCliClientOptions {
  /** Default /run/vpp/cli.sock (`unix { cli-listen }`). */
  readonly socketPath?: string;
  /** Time for the whole exchange, ms. Default 10000. */
  readonly timeoutMs?: number;
}

export interface VppCliResult {
  readonly command: string;
  /** Output with telnet, NUL acknowledgements, ANSI escapes and CRs removed. */
  readonly output: string;
  /** Output with telnet and NUL bytes removed but CRLF and ANSI kept (what vppctl prints). */
  readonly rawText: string;
  /**
   * False when the connection ended before both acknowledgements arrived, so output may be cut.
   * Note: the CLI socket cannot tell a failing command from a working one; use the API's
   * `cli_inband` (VppApiClient) when you need a status.
   */
  readonly complete: boolean;
}

/**
 * A client for VPP's CLI socket, speaking what `vppctl` speaks: telnet framing, the `vppctl`
 * terminal type (line mode, no prompt, no echo), then `<command>\n\0`.
 *
 * End of output: VPP acknowledges each input line with a NUL byte, but NUL also occurs inside
 * output (`show app` prints one after each namespace name), so a NUL cannot mark the end. This
 * client sends `quit\n` right after the command and reads until VPP closes the connection; the
 * last two NULs are the acknowledgements of the command and of `quit`.
 *
 * @example
 * const cli = new VppCliClient({ socketPath: "/run/vpp/cli.sock" });
 * const { output } = await cli.run("show version");
 */
export class VppCliClient {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(options: VppCliClientOptions = {}) {
    this.socketPath = options.socketPath ?? DEFAULT_CLI_SOCKET;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Runs one command on a fresh connection and returns its output.
   *
   * @example
   * const { output } = await new VppCliClient().run("show session verbose");
   */
  async run(command: string): Promise<VppCliResult> {
    if (/[\r\n\0]/.test(command)) {
      throw new VppError(
        "VPP_CLI_ERROR",
        "A VPP CLI command is one line; it must not contain newlines or NUL bytes.",
        { kind: "usage" },
      );
    }
    const started = Date.now();
    const socket = await connectUnixSocket(this.socketPath, this.timeoutMs, "CLI");
    const remaining = Math.max(1, this.timeoutMs - (Date.now() - started));
    return new Promise<VppCliResult>((resolve, reject) => {
      const decoder = new TelnetDecoder();
      const data: Buffer[] = [];
      let sent = false;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new VppError(
            "VPP_CLI_TIMEOUT",
            `VPP did not finish \`${command}\` on ${this.socketPath} within ${this.timeoutMs} ms.`,
            { kind: "external", details: { command, timeoutMs: this.timeoutMs } },
          ),
        );
      }, remaining);
      const sendCommand = () => {
        if (sent) return;
        sent = true;
        socket.write(TTYPE_VPPCTL);
        socket.write(Buffer.from(`${command}\n\0`, "utf8"));
        socket.write(Buffer.from("quit\n"));
      };
      // Every VPP observed asks for the terminal type at once; don't hang on one that doesn't.
      const fallback = setTimeout(sendCommand, Math.min(1000, remaining / 2));
      socket.on("data", (chunk: Buffer) => {
        data.push(decoder.push(chunk));
        // vppctl answers the terminal-type request; VPP sends it right after connecting.
        if (decoder.subnegotiations.some((s) => s[0] === TTYPE && s[1] === TTYPE_SEND)) {
          clearTimeout(fallback);
          sendCommand();
        }
      });
      socket.on("error", (error) => {
        clearTimeout(timer);
        clearTimeout(fallback);
        reject(new VppError("VPP_CONNECTION_CLOSED", `CLI socket error: ${error.message}`, { cause: error }));
      });
      socket.on("close", () => {
        clearTimeout(timer);
        clearTimeout(fallback);
        if (!sent) {
          reject(
            new VppError(
              "VPP_PROTOCOL_ERROR",
              `${this.socketPath} closed before the telnet negotiation; is it VPP's CLI socket?`,
              { kind: "external" },
            ),
          );
          return;
        }
        resolve(decodeCliOutput(command, Buffer.concat(data)));
      });
    });
  }
}

/**
 * Turns the telnet-free byte stream of one `command` + `quit` exchange into a result.
 *
 * @example
 * decodeCliOutput("show version", Buffer.from("vpp v26.10\r\n\0\0")).output; // "vpp v26.10\n"
 */
export function decodeCliOutput(command: string, stream: Buffer): VppCliResult {
  let end = stream.length;
  let acks = 0;
  while (acks < 2 && end > 0 && stream[end - 1] === 0) {
    end--;
    acks++;
  }
  // NULs left inside are terminators VPP formats into some tables (`show app`), not data.
  const rawText = stream.subarray(0, end).toString("utf8").replaceAll("\0", "");
  return {
    command,
    rawText,
    output: stripAnsi(rawText).replace(/\r\n/g, "\n").replace(/\r/g, ""),
    complete: acks === 2,
  };
}
