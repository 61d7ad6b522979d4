import { describe, expect, test } from "vitest";
import {
  describeWorkloadRollout,
  KubeError,
  type KubeObject,
  meshctlImage,
  parseInstallComponents,
  renderInstallManifests,
  renderManifestsYaml,
} from "../src/index.js";
import { testParts } from "./install-fixture.js";

const image = "registry.example/meshctl:1.2.3";
const ids = (objects: readonly KubeObject[]) =>
  objects.map((o) =>
    o.metadata.namespace
      ? `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`
      : `${o.kind} ${o.metadata.name}`,
  );

describe("renderInstallManifests", () => {
  test("default components (xds, ebpf) in apply order", () => {
    const objects = renderInstallManifests({ parts: testParts, image }).map((m) => m.object);
    expect(ids(objects)).toEqual([
      "Namespace meshctl-system",
      "ServiceAccount meshctl-system/meshctl-xds",
      "ClusterRole meshctl-xds-meshctl-system",
      "ClusterRoleBinding meshctl-xds-meshctl-system",
      "Service meshctl-system/meshctl-xds",
      "Deployment meshctl-system/meshctl-xds",
      "DaemonSet meshctl-system/meshctl-ebpf",
    ]);
  });

  test("every component and the CRDs: stable YAML (snapshot)", async () => {
    const render = () =>
      renderManifestsYaml(
        renderInstallManifests({
          parts: testParts,
          image,
          vppImage: "registry.example/vpp:26.06",
          components: ["xds", "ebpf", "tstats", "vpp"],
          installCrds: true,
        }).map((m) => m.object),
      );
    const yaml = render();
    expect(render()).toBe(yaml);
    await expect(yaml).toMatchFileSnapshot("./__snapshots__/install-all-components.yaml");
  });

  test("RBAC is get/list/watch of what the Kubernetes source reads, and nothing else", () => {
    const role = renderInstallManifests({ parts: testParts, image, components: ["xds"] }).find(
      (m) => m.object.kind === "ClusterRole",
    );
    // Written from the source's needs, not from the code: services, pods, namespaces, nodes,
    // EndpointSlices (not Endpoints) and the five Istio networking kinds.
    const granted = new Set<string>();
    for (const rule of (role?.object.rules ?? []) as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }[]) {
      expect([...rule.verbs].sort()).toEqual(["get", "list", "watch"]);
      for (const g of rule.apiGroups) for (const r of rule.resources) granted.add(`${g || "core"}/${r}`);
    }
    expect([...granted].sort()).toEqual(
      [
        "core/services",
        "core/pods",
        "core/namespaces",
        "core/nodes",
        "discovery.k8s.io/endpointslices",
        "networking.istio.io/virtualservices",
        "networking.istio.io/destinationrules",
        "networking.istio.io/sidecars",
        "networking.istio.io/serviceentries",
        "networking.istio.io/workloadentries",
      ].sort(),
    );
    const binding = renderInstallManifests({
      parts: testParts,
      image,
      namespace: "mesh-a",
      components: ["xds"],
    }).find((m) => m.object.kind === "ClusterRoleBinding");
    expect(binding?.object).toMatchObject({
      metadata: { name: "meshctl-xds-mesh-a" },
      roleRef: { kind: "ClusterRole", name: "meshctl-xds-mesh-a" },
      subjects: [{ kind: "ServiceAccount", name: "meshctl-xds", namespace: "mesh-a" }],
    });
  });

  test("every object and pod template carries meshctl's labels; only the control plane gets an API token", () => {
    const manifests = renderInstallManifests({
      parts: testParts,
      image,
      namespace: "mesh-b",
      components: ["xds", "ebpf", "tstats", "vpp"],
      installCrds: true,
    });
    for (const { object, part } of manifests) {
      const expected = {
        "app.kubernetes.io/managed-by": "meshctl",
        "app.kubernetes.io/part-of": "meshctl",
        "app.kubernetes.io/component": part,
        "app.kubernetes.io/instance": "mesh-b",
      };
      expect(object.metadata.labels, `${object.kind}/${object.metadata.name}`).toMatchObject(expected);
      const template = (
        object.spec as { template?: { metadata: { labels: object }; spec: Record<string, unknown> } }
      )?.template;
      if (template) {
        expect(template.metadata.labels).toMatchObject(expected);
        if (object.kind === "DaemonSet") expect(template.spec.automountServiceAccountToken).toBe(false);
        else expect(template.spec.serviceAccountName).toBe("meshctl-xds");
      }
      if (object.metadata.namespace !== undefined) expect(object.metadata.namespace).toBe("mesh-b");
    }
  });

  test("the control plane runs `meshctl xds serve` listening on the pod; tstats mounts its setting", () => {
    const manifests = renderInstallManifests({ parts: testParts, image, components: ["xds", "tstats"] });
    const deployment = manifests.find((m) => m.object.kind === "Deployment")?.object as KubeObject;
    const container = (deployment.spec as { template: { spec: { containers: Record<string, unknown>[] } } })
      .template.spec.containers[0];
    expect(container).toMatchObject({
      image,
      command: ["meshctl"],
      args: [
        "xds",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "15010",
        "--debug-port",
        "15014",
        "--debug-host",
        "0.0.0.0",
        "--insecure",
      ],
      env: [
        // glibc's fixed mmap threshold: read buffers do not fragment the control plane's heap.
        { name: "MALLOC_MMAP_THRESHOLD_", value: "65536" },
        { name: "MESHCTL_CONFIG_DIR", value: "/etc/meshctl" },
      ],
      volumeMounts: [{ name: "config", mountPath: "/etc/meshctl", readOnly: true }],
    });
    const configMap = manifests.find((m) => m.part === "tstats")?.object as KubeObject;
    expect(JSON.parse((configMap.data as Record<string, string>)["tstats.json"] ?? "")).toEqual({
      enabled: true,
      filters: {},
    });
  });

  test("components and images", () => {
    expect(parseInstallComponents("xds, ebpf,xds")).toEqual(["xds", "ebpf"]);
    expect(() => parseInstallComponents("xds,warp")).toThrow(/Unknown component "warp"/);
    const error = (() => {
      try {
        parseInstallComponents("tstats");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(KubeError);
    expect(error).toMatchObject({ code: "KUBE_OPTIONS_INVALID", kind: "usage" });
    expect(meshctlImage({ version: "0.1.0" })).toBe("ghcr.io/meshctl/meshctl:0.1.0");
    expect(meshctlImage({ registry: "mirror.example:5000/x/", version: "0.1.0" })).toBe(
      "mirror.example:5000/x/meshctl:0.1.0",
    );
  });
});

describe("describeWorkloadRollout (kubectl rollout status rules)", () => {
  const deployment = (status: Record<string, unknown> | undefined, generation = 1): KubeObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "meshctl-xds", namespace: "ns", generation },
    spec: { replicas: 1 },
    ...(status ? { status } : {}),
  });
  const daemonSet = (status: Record<string, unknown> | undefined): KubeObject => ({
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "meshctl-ebpf", namespace: "ns", generation: 1 },
    ...(status ? { status } : {}),
  });

  test("a Deployment no controller has seen, one rolling, one done", () => {
    expect(describeWorkloadRollout(deployment(undefined))).toMatchObject({
      ready: false,
      summary: "0/1 replicas ready (not yet observed by the Deployment controller)",
    });
    expect(
      describeWorkloadRollout(deployment({ observedGeneration: 2, replicas: 2, updatedReplicas: 1 }, 2)),
    ).toMatchObject({ ready: false, summary: "0/1 replicas ready (1 old replicas pending termination)" });
    expect(
      describeWorkloadRollout(
        deployment({ observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 }),
      ),
    ).toEqual({
      kind: "Deployment",
      namespace: "ns",
      name: "meshctl-xds",
      ready: true,
      summary: "1/1 replicas ready",
    });
    expect(
      describeWorkloadRollout(
        deployment({
          observedGeneration: 1,
          conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
        }),
      ).summary,
    ).toBe("0/1 replicas ready (exceeded its progress deadline)");
  });

  test("a DaemonSet: unobserved, partly available, done, and done on zero nodes", () => {
    expect(describeWorkloadRollout(daemonSet(undefined)).summary).toBe(
      "0/0 pods ready (not yet observed by the DaemonSet controller)",
    );
    expect(
      describeWorkloadRollout(
        daemonSet({
          observedGeneration: 1,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 2,
        }),
      ),
    ).toMatchObject({ ready: false, summary: "2/3 pods ready" });
    expect(
      describeWorkloadRollout(
        daemonSet({
          observedGeneration: 1,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 3,
        }),
      ).ready,
    ).toBe(true);
    expect(
      describeWorkloadRollout(daemonSet({ observedGeneration: 1, desiredNumberScheduled: 0 })).ready,
    ).toBe(true);
  });
});
