import net from "node:net";

const HEADER_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;
const CONNECTION_KEEPALIVE = /\r\nconnection:[ \t]*keep-alive/i;
const EXPECT_CONTINUE = /\r\nexpect:[ \t]*100-continue/i;
const MAX_HEAD = 64 * 1024;
const OK = Buffer.from("ok");
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n");

/**
 * A small HTTP/1.1 echo server on raw sockets: keep-alive, pipelining, Content-Length and chunked
 * request bodies, `Expect: 100-continue`, HTTP/1.0. It answers 200 with the request body (or "ok").
 * node:http costs ~3x more CPU per request; as a benchmark target the server should not be the
 * bottleneck (ADR 0032).
 */
export function createHttp1EchoServer(delay: (() => number) | undefined): net.Server {
  return net.createServer((socket) => {
    socket.setNoDelay(true);
    new EchoConnection(socket, delay);
  });
}

interface Pending {
  data: Buffer | null;
  close: boolean;
}

class EchoConnection {
  private buf: Buffer | null = null;
  /** Responses in request order; a delayed one holds back the ones behind it. */
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly delay: (() => number) | undefined,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.closed = true;
    });
  }

  private onData(chunk: Buffer): void {
    let data = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    this.buf = null;
    while (data.length > 0 && !this.closed) {
      const end = data.indexOf(HEADER_END);
      if (end < 0) {
        if (data.length > MAX_HEAD) {
          this.fail(431);
          return;
        }
        this.buf = data;
        return;
      }
      const head = data.toString("latin1", 0, end + 2);
      const lineEnd = head.indexOf("\r\n");
      const requestLine = head.slice(0, lineEnd);
      const version = requestLine.slice(requestLine.lastIndexOf(" ") + 1);
      if (!version.startsWith("HTTP/1.")) {
        this.fail(400);
        return;
      }
      const http10 = version === "HTTP/1.0";
      const close = http10 ? !CONNECTION_KEEPALIVE.test(head) : CONNECTION_CLOSE.test(head);
      const bodyStart = end + 4;
      let body: Buffer;
      let consumed: number;
      const cl = CONTENT_LENGTH.exec(head);
      if (CHUNKED.test(head)) {
        const decoded = decodeChunked(data, bodyStart);
        if (decoded === null) {
          this.buf = data;
          return;
        }
        if (decoded === "invalid") {
          this.fail(400);
          return;
        }
        body = decoded.body;
        consumed = decoded.end;
      } else {
        const length = cl ? Number(cl[1]) : 0;
        if (data.length < bodyStart + length) {
          // Tell clients that wait for it to send the body (curl does for large bodies).
          if (EXPECT_CONTINUE.test(head) && data.length === bodyStart) this.socket.write(CONTINUE);
          this.buf = data;
          return;
        }
        body = data.subarray(bodyStart, bodyStart + length);
        consumed = bodyStart + length;
      }
      this.respond(body.length > 0 ? Buffer.from(body) : OK, close, http10);
      data = data.subarray(consumed);
      if (close) return;
    }
  }

  private respond(body: Buffer, close: boolean, http10: boolean): void {
    const head = `${http10 ? "HTTP/1.0" : "HTTP/1.1"} 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n${close ? "Connection: close\r\n" : http10 ? "Connection: keep-alive\r\n" : ""}\r\n`;
    const response = Buffer.concat([Buffer.from(head, "latin1"), body]);
    const ms = this.delay ? this.delay() : 0;
    if (ms <= 0 && this.queue.length === 0) {
      this.write(response, close);
      return;
    }
    const pending: Pending = { data: null, close };
    this.queue.push(pending);
    setTimeout(
      () => {
        pending.data = response;
        this.flush();
      },
      Math.max(0, ms),
    );
  }

  private flush(): void {
    while (this.queue.length > 0 && this.queue[0]?.data) {
      const p = this.queue.shift() as Pending;
      this.write(p.data as Buffer, p.close);
    }
  }

  private write(response: Buffer, close: boolean): void {
    if (this.closed) return;
    if (close) this.socket.end(response);
    else this.socket.write(response);
  }

  private fail(status: number): void {
    const reason = status === 431 ? "Request Header Fields Too Large" : "Bad Request";
    this.socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    this.closed = true;
  }
}

/** Decodes a chunked body starting at `from`; null when incomplete. Trailers are skipped. */
export function decodeChunked(data: Buffer, from: number): { body: Buffer; end: number } | null | "invalid" {
  const parts: Buffer[] = [];
  let pos = from;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, pos);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(data.toString("latin1", pos, lineEnd).split(";")[0] ?? "", 16);
    if (!Number.isFinite(size) || size < 0) return "invalid";
    pos = lineEnd + 2;
    if (size === 0) {
      // Optional trailers, then an empty line.
      for (;;) {
        const e = data.indexOf(CRLF, pos);
        if (e < 0) return null;
        if (e === pos) return { body: Buffer.concat(parts), end: e + 2 };
        pos = e + 2;
      }
    }
    if (data.length < pos + size + 2) return null;
    parts.push(data.subarray(pos, pos + size));
    pos += size + 2;
  }
}
