/**
 * install/uninstall against a real kube-apiserver + etcd. There is no controller-manager, scheduler
 * or kubelet: Deployments create no Pods, nothing becomes ready, a deleted namespace stays
 * Terminating. Each test uses its own namespace (prefix `mck-`) on one API server.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import {
  type InstallOptions,
  type InstallProgressEvent,
  installMeshctl,
  KubeError,
  loadKubeConfig,
  uninstallMeshctl,
} from "../src/index.js";
import {
  ClusterView,
  type KubeApiserver,
  kubeApiserverGate,
  startKubeApiserver,
  testParts,
} from "./install-fixture.js";

const gate = kubeApiserverGate("kube install");
const image = "registry.example/meshctl:0.1.0";

async function rejection(promise: Promise<unknown>): Promise<KubeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KubeError) return error;
    throw error;
  }
  throw new Error("expected a KubeError");
}

describe.skipIf(gate.skip)("install and uninstall against kube-apiserver", () => {
  let kube: KubeApiserver;
  let kubeConfig: KubeConfig;
  let view: ClusterView;
  const install = (options: Partial<InstallOptions> & { namespace: string }) =>
    installMeshctl({ kubeConfig, image, wait: false, parts: testParts, ...options });
  const ours = (namespace: string) => view.listAll(`app.kubernetes.io/instance=${namespace}`);

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    kube = await startKubeApiserver();
    kubeConfig = loadKubeConfig({ kubeconfig: kube.kubeconfig });
    view = new ClusterView(kube.kubeconfig);
  });
  afterAll(async () => {
    await kube?.close();
  });

  test("dry run on an empty cluster: validates what it can, creates nothing", async () => {
    const result = await install({ namespace: "mck-dry", dryRun: true });
    expect(result.dryRun).toBe(true);
    expect(result.changed).toBe(true);
    expect(result.objects.every((o) => o.action === "created")).toBe(true);
    // Cluster-scoped objects were dry-run; namespaced ones cannot be without the namespace.
    for (const o of result.objects) {
      expect(o.validated, `${o.kind} ${o.name}`).toBe(o.namespace === undefined);
      if (o.namespace) expect(o.reason).toContain("namespace mck-dry does not exist yet");
    }
    expect([...(await ours("mck-dry")).keys()]).toEqual([]);
  });

  test("every manifest (all components, CRDs) validates against the API server in a server-side dry run", async () => {
    await view.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "mck-valid" } });
    const result = await install({
      namespace: "mck-valid",
      dryRun: true,
      components: ["xds", "ebpf", "tstats", "vpp"],
      installCrds: true,
    });
    const namespace = result.objects.find((o) => o.kind === "Namespace");
    expect(namespace).toMatchObject({ action: "skipped", validated: false });
    expect(namespace?.reason).toContain("not created by meshctl");
    const rest = result.objects.filter((o) => o.kind !== "Namespace");
    expect(rest.length).toBe(14);
    for (const o of rest)
      expect(o, `${o.kind} ${o.name}`).toMatchObject({ action: "created", validated: true });
    expect([...(await ours("mck-valid")).keys()]).toEqual([]);
  });

  test("apply creates exactly the expected objects, owned by field manager meshctl", async () => {
    const events: InstallProgressEvent[] = [];
    const result = await install({
      namespace: "mck-a",
      components: ["xds", "ebpf", "tstats"],
      onProgress: (e) => events.push(e),
    });
    expect(result.changed).toBe(true);
    expect(result.rollout).toBeNull();
    expect(result.objects.map((o) => o.action)).toEqual(Array(result.objects.length).fill("created"));
    // No Istio CRDs on this cluster yet: said, not fatal.
    expect(result.warnings.join(" ")).toMatch(/networking\.istio\.io CRDs .* are absent.*--install-crds/);
    const found = await ours("mck-a");
    expect([...found.keys()].sort()).toEqual(
      [
        "Namespace mck-a",
        "ServiceAccount mck-a/meshctl-xds",
        "ClusterRole meshctl-xds-mck-a",
        "ClusterRoleBinding meshctl-xds-mck-a",
        "ConfigMap mck-a/meshctl-tstats",
        "Service mck-a/meshctl-xds",
        "Deployment mck-a/meshctl-xds",
        "DaemonSet mck-a/meshctl-ebpf",
      ].sort(),
    );
    const deployment = await view.read("apps/v1", "Deployment", "meshctl-xds", "mck-a");
    expect(deployment.metadata?.managedFields?.map((m) => [m.manager, m.operation])).toEqual([
      ["meshctl", "Apply"],
    ]);
    expect(deployment.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("meshctl");
    expect(events.filter((e) => e.type === "object").length).toBe(8);
    expect(events.some((e) => e.type === "phase" && e.phase === "apply")).toBe(true);
  });

  test("a second apply changes nothing and says so", async () => {
    const before = await ours("mck-a");
    const result = await install({ namespace: "mck-a", components: ["xds", "ebpf", "tstats"] });
    expect(result.changed).toBe(false);
    expect(result.objects.map((o) => `${o.kind}:${o.action}`)).toEqual(
      result.objects.map((o) => `${o.kind}:unchanged`),
    );
    expect(await ours("mck-a")).toEqual(before);
    // A dry run agrees, and now validates everything (the namespace exists).
    const dry = await install({ namespace: "mck-a", components: ["xds", "ebpf", "tstats"], dryRun: true });
    expect(dry.changed).toBe(false);
    expect(dry.objects.every((o) => o.action === "unchanged" && o.validated)).toBe(true);
  });

  test("a changed option reconfigures only the objects it touches", async () => {
    const newImage = "registry.example/meshctl:0.2.0";
    const dry = await install({
      namespace: "mck-a",
      components: ["xds", "ebpf", "tstats"],
      image: newImage,
      dryRun: true,
    });
    const changedKinds = (objects: typeof dry.objects) =>
      objects.filter((o) => o.action !== "unchanged").map((o) => `${o.kind}:${o.action}`);
    expect(changedKinds(dry.objects)).toEqual(["Deployment:configured", "DaemonSet:configured"]);
    const result = await install({
      namespace: "mck-a",
      components: ["xds", "ebpf", "tstats"],
      image: newImage,
    });
    expect(changedKinds(result.objects)).toEqual(["Deployment:configured", "DaemonSet:configured"]);
    expect(result.changed).toBe(true);
  });

  test("a field owned by another manager is reported, not forced; --force-conflicts takes it over", async () => {
    await view.applyAs(
      "someone-else",
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "meshctl-xds", namespace: "mck-a" },
        spec: { replicas: 3 },
      },
      true,
    );
    const before = await ours("mck-a");
    const error = await rejection(
      install({ namespace: "mck-a", components: ["xds", "ebpf", "tstats"], image }),
    );
    expect(error.code).toBe("KUBE_APPLY_CONFLICT");
    expect(error.details.conflicts).toEqual([
      { object: "Deployment mck-a/meshctl-xds", field: ".spec.replicas", manager: "someone-else" },
    ]);
    expect(error.message).toContain('Deployment mck-a/meshctl-xds .spec.replicas (manager "someone-else")');
    expect(error.suggestions.join(" ")).toContain("--force-conflicts");
    // Nothing was applied: not the conflicting object, not the others (the image changed back).
    expect(await ours("mck-a")).toEqual(before);
    const deployment = (await view.read("apps/v1", "Deployment", "meshctl-xds", "mck-a")) as {
      spec?: { replicas?: number };
    };
    expect(deployment.spec?.replicas).toBe(3);

    const forced = await install({
      namespace: "mck-a",
      components: ["xds", "ebpf", "tstats"],
      forceConflicts: true,
    });
    expect(forced.objects.find((o) => o.kind === "Deployment")?.action).toBe("configured");
    const after = (await view.read("apps/v1", "Deployment", "meshctl-xds", "mck-a")) as {
      spec?: { replicas?: number };
      metadata?: { managedFields?: { manager?: string; fieldsV1?: unknown }[] };
    };
    expect(after.spec?.replicas).toBe(1);
    const someoneElse = after.metadata?.managedFields?.find((m) => m.manager === "someone-else");
    expect(JSON.stringify(someoneElse?.fieldsV1 ?? {})).not.toContain("f:replicas");
  });

  test("the rollout wait times out naming what is not ready, reporting progress", async () => {
    const events: InstallProgressEvent[] = [];
    const error = await rejection(
      install({
        namespace: "mck-a",
        components: ["xds", "ebpf", "tstats"],
        wait: true,
        timeoutMs: 1500,
        pollIntervalMs: 200,
        onProgress: (e) => events.push(e),
      }),
    );
    expect(error.code).toBe("KUBE_TIMEOUT");
    expect(error.kind).toBe("environment");
    expect(error.message).toContain(
      "Deployment mck-a/meshctl-xds: 0/1 replicas ready (not yet observed by the Deployment controller)",
    );
    expect(error.message).toContain(
      "DaemonSet mck-a/meshctl-ebpf: 0/0 pods ready (not yet observed by the DaemonSet controller)",
    );
    expect(error.details).toMatchObject({ changed: false, rollout: { ready: false } });
    const polls = events.filter((e) => e.type === "rollout");
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.at(-1)).toMatchObject({ timeoutMs: 1500, report: { ready: false } });
  });

  test("uninstall --dry-run lists what would go, in order, and deletes nothing", async () => {
    const before = await ours("mck-a");
    const result = await uninstallMeshctl({ kubeConfig, namespace: "mck-a", dryRun: true });
    expect(result.dryRun).toBe(true);
    expect(result.objects.map((o) => `${o.kind}:${o.action}`)).toEqual([
      "DaemonSet:deleted",
      "Deployment:deleted",
      "Service:deleted",
      "ConfigMap:deleted",
      "ClusterRoleBinding:deleted",
      "ClusterRole:deleted",
      "ServiceAccount:deleted",
      "Namespace:deleted",
    ]);
    expect(await ours("mck-a")).toEqual(before);
  });

  test("uninstall removes what install created, and not what only looks like it", async () => {
    // Someone copied meshctl's labels onto their own ClusterRole: not applied by meshctl, so kept.
    await view.applyAs("someone-else", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: {
        name: "lookalike",
        labels: {
          "app.kubernetes.io/managed-by": "meshctl",
          "app.kubernetes.io/part-of": "meshctl",
          "app.kubernetes.io/instance": "mck-a",
        },
      },
      rules: [],
    });
    const result = await uninstallMeshctl({ kubeConfig, namespace: "mck-a" });
    expect(result.changed).toBe(true);
    expect(result.objects.find((o) => o.name === "lookalike")).toMatchObject({ action: "skipped" });
    expect(result.objects.find((o) => o.kind === "Namespace")).toMatchObject({
      action: "deleted",
      reason: expect.stringContaining("terminating"),
    });
    // Left: the namespace (Terminating: no namespace controller here) and the look-alike.
    const left = await ours("mck-a");
    expect([...left.keys()].sort()).toEqual(["ClusterRole lookalike", "Namespace mck-a"]);
    expect(left.get("Namespace mck-a")?.deletionTimestamp).toBe(true);

    const again = await uninstallMeshctl({ kubeConfig, namespace: "mck-a" });
    expect(again.changed).toBe(false);
    expect(again.objects.map((o) => `${o.kind}:${o.action}`).sort()).toEqual([
      "ClusterRole:skipped",
      "Namespace:terminating",
    ]);
    await expect(install({ namespace: "mck-a" })).rejects.toMatchObject({
      message: expect.stringContaining("being deleted"),
    });
  });

  test("a namespace meshctl did not create, or that holds someone else's objects, is never deleted", async () => {
    await install({ namespace: "mck-valid", components: ["xds"] });
    const foreign = await uninstallMeshctl({ kubeConfig, namespace: "mck-valid" });
    expect(foreign.objects.map((o) => o.kind)).not.toContain("Namespace");
    const ns = await view.read("v1", "Namespace", "mck-valid");
    expect(ns.metadata?.deletionTimestamp).toBeUndefined();

    await install({ namespace: "mck-shared", components: ["xds"] });
    await view.create({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "user-data", namespace: "mck-shared" },
    });
    const shared = await uninstallMeshctl({ kubeConfig, namespace: "mck-shared" });
    expect(shared.objects.find((o) => o.kind === "Namespace")).toMatchObject({
      action: "kept",
      reason: expect.stringContaining("ConfigMap mck-shared/user-data"),
    });
    expect([...(await ours("mck-shared")).keys()]).toEqual(["Namespace mck-shared"]);
  });

  test("CRDs: applied only when absent and asked for, kept by uninstall unless asked", async () => {
    // Istio's own VirtualService CRD is already there: never touched.
    await view.applyAs("istio", {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "virtualservices.networking.istio.io" },
      spec: {
        group: "networking.istio.io",
        scope: "Namespaced",
        names: {
          kind: "VirtualService",
          plural: "virtualservices",
          listKind: "VirtualServiceList",
          singular: "virtualservice",
        },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    });
    const crds = (r: { objects: readonly { kind: string; name: string; action: string }[] }) =>
      r.objects
        .filter((o) => o.kind === "CustomResourceDefinition")
        .map((o) => `${o.name.split(".")[0]}:${o.action}`);
    const first = await install({ namespace: "mck-crd", components: ["xds"], installCrds: true });
    expect(crds(first)).toEqual([
      "virtualservices:skipped",
      "destinationrules:created",
      "sidecars:created",
      "serviceentries:created",
      "workloadentries:created",
    ]);
    const second = await install({ namespace: "mck-crd", components: ["xds"], installCrds: true });
    expect(second.changed).toBe(false);
    expect(crds(second)).toEqual([
      "virtualservices:skipped",
      "destinationrules:unchanged",
      "sidecars:unchanged",
      "serviceentries:unchanged",
      "workloadentries:unchanged",
    ]);
    const kept = await uninstallMeshctl({ kubeConfig, namespace: "mck-crd" });
    expect(crds(kept)).toEqual([
      "destinationrules:kept",
      "serviceentries:kept",
      "sidecars:kept",
      "workloadentries:kept",
    ]);
    const removed = await uninstallMeshctl({ kubeConfig, namespace: "mck-crd", includeCrds: true });
    expect(crds(removed)).toEqual([
      "destinationrules:deleted",
      "serviceentries:deleted",
      "sidecars:deleted",
      "workloadentries:deleted",
    ]);
    // The API server finalizes a deleted CRD (removes its objects) before it disappears.
    await vi.waitFor(
      async () =>
        expect([...(await view.listAll("app.kubernetes.io/instance=mck-crd")).keys()]).toEqual([
          "Namespace mck-crd",
        ]),
      { timeout: 20_000, interval: 200 },
    );
    expect(
      (
        await view.read(
          "apiextensions.k8s.io/v1",
          "CustomResourceDefinition",
          "virtualservices.networking.istio.io",
        )
      ).metadata?.deletionTimestamp,
    ).toBeUndefined();
  });

  test("an unreachable API server is KUBE_UNREACHABLE, naming it", async () => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const dead = new KubeConfig();
    dead.loadFromOptions({
      clusters: [{ name: "dead", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "dead", cluster: "dead", user: "u" }],
      currentContext: "dead",
    });
    const error = await rejection(
      installMeshctl({ kubeConfig: dead, image, namespace: "mck-dead", parts: testParts }),
    );
    expect(error.code).toBe("KUBE_UNREACHABLE");
    expect(error.message).toContain("https://127.0.0.1:1");
  });
});
