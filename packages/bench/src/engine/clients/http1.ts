import type { ConnectOptions, LoadConnection } from "./connection.js";
import { connectRawSocket, SingleFlightConnection } from "./connection.js";

const HEADER_END = Buffer.from("\r\n\r\n");
const CHUNKED_END = Buffer.from("0\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

/** Request line and headers, each line CRLF-terminated, without the blank line that ends the head. */
function http1RequestHead(opts: Pick<ConnectOptions, "target" | "payload" | "headers">): string {
  const { target, payload, headers } = opts;
  const method = payload.length > 0 ? "POST" : "GET";
  let head = `${method} ${target.path} HTTP/1.1\r\nHost: ${target.authority}\r\n`;
  const lower = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
  if (!lower.has("user-agent")) head += "User-Agent: meshctl-bench\r\n";
  if (payload.length > 0) {
    if (!lower.has("content-type")) head += "Content-Type: application/octet-stream\r\n";
    head += `Content-Length: ${payload.length}\r\n`;
  }
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return head;
}

/** Builds the one request every send reuses: no per-request formatting. */
export function buildHttp1Request(opts: Pick<ConnectOptions, "target" | "payload" | "headers">): Buffer {
  return Buffer.concat([Buffer.from(`${http1RequestHead(opts)}\r\n`, "latin1"), opts.payload]);
}

/**
 * For traced runs: the prebuilt head with `<header>: ` already appended, so a request costs one
 * pooled allocation and three copies (head, id, payload). Ids are ASCII (checked by
 * resolveLoadOptions), so their length is their byte length.
 *
 * @example
 * const encode = http1TracedRequestEncoder({ target, payload, headers: {} }, "x-request-id");
 * socket.write(encode("mcl-1a2b-sidecar-r3-0")); // "GET / HTTP/1.1\r\n...x-request-id: mcl-1a2b-sidecar-r3-0\r\n\r\n"
 */
export function http1TracedRequestEncoder(
  opts: Pick<ConnectOptions, "target" | "payload" | "headers">,
  header: string,
): (requestId: string) => Buffer {
  const prefix = Buffer.from(`${http1RequestHead(opts)}${header}: `, "latin1");
  const { payload } = opts;
  return (requestId) => {
    const headEnd = prefix.length + requestId.length + 4;
    const out = Buffer.allocUnsafe(headEnd + payload.length);
    prefix.copy(out, 0);
    out.write(`${requestId}\r\n\r\n`, prefix.length, "latin1");
    payload.copy(out, headEnd);
    return out;
  };
}

/**
 * HTTP/1.1 keep-alive over a raw socket with a minimal response parser (status line,
 * Content-Length or chunked, Connection: close). Node's http client costs ~3x more CPU per
 * request, which would make the generator, not the target, the bottleneck (ADR 0032).
 */
export function connectHttp1(opts: ConnectOptions): Promise<LoadConnection> {
  const request = buildHttp1Request(opts);
  const traced = opts.traceHeader === null ? null : http1TracedRequestEncoder(opts, opts.traceHeader);
  return connectRawSocket(opts, (socket) => new Http1Connection(socket, request, traced));
}

class Http1Connection extends SingleFlightConnection {
  private buf: Buffer | null = null;
  /** -1 until headers are parsed; then total response length, or -2 for chunked. */
  private expected = -1;
  private bodyStart = 0;
  private status = 0;
  private closeAfter = false;

  /** `chunk` is a view of the socket's reused read buffer: valid only during this call. */
  onData(chunk: Buffer): void {
    const data = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = null;
    if (this.expected === -1) {
      const end = data.indexOf(HEADER_END);
      if (end < 0) {
        this.buf = data === chunk ? Buffer.from(data) : data;
        return;
      }
      // "HTTP/1.1 200 ..." -> digits at 9..11
      this.status = (data[9]! - 48) * 100 + (data[10]! - 48) * 10 + (data[11]! - 48);
      const head = data.toString("latin1", 0, end + 2);
      this.bodyStart = end + 4;
      this.closeAfter = CONNECTION_CLOSE.test(head);
      const cl = CONTENT_LENGTH.exec(head);
      if (cl) this.expected = this.bodyStart + Number(cl[1]);
      else if (CHUNKED.test(head)) this.expected = -2;
      else if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200))
        this.expected = this.bodyStart;
      else {
        // Body until close: not a keep-alive response; count it when the socket ends.
        this.expected = Number.MAX_SAFE_INTEGER;
        this.closeAfter = true;
      }
    }
    // Bytes beyond one response would be a server bug without pipelining; they are ignored.
    let complete: boolean;
    if (this.expected === -2) {
      // Chunked: complete at the terminating zero-length chunk (trailers are not supported).
      complete = data.length >= 5 && data.subarray(data.length - 5).equals(CHUNKED_END);
    } else {
      complete = data.length >= this.expected;
    }
    if (!complete) {
      this.buf = data === chunk ? Buffer.from(data) : data;
      return;
    }
    const status = this.status;
    this.expected = -1;
    const done = this.pending;
    this.pending = null;
    if (this.closeAfter) {
      this.alive = false;
      this.socket.destroy();
    }
    if (done) done(status >= 200 && status < 400 ? null : `http_${status}`);
  }
}
