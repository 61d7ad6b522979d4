/**
 * The ADS listener: meshctl's own `net.Server` in front of grpc-js (through
 * `Server.createConnectionInjector`), so the control plane decides which TCP connections reach
 * HTTP/2 at all. grpc-js alone keeps a connection that never speaks HTTP/2 (or never finishes a
 * TLS handshake) for as long as the peer likes, and has no connection cap; here:
 *
 * - at most `maxConnections` connections; beyond, a new socket is closed at once;
 * - a connection that has not opened a stream within `handshakeTimeoutMs` is closed (a raw TCP
 *   connect that sends nothing, a stalled TLS handshake, an HTTP/2 preface and then silence);
 * - per remote address, at most `maxStreamsPerClient` open ADS streams (RESOURCE_EXHAUSTED
 *   beyond; the caller sends the status);
 * - a connection can be closed by its peer key (a slow consumer's, see AdsServer).
 *
 * Idle connections that did open streams are grpc-js's business (`grpc.max_connection_idle_ms`).
 */
import { createServer, type Server, type Socket } from "node:net";

export interface AdsListenerLimits {
  /** Open TCP connections at most; beyond, new ones are closed at once. */
  readonly maxConnections: number;
  /** A connection that opens no stream within this long is closed (ms). */
  readonly handshakeTimeoutMs: number;
  /** Open streams per remote address at most. */
  readonly maxStreamsPerClient: number;
}

/** Why a new stream was refused, or undefined: admitted (call `release` when it ends). */
export type StreamAdmission =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly reason: string };

interface TrackedSocket {
  readonly socket: Socket;
  readonly address: string;
  streams: number;
  timer: NodeJS.Timeout | undefined;
}

export interface ListenerCounters {
  /** A connection was refused (connection cap). */
  onConnectionRejected?(): void;
  /** A connection was closed because it opened no stream in time. */
  onHandshakeTimeout?(): void;
  onConnectionCount?(count: number): void;
}

/** The key of one TCP connection as grpc-js reports its peer: `address:port`. */
export function peerKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? "unknown"}:${port ?? 0}`;
}

/**
 * Owns the listening socket and every accepted connection.
 *
 * @example
 * const listener = new AdsListener(limits, (socket) => injector.injectConnection(socket));
 * const port = await listener.listen("127.0.0.1", 0);
 */
export class AdsListener {
  private readonly server: Server;
  private readonly sockets = new Map<string, TrackedSocket>();
  private readonly streamsByAddress = new Map<string, number>();

  constructor(
    private readonly limits: AdsListenerLimits,
    inject: (socket: Socket) => void,
    private readonly counters: ListenerCounters = {},
  ) {
    this.server = createServer((socket) => {
      const address = socket.remoteAddress ?? "unknown";
      if (this.sockets.size >= this.limits.maxConnections) {
        this.counters.onConnectionRejected?.();
        socket.destroy();
        return;
      }
      const key = peerKey(socket.remoteAddress, socket.remotePort);
      const tracked: TrackedSocket = { socket, address, streams: 0, timer: undefined };
      tracked.timer = setTimeout(() => {
        if (tracked.streams === 0) {
          this.counters.onHandshakeTimeout?.();
          socket.destroy();
        }
      }, this.limits.handshakeTimeoutMs);
      tracked.timer.unref();
      this.sockets.set(key, tracked);
      this.counters.onConnectionCount?.(this.sockets.size);
      socket.once("close", () => {
        if (tracked.timer) clearTimeout(tracked.timer);
        if (this.sockets.get(key) === tracked) this.sockets.delete(key);
        this.counters.onConnectionCount?.(this.sockets.size);
      });
      // Errors on an accepted socket (resets) are the peer's business; without a listener they throw.
      socket.on("error", () => {});
      inject(socket);
    });
  }

  /** Open connections. */
  get connections(): number {
    return this.sockets.size;
  }

  /** Binds `host:port` (0 picks a free port) and resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host, port }, () => {
        this.server.off("error", reject);
        const a = this.server.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
  }

  /**
   * A stream opened on connection `key` from `address`: counted against the per-client limit.
   * It also proves the connection speaks gRPC, so its handshake timer stops.
   */
  admitStream(address: string, key: string): StreamAdmission {
    const open = this.streamsByAddress.get(address) ?? 0;
    if (open >= this.limits.maxStreamsPerClient)
      return {
        ok: false,
        reason: `client ${address} already has ${open} open streams (limit ${this.limits.maxStreamsPerClient})`,
      };
    this.streamsByAddress.set(address, open + 1);
    const tracked = this.sockets.get(key);
    if (tracked) {
      tracked.streams++;
      if (tracked.timer) {
        clearTimeout(tracked.timer);
        tracked.timer = undefined;
      }
    }
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.streamsByAddress.get(address) ?? 1) - 1;
        if (n <= 0) this.streamsByAddress.delete(address);
        else this.streamsByAddress.set(address, n);
        if (tracked) tracked.streams--;
      },
    };
  }

  /** Open streams of one remote address (tests, /debug). */
  streamsOf(address: string): number {
    return this.streamsByAddress.get(address) ?? 0;
  }

  /** Closes one connection at once (e.g. a consumer that stopped reading). */
  destroyConnection(key: string): boolean {
    const tracked = this.sockets.get(key);
    if (!tracked) return false;
    tracked.socket.destroy();
    return true;
  }

  /** Stops accepting; with `force`, closes every open connection too. */
  close(force: boolean): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (force) for (const t of this.sockets.values()) t.socket.destroy();
    return closed;
  }
}
