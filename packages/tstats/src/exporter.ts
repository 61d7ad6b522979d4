/**
 * Serving the metrics: a request handler users can mount in their own HTTP server, and a
 * standalone exporter listening on Istio's stats port convention (`/stats/prometheus`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { MeshctlError } from "@meshctl/core";
import type { MetricRegistry } from "./metric-registry.js";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const DEFAULT_EXPORTER_PORT = 15090;
export const DEFAULT_METRICS_PATH = "/stats/prometheus";

/**
 * A `(req, res)` handler that answers with the Prometheus text of `registry`. Mount it on any
 * path of a node:http (or express/fastify raw) server.
 *
 * @example
 * http.createServer((req, res) => req.url === "/metrics" ? handler(req, res) : app(req, res));
 */
export function createPrometheusHandler(
  registry: MetricRegistry,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const body = registry.renderPrometheus();
    res.writeHead(200, {
      "content-type": PROMETHEUS_CONTENT_TYPE,
      "content-length": Buffer.byteLength(body),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
}

export interface ExporterOptions {
  readonly registry: MetricRegistry;
  /** Default `0.0.0.0`. */
  readonly host?: string;
  /** Default 15090 (Envoy's Prometheus port in Istio); 0 picks a free port. */
  readonly port?: number;
  /** Default `/stats/prometheus`; `/metrics` is always served too. */
  readonly path?: string;
}

export interface RunningExporter {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * Starts a standalone exporter. Throws `TSTATS_EXPORTER_LISTEN_FAILED` when the port is taken.
 *
 * @example
 * const exporter = await startTstatsExporter({ registry: recorder.registry, port: 15090 });
 * // ... later
 * await exporter.close();
 */
export async function startTstatsExporter(options: ExporterOptions): Promise<RunningExporter> {
  const host = options.host ?? "0.0.0.0";
  const path = options.path ?? DEFAULT_METRICS_PATH;
  const handler = createPrometheusHandler(options.registry);
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (url === path || url === "/metrics") handler(req, res);
    else res.writeHead(404, { "content-type": "text/plain" }).end(`not found; metrics are at ${path}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (cause) =>
      reject(
        new MeshctlError(
          "TSTATS_EXPORTER_LISTEN_FAILED",
          `Cannot listen on ${host}:${options.port ?? DEFAULT_EXPORTER_PORT}.`,
          {
            kind: "environment",
            cause,
            suggestions: ["Pick another port with --port, or stop what is using it."],
          },
        ),
      ),
    );
    server.listen(options.port ?? DEFAULT_EXPORTER_PORT, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === "0.0.0.0" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return {
    host,
    port,
    url: `http://${shownHost}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
