import { MeshctlError } from "@meshctl/core";
import type { LoadProtocol } from "./types.js";

export interface ParsedTarget {
  readonly protocol: LoadProtocol;
  readonly host: string;
  readonly port: number;
  /** Request path for HTTP; gRPC method path for gRPC; "" for TCP. */
  readonly path: string;
  /** Host header / :authority. */
  readonly authority: string;
}

export const GRPC_ECHO_METHOD = "/meshctl.bench.v1.Echo/Echo";

const SCHEME_PROTOCOL: Record<string, LoadProtocol> = {
  "http:": "http1",
  "h2c:": "http2",
  "grpc:": "grpc",
  "tcp:": "tcp",
};

const DEFAULT_PORT: Record<LoadProtocol, number> = { http1: 80, http2: 80, grpc: 50051, tcp: 7 };

/**
 * Parses a load target URL; `protocol` overrides the scheme (e.g. `http://` with `--protocol http2`).
 *
 * @example
 * parseLoadTarget("h2c://127.0.0.1:8080/echo") // { protocol: "http2", host: "127.0.0.1", port: 8080, path: "/echo", ... }
 */
export function parseLoadTarget(target: string, protocol?: LoadProtocol): ParsedTarget {
  let url: URL;
  try {
    url = new URL(target);
  } catch (cause) {
    throw new MeshctlError("BENCH_TARGET_INVALID", `"${target}" is not a URL`, {
      kind: "usage",
      suggestions: ["Use http://host:port/path, h2c://host:port/path, grpc://host:port or tcp://host:port"],
      cause,
    });
  }
  if (url.protocol === "https:") {
    throw new MeshctlError("BENCH_TLS_UNSUPPORTED", "TLS targets are not supported by the load engine yet", {
      kind: "not-available",
      suggestions: ["Benchmark the plaintext port (http:// or h2c://), as the mesh lab does"],
    });
  }
  const fromScheme = SCHEME_PROTOCOL[url.protocol];
  if (!fromScheme) {
    throw new MeshctlError("BENCH_TARGET_INVALID", `unsupported scheme "${url.protocol}" in ${target}`, {
      kind: "usage",
      suggestions: ["Use http://, h2c://, grpc:// or tcp://"],
    });
  }
  const proto = protocol ?? fromScheme;
  if (proto === "tcp" && fromScheme !== "tcp") {
    throw new MeshctlError("BENCH_TARGET_INVALID", `--protocol tcp needs a tcp:// target, got ${target}`, {
      kind: "usage",
    });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw new MeshctlError("BENCH_TARGET_INVALID", `no host in ${target}`, { kind: "usage" });
  const port = url.port ? Number(url.port) : DEFAULT_PORT[proto];
  let path = `${url.pathname || "/"}${url.search}`;
  if (proto === "grpc") path = url.pathname && url.pathname !== "/" ? url.pathname : GRPC_ECHO_METHOD;
  if (proto === "tcp") path = "";
  return { protocol: proto, host, port, path, authority: url.host };
}
