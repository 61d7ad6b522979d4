import http2 from "node:http2";
import net from "node:net";
import { MeshctlError } from "@meshctl/core";
import { GRPC_ECHO_METHOD } from "../engine/target.js";
import type { EchoServer, EchoServerOptions, LoadProtocol } from "../engine/types.js";
import { createHttp1EchoServer } from "./http1-echo.js";

const SCHEME: Record<LoadProtocol, string> = { http1: "http", http2: "h2c", grpc: "grpc", tcp: "tcp" };

/**
 * Starts an echo server for a protocol the load engine speaks: HTTP/1.1 and h2c echo the request
 * body (or answer "ok" to a GET), gRPC answers the unary `/meshctl.bench.v1.Echo/Echo` with the
 * request message, TCP echoes bytes.
 *
 * @example
 * const server = await startEchoServer({ protocol: "http1", port: 0 });
 * await runLoad({ target: server.url, connections: 2, durationMs: 1000, payloadBytes: 64, warmupMs: 0 });
 * await server.close();
 */
export async function startEchoServer(options: EchoServerOptions): Promise<EchoServer> {
  const host = options.host ?? "127.0.0.1";
  const delay = options.delayMs;
  const server = createServer(options.protocol, delay);
  const sockets = new Set<net.Socket>();
  let spinning = false;
  const spin = (): void => {
    spinning = sockets.size > 0;
    if (spinning) setImmediate(spin);
  };
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    if (options.busyPoll && !spinning) spin();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        new MeshctlError(
          "BENCH_SERVER_LISTEN_FAILED",
          `cannot listen on ${host}:${options.port}: ${err.message}`,
          {
            kind: "environment",
            suggestions: err.code === "EADDRINUSE" ? ["Pick another --port, or --port 0 for a free one"] : [],
            cause: err,
          },
        ),
      );
    });
    server.listen(options.port, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    protocol: options.protocol,
    host,
    port: address.port,
    url: `${SCHEME[options.protocol]}://${urlHost}:${address.port}${options.protocol === "tcp" || options.protocol === "grpc" ? "" : "/"}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

type AnyServer = net.Server | http2.Http2Server;

function later(delay: (() => number) | undefined, fn: () => void): void {
  const ms = delay ? delay() : 0;
  if (ms > 0) setTimeout(fn, ms);
  else fn();
}

function createServer(protocol: LoadProtocol, delay: (() => number) | undefined): AnyServer {
  switch (protocol) {
    case "tcp":
      return net.createServer((socket) => {
        socket.setNoDelay(true);
        // Direct writes rather than pipe(): no stream bookkeeping on the round-trip path.
        socket.on(
          "data",
          delay ? (chunk) => later(delay, () => socket.write(chunk)) : (chunk) => socket.write(chunk),
        );
        socket.on("error", () => socket.destroy());
      });
    case "http1":
      return createHttp1EchoServer(delay);
    case "http2":
    case "grpc": {
      const server = http2.createServer({
        settings: { maxConcurrentStreams: 1000, initialWindowSize: 1 << 20 },
      });
      server.on("stream", (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("error", () => {});
        stream.on("end", () => {
          const body = Buffer.concat(chunks);
          later(delay, () => {
            if (stream.destroyed) return;
            const isGrpc = String(headers["content-type"] ?? "").startsWith("application/grpc");
            if (!isGrpc) {
              const out = body.length > 0 ? body : OK;
              stream.respond({
                ":status": 200,
                "content-type": "application/octet-stream",
                "content-length": out.length,
              });
              stream.end(out);
              return;
            }
            if (headers[":path"] !== GRPC_ECHO_METHOD) {
              stream.respond(
                {
                  ":status": 200,
                  "content-type": "application/grpc",
                  "grpc-status": "12",
                  "grpc-message": "unknown method",
                },
                { endStream: true },
              );
              return;
            }
            // The request is one length-prefixed message; echo it back unchanged.
            const message = body.length >= 5 ? body : Buffer.from([0, 0, 0, 0, 0]);
            stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
            stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
            stream.end(message);
          });
        });
      });
      return server;
    }
  }
}

const OK = Buffer.from("ok");
