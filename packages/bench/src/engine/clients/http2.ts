import http2 from "node:http2";
import net from "node:net";
import { MeshctlError } from "@meshctl/core";
import type { ConnectOptions, LoadConnection, RequestDone } from "./connection.js";
import { errorKind } from "./connection.js";

/** Streams one HTTP/2 connection carries at once in open loop (Envoy's default is 100 too). */
export const H2_STREAMS_PER_CONNECTION = 100;

const { HTTP2_HEADER_STATUS } = http2.constants;

/**
 * The echo request message, protobuf `bytes payload = 1` (empty for an empty payload), as the
 * engine's gRPC echo server expects; any gRPC client can send it.
 *
 * @example
 * encodeEchoMessage(Buffer.from("hi")); // <0a 02 68 69>
 */
export function encodeEchoMessage(payload: Buffer): Buffer {
  if (payload.length === 0) return Buffer.alloc(0);
  const varint: number[] = [];
  let n = payload.length;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n > 0) byte |= 0x80;
    varint.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x0a, ...varint]), payload]);
}

/** Frames `payload` as a gRPC message: 5-byte prefix + protobuf `bytes payload = 1`. */
export function encodeGrpcEcho(payload: Buffer): Buffer {
  const message = encodeEchoMessage(payload);
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * HTTP/2 cleartext (prior knowledge) and gRPC unary over node:http2. gRPC is spoken directly
 * (length-prefixed message, `grpc-status` trailer) rather than through @grpc/grpc-js, whose
 * per-call machinery costs more than the proxies we measure (ADR 0032).
 */
export function connectHttp2(opts: ConnectOptions, grpc: boolean): Promise<LoadConnection> {
  const { target } = opts;
  const body = grpc ? encodeGrpcEcho(opts.payload) : opts.payload;
  const traceHeader = opts.traceHeader === null ? null : opts.traceHeader.toLowerCase();
  const headers: http2.OutgoingHttpHeaders = {
    ":method": grpc || body.length > 0 ? "POST" : "GET",
    ":path": target.path,
    ":scheme": "http",
    ":authority": target.authority,
    ...(grpc ? { "content-type": "application/grpc", te: "trailers" } : {}),
    ...(!grpc && body.length > 0 ? { "content-type": "application/octet-stream" } : {}),
    ...Object.fromEntries(Object.entries(opts.headers).map(([k, v]) => [k.toLowerCase(), v])),
    // A unique value per request would enter the HPACK dynamic table every time, evicting the
    // headers that repeat; marked sensitive, nghttp2 sends it as a literal that is never indexed.
    ...(traceHeader !== null ? { [http2.sensitiveHeaders]: [traceHeader] } : {}),
  };
  return new Promise((resolve, reject) => {
    let socketConnected = false;
    const session = http2.connect(
      `http://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`,
      {
        settings: { enablePush: false, initialWindowSize: 1 << 20 },
        // Nagle would hold small frames back; node:http2 forbids touching the socket afterwards.
        createConnection: () => {
          const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
          socket.once("connect", () => {
            socketConnected = true;
          });
          return socket;
        },
      },
    );
    let settled = false;
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.removeListener("error", onError);
      session.removeListener("close", onClose);
      if (err) {
        session.on("error", noop); // late errors of a session given up on
        session.destroy();
        reject(err);
      } else resolve(new Http2Connection(session, headers, body, grpc, traceHeader));
    };
    // A TCP connection alone does not prove HTTP/2: wait for the server's SETTINGS frame. An
    // HTTP/1.1 server answers the preface with "400 Bad Request" and closes instead.
    const mismatch = (reason: string): Error =>
      socketConnected ? protocolMismatchError(target.host, target.port, grpc, reason) : new Error(reason);
    const onError = (err: Error): void => settle(socketConnected ? mismatch(err.message) : (err as Error));
    const onClose = (): void => settle(mismatch("the connection closed before the server's HTTP/2 SETTINGS"));
    const timer = setTimeout(() => {
      settle(
        socketConnected
          ? mismatch(`no HTTP/2 SETTINGS within ${opts.connectTimeoutMs} ms`)
          : Object.assign(new Error("connect timeout"), { code: "connect_timeout" }),
      );
    }, opts.connectTimeoutMs);
    session.on("error", onError);
    session.on("close", onClose);
    session.once("remoteSettings", () => settle(null));
  });
}

