/** Debug HTTP endpoints (127.0.0.1 by default): clients, config dumps, mesh diagnostics, metrics. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ConfigDump, configDumpOf } from "../config-dump.js";
import type { ProxyConfig } from "../generate/proxy-config.js";
import type { MeshSnapshot } from "../model/source.js";
import type { ResourceKind } from "../protocol/protos.js";
import type { ClientStatus } from "./connection.js";

export interface DebugSources {
  clients(): ClientStatus[];
  configForNode(nodeId: string): ProxyConfig | undefined;
  mesh(): MeshSnapshot;
  metrics(): string;
}

const KINDS = new Set(["lds", "rds", "cds", "eds"]);

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

function handle(sources: DebugSources, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  switch (url.pathname) {
    case "/":
      json(res, 200, {
        endpoints: [
          "/debug/clients",
          "/debug/config_dump?node=<id>[&type=lds|rds|cds|eds]",
          "/debug/mesh",
          "/metrics",
          "/healthz",
        ],
      });
      return;
    case "/healthz":
    case "/ready":
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    case "/debug/clients":
    case "/debug/connections":
      json(res, 200, { clients: sources.clients() });
      return;
    case "/debug/config_dump": {
      const node = url.searchParams.get("node") ?? url.searchParams.get("proxyID") ?? "";
      const type = url.searchParams.get("type") ?? undefined;
      if (type !== undefined && !KINDS.has(type)) {
        json(res, 400, { error: "type must be one of lds, rds, cds, eds" });
        return;
      }
      const config = sources.configForNode(node);
      if (!config) {
        json(res, 404, {
          error: `no connected client with node id "${node}"`,
          clients: sources.clients().map((c) => c.nodeId),
        });
        return;
      }
      const dump: ConfigDump = configDumpOf(config, node, type as ResourceKind | undefined);
      json(res, 200, dump);
      return;
    }
    case "/debug/mesh": {
      const snap = sources.mesh();
      json(res, 200, {
        services: snap.model.services.map((s) => ({
          host: s.hostname,
          ports: s.ports.map((p) => p.port),
          endpoints: snap.model.endpoints.get(s.hostname)?.length ?? 0,
        })),
        virtualServices: snap.model.virtualServices.map((v) => `${v.namespace}/${v.name}`),
        destinationRules: snap.model.destinationRules.map((d) => `${d.namespace}/${d.name}`),
        sidecars: snap.model.sidecars.map((s) => `${s.namespace}/${s.name}`),
        rejectedFiles: snap.rejectedFiles,
        // Errors include cross-object ones (a route to a missing host) whose object still serves:
        // `rejectedFiles` alone says which files keep a last good version.
        problems: {
          errors: snap.diagnostics.filter((d) => d.severity === "error").length,
          warnings: snap.diagnostics.filter((d) => d.severity !== "error").length,
        },
        diagnostics: snap.diagnostics,
      });
      return;
    }
    case "/metrics":
    case "/stats/prometheus":
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(sources.metrics());
      return;
    default:
      json(res, 404, { error: `unknown path ${url.pathname}` });
  }
}

export async function startDebugServer(
  sources: DebugSources,
  host: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    try {
      handle(sources, req, res);
    } catch (error) {
      json(res, 500, { error: error instanceof Error ? error.message : String(error) });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
