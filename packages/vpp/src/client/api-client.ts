import type net from "node:net";
import { createTracer } from "@meshctl/core";
import { VppError } from "../errors.js";
import {
  API_HEADER_SIZE,
  type ApiMessageSpec,
  CLI_INBAND,
  CLI_INBAND_REPLY,
  CONTROL_PING,
  CONTROL_PING_REPLY,
  decodeApiMessage,
  decodeMessageTable,
  encodeApiMessage,
  frameApiMessage,
  HANDSHAKE_IDS,
  SHOW_VERSION,
  SHOW_VERSION_REPLY,
  SOCKCLNT_CREATE,
  SOCKCLNT_CREATE_REPLY,
  SOCKCLNT_DELETE,
  SOCKCLNT_DELETE_REPLY,
  SW_INTERFACE_DETAILS,
  SW_INTERFACE_DUMP,
} from "./api-codec.js";
import { connectUnixSocket } from "./unix-socket.js";

let tracer: ReturnType<typeof createTracer> | undefined;
/** Created on first use so importing this module reads no environment. */
const trace = (message: () => string) => {
  tracer ??= createTracer("vpp");
  tracer(message);
};

export const DEFAULT_API_SOCKET = "/run/vpp/api.sock";

export interface VppApiClientOptions {
  /** Default /run/vpp/api.sock (`socksvr { socket-name }`). */
  readonly socketPath?: string;
  /** Name VPP shows for this client (at most 63 bytes). Default "meshctl". */
  readonly clientName?: string;
  /** Per-request timeout (and connect timeout), ms. Default 5000. */
  readonly timeoutMs?: number;
}

export interface VppVersion {
  readonly program: string;
  readonly version: string;
  readonly buildDate: string;
  readonly buildDirectory: string;
}

export interface VppCliInbandResult {
  readonly command: string;
  /** 0 on success; VPP returns -1 for an unknown or failing command. */
  readonly retval: number;
  /** The command's output (LF line ends, as the API returns it). */
  readonly reply: string;
}

export interface VppInterface {
  readonly swIfIndex: number;
  readonly supSwIfIndex: number;
  readonly name: string;
  readonly devType: string;
  readonly macAddress: string;
  readonly adminUp: boolean;
  readonly linkUp: boolean;
  readonly linkMtu: number;
  readonly mtu: readonly number[];
  readonly tag: string;
}

interface Pending {
  readonly context: number;
  readonly replyId: number;
  readonly detailsId?: number;
  readonly details: Buffer[];
  readonly resolve: (payload: Buffer, details: Buffer[]) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly what: string;
}

/**
 * A client for VPP's binary API over the socket transport (`socksvr`): the same wire protocol as
 * vpp_papi's socket transport and govpp. Message ids are resolved by name+CRC from the table
 * VPP returns in `sockclnt_create_reply`, because they change with the loaded plugin set; a CRC
 * that differs from the one this client was written against raises VPP_VERSION_MISMATCH.
 *
 * @example
 * const api = await VppApiClient.connect({ socketPath: "/run/vpp/api.sock" });
 * try {
 *   const { version } = await api.showVersion();
 *   const { retval, reply } = await api.cliInband("show session");
 * } finally {
 *   await api.close();
 * }
 */
export class VppApiClient {
  readonly socketPath: string;
  /** `sockclnt_create_reply.index`, sent as client_index in every request. */
  readonly clientIndex: number;
  /** `name_crc` → message id, as this VPP listed it. */
  readonly messageTable: ReadonlyMap<string, number>;
  private readonly socket: net.Socket;
  private readonly timeoutMs: number;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, Pending>();
  private nextContext: number;
  private closed = false;
  private closeError: VppError | undefined;

