import http2 from "node:http2";
import net from "node:net";
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
    const session = http2.connect(
      `http://${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`,
      {
        settings: { enablePush: false, initialWindowSize: 1 << 20 },
        // Nagle would hold small frames back; node:http2 forbids touching the socket afterwards.
        createConnection: () => net.connect({ host: target.host, port: target.port, noDelay: true }),
      },
    );
    const timer = setTimeout(() => {
      session.destroy();
      reject(Object.assign(new Error("connect timeout"), { code: "connect_timeout" }));
    }, opts.connectTimeoutMs);
    session.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    session.once("connect", () => {
      clearTimeout(timer);
      session.removeAllListeners("error");
      resolve(new Http2Connection(session, headers, body, grpc, traceHeader));
    });
  });
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
    const stream = this.session.request(this.headers, { endStream: this.body.length === 0 });
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
