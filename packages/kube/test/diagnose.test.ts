import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ClusterFacts, gatherClusterFacts } from "../src/index.js";
import {
  applyIstioCrds,
  createObjects,
  kubeApiserverGate,
  markComponentsReady,
  meshctlComponents,
  meshPod,
  namespace,
  restrictedKubeconfig,
  sidecarResource,
  startTestCluster,
  type TestCluster,
} from "./fixtures/cluster.js";

function kubeconfigFor(server: string): string {
  return `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`;
}

function value<T>(g: { ok: true; value: T } | { ok: false; error: { message: string } } | null): T {
  if (!g) throw new Error("fact not gathered");
  if (!g.ok) throw new Error(`fact failed: ${g.error.message}`);
  return g.value;
}

describe("cluster facts when there is no usable cluster", () => {
  let dir: string;
  let blackHole: Server;
  let blackHolePort = 0;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshctl-kube-diag-"));
    blackHole = createServer((socket) => sockets.add(socket)); // accepts, never answers
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", () => r()));
    blackHolePort = (blackHole.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => blackHole.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  test("a kubeconfig that does not exist is a fact, and nothing else is asked", async () => {
    const facts = await gatherClusterFacts({ kubeconfig: join(dir, "missing") });
    expect(facts.api).toMatchObject({
      ok: false,
      error: { code: "KUBE_CONFIG_INVALID", request: "load the kubeconfig" },
    });
    expect([
      facts.crds,
      facts.components,
      facts.namespaces,
      facts.pods,
      facts.sidecars,
      facts.controlPlane,
    ]).toEqual([null, null, null, null, null, null]);
  });

  test("a refused connection is KUBE_UNREACHABLE naming the server", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const file = join(dir, "refused");
    await writeFile(file, kubeconfigFor(`https://127.0.0.1:${port}`));
    const facts = await gatherClusterFacts({ kubeconfig: file });
    expect(facts.target.server).toBe(`https://127.0.0.1:${port}`);
    expect(facts.api.ok).toBe(false);
    if (!facts.api.ok) {
      expect(facts.api.error.code).toBe("KUBE_UNREACHABLE");
      expect(facts.api.error.message).toContain("ECONNREFUSED");
    }
  });

  test("a server that never answers hits the deadline instead of hanging", async () => {
    const file = join(dir, "hang");
    await writeFile(file, kubeconfigFor(`https://127.0.0.1:${blackHolePort}`));
    const started = Date.now();
    const facts = await gatherClusterFacts({ kubeconfig: file, timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(facts.api).toMatchObject({
      ok: false,
      error: { code: "KUBE_TIMEOUT", message: "no answer within 300 ms" },
    });
  });
});

const gate = await kubeApiserverGate("kube diagnose facts");

describe.skipIf(gate.skip)("cluster facts from a real kube-apiserver", () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    cluster = await startTestCluster();
  }, 90_000);
  afterAll(async () => {
    await cluster?.close();
  });

  test("an empty cluster: the version, every Istio CRD missing, meshctl not installed", async () => {
    const facts = await gatherClusterFacts({ kubeconfig: cluster.kubeconfig });
    expect(value(facts.api)).toMatchObject({
      server: cluster.server,
      gitVersion: expect.stringMatching(/^v1\.\d+/),
    });
    expect(value(facts.crds).map((c) => [c.kind, c.present])).toEqual([
      ["VirtualService", false],
      ["DestinationRule", false],
      ["Sidecar", false],
      ["ServiceEntry", false],
      ["WorkloadEntry", false],
    ]);
    expect(value(facts.components).workloads).toEqual([]);
    expect(facts.sidecars).toMatchObject({ ok: false, error: { httpStatus: 404 } });
    expect(facts.controlPlane).toMatchObject({
      source: "none",
      reason: expect.stringContaining("no Service labelled"),
    });
    expect(value(facts.namespaces).map((n) => n.name)).toContain("default");
  });

  describe("a mesh: CRDs but Sidecar, meshctl installed, one namespace injected", () => {
    let facts: ClusterFacts;
    beforeAll(async () => {
      await applyIstioCrds(cluster, ["Sidecar"]);
      await createObjects(cluster, [
        ...meshctlComponents(),
        namespace("istio-system"),
        namespace("demo", { "istio-injection": "enabled" }),
        meshPod({ name: "echo-1", namespace: "demo", sidecar: "container" }),
        meshPod({ name: "native-1", namespace: "demo", sidecar: "native" }),
        meshPod({ name: "uncaptured-1", namespace: "demo", sidecar: "container", istioInit: false }),
        meshPod({ name: "grpc-1", namespace: "demo", proxyless: true }),
        meshPod({ name: "plain-1", namespace: "demo" }),
      ]);
      facts = await gatherClusterFacts({ kubeconfig: cluster.kubeconfig });
    });

    test("the CRDs present serve v1 and v1beta1; Sidecar is missing", () => {
      const crds = value(facts.crds);
      expect(crds.find((c) => c.kind === "Sidecar")?.present).toBe(false);
      expect(crds.find((c) => c.kind === "VirtualService")).toMatchObject({
        present: true,
        established: true,
        servedVersions: expect.arrayContaining(["v1", "v1beta1"]),
      });
      expect(facts.sidecars).toMatchObject({
        ok: false,
        error: { message: expect.stringContaining("sidecars.networking.istio.io") },
      });
    });

    test("meshctl's workloads are found by label, without status while no controller runs", () => {
      const c = value(facts.components);
      expect(c.searched).toBe("all namespaces");
      expect(c.workloads.map((w) => [w.kind, w.name, w.component, w.observedGeneration])).toEqual([
        ["Deployment", "meshctl-xds", "xds", null],
        ["DaemonSet", "meshctl-ebpf", "ebpf", null],
      ]);
      expect(c.services[0]?.ports.map((p) => p.name)).toEqual(["grpc-xds", "http-debug"]);
    });

    test("pods: sidecar, native sidecar, proxyless bootstrap, istio-init args", () => {
      const pods = Object.fromEntries(
        value(facts.pods)
          .filter((p) => p.namespace === "demo")
          .map((p) => [p.name, p]),
      );
      expect(pods["echo-1"]).toMatchObject({
        phase: "Pending",
        ready: false,
        sidecar: { native: false },
        proxylessBootstrap: null,
        istioInit: {
          outboundPort: "15001",
          inboundPort: "15006",
          inboundPorts: "*",
          outboundCidrs: "*",
          mode: "REDIRECT",
        },
      });
      expect(pods["echo-1"]?.istioInit?.capabilities).toEqual(["NET_ADMIN", "NET_RAW"]);
      expect(pods["native-1"]?.sidecar).toMatchObject({ native: true });
      expect(pods["uncaptured-1"]).toMatchObject({ sidecar: { native: false }, istioInit: null });
      expect(pods["grpc-1"]).toMatchObject({
        sidecar: null,
        proxylessBootstrap: "GRPC_XDS_BOOTSTRAP in container app",
      });
      expect(pods["plain-1"]).toMatchObject({ sidecar: null, proxylessBootstrap: null, istioInit: null });
      expect(value(facts.namespaces).find((n) => n.name === "demo")?.labels).toMatchObject({
        "istio-injection": "enabled",
      });
    });

    test("the control plane is asked through the service proxy; with no endpoints it does not answer", () => {
      expect(facts.controlPlane).toMatchObject({
        source: "service-proxy",
        endpoint: "meshctl-system/meshctl-xds:http-debug",
        sync: { ok: false, error: { code: "CONTROL_PLANE_UNREACHABLE", httpStatus: 503 } },
      });
    });

    test("with the Sidecar CRD: Sidecars are read; --namespace limits pods and Sidecars", async () => {
      await applyIstioCrds(cluster);
      await markComponentsReady(cluster);
      await createObjects(cluster, [
        namespace("other", { "istio-injection": "enabled" }),
        meshPod({ name: "x-1", namespace: "other", sidecar: "container" }),
        sidecarResource({ name: "default", namespace: "demo", hosts: ["./*", "istio-system/*"] }),
        sidecarResource({ name: "wide", namespace: "other", hosts: ["*/*"], selector: { app: "x-1" } }),
        sidecarResource({ name: "mesh-default", namespace: "istio-system", hosts: ["./*"] }),
      ]);
      const all = await gatherClusterFacts({ kubeconfig: cluster.kubeconfig });
      expect(
        value(all.sidecars)
          .map((s) => `${s.namespace}/${s.name}`)
          .sort(),
      ).toEqual(["demo/default", "istio-system/mesh-default", "other/wide"]);
      expect(value(all.sidecars).find((s) => s.name === "wide")).toMatchObject({
        workloadSelector: { app: "x-1" },
        egressHosts: ["*/*"],
      });
      expect(
        value(all.components).workloads.map((w) => [w.name, w.observedGeneration, w.ready, w.desired]),
      ).toEqual([
        ["meshctl-xds", 1, 1, 1],
        ["meshctl-ebpf", 1, 1, 1],
      ]);

      const one = await gatherClusterFacts({ kubeconfig: cluster.kubeconfig, namespace: "demo" });
      expect(one.namespace).toBe("demo");
      expect(value(one.namespaces).map((n) => n.name)).toEqual(["demo"]);
      expect(new Set(value(one.pods).map((p) => p.namespace))).toEqual(new Set(["demo"]));
      expect(
        value(one.sidecars)
          .map((s) => `${s.namespace}/${s.name}`)
          .sort(),
      ).toEqual(["demo/default", "istio-system/mesh-default"]);

      const missing = await gatherClusterFacts({ kubeconfig: cluster.kubeconfig, namespace: "nope" });
      expect(missing.namespaces).toMatchObject({
        ok: false,
        error: { httpStatus: 404, request: "get namespace nope" },
      });
    });

    test("RBAC refusals are facts naming the user and what was refused; allowed facts still arrive", async () => {
      const viewer = await restrictedKubeconfig(cluster, "diag-viewer", [
        { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list"] },
        { apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], verbs: ["get"] },
      ]);
      try {
        const facts = await gatherClusterFacts({ kubeconfig: viewer.kubeconfig });
        expect(facts.api.ok).toBe(true);
        expect(facts.crds?.ok).toBe(true);
        expect(facts.namespaces?.ok).toBe(true);
        expect(facts.pods).toMatchObject({
          ok: false,
          error: {
            code: "KUBE_FORBIDDEN",
            httpStatus: 403,
            request: "list pods in all namespaces",
            message: expect.stringContaining(`User "${viewer.user}" cannot list resource "pods"`),
          },
        });
        // Listing all namespaces was refused, and so was the fallback to meshctl-system.
        expect(facts.components).toMatchObject({ ok: false, error: { code: "KUBE_FORBIDDEN" } });
        expect(facts.sidecars).toMatchObject({ ok: false, error: { code: "KUBE_FORBIDDEN" } });
      } finally {
        await viewer.cleanup();
      }
    });
  });
});