  private constructor(init: {
    socket: net.Socket;
    socketPath: string;
    timeoutMs: number;
    clientIndex: number;
    table: Map<string, number>;
    buffer: Buffer;
    nextContext: number;
  }) {
    this.socket = init.socket;
    this.socketPath = init.socketPath;
    this.timeoutMs = init.timeoutMs;
    this.clientIndex = init.clientIndex;
    this.messageTable = init.table;
    this.buffer = init.buffer;
    this.nextContext = init.nextContext;
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (error) =>
      this.fail(
        new VppError("VPP_CONNECTION_CLOSED", `VPP API socket error: ${error.message}`, { cause: error }),
      ),
    );
    this.socket.on("close", () =>
      this.fail(
        new VppError("VPP_CONNECTION_CLOSED", "VPP closed the API connection.", { kind: "environment" }),
      ),
    );
    if (this.buffer.length) this.drain();
  }

  /**
   * Connects, sends `sockclnt_create` (fixed id 15) and reads the message table from the reply.
   *
   * @example
   * const api = await VppApiClient.connect({ clientName: "my-tool" });
   */
  static async connect(options: VppApiClientOptions = {}): Promise<VppApiClient> {
    const socketPath = options.socketPath ?? DEFAULT_API_SOCKET;
    const timeoutMs = options.timeoutMs ?? 5000;
    const socket = await connectUnixSocket(socketPath, timeoutMs, "API");
    const context = 1;
    try {
      const payload = encodeApiMessage(SOCKCLNT_CREATE, HANDSHAKE_IDS.sockclnt_create, {
        context,
        name: options.clientName ?? "meshctl",
      });
      socket.write(frameApiMessage(payload));
      const { frame, rest } = await readOneFrame(socket, timeoutMs, socketPath);
      const { values, offset } = decodeApiMessage(SOCKCLNT_CREATE_REPLY, frame);
      if (values._vl_msg_id !== HANDSHAKE_IDS.sockclnt_create_reply) {
        throw new VppError(
          "VPP_PROTOCOL_ERROR",
          `Expected sockclnt_create_reply (id 16), got message id ${String(values._vl_msg_id)}.`,
          { kind: "external" },
        );
      }
      if (values.response !== 0) {
        throw new VppError(
          "VPP_API_ERROR",
          `VPP refused the API client (sockclnt_create response ${String(values.response)}).`,
          { kind: "external", details: { response: values.response } },
        );
      }
      const table = decodeMessageTable(frame, offset, values.count as number);
      trace(
        () => `api connected to ${socketPath}: ${table.size} messages, client index ${String(values.index)}`,
      );
      const client = new VppApiClient({
        socket,
        socketPath,
        timeoutMs,
        clientIndex: values.index as number,
        table,
        buffer: rest,
        nextContext: context + 1,
      });
      // Not fatal for the handshake already done, but a changed handshake means other layouts moved too.
      client.messageId(SOCKCLNT_DELETE);
      return client;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /**
   * The id of `spec` in this VPP, checked by name and CRC.
   *
   * @example
   * api.messageId(CONTROL_PING); // 23
   */
  messageId(spec: ApiMessageSpec): number {
    const id = this.messageTable.get(`${spec.name}_${spec.crc}`);
    if (id !== undefined) return id;
    const prefix = `${spec.name}_`;
    const other = [...this.messageTable.keys()].find(
      (k) => k.startsWith(prefix) && /^[0-9a-f]{8}$/.test(k.slice(prefix.length)),
    );
    throw new VppError(
      "VPP_VERSION_MISMATCH",
      other
        ? `This VPP's ${spec.name} has CRC ${other.slice(prefix.length)}, meshctl speaks ${spec.crc}: the message layout changed.`
        : `This VPP does not know the API message ${spec.name} (plugin not loaded, or a different VPP release).`,
      {
        kind: "external",
        details: { message: spec.name, expectedCrc: spec.crc, found: other ?? null },
        suggestions: ["Use the CLI socket (`--cli-socket`) instead, or update meshctl."],
      },
    );
  }

  /**
   * `control_ping`: a round trip that proves the API is alive; returns VPP's pid.
   *
   * @example
   * const { vpePid } = await api.controlPing();
   */
  async controlPing(): Promise<{ vpePid: number; clientIndex: number }> {
    const v = await this.call(CONTROL_PING, CONTROL_PING_REPLY, {});
    checkRetval("control_ping", v.retval as number);
    return { vpePid: v.vpe_pid as number, clientIndex: v.client_index as number };
  }

  /**
   * `show_version`.
   *
   * @example
   * (await api.showVersion()).version; // "26.10-rc0~374-gb575ec2c56d"
   */
  async showVersion(): Promise<VppVersion> {
    const v = await this.call(SHOW_VERSION, SHOW_VERSION_REPLY, {});
    checkRetval("show_version", v.retval as number);
    return {
      program: v.program as string,
      version: v.version as string,
      buildDate: v.build_date as string,
      buildDirectory: v.build_directory as string,
    };
  }

  /**
   * Runs a CLI command through the API (`cli_inband`). Unlike the CLI socket this reports
   * failures: `retval` is -1 for an unknown command. Never throws on a non-zero retval; see {@link cli}.
   *
   * @example
   * const { retval, reply } = await api.cliInband("show interface");
   */
  async cliInband(command: string): Promise<VppCliInbandResult> {
    const v = await this.call(CLI_INBAND, CLI_INBAND_REPLY, { cmd: command });
    return { command, retval: v.retval as number, reply: v.reply as string };
  }

  /**
   * Like {@link cliInband} but throws VPP_CLI_ERROR when VPP reports a failure.
   *
   * @example
   * const text = await api.cli("show session verbose");
   */
  async cli(command: string): Promise<string> {
    const r = await this.cliInband(command);
    if (r.retval !== 0) {
      throw new VppError(
        "VPP_CLI_ERROR",
        `VPP rejected \`${command}\` (retval ${r.retval}): ${r.reply.trim()}`,
        { kind: "usage", details: { command, retval: r.retval, reply: r.reply } },
      );
    }
    return r.reply;
  }

  /**
   * `sw_interface_dump` followed by a `control_ping` marking the end (the dump pattern).
   *
   * @example
   * const names = (await api.swInterfaceDump()).map((i) => i.name);
   */
  async swInterfaceDump(): Promise<VppInterface[]> {
    const details = await this.dump(SW_INTERFACE_DUMP, SW_INTERFACE_DETAILS, {
      sw_if_index: 0xffffffff,
      name_filter_valid: 0,
      name_filter: "",
    });
    return details.map((d) => ({
      swIfIndex: d.sw_if_index as number,
      supSwIfIndex: d.sup_sw_if_index as number,
      name: d.interface_name as string,
      devType: d.interface_dev_type as string,
      macAddress: [...(d.l2_address as Buffer)].map((b) => b.toString(16).padStart(2, "0")).join(":"),
      adminUp: ((d.flags as number) & 1) !== 0,
      linkUp: ((d.flags as number) & 2) !== 0,
      linkMtu: d.link_mtu as number,
      mtu: d.mtu as number[],
      tag: d.tag as string,
    }));
  }

  /**
   * Sends any request and waits for its reply. `values` need not contain client_index/context.
   *
   * @example
   * const reply = await api.call(SHOW_VERSION, SHOW_VERSION_REPLY, {});
   */
  async call(
    request: ApiMessageSpec,
    reply: ApiMessageSpec,
    values: Readonly<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    const requestId = this.messageId(request);
    const replyId = this.messageId(reply);
    const context = this.takeContext();
    const payload = await this.send(context, replyId, undefined, request.name, [
      encodeApiMessage(request, requestId, { ...values, client_index: this.clientIndex, context }),
    ]);
    return decodeApiMessage(reply, payload.reply).values;
  }

  /**
   * Sends a dump request and a control_ping with the same context, and collects the details
   * messages that arrive before the ping's reply.
   *
   * @example
   * const rows = await api.dump(SW_INTERFACE_DUMP, SW_INTERFACE_DETAILS, { sw_if_index: 0xffffffff });
   */
  async dump(
    request: ApiMessageSpec,
    details: ApiMessageSpec,
    values: Readonly<Record<string, unknown>>,
  ): Promise<Record<string, unknown>[]> {
    const requestId = this.messageId(request);
    const detailsId = this.messageId(details);
    const pingId = this.messageId(CONTROL_PING);
    const pingReplyId = this.messageId(CONTROL_PING_REPLY);
    const context = this.takeContext();
    const common = { client_index: this.clientIndex, context };
    const result = await this.send(context, pingReplyId, detailsId, request.name, [
      encodeApiMessage(request, requestId, { ...values, ...common }),
      encodeApiMessage(CONTROL_PING, pingId, common),
    ]);
    return result.details.map((d) => decodeApiMessage(details, d).values);
  }

  /**
   * Sends `sockclnt_delete`, waits for the reply (VPP then closes the connection) and releases
   * the socket. Safe to call twice.
   *
   * @example
   * await api.close();
   */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.call(SOCKCLNT_DELETE, SOCKCLNT_DELETE_REPLY, { index: this.clientIndex });
    } catch (error) {
      trace(() => `api close failed: ${String(error)}`);
    } finally {
      this.closed = true;
      this.socket.destroy();
    }
  }

  private takeContext(): number {
    const c = this.nextContext;
    this.nextContext = (this.nextContext % 0xfffffffe) + 1;
    return c;
  }

  private send(
    context: number,
    replyId: number,
    detailsId: number | undefined,
    what: string,
    payloads: Buffer[],
  ): Promise<{ reply: Buffer; details: Buffer[] }> {
    if (this.closeError) return Promise.reject(this.closeError);
    if (this.closed)
      return Promise.reject(
        new VppError("VPP_CONNECTION_CLOSED", "The VPP API client is closed.", { kind: "bug" }),
      );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(context);
        reject(
          new VppError("VPP_API_TIMEOUT", `VPP did not answer ${what} within ${this.timeoutMs} ms.`, {
            kind: "external",
            details: { message: what, timeoutMs: this.timeoutMs, socketPath: this.socketPath },
          }),
        );
      }, this.timeoutMs);
      this.pending.set(context, {
        context,
        replyId,
        ...(detailsId !== undefined ? { detailsId } : {}),
        details: [],
        what,
        timer,
        resolve: (reply, details) => resolve({ reply, details }),
        reject,
      });
      for (const p of payloads) this.socket.write(frameApiMessage(p));
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.drain();
  }

  private drain(): void {
    for (;;) {
      if (this.buffer.length < API_HEADER_SIZE) return;
      const len = this.buffer.readUInt32BE(8);
      if (this.buffer.length < API_HEADER_SIZE + len) return;
      const payload = this.buffer.subarray(API_HEADER_SIZE, API_HEADER_SIZE + len);
      this.buffer = this.buffer.subarray(API_HEADER_SIZE + len);
      this.dispatch(payload);
    }
  }

  private dispatch(payload: Buffer): void {
    if (payload.length < 6) return;
    const id = payload.readUInt16BE(0);
    // Every reply and details message starts with u16 id, u32 context.
    const context = payload.readUInt32BE(2);
    const pending = this.pending.get(context);
    if (!pending) {
      trace(() => `api message ${id} with unknown context ${context} dropped`);
      return;
    }
    if (pending.detailsId !== undefined && id === pending.detailsId) {
      pending.details.push(Buffer.from(payload));
      return;
    }
    this.pending.delete(context);
    clearTimeout(pending.timer);
    if (id !== pending.replyId) {
      pending.reject(
        new VppError(
          "VPP_PROTOCOL_ERROR",
          `Expected message id ${pending.replyId} in reply to ${pending.what}, got ${id}.`,
          { kind: "external" },
        ),
      );
      return;
    }
    pending.resolve(Buffer.from(payload), pending.details);
  }

  private fail(error: VppError): void {
    if (!this.closeError) this.closeError = error;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }
}

