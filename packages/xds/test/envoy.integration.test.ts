import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { afterAll, describe, expect, test } from "vitest";
import { renderBootstrap, startXdsServer, type XdsServerHandle } from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { programGate } from "./helpers.js";

const envoy = await findProgram("envoy");
const gate = programGate("envoy", envoy, "xds envoy test");

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(gate.skip)("a real Envoy sidecar against the control plane", () => {
  let xds: XdsServerHandle | undefined;
  let proc: SpawnedProgram | undefined;
  let dir: string | undefined;
  const baseId = 40_000 + (process.pid % 10_000);
  afterAll(async () => {
    proc?.kill("SIGTERM");
    await proc?.exited;
    await xds?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    // Envoy leaves its hot-restart shared memory behind: remove what this run's base id made.
    if (proc) await rm(`/dev/shm/envoy_shared_memory_${baseId * 10}`, { force: true });
  });

  test("Envoy ACKs LDS, CDS, EDS and RDS from the example mesh and reports the clusters", {
    timeout: 60_000,
  }, async () => {
    if (!envoy) throw new Error(gate.missing);
    xds = await startXdsServer({ port: 0, debugPort: 0 });
    dir = await mkdtemp(join(tmpdir(), "mcx-envoy-"));
    const adminPort = await freePort();
    const bootstrap = renderBootstrap({
      kind: "envoy",
      name: "app-1",
      namespace: "demo",
      server: xds.address,
      adminPort,
    });
    const file = join(dir, "envoy.json");
    await writeFile(file, JSON.stringify(bootstrap));
    proc = spawnProgram("envoy", ["-c", file, "--base-id", String(baseId), "--log-level", "warn"]);
    const status = await waitFor(
      () => {
        const c = xds?.clients()[0];
        return c &&
          ["lds", "cds", "eds", "rds"].every((k) => c.types[k]?.ackedVersion && c.types[k]?.nacks === 0)
          ? c
          : undefined;
      },
      { timeoutMs: 30_000, what: "Envoy to ACK all four types" },
    );
    expect(status.proxyType).toBe("sidecar");
    const clusters = await fetch(`http://127.0.0.1:${adminPort}/clusters?format=json`).then(
      (r) => r.json() as Promise<{ cluster_statuses: { name: string }[] }>,
    );
    expect(clusters.cluster_statuses.map((c) => c.name)).toContain(
      "outbound|7070||echo.demo.svc.cluster.local",
    );
  });
});
