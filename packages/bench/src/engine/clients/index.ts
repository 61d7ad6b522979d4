import type { ConnectOptions, LoadConnection } from "./connection.js";
import { connectHttp1 } from "./http1.js";
import { connectHttp2 } from "./http2.js";
import { connectTcp } from "./tcp.js";

/** Opens one connection of the target's protocol. */
export function connectLoad(opts: ConnectOptions): Promise<LoadConnection> {
  switch (opts.target.protocol) {
    case "http1":
      return connectHttp1(opts);
    case "http2":
      return connectHttp2(opts, false);
    case "grpc":
      return connectHttp2(opts, true);
    case "tcp":
      return connectTcp(opts);
  }
}