/**
 * The target accepted TCP but does not speak HTTP/2 with prior knowledge (h2c): an HTTP/1.1
 * server, TLS, or something else. A usage error: the URL scheme or --protocol is wrong for it.
 */
function protocolMismatchError(host: string, port: number, grpc: boolean, reason: string): MeshctlError {
  const scheme = grpc ? "grpc" : "h2c";
  return new MeshctlError(
    "BENCH_PROTOCOL_MISMATCH",
    `the server at ${host}:${port} accepted the connection but did not speak HTTP/2 (h2c, prior knowledge), which ${scheme}:// and --protocol ${grpc ? "grpc" : "http2"} need: ${reason}.`,
    {
      kind: "usage",
      suggestions: [
        "For an HTTP/1.1 server use an http:// target (or --protocol http1).",
        "TLS (https, h2 over TLS) is not supported: point at a cleartext port.",
        `meshctl bench server --protocol ${grpc ? "grpc" : "http2"} starts a matching echo server.`,
      ],
      details: { host, port, protocol: grpc ? "grpc" : "http2", reason },
    },
  );
}

class Http2Connection implements LoadConnection {
  readonly capacity = H2_STREAMS_PER_CONNECTION;
  alive = true;
  private readonly inFlight = new Set<RequestDone>();

  constructor(
    private readonly session: http2.ClientHttp2Session,
    private readonly headers: http2.OutgoingHttpHeaders,
    private readonly body: Buffer,
    private readonly grpc: boolean,
    private readonly traceHeader: string | null,
  ) {
    session.on("error", (err) => this.fail(errorKind(err)));
    session.on("close", () => this.fail("ECONNRESET"));
    session.on("goaway", () => this.fail("h2_goaway"));
  }

  request(done: RequestDone, requestId?: string): void {
    if (!this.alive) {
      done("ECONNRESET");
      return;
    }
    this.inFlight.add(done);
    let status = 0;
    let grpcStatus: string | undefined;
    let finished = false;
    const finish = (error: string | null): void => {
      if (finished) return;
      finished = true;
      if (this.inFlight.delete(done)) done(error);
    };
    // request() copies the headers before it returns (sentHeaders is that copy), so this
    // connection's one object can carry each id in turn: a spread per request costs ~2 µs.
    if (requestId !== undefined && this.traceHeader !== null) this.headers[this.traceHeader] = requestId;
    let stream: http2.ClientHttp2Stream;
    try {
      // Throws (ERR_HTTP2_INVALID_SESSION, ERR_HTTP2_GOAWAY_SESSION) once the session is going away.
      stream = this.session.request(this.headers, { endStream: this.body.length === 0 });
    } catch (err) {
      finish(errorKind(err));
      this.fail(errorKind(err));
      return;
    }
    stream.on("response", (h) => {
      status = Number(h[HTTP2_HEADER_STATUS]);
      const gs = h["grpc-status"];
      if (typeof gs === "string") grpcStatus = gs; // trailers-only response
    });
    stream.on("trailers", (t) => {
      const gs = t["grpc-status"];
      if (typeof gs === "string") grpcStatus = gs;
    });
    stream.on("data", noop);
    stream.on("end", () => {
      if (status < 200 || status >= 400) finish(`http_${status}`);
      else if (this.grpc && grpcStatus !== "0")
        finish(grpcStatus === undefined ? "grpc_no_status" : `grpc_${grpcStatus}`);
      else finish(null);
    });
    stream.on("error", (err) => finish(errorKind(err)));
    stream.on("close", () => finish(stream.rstCode ? `h2_rst_${stream.rstCode}` : "ECONNRESET"));
    if (this.body.length > 0) stream.end(this.body);
  }

  destroy(reason: string): void {
    this.fail(reason);
  }

  private fail(kind: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.session.destroy();
    const pending = [...this.inFlight];
    this.inFlight.clear();
    for (const done of pending) done(kind);
  }
}

function noop(): void {}
