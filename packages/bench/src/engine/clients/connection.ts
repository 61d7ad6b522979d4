import net from "node:net";
import type { ParsedTarget } from "../target.js";

/** Completion callback: `null` on success, otherwise an error kind (e.g. "http_503", "ECONNRESET"). */
export type RequestDone = (error: string | null) => void;

/**
 * One transport connection the scheduler sends requests on. Callback-based (no promise per
 * request) because at tens of thousands of requests a second the allocation matters.
 */
export interface LoadConnection {
  /** Requests that may be in flight at once (1 for HTTP/1.1 and TCP, streams for HTTP/2). */
  readonly capacity: number;
  /** False once the transport closed or failed; the scheduler then reconnects. */
  readonly alive: boolean;
  /** `requestId`: the value of the trace header for this request (traced runs only). */
  request(done: RequestDone, requestId?: string): void;
  /** Fails every in-flight request with `reason` and closes the transport. */
  destroy(reason: string): void;
}

export interface ConnectOptions {
  readonly target: ParsedTarget;
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly connectTimeoutMs: number;
  /** Header that carries each request's id (traced runs); null keeps the prebuilt request. */
  readonly traceHeader: string | null;
}

/** Maps a socket/system error to a stable error kind. */
export function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.length > 0) return code;
  return "transport_error";
}

/** What a raw-socket connection does with the bytes it reads. */
export interface ByteSink {
  onData(chunk: Buffer): void;
}

/**
 * Connects a raw TCP socket for a load connection, with a connect timeout. Reads land in one
 * reused buffer (`onread`) instead of a fresh Buffer per read through the stream machinery; the
 * sink copies only what it must keep. `create` builds the connection once the socket is up.
 */
export function connectRawSocket<C extends LoadConnection & ByteSink>(
  opts: ConnectOptions,
  create: (socket: net.Socket) => C,
): Promise<C> {
  return new Promise((resolve, reject) => {
    let conn: C | null = null;
    const socket = net.connect({
      host: opts.target.host,
      port: opts.target.port,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(64 * 1024),
        callback: (n, buf) => {
          conn?.onData((buf as Buffer).subarray(0, n));
          return true;
        },
      },
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error("connect timeout"), { code: "connect_timeout" }));
    }, opts.connectTimeoutMs);
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      conn = create(socket);
      resolve(conn);
    });
  });
}

/**
 * A load connection with at most one request in flight on a raw socket (HTTP/1.1, TCP): sending,
 * failing and closing are the same for both; subclasses decide when a response is complete.
 */
export abstract class SingleFlightConnection implements LoadConnection, ByteSink {
  readonly capacity = 1;
  alive = true;
  protected pending: RequestDone | null = null;

  /**
   * `requestBytes` is the one prebuilt request of an untraced run; `encodeTraced` builds a
   * request carrying an id, only called when `request()` gets one.
   */
  constructor(
    protected readonly socket: net.Socket,
    private readonly requestBytes: Buffer,
    private readonly encodeTraced: ((requestId: string) => Buffer) | null = null,
  ) {
    socket.on("error", (err) => this.fail(errorKind(err)));
    socket.on("close", () => this.fail("ECONNRESET"));
  }

  abstract onData(chunk: Buffer): void;

  request(done: RequestDone, requestId?: string): void {
    if (!this.alive) {
      done("ECONNRESET");
      return;
    }
    this.pending = done;
    this.socket.write(
      requestId === undefined || this.encodeTraced === null
        ? this.requestBytes
        : this.encodeTraced(requestId),
    );
  }

  destroy(reason: string): void {
    this.fail(reason);
  }

  protected fail(kind: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.socket.destroy();
    const done = this.pending;
    this.pending = null;
    if (done) done(kind);
  }
}
