import type net from "node:net";
import type { ByteSink, ConnectOptions, LoadConnection, RequestDone } from "./connection.js";
import { connectRawSocket, errorKind } from "./connection.js";

/** TCP ping-pong: write the payload, done when as many bytes came back (an echo server). */
export function connectTcp(opts: ConnectOptions): Promise<LoadConnection> {
  const message = opts.payload.length > 0 ? opts.payload : Buffer.from([0x2a]);
  return connectRawSocket(opts, (socket) => new TcpConnection(socket, message));
}

class TcpConnection implements LoadConnection, ByteSink {
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

  onData(chunk: Buffer): void {
    this.received += chunk.length;
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
