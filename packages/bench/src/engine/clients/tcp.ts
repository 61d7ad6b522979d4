import net from "node:net";
import type { ConnectOptions, LoadConnection, RequestDone } from "./connection.js";
import { errorKind } from "./connection.js";

/** TCP ping-pong: write the payload, done when as many bytes came back (an echo server). */
export function connectTcp(opts: ConnectOptions): Promise<LoadConnection> {
  const message = opts.payload.length > 0 ? opts.payload : Buffer.from([0x2a]);
  return new Promise((resolve, reject) => {
    let conn: TcpConnection | null = null;
    const socket = net.connect({
      host: opts.target.host,
      port: opts.target.port,
      noDelay: true,
      // Only byte counts matter: read into one reused buffer (no Buffer per read).
      onread: {
        buffer: Buffer.allocUnsafe(64 * 1024),
        callback: (n) => {
          conn?.onBytes(n);
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
      conn = new TcpConnection(socket, message);
      resolve(conn);
    });
  });
}

class TcpConnection implements LoadConnection {
  readonly capacity = 1;
  alive = true;
  private pending: RequestDone | null = null;
  private received = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly message: Buffer,
  ) {
    socket.on("error", (err) => this.fail(errorKind(err)));
    socket.on("close", () => this.fail("ECONNRESET"));
  }

  onBytes(n: number): void {
    this.received += n;
    if (this.received >= this.message.length && this.pending) {
      this.received -= this.message.length;
      const done = this.pending;
      this.pending = null;
      done(null);
    }
  }

  request(done: RequestDone): void {
    if (!this.alive) {
      done("ECONNRESET");
      return;
    }
    this.pending = done;
    this.socket.write(this.message);
  }

  destroy(reason: string): void {
    this.fail(reason);
  }

  private fail(kind: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.socket.destroy();
    const done = this.pending;
    this.pending = null;
    if (done) done(kind);
  }
}
