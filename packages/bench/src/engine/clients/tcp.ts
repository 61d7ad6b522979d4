import type net from "node:net";
import type { ConnectOptions, LoadConnection } from "./connection.js";
import { connectRawSocket, SingleFlightConnection } from "./connection.js";

/** TCP ping-pong: write the payload, done when as many bytes came back (an echo server). */
export function connectTcp(opts: ConnectOptions): Promise<LoadConnection> {
  const message = opts.payload.length > 0 ? opts.payload : Buffer.from([0x2a]);
  return connectRawSocket(opts, (socket) => new TcpConnection(socket, message));
}

class TcpConnection extends SingleFlightConnection {
  private received = 0;

  constructor(
    socket: net.Socket,
    private readonly message: Buffer,
  ) {
    super(socket, message);
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
}