function checkRetval(what: string, retval: number): void {
  if (retval !== 0)
    throw new VppError("VPP_API_ERROR", `VPP answered ${what} with retval ${retval}.`, {
      kind: "external",
      details: { retval },
    });
}

/** Reads exactly one frame during the handshake, returning any bytes that followed it. */
function readOneFrame(
  socket: net.Socket,
  timeoutMs: number,
  path: string,
): Promise<{ frame: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onError);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new VppError(
          "VPP_API_TIMEOUT",
          `VPP did not answer sockclnt_create on ${path} within ${timeoutMs} ms.`,
          { kind: "external", details: { path, timeoutMs } },
        ),
      );
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < API_HEADER_SIZE) return;
      const len = buf.readUInt32BE(8);
      if (len > 64 * 2 ** 20) {
        cleanup();
        reject(
          new VppError(
            "VPP_PROTOCOL_ERROR",
            `${path} does not speak VPP's socket API (frame length ${len}).`,
            { kind: "external" },
          ),
        );
        return;
      }
      if (buf.length < API_HEADER_SIZE + len) return;
      cleanup();
      resolve({
        frame: buf.subarray(API_HEADER_SIZE, API_HEADER_SIZE + len),
        rest: buf.subarray(API_HEADER_SIZE + len),
      });
    };
    const onClose = () => {
      cleanup();
      reject(
        new VppError("VPP_CONNECTION_CLOSED", `VPP closed ${path} during the API handshake.`, {
          kind: "external",
        }),
      );
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new VppError("VPP_CONNECTION_CLOSED", `API socket error during the handshake: ${error.message}`, {
          cause: error,
        }),
      );
    };
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", onError);
  });
}
