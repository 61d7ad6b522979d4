/**
 * Incremental EDS against a stock Envoy: an endpoint-only change reaches the proxy as
 * ClusterLoadAssignments only (no CDS/LDS/RDS regenerated or re-sent, Envoy's own CDS/LDS update
 * counters unchanged), while a definition change (a new port) does re-send clusters.
 *
 * Needs `envoy` on PATH (`npm run setup` installs the pinned 1.40.0); skips without it, unless
 * MESHCTL_REQUIRE (comma-separated) lists `envoy`, in which case a missing Envoy is a failure.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, type SpawnedProgram, spawnProgram } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  renderBootstrap,
  type StaticMeshSource,
  startXdsServer,
  staticMeshSource,
  type XdsServerEvent,
  type XdsServerHandle,
} from "../src/index.js";
import { waitFor } from "../src/testing/index.js";
import { metricValue, programGate } from "./helpers.js";

const envoyPath = await findProgram("envoy");
const gate = programGate("envoy", envoyPath, "xds envoy-eds test");

const NODE_ID = "sidecar~10.11.0.99~client.demo~demo.svc.cluster.local";
const CLUSTER = "outbound|8080||echo.demo.svc.cluster.local";
const CLUSTER_9090 = "outbound|9090||echo.demo.svc.cluster.local";

const service = (ports: { name: string; port: number }[] = [{ name: "http", port: 8080 }]) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "echo", namespace: "demo" },
  spec: { ports },
});
const slice = (addresses: string[]) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "echo-0", namespace: "demo", labels: { "kubernetes.io/service-name": "echo" } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080 }],
  endpoints: addresses.map((a) => ({ addresses: [a] })),
});

const metric = metricValue;

type PushEvent = Extract<XdsServerEvent, { type: "push" }>;

interface EnvoyClusters {
  cluster_statuses: {
    name: string;
    host_statuses?: { address?: { socket_address?: { address?: string } } }[];
  }[];
}

describe.skipIf(gate.skip)("a real Envoy gets endpoint-only changes as EDS only", () => {
  let xds: XdsServerHandle | undefined;
  let source: StaticMeshSource | undefined;
  let proc: SpawnedProgram | undefined;
  let dir: string | undefined;
  let baseId: number | undefined;
  let shmBefore = new Set<string>();
  let envoyLog = "";
  let admin = "";
  const events: XdsServerEvent[] = [];

  const adminGet = async (path: string): Promise<string> => {
    const res = await fetch(`${admin}${path}`);
    if (!res.ok) throw new Error(`Envoy admin ${path}: HTTP ${res.status}`);
    return res.text();
  };
  const hostsOf = async (cluster: string): Promise<string[] | undefined> => {
    const json = JSON.parse(await adminGet("/clusters?format=json")) as EnvoyClusters;
    const c = json.cluster_statuses.find((s) => s.name === cluster);
    return c?.host_statuses?.map((h) => h.address?.socket_address?.address ?? "").sort();
  };
  const envoyStats = async (): Promise<Map<string, number>> => {
    const stats = new Map<string, number>();
    for (const line of (await adminGet("/stats")).split("\n")) {
      const i = line.lastIndexOf(": ");
      if (i > 0) stats.set(line.slice(0, i), Number(line.slice(i + 2)));
    }
    return stats;
  };
  const connection = () => {
    const c = xds?.clients().find((s) => s.nodeId === NODE_ID);
    if (!c) throw new Error(`Envoy (${NODE_ID}) is not connected`);
    return c;
  };
  /** Settled on the server and every type sent to Envoy ACKed, none NACKed. */
  const converged = () => {
    if (!xds?.settled()) return false;
    const c = connection();
    const types = Object.values(c.types);
    return types.every(
      (t) => t.nacks === 0 && t.lastVersionSent !== undefined && t.ackedVersion === t.lastVersionSent,
    )
      ? c
      : false;
  };
  const pushesSince = (mark: number, conn: string): PushEvent[] =>
    events.slice(mark).filter((e): e is PushEvent => e.type === "push" && e.connection === conn);

  beforeAll(async () => {
    if (!envoyPath) throw new Error(gate.missing);
    source = staticMeshSource([service(), slice(["10.11.0.1"])]);
    xds = await startXdsServer({
      source,
      port: 0,
      debugPort: 0,
      debounceAfterMs: 20,
      onEvent: (e) => events.push(e),
    });
    dir = await mkdtemp(join(tmpdir(), "mcx-envoy-eds-"));
    const bootstrap = renderBootstrap({
      kind: "envoy",
      name: "client",
      namespace: "demo",
      ip: "10.11.0.99",
      server: xds.address,
      adminPort: 0,
    });
    expect((bootstrap.node as { id: string }).id).toBe(NODE_ID);
    const file = join(dir, "envoy.json");
    await writeFile(file, JSON.stringify(bootstrap));
    shmBefore = new Set(await readdir("/dev/shm").catch(() => []));
    // Envoy picks a free base id (no clash with other Envoys or test files) and tells us which,
    // so its /dev/shm file can be removed afterwards; admin on 127.0.0.1 port 0, address written out.
    proc = spawnProgram(envoyPath, [
      "-c",
      file,
      "--use-dynamic-base-id",
      "--base-id-path",
      join(dir, "base-id"),
      "--admin-address-path",
      join(dir, "admin-address"),
      "--log-level",
      "warn",
    ]);
    proc.stdout?.on("data", (d: Buffer) => {
      envoyLog = (envoyLog + d.toString()).slice(-8000);
    });
    proc.stderr?.on("data", (d: Buffer) => {
      envoyLog = (envoyLog + d.toString()).slice(-8000);
    });
    let exited = false;
    void proc.exited.then(() => {
      exited = true;
    });
    const address = await waitFor(
      async () => {
        if (exited) throw new Error(`Envoy exited early:\n${envoyLog}`);
        return (await readFile(join(dir as string, "admin-address"), "utf8").catch(() => "")).trim() || false;
      },
      { timeoutMs: 20_000, what: "Envoy's admin address" },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nEnvoy log:\n${envoyLog}`);
    });
    admin = `http://${address}`;
    baseId = Number((await readFile(join(dir, "base-id"), "utf8").catch(() => "")).trim()) || undefined;
  }, 40_000);

  afterAll(async () => {
    if (proc) {
      proc.kill("SIGTERM");
      const done = await Promise.race([
        proc.exited.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 5000)),
      ]);
      if (!done) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
    }
    await xds?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    // Envoy's hot-restart shared memory: /dev/shm/envoy_shared_memory_<baseId * 10>. Remove the
    // files this run created for its base id (not other Envoys' files).
    if (baseId !== undefined) {
      const after = await readdir("/dev/shm").catch(() => [] as string[]);
      for (const name of after)
        if (!shmBefore.has(name) && name.startsWith(`envoy_shared_memory_${baseId * 10}`))
          await rm(join("/dev/shm", name), { force: true });
    }
  });

  let connId = "";

  test("Envoy ACKs CDS, EDS and LDS and has the first endpoint", { timeout: 30_000 }, async () => {
    const status = await waitFor(
      () => {
        const c = converged();
        return c && ["cds", "eds", "lds"].every((k) => c.types[k]?.ackedVersion) ? c : false;
      },
      { timeoutMs: 20_000, what: "Envoy to ACK CDS, EDS and LDS" },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nclients: ${JSON.stringify(xds?.clients())}\nEnvoy log:\n${envoyLog}`);
    });
    connId = status.id;
    expect(status.proxyType).toBe("sidecar");
    expect(await waitFor(async () => (await hostsOf(CLUSTER))?.length === 1 && hostsOf(CLUSTER))).toEqual([
      "10.11.0.1",
    ]);
  });

  test("a new endpoint is pushed as EDS only; Envoy re-applies no clusters or listeners", {
    timeout: 30_000,
  }, async () => {
    expect(connId, "previous test connected Envoy").not.toBe("");
    const metricsBefore = xds?.metrics() ?? "";
    const statsBefore = await envoyStats();
    const edsCounter = `cluster.${CLUSTER}.update_success`;
    expect(statsBefore.get("cluster_manager.cds.update_success")).toBeGreaterThan(0);
    expect(statsBefore.get("listener_manager.lds.update_success")).toBeGreaterThan(0);
    expect(statsBefore.get(edsCounter)).toBeGreaterThan(0);
    const mark = events.length;

    source?.update([service(), slice(["10.11.0.1", "10.11.0.2"])]);

    expect(
      await waitFor(async () => (await hostsOf(CLUSTER))?.length === 2 && hostsOf(CLUSTER), {
        timeoutMs: 5000,
        what: "Envoy's /clusters to list both hosts",
      }),
    ).toEqual(["10.11.0.1", "10.11.0.2"]);
    await waitFor(converged, { timeoutMs: 5000, what: "the EDS push to be ACKed" });
    await new Promise((r) => setTimeout(r, 300)); // anything else would have been sent by now

    const pushes = pushesSince(mark, connId);
    expect(pushes.map((p) => p.kind)).toEqual(["eds"]);
    expect(pushes[0]?.resources).toBe(1);

    const metricsAfter = xds?.metrics() ?? "";
    const delta = (name: string, labels: string) =>
      metric(metricsAfter, name, labels) - metric(metricsBefore, name, labels);
    expect(delta("meshctl_xds_cache_misses_total", 'type="cds"')).toBe(0);
    expect(delta("meshctl_xds_cache_misses_total", 'type="view"')).toBe(0);
    expect(delta("meshctl_xds_proxy_pushes_total", 'type="eds"')).toBe(1);
    expect(delta("meshctl_xds_proxy_pushes_total", 'type="full"')).toBe(0);

    const statsAfter = await envoyStats();
    const envoyDelta = (name: string) => (statsAfter.get(name) ?? 0) - (statsBefore.get(name) ?? 0);
    expect(envoyDelta("cluster_manager.cds.update_success")).toBe(0);
    expect(envoyDelta("listener_manager.lds.update_success")).toBe(0);
    expect(envoyDelta("cluster_manager.cluster_modified")).toBe(0);
    expect(envoyDelta(edsCounter)).toBe(1);
    expect(envoyDelta(`cluster.${CLUSTER}.update_rejected`)).toBe(0);
  });

  test("a definition change (a new port) re-sends clusters, and Envoy applies them", {
    timeout: 30_000,
  }, async () => {
    expect(connId, "first test connected Envoy").not.toBe("");
    const metricsBefore = xds?.metrics() ?? "";
    const statsBefore = await envoyStats();
    const mark = events.length;

    source?.update([
      service([
        { name: "http", port: 8080 },
        { name: "http-2", port: 9090 },
      ]),
      slice(["10.11.0.1", "10.11.0.2"]),
    ]);

    await waitFor(async () => (await hostsOf(CLUSTER_9090)) !== undefined, {
      timeoutMs: 5000,
      what: `Envoy's /clusters to list ${CLUSTER_9090}`,
    });
    await waitFor(converged, { timeoutMs: 5000, what: "the full push to be ACKed" });

    const kinds = new Set(pushesSince(mark, connId).map((p) => p.kind));
    expect(kinds.has("cds")).toBe(true);
    const metricsAfter = xds?.metrics() ?? "";
    expect(
      metric(metricsAfter, "meshctl_xds_cache_misses_total", 'type="cds"') -
        metric(metricsBefore, "meshctl_xds_cache_misses_total", 'type="cds"'),
    ).toBeGreaterThan(0);
    expect(
      metric(metricsAfter, "meshctl_xds_proxy_pushes_total", 'type="full"') -
        metric(metricsBefore, "meshctl_xds_proxy_pushes_total", 'type="full"'),
    ).toBe(1);
    const statsAfter = await envoyStats();
    expect(
      (statsAfter.get("cluster_manager.cds.update_success") ?? 0) -
        (statsBefore.get("cluster_manager.cds.update_success") ?? 0),
    ).toBeGreaterThan(0);
    expect(await hostsOf(CLUSTER)).toEqual(["10.11.0.1", "10.11.0.2"]);
  });
});
