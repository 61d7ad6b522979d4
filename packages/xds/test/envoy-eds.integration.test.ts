import { findProgram } from "@meshctl/core";
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
import { type EnvoyProcess, startEnvoy } from "./envoy-process.js";
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

describe.skipIf(gate.skip)("a real Envoy gets endpoint-only changes as EDS only", () => {
  let xds: XdsServerHandle | undefined;
  let source: StaticMeshSource | undefined;
  let envoy: EnvoyProcess | undefined;
  const events: XdsServerEvent[] = [];

  const hostsOf = async (cluster: string): Promise<string[] | undefined> => envoy?.hostsOf(cluster);
  const envoyStats = async (): Promise<Map<string, number>> => (envoy ? envoy.stats() : new Map());
  const envoyLog = () => envoy?.log() ?? "";
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
    const bootstrap = renderBootstrap({
      kind: "envoy",
      name: "client",
      namespace: "demo",
      ip: "10.11.0.99",
      server: xds.address,
      adminPort: 0,
    });
    expect((bootstrap.node as { id: string }).id).toBe(NODE_ID);
    envoy = await startEnvoy(envoyPath, bootstrap);
  }, 40_000);

  afterAll(async () => {
    await envoy?.close();
    await xds?.close();
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
      throw new Error(`${e.message}\nclients: ${JSON.stringify(xds?.clients())}\nEnvoy log:\n${envoyLog()}`);
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
    // Envoy names a cluster's stats by its alt_stat_name, istiod's `<name>;`.
    const edsCounter = `cluster.${CLUSTER};.update_success`;
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
    expect(envoyDelta(`cluster.${CLUSTER};.update_rejected`)).toBe(0);
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
