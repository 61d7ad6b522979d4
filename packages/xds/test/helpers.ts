import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirementGate } from "@meshctl/core/testing";
import {
  renderBootstrap,
  startXdsServer,
  type XdsServerHandle,
  type XdsServerOptions,
} from "../src/index.js";
import { parsePrometheusSamples } from "../src/load/server-metrics.js";
import {
  createEchoClient,
  type EchoClient,
  type EchoServer,
  type EchoServerOptions,
  startEchoServer,
} from "../src/testing/index.js";

export interface Lab {
  dir: string;
  xds: XdsServerHandle;
  servers: EchoServer[];
  clients: EchoClient[];
  startEcho(o: EchoServerOptions): Promise<EchoServer>;
  client(target: string, name?: string): Promise<EchoClient>;
  close(): Promise<void>;
}

/** A temp mesh dir (mcx- prefix), an xDS server on free ports, and echo servers/clients to clean up. */
export async function createLab(
  write: (dir: string) => Promise<void>,
  options: Omit<XdsServerOptions, "configDir"> = {},
): Promise<Lab> {
  const dir = await mkdtemp(join(tmpdir(), "mcx-xds-"));
  await write(dir);
  const xds = await startXdsServer({ configDir: dir, port: 0, debugPort: 0, pollMs: 500, ...options });
  const lab: Lab = {
    dir,
    xds,
    servers: [],
    clients: [],
    async startEcho(o) {
      const s = await startEchoServer(o);
      lab.servers.push(s);
      return s;
    },
    async client(target, name = "client") {
      const bootstrap = renderBootstrap({ kind: "grpc", name, namespace: "demo", server: xds.address });
      const c = await createEchoClient(target, { bootstrap });
      lab.clients.push(c);
      return c;
    },
    async close() {
      for (const c of lab.clients) c.close();
      await xds.close();
      await Promise.all(lab.servers.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

export const TARGET = "xds:///echo.demo.svc.cluster.local:7070";

export async function countServers(
  client: EchoClient,
  calls: number,
  metadata: Record<string, string> = {},
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < calls; i++) {
    const reply = await client.echo(`call ${i}`, metadata);
    counts[reply.server] = (counts[reply.server] ?? 0) + 1;
  }
  return counts;
}

/** Whether a test needing `program` on PATH runs (see @meshctl/core's requirementGate). */
export function programGate(
  program: string,
  found: string | undefined,
  test: string,
): { skip: boolean; missing?: string } {
  return requirementGate(
    program,
    found ? undefined : `no \`${program}\` binary on PATH (npm run setup installs the pinned one)`,
    test,
  );
}

/** One sample of a Prometheus text exposition (0 when absent), read by the harness's parser. */
export function metricValue(text: string, name: string, labels = ""): number {
  return parsePrometheusSamples(text, name)[`${name}${labels ? `{${labels}}` : ""}`] ?? 0;
}
