/**
 * The Kubernetes mesh source against a real kube-apiserver + etcd (bench/peers/istiod/launch.mjs),
 * feeding a real control plane with a connected @grpc/grpc-js-xds client and a stock Envoy:
 * every kind added, updated and deleted through the API server reaches both; endpoint-only
 * changes (EndpointSlices, Pod labels, Node zones) are EDS-only pushes; subsets and localities
 * come from Pods and Nodes; namespaces outside the selection are never kept; a bad object keeps
 * its last good version; RBAC failures are named; an API server restart, and a partition long
 * enough for etcd compaction (410 Gone, relist), lose and repeat nothing.
 *
 * Needs the kube-apiserver build (scripts/peers/build-kube.sh), root (network namespaces for the
 * pods) and Envoy; skips without them unless MESHCTL_REQUIRE lists kube-apiserver / envoy.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "@meshctl/core";
import { requirementGate } from "@meshctl/core/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  configKeyString,
  type KubernetesMeshSource,
  kubernetesMeshSource,
  type MeshSourceEvent,
  renderBootstrap,
  startXdsServer,
  type XdsServerEvent,
  type XdsServerHandle,
} from "../src/index.js";
import { createEchoClient, type EchoClient, waitFor } from "../src/testing/index.js";
import { metricValue, programGate } from "./helpers.js";
import {
  type CuttableProxy,
  type EnvoyProcess,
  KubeLab,
  kubeconfigVia,
  launcher,
  type NetnsPod,
  startCuttableProxy,
  startEnvoy,
  startNetnsPod,
} from "./kubernetes-lab.js";

const avail = launcher.kubeAvailable();
const isRoot = process.getuid?.() === 0;
const gate = requirementGate(
  "kube-apiserver",
  !avail.ok ? avail.reason : !isRoot ? "needs root (the pods are network namespaces)" : undefined,
  "xds kubernetes source",
);
const envoyPath = await findProgram("envoy");
const envoyGate = programGate("envoy", envoyPath, "xds kubernetes source (Envoy)");

const NS = "mcx-demo";
const OTHER = "mcx-other";
const PORT = 7070;
const HOST = `echo.${NS}.svc.cluster.local`;
const CLUSTER = `outbound|${PORT}||${HOST}`;
const subsetCluster = (subset: string) => `outbound|${PORT}|${subset}|${HOST}`;
const EXT = "ext.mcx.example";
const WE_HOST = "we.mcx.example";
const ENVOY_IP = "10.213.9.9";
const ENVOY_NODE = `sidecar~${ENVOY_IP}~envoy.${NS}~${NS}.svc.cluster.local`;
const SELECTOR = "mcx-discovery=enabled";

const service = (ports: { name: string; port: number }[] = [{ name: "grpc", port: PORT }]) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "echo", namespace: NS },
  spec: { selector: { app: "echo" }, ports: ports.map((p) => ({ ...p, appProtocol: "grpc" })) },
});
const pod = (name: string, labels: Record<string, string>, nodeName: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: NS, labels },
  spec: { nodeName, containers: [{ name: "echo", image: "mcx.invalid/echo:1" }] },
});
const node = (name: string, zone: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": zone } },
});
const slice = (pods: readonly { pod: NetnsPod; name: string }[]) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "echo-1", namespace: NS, labels: { "kubernetes.io/service-name": "echo" } },
  addressType: "IPv4",
  ports: [{ name: "grpc", port: PORT }],
  endpoints: pods.map((p) => ({
    addresses: [p.pod.ip],
    conditions: { ready: true },
    targetRef: { kind: "Pod", namespace: NS, name: p.name },
  })),
});
const destinationRule = (name = "echo") => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name, namespace: NS },
  spec: {
    host: "echo",
    subsets: [
      { name: "v1", labels: { version: "v1" } },
      { name: "v2", labels: { version: "v2" } },
    ],
  },
});
const virtualService = (route: readonly { subset: string; weight?: number }[]) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "echo", namespace: NS },
  spec: {
    hosts: ["echo"],
    http: [
      {
        route: route.map((r) => ({
          destination: { host: "echo", subset: r.subset },
          ...(r.weight !== undefined ? { weight: r.weight } : {}),
        })),
      },
    ],
  },
});
const serviceEntry = (host: string, spec: Record<string, unknown>) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "ServiceEntry",
  metadata: { name: host.split(".")[0] ?? host, namespace: NS },
  spec: {
    hosts: [host],
    ports: [{ number: PORT, name: "grpc", protocol: "GRPC" }],
    resolution: "STATIC",
    ...spec,
  },
});
const workloadEntry = (address: string) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name: "we-a", namespace: NS },
  spec: { address, labels: { app: "we-backend" } },
});
const sidecar = (hosts: string[]) => ({
  apiVersion: "networking.istio.io/v1",
  kind: "Sidecar",
  metadata: { name: "default", namespace: NS },
  spec: { egress: [{ hosts }] },
});

type ConfigApplied = Extract<XdsServerEvent, { type: "config-applied" }>;
type PushEvent = Extract<XdsServerEvent, { type: "push" }>;

describe.skipIf(gate.skip)("Kubernetes mesh source against a real API server", () => {
  const id = randomBytes(2).toString("hex");
  let lab: KubeLab;
  let podA: NetnsPod;
  let podB: NetnsPod;
  let proxy: CuttableProxy;
  let source: KubernetesMeshSource;
  let xds: XdsServerHandle;
  let envoy: EnvoyProcess | undefined;
  let dir: string;
  const clients: EchoClient[] = [];
  const events: XdsServerEvent[] = [];
  let syncMs = 0;
  let restartedAt = 0;
  /** The gRPC client of echo (replaced after a test made echo vanish: see the Sidecar test). */
  let echo: EchoClient;

  const client = async (target: string, name: string) => {
    const bootstrap = renderBootstrap({ kind: "grpc", name, namespace: NS, server: xds.address });
    // These tests see deletions through the client (a deleted host must fail), so their clients
    // drop meshctl's default ignore_resource_deletion (gRFC A53), which keeps deleted resources.
    for (const server of bootstrap.xds_servers as { server_features: string[] }[])
      server.server_features = server.server_features.filter((f) => f !== "ignore_resource_deletion");
    const c = await createEchoClient(target, { bootstrap });
    clients.push(c);
    return c;
  };
  /** The set of servers that answer `calls` calls (throws if a call fails). */
  const serversOf = async (c: EchoClient, calls = 12): Promise<string> => {
    const seen = new Set<string>();
    for (let i = 0; i < calls; i++) seen.add((await c.echo(`call ${i}`, {}, 2000)).server);
    return [...seen].sort().join(",");
  };
  const expectServers = (c: EchoClient, want: string, what: string) =>
    waitFor(async () => (await serversOf(c)) === want, { timeoutMs: 15_000, what });
  const expectHosts = async (cluster: string, want: string[] | undefined, what: string) => {
    if (!envoy) return;
    const e = envoy;
    await waitFor(async () => JSON.stringify(await e.hostsOf(cluster)) === JSON.stringify(want), {
      timeoutMs: 15_000,
      what: `Envoy: ${what}`,
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}; has ${JSON.stringify(await e.hostsOf(cluster))}\n${e.log()}`);
    });
  };
  const appliedSince = (mark: number) =>
    events.slice(mark).filter((e): e is ConfigApplied => e.type === "config-applied");
  const keysOf = (list: readonly ConfigApplied[]) => list.flatMap((e) => e.changed.map(configKeyString));
  const envoyConnection = () => xds.clients().find((c) => c.nodeId === ENVOY_NODE);
  const envoyPushesSince = (mark: number) => {
    const conn = envoyConnection()?.id;
    return events.slice(mark).filter((e): e is PushEvent => e.type === "push" && e.connection === conn);
  };
  /** The server pushed everything and every proxy ACKed what it was sent. */
  const converged = () =>
    xds.settled() &&
    xds
      .clients()
      .every((c) =>
        Object.values(c.types).every(
          (t) => t.lastVersionSent === undefined || t.ackedVersion === t.lastVersionSent,
        ),
      );
  const healthy = (s: KubernetesMeshSource) => s.status().kinds.every((k) => !k.lastError && k.synced);

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    dir = await mkdtemp(join(tmpdir(), "mcx-kube-src-"));
    lab = await KubeLab.start({ users: ["mcx-limited"] });
    podA = await startNetnsPod({ tag: `k${id}a`, octet: 213, index: 1, id: "pod-a", port: PORT });
    podB = await startNetnsPod({ tag: `k${id}b`, octet: 213, index: 2, id: "pod-b", port: PORT });
    await lab.namespace(NS, { "mcx-discovery": "enabled" });
    await lab.namespace(OTHER);
    for (const ns of [NS, OTHER])
      await lab.apply({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "default", namespace: ns },
      });
    await lab.apply(node("node-a", "z1"));
    await lab.apply(node("node-b", "z2"));
    // The API server's PodTopologyLabels admission copies the Node's zone/region onto a Pod
    // created with a nodeName: what locality falls back to without RBAC for Nodes.
    await lab.apply(pod("echo-a", { app: "echo", version: "v1" }, "node-a"));
    await lab.apply(pod("echo-b", { app: "echo", version: "v2" }, "node-b"));
    await lab.apply(service());
    await lab.apply(slice([{ pod: podA, name: "echo-a" }]));
    // Outside the selection: never kept by the source.
    await lab.apply({ ...service(), metadata: { name: "hidden", namespace: OTHER } });
    await lab.apply({
      ...virtualService([{ subset: "v1" }]),
      metadata: { name: "hidden", namespace: OTHER },
    });

    // The source reaches the API server through a proxy the partition test can cut.
    proxy = await startCuttableProxy({ host: "127.0.0.1", port: Number(new URL(lab.kube.server).port) });
    const kubeconfig = await kubeconfigVia(lab.kube.kubeconfig, `https://127.0.0.1:${proxy.port}`, dir);
    source = kubernetesMeshSource({
      kubeconfig,
      namespaceSelectors: [SELECTOR],
      backoff: { initialMs: 100, maxMs: 1000 },
    });
    // Loaded apart (client-node alone takes 0.7 s): the figure below is the sync alone.
    await import("@meshctl/kube");
    const t0 = performance.now();
    xds = await startXdsServer({
      source,
      port: 0,
      debugPort: 0,
      debounceAfterMs: 20,
      onEvent: (e) => events.push(e),
    });
    syncMs = performance.now() - t0;
    if (envoyPath && !envoyGate.skip)
      envoy = await startEnvoy(
        envoyPath,
        renderBootstrap({
          kind: "envoy",
          name: "envoy",
          namespace: NS,
          ip: ENVOY_IP,
          server: xds.address,
          adminPort: 0,
        }),
      );
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await envoy?.close();
    await xds?.close();
    await proxy?.close();
    await podA?.close();
    await podB?.close();
    await lab?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  test("initial sync: subset labels from the Pod, locality from its Node, Istio kinds at v1", async () => {
    if (envoyGate.missing) throw new Error(envoyGate.missing);
    console.log(`[kubernetes source] start -> serving (initial sync) ${syncMs.toFixed(0)} ms`);
    const status = source.status();
    expect(status.synced).toBe(true);
    expect(status.namespaces).toEqual([NS]);
    expect(status.kinds.find((k) => k.kind === "VirtualService")?.apiVersion).toBe("networking.istio.io/v1");
    expect(status.kinds.map((k) => k.kind).sort()).toEqual(
      [
        "DestinationRule",
        "EndpointSlice",
        "Namespace",
        "Node",
        "Pod",
        "Service",
        "ServiceEntry",
        "Sidecar",
        "VirtualService",
        "WorkloadEntry",
      ].sort(),
    );
    const stored = (await lab.request("GET", `/api/v1/namespaces/${NS}/pods/echo-a`)).json as {
      metadata: { labels: Record<string, string> };
    };
    expect(stored.metadata.labels).toMatchObject({ app: "echo", version: "v1" });
    const endpoints = xds.mesh().model.endpoints.get(HOST);
    expect(endpoints?.map((e) => ({ address: e.address, labels: e.labels, locality: e.locality }))).toEqual([
      {
        address: podA.ip,
        labels: stored.metadata.labels,
        locality: { region: "r1", zone: "z1", subzone: "" },
      },
    ]);
    echo = await client(`xds:///${HOST}:${PORT}`, "client");
    await expectServers(echo, "pod-a", "the gRPC client to reach pod-a");
    await expectHosts(CLUSTER, [podA.ip], "the echo cluster with pod-a");
  });

  test("EndpointSlice update: an EDS-only push to the gRPC client and to Envoy", async () => {
    await waitFor(converged, { timeoutMs: 10_000, what: "a converged start" });
    const mark = events.length;
    const metricsBefore = xds.metrics();
    const statsBefore = await envoy?.stats();
    await lab.apply(
      slice([
        { pod: podA, name: "echo-a" },
        { pod: podB, name: "echo-b" },
      ]),
    );
    await expectServers(echo, "pod-a,pod-b", "the gRPC client to reach both pods");
    await expectHosts(CLUSTER, [podA.ip, podB.ip].sort(), "both hosts");
    await waitFor(converged, { timeoutMs: 10_000, what: "the EDS push to be ACKed" });
    const applied = appliedSince(mark);
    expect(applied.map((e) => e.full)).toEqual([false]);
    expect(keysOf(applied)).toEqual([`Endpoints/${NS}/${HOST}`]);
    const delta = (labels: string) =>
      metricValue(xds.metrics(), "meshctl_xds_proxy_pushes_total", labels) -
      metricValue(metricsBefore, "meshctl_xds_proxy_pushes_total", labels);
    expect(delta('type="full"')).toBe(0);
    expect(delta('type="eds"')).toBeGreaterThanOrEqual(1);
    if (envoy && statsBefore) {
      expect(envoyPushesSince(mark).map((p) => p.kind)).toEqual(["eds"]);
      const statsAfter = await envoy.stats();
      const d = (k: string) => (statsAfter.get(k) ?? 0) - (statsBefore.get(k) ?? 0);
      expect(d("cluster_manager.cds.update_success")).toBe(0);
      expect(d("listener_manager.lds.update_success")).toBe(0);
    }
  });

  test("DestinationRule + VirtualService: subsets are the Pods' labels", async () => {
    await lab.apply(destinationRule());
    await lab.apply(virtualService([{ subset: "v2" }]));
    await expectServers(echo, "pod-b", "the VirtualService to route to subset v2 (pod-b)");
    await expectHosts(subsetCluster("v1"), [podA.ip], "subset v1 = pod-a");
    await expectHosts(subsetCluster("v2"), [podB.ip], "subset v2 = pod-b");
  });

  test("a Pod relabelled into another subset: an endpoints-only change", async () => {
    await waitFor(converged, { timeoutMs: 10_000, what: "converged" });
    const mark = events.length;
    const statsBefore = await envoy?.stats();
    await lab.patch(pod("echo-a", {}, ""), { metadata: { labels: { version: "v2" } } });
    await expectServers(echo, "pod-a,pod-b", "subset v2 to hold both pods");
    await expectHosts(subsetCluster("v2"), [podA.ip, podB.ip].sort(), "subset v2 = both");
    await expectHosts(subsetCluster("v1"), [], "subset v1 empty");
    await waitFor(converged, { timeoutMs: 10_000, what: "converged" });
    expect(appliedSince(mark).map((e) => e.full)).toEqual([false]);
    if (envoy && statsBefore) {
      expect(new Set(envoyPushesSince(mark).map((p) => p.kind))).toEqual(new Set(["eds"]));
      const statsAfter = await envoy.stats();
      expect(
        (statsAfter.get("cluster_manager.cds.update_success") ?? 0) -
          (statsBefore.get("cluster_manager.cds.update_success") ?? 0),
      ).toBe(0);
    }
    await lab.patch(pod("echo-a", {}, ""), { metadata: { labels: { version: "v1" } } });
    await expectServers(echo, "pod-b", "pod-a back in subset v1");
  });

  test("a Node's zone change moves its Pods' endpoints to the new locality (EDS only)", async () => {
    const mark = events.length;
    await lab.apply(node("node-a", "z3"));
    await waitFor(
      () =>
        xds
          .mesh()
          .model.endpoints.get(HOST)
          ?.find((e) => e.address === podA.ip)?.locality.zone === "z3",
      {
        timeoutMs: 10_000,
        what: "pod-a's endpoint in zone z3",
      },
    );
    if (envoy) {
      const e = envoy;
      await waitFor(async () => (await e.localitiesOf(CLUSTER))[podA.ip] === "r1/z3", {
        timeoutMs: 10_000,
        what: "Envoy: pod-a in r1/z3",
      });
      expect((await e.localitiesOf(CLUSTER))[podB.ip]).toBe("r1/z2");
    }
    expect(appliedSince(mark).every((e) => !e.full)).toBe(true);
  });

  test("VirtualService update and delete, DestinationRule delete", async () => {
    await lab.apply(virtualService([{ subset: "v1" }]));
    await expectServers(echo, "pod-a", "the updated route to subset v1 (pod-a)");
    await lab.delete(virtualService([]));
    await expectServers(echo, "pod-a,pod-b", "round robin again without the VirtualService");
    await lab.delete(destinationRule());
    await expectHosts(subsetCluster("v1"), undefined, "the subset clusters gone with the DestinationRule");
  });

  test("ServiceEntry and WorkloadEntry: add, update, delete", async () => {
    const ext = await client(`xds:///${EXT}:${PORT}`, "ext-client");
    await lab.apply(serviceEntry(EXT, { endpoints: [{ address: podB.ip }] }));
    await expectServers(ext, "pod-b", "the ServiceEntry's endpoint (pod-b)");
    await expectHosts(`outbound|${PORT}||${EXT}`, [podB.ip], "the ServiceEntry cluster");
    await lab.apply(serviceEntry(EXT, { endpoints: [{ address: podA.ip }] }));
    await expectServers(ext, "pod-a", "the updated ServiceEntry endpoint (pod-a)");

    const we = await client(`xds:///${WE_HOST}:${PORT}`, "we-client");
    await lab.apply(serviceEntry(WE_HOST, { workloadSelector: { labels: { app: "we-backend" } } }));
    await lab.apply(workloadEntry(podA.ip));
    await expectServers(we, "pod-a", "the WorkloadEntry selected by the ServiceEntry (pod-a)");
    await lab.apply(workloadEntry(podB.ip));
    await expectServers(we, "pod-b", "the moved WorkloadEntry (pod-b)");
    await expectHosts(`outbound|${PORT}||${WE_HOST}`, [podB.ip], "the WorkloadEntry's address");
    await lab.delete(workloadEntry(podB.ip));
    await expectHosts(`outbound|${PORT}||${WE_HOST}`, [], "no endpoints without the WorkloadEntry");
    await lab.delete(serviceEntry(WE_HOST, {}));
    await lab.delete(serviceEntry(EXT, {}));
    await expectHosts(`outbound|${PORT}||${EXT}`, undefined, "the ServiceEntry cluster gone");
    await waitFor(
      async () =>
        await ext.echo("x", {}, 1000).then(
          () => false,
          () => true,
        ),
      {
        timeoutMs: 15_000,
        what: "calls to the deleted ServiceEntry host to fail",
      },
    );
  });

  test("Sidecar add and delete: what the namespace's proxies see", async () => {
    await lab.apply(sidecar(["istio-system/*"]));
    await expectHosts(CLUSTER, undefined, "the echo cluster out of scope");
    await waitFor(
      async () =>
        await echo.echo("x", {}, 1000).then(
          () => false,
          () => true,
        ),
      {
        timeoutMs: 15_000,
        what: "the gRPC client to lose echo",
      },
    );
    await lab.delete(sidecar([]));
    await expectHosts(CLUSTER, [podA.ip, podB.ip].sort(), "the echo cluster back");
    // @grpc/grpc-js-xds 1.14 keeps a resource it was told "does not exist" and ignores it when it
    // comes back unchanged (xds-client.js checks resourcesEqual before notifying): that channel
    // stays broken. A client with its own xDS client (another node) sees echo again.
    echo = await client(`xds:///${HOST}:${PORT}`, "client-after-sidecar");
    await expectServers(echo, "pod-a,pod-b", "echo back for a gRPC client");
  });

  test("Service update (a second port) and delete", async () => {
    await lab.apply(
      service([
        { name: "grpc", port: PORT },
        { name: "grpc-2", port: PORT + 1 },
      ]),
    );
    await expectHosts(
      `outbound|${PORT + 1}||${HOST}`,
      [podA.ip, podB.ip].sort(),
      "the second port's cluster",
    );
    await lab.delete(service());
    await expectHosts(CLUSTER, undefined, "the cluster gone with the Service");
    await waitFor(
      async () =>
        await echo.echo("x", {}, 1000).then(
          () => false,
          () => true,
        ),
      {
        timeoutMs: 15_000,
        what: "calls to fail without the Service",
      },
    );
    await lab.apply(service());
    await expectHosts(CLUSTER, [podA.ip, podB.ip].sort(), "the cluster back");
    echo = await client(`xds:///${HOST}:${PORT}`, "client-after-delete"); // see the Sidecar test
    await expectServers(echo, "pod-a,pod-b", "echo back");
  });

  test("a bad object is reported with Kind/ns/name and field path; its last good version keeps serving", async () => {
    await lab.apply(destinationRule());
    await lab.apply(virtualService([{ subset: "v2" }]));
    await expectServers(echo, "pod-b", "the good VirtualService (v2)");
    const mark = events.length;
    // Weights add up to 90: Istio's validation would refuse it; these CRDs do not, meshctl does.
    await lab.apply(
      virtualService([
        { subset: "v1", weight: 70 },
        { subset: "v2", weight: 20 },
      ]),
    );
    const problem = await waitFor(
      () =>
        events
          .slice(mark)
          .flatMap((e) =>
            e.type === "diagnostics-changed" || e.type === "config-applied" ? e.newDiagnostics : [],
          )
          .find((d) => d.severity === "error"),
      { timeoutMs: 10_000, what: "the diagnostic of the bad VirtualService" },
    );
    expect(problem).toMatchObject({
      file: `VirtualService/${NS}/echo`,
      path: "spec.http[0].route",
      reason: "destination weights must add up to 100, got 90",
    });
    expect(xds.mesh().rejectedFiles).toEqual([`VirtualService/${NS}/echo`]);
    expect(await serversOf(echo)).toBe("pod-b"); // the last good version (v2) still serves
    await lab.apply(virtualService([{ subset: "v1" }]));
    await expectServers(echo, "pod-a", "the fixed VirtualService (v1)");
    expect(xds.mesh().rejectedFiles).toEqual([]);
    expect(
      appliedSince(mark).some((e) =>
        e.resolvedDiagnostics.some((d) => d.file === `VirtualService/${NS}/echo`),
      ),
    ).toBe(true);
  });

  test("namespace selection: objects outside it are never kept; a namespace joining or leaving is followed", async () => {
    const hiddenHost = `hidden.${OTHER}.svc.cluster.local`;
    const kept = () => source.status().kinds.find((k) => k.kind === "Service")?.objects;
    expect(xds.mesh().model.services.map((s) => s.hostname)).not.toContain(hiddenHost);
    // The API server has 3 Services (default/kubernetes, other/hidden, demo/echo); 1 is kept.
    expect(kept()).toBe(1);
    expect(source.status().objects.Service).toBe(1);
    expect(source.status().objects.VirtualService).toBe(1);
    const listsBefore = source.status().kinds.find((k) => k.kind === "Service")?.lists ?? 0;
    await lab.namespace(OTHER, { "mcx-discovery": "enabled" });
    await waitFor(() => xds.mesh().model.services.some((s) => s.hostname === hiddenHost), {
      timeoutMs: 10_000,
      what: "the Service of the namespace that joined",
    });
    expect(source.status().kinds.find((k) => k.kind === "Service")?.lists).toBeGreaterThan(listsBefore);
    expect(source.status().namespaces).toEqual([OTHER, NS].sort());
    await lab.namespace(OTHER, {});
    await waitFor(() => !xds.mesh().model.services.some((s) => s.hostname === hiddenHost), {
      timeoutMs: 10_000,
      what: "the namespace that left to be forgotten",
    });
    expect(kept()).toBe(1);
    expect(source.status().objects.VirtualService).toBe(1);
  });

  test("RBAC forbids a kind: start fails with KUBE_FORBIDDEN naming the verb and the resource", async () => {
    const rules = (istio: string[]) => [
      { apiGroups: [""], resources: ["services", "pods", "namespaces"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["networking.istio.io"], resources: istio, verbs: ["get", "list", "watch"] },
    ];
    const role = (istio: string[]) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "mcx-limited" },
      rules: rules(istio),
    });
    const allIstio = ["virtualservices", "destinationrules", "sidecars", "serviceentries", "workloadentries"];
    await lab.apply(role(allIstio.filter((r) => r !== "destinationrules")));
    await lab.apply({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "mcx-limited" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "mcx-limited" },
      subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "mcx-limited" }],
    });
    const kubeconfig = lab.kube.users["mcx-limited"]?.kubeconfig as string;
    // RBAC changes reach the authorizer through its own watch: wait until it says no.
    await waitFor(
      async () =>
        (
          await launcher.kubeRequest(
            lab.kube,
            "GET",
            "/apis/networking.istio.io/v1/destinationrules",
            undefined,
            {
              token: lab.kube.users["mcx-limited"]?.token as string,
            },
          )
        ).status === 403 &&
        (
          await launcher.kubeRequest(lab.kube, "GET", "/api/v1/services", undefined, {
            token: lab.kube.users["mcx-limited"]?.token as string,
          })
        ).status === 200,
      { timeoutMs: 10_000, what: "the limited user's RBAC" },
    );
    const limited = kubernetesMeshSource({
      kubeconfig,
      namespaceSelectors: [SELECTOR],
      syncTimeoutMs: 20_000,
    });
    const failure = await limited
      .start(() => {})
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    limited.close();
    expect(failure).toMatchObject({
      code: "KUBE_FORBIDDEN",
      details: { verb: "list", resource: "destinationrules.networking.istio.io" },
    });
    expect(String((failure as Error).message)).toMatch(
      /forbids list destinationrules\.networking\.istio\.io/,
    );

    // Serving: Nodes not readable (a warning: locality from Pod labels), then a kind revoked.
    await lab.apply(role(allIstio));
    await waitFor(
      async () =>
        (
          await launcher.kubeRequest(
            lab.kube,
            "GET",
            "/apis/networking.istio.io/v1/destinationrules",
            undefined,
            {
              token: lab.kube.users["mcx-limited"]?.token as string,
            },
          )
        ).status === 200,
      { timeoutMs: 10_000, what: "the granted DestinationRules" },
    );
    const seen: MeshSourceEvent[] = [];
    const serving = kubernetesMeshSource({
      kubeconfig,
      namespaceSelectors: [SELECTOR],
      watchTimeoutSeconds: 2,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    try {
      const first = await serving.start((e) => seen.push(e));
      expect(first.diagnostics).toContainEqual(
        expect.objectContaining({
          severity: "warning",
          file: "Node",
          reason: expect.stringMatching(/^KUBE_FORBIDDEN: .*list nodes/),
        }),
      );
      // Without Nodes: pod-a's zone comes from its own topology label (z1, copied from its Node
      // when it was created), not from the Node (z3 since).
      const zoneOfA = (m: typeof first.model) =>
        m.endpoints.get(HOST)?.find((e) => e.address === podA.ip)?.locality.zone;
      expect(zoneOfA(first.model)).toBe("z1");
      expect(zoneOfA(xds.mesh().model)).toBe("z3");
      expect(first.model.destinationRules.map((d) => d.name)).toEqual(["echo"]);

      await lab.apply(role(allIstio.filter((r) => r !== "destinationrules")));
      const error = await waitFor(
        () => seen.find((e) => e.type === "source-error" && /KUBE_FORBIDDEN/.test(e.message)),
        { timeoutMs: 15_000, what: "the runtime KUBE_FORBIDDEN" },
      );
      expect(error).toMatchObject({
        message: expect.stringMatching(
          /DestinationRule: KUBE_FORBIDDEN: .*(list|watch) destinationrules\.networking\.istio\.io/,
        ),
      });
      // The last known DestinationRule keeps serving, the error is a diagnostic, the rest goes on.
      await waitFor(
        () =>
          serving.current().diagnostics.some((d) => d.file === "DestinationRule" && d.severity === "error"),
        {
          timeoutMs: 5000,
          what: "the DestinationRule error diagnostic",
        },
      );
      expect(serving.current().model.destinationRules.map((d) => d.name)).toEqual(["echo"]);
      await lab.apply(slice([{ pod: podA, name: "echo-a" }]));
      await waitFor(() => serving.current().model.endpoints.get(HOST)?.length === 1, {
        timeoutMs: 10_000,
        what: "an EndpointSlice change while DestinationRules are forbidden",
      });
      await lab.apply(role(allIstio));
      await waitFor(() => !serving.current().diagnostics.some((d) => d.file === "DestinationRule"), {
        timeoutMs: 15_000,
        what: "the DestinationRule error resolved",
      });
    } finally {
      serving.close();
      await lab.apply(
        slice([
          { pod: podA, name: "echo-a" },
          { pod: podB, name: "echo-b" },
        ]),
      );
    }
  });

  test("an API server restart: serving goes on, then nothing is lost or repeated", async () => {
    await expectHosts(CLUSTER, [podA.ip, podB.ip].sort(), "both hosts before the restart");
    await waitFor(converged, { timeoutMs: 10_000, what: "converged" });
    const before = source.status().kinds;
    const mark = events.length;
    const restart = lab.kube.restartApiserver({ downMs: 1000 });
    // While it is down the control plane keeps serving what it has.
    expect(await serversOf(echo, 4)).toBe("pod-a");
    await restart;
    restartedAt = Date.now();
    await waitFor(
      () =>
        healthy(source) &&
        source
          .status()
          .kinds.every(
            (k) =>
              k.watches + k.lists >
              (before.find((b) => b.kind === k.kind)?.watches ?? 0) +
                (before.find((b) => b.kind === k.kind)?.lists ?? 0),
          ),
      { timeoutMs: 30_000, what: "every kind listed or watching again" },
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(appliedSince(mark)).toEqual([]); // nothing changed: nothing reported
    const after = source.status().kinds;
    const relisted = after.filter((k) => k.expired > (before.find((b) => b.kind === k.kind)?.expired ?? 0));
    console.log(
      `[kubernetes source] after the restart: ${relisted.length}/${after.length} kinds got 410 Gone and relisted; the others resumed their watch`,
    );
    const write = events.length;
    await lab.apply(slice([{ pod: podA, name: "echo-a" }]));
    await expectHosts(CLUSTER, [podA.ip], "pod-a only");
    await waitFor(converged, { timeoutMs: 10_000, what: "converged" });
    expect(keysOf(appliedSince(write))).toEqual([`Endpoints/${NS}/${HOST}`]);
    expect(await serversOf(echo, 4)).toBe("pod-a");
  });

  test("bookmarks move the watches' resourceVersion on", async () => {
    // The API server's watch cache sends a bookmark about once a minute per watch.
    const wait = Math.max(0, restartedAt + 65_000 - Date.now());
    await new Promise((r) => setTimeout(r, wait));
    await waitFor(() => source.status().kinds.some((k) => k.bookmarks > 0), {
      timeoutMs: 30_000,
      what: "a bookmark",
    });
  }, 120_000);

  test("a partition beyond etcd compaction: 410 Gone, relist, the changes made meanwhile arrive once", async () => {
    // Without the watch cache, watches read etcd, whose compaction (every second here) turns an
    // old resourceVersion into 410 Gone.
    await lab.kube.restartApiserver({
      apiserverArgs: ["--watch-cache=false", "--etcd-compaction-interval=1s"],
    });
    await waitFor(() => healthy(source), { timeoutMs: 30_000, what: "the source to reconnect" });
    await lab.apply(
      slice([
        { pod: podA, name: "echo-a" },
        { pod: podB, name: "echo-b" },
      ]),
    );
    await expectHosts(CLUSTER, [podA.ip, podB.ip].sort(), "both hosts");
    await lab.apply(serviceEntry(EXT, { endpoints: [{ address: podB.ip }] }));
    await waitFor(() => xds.mesh().model.services.some((s) => s.hostname === EXT), { timeoutMs: 10_000 });
    await waitFor(converged, { timeoutMs: 10_000, what: "converged" });
    const rv = (
      (await lab.request("GET", "/api/v1/namespaces/default/configmaps")).json as {
        metadata: { resourceVersion: string };
      }
    ).metadata.resourceVersion;
    const before = source.status().kinds;

    await proxy.cut();
    // Meanwhile: an endpoint leaves, an object is deleted, one is created.
    await lab.apply(slice([{ pod: podA, name: "echo-a" }]));
    await lab.delete(serviceEntry(EXT, {}));
    await lab.apply({ ...destinationRule("late"), spec: { host: "late" } });
    for (let i = 0; i < 20; i++)
      await lab.apply({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "mcx-churn", namespace: "default" },
        data: { i: String(i) },
      });
    // Proof that the source's positions are gone: a watch from before the partition is refused.
    await waitFor(
      async () => {
        const r = await lab.request(
          "GET",
          `/api/v1/services?watch=true&timeoutSeconds=1&resourceVersion=${rv}`,
        );
        return r.status === 410 || /"code":410/.test(r.body);
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "etcd to compact past the source's resourceVersion" },
    );
    const mark = events.length;
    await proxy.heal();
    await waitFor(
      () =>
        healthy(source) &&
        source.status().kinds.some((k) => k.expired > (before.find((b) => b.kind === k.kind)?.expired ?? 0)),
      { timeoutMs: 30_000, what: "a 410 and a relist" },
    );
    await expectHosts(CLUSTER, [podA.ip], "pod-a only");
    await waitFor(() => xds.mesh().model.destinationRules.some((d) => d.name === "late"), {
      timeoutMs: 10_000,
    });
    await waitFor(converged, { timeoutMs: 10_000, what: "converged" });
    await new Promise((r) => setTimeout(r, 300));
    const after = source.status().kinds;
    for (const k of after) {
      const b = before.find((x) => x.kind === k.kind);
      if (k.expired > (b?.expired ?? 0)) expect(k.lists).toBeGreaterThan(b?.lists ?? 0);
    }
    const model = xds.mesh().model;
    expect(model.endpoints.get(HOST)?.map((e) => e.address)).toEqual([podA.ip]);
    expect(model.services.some((s) => s.hostname === EXT)).toBe(false);
    // Each change once, nothing unchanged repeated (the Service, the VirtualService, the Pods).
    const keys = keysOf(appliedSince(mark));
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({
      [`Endpoints/${NS}/${HOST}`]: 1,
      [`ServiceEntry/${NS}/ext`]: 1,
      [`DestinationRule/${NS}/late`]: 1,
    });
    console.log(
      `[kubernetes source] partition: ${after
        .filter((k) => k.expired > (before.find((b) => b.kind === k.kind)?.expired ?? 0))
        .map((k) => k.kind)
        .join(", ")} got 410 and relisted`,
    );
  }, 120_000);
});
