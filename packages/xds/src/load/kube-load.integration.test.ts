import { requirementGate } from "@meshctl/core/testing";
import { describe, expect, test } from "vitest";
import { ChurnPlanner } from "./churn.js";
import { KubeApiWriter } from "./kube-api.js";
import { KubeChurnWriter } from "./kube-churn.js";
import { endpointSlicePath, loadSyntheticMeshIntoKube, podPath } from "./kube-mesh.js";
import type { XdsLoadOptions } from "./load-types.js";
import { runXdsLoad } from "./run-xds-load.js";
import { generateSyntheticMesh } from "./synthetic-mesh.js";
import { IstiodTarget, type KubeHandle } from "./target-istiod.js";
import { kubePeerAvailability } from "./target-kube.js";

// Smoke runs of the kube path on the loopback kube-apiserver: a few services and proxies, seconds.
// istiod reading the API server is compared by `npm run bench:xds-kube` (istiod is a benchmark
// peer, built by `npm run bench:xds-peers`, not a test component).
const peers = await kubePeerAvailability();
const kubeGate = requirementGate(
  "kube-apiserver",
  peers.kube.ok ? undefined : peers.kube.reason,
  "kube load",
);

const SMALL: XdsLoadOptions = {
  proxies: 12,
  grpcFraction: 0.25,
  services: 12,
  namespaces: 3,
  routedFraction: 0.25,
  churnRate: 20,
  churnSeconds: 2,
  churnKinds: ["endpoints"],
  timeoutSeconds: 60,
};

describe.skipIf(kubeGate.skip)("the synthetic mesh in a kube-apiserver", () => {
  test("is loaded as Pods, Services and EndpointSlices, and churned by slice patches", {
    timeout: 90_000,
  }, async () => {
    if (kubeGate.missing) throw new Error(kubeGate.missing);
    const kube: KubeHandle = await (await IstiodTarget.launcher("kube")).startKubeApiserver({});
    const api = new KubeApiWriter(kube);
    try {
      const mesh = generateSyntheticMesh({ services: 4, namespaces: 2, routedFraction: 0.5 });
      const loaded = await loadSyntheticMeshIntoKube(api, mesh);
      // 4 services x 10 pods, 4 Services + 4 slices, 2 VS + 2 DR, 2 Sidecars, 3 namespaces + 3 SAs, 1 node, 14 CRDs.
      expect(loaded.objects).toBe(40 + 8 + 4 + 2 + 6 + 1 + 14);
      const service = mesh.description.services[1];
      if (!service) throw new Error("no service");
      const pod = JSON.parse(
        (await api.request("GET", podPath(service.namespace, `${service.name}-4`))).body,
      );
      expect(pod.metadata.labels).toEqual({ app: service.name, version: "v2" });
      expect(pod.status.podIP).toBe(service.endpoints[4]?.address);
      expect(pod.status.conditions).toContainEqual(
        expect.objectContaining({ type: "Ready", status: "True" }),
      );
      const vs = await api.request(
        "GET",
        `/apis/networking.istio.io/v1/namespaces/${service.namespace}/virtualservices/${service.name}`,
      );
      expect(vs.status).toBe(200);

      const planner = new ChurnPlanner(mesh.description, { kinds: ["endpoints"], seed: 3 });
      const writer = new KubeChurnWriter(api);
      const changes = [planner.next(), planner.next(), planner.next()];
      for (const c of changes) await writer.apply(c);
      await writer.settle();
      expect(writer.stats()).toMatchObject({ writes: 3, failures: 0, firstError: null });
      const last = changes[2];
      if (!last) throw new Error("no change");
      const slice = JSON.parse(
        (await api.request("GET", endpointSlicePath(last.service.namespace, last.service.name))).body,
      );
      const addresses = slice.endpoints.map((e: { addresses: string[] }) => e.addresses[0]);
      expect(addresses).toContain(last.marker);
      expect(addresses).toEqual(last.service.endpoints.map((e) => e.address));
      const slot = addresses.indexOf(last.marker);
      expect(slice.endpoints[slot].targetRef).toEqual({
        kind: "Pod",
        namespace: last.service.namespace,
        name: `${last.service.name}-${slot}`,
      });
    } finally {
      api.close();
      await kube.close();
    }
  });
});

describe.skipIf(kubeGate.skip)("runXdsLoad against meshctl's Kubernetes source", () => {
  test("proxies converge and receive every endpoint change as EDS only", { timeout: 120_000 }, async () => {
    if (kubeGate.missing) throw new Error(kubeGate.missing);
    const report = await runXdsLoad({ ...SMALL, target: "meshctl-kube" });
    expect(report.target.name).toBe("meshctl-kube");
    expect(report.initial).toMatchObject({ converged: 12, notConverged: 0 });
    expect(report.initial.serverStartMs).toBeGreaterThan(0);
    expect(report.initial.syncMs).toBe(
      (report.initial.serverStartMs ?? 0) + (report.initial.allConvergedMs ?? 0),
    );
    expect(report.target.details).toMatchObject({ churnWriteFailures: 0 });
    expect(report.target.details.churnWrites).toBe(report.churn.applied);
    const endpoints = report.churn.byKind.endpoints;
    expect(endpoints?.expectedReceipts).toBeGreaterThan(0);
    expect(endpoints?.leftBehind).toBe(0);
    expect(report.server?.cpuSeconds.start).toBeGreaterThan(0);
    expect(Object.keys(report.serverComponents).sort()).toEqual(["apiserver", "etcd"]);
    // An EndpointSlice patch is an endpoints-only change: no cluster, listener or route rebuilt.
    const churn = report.serverMetricsChurn;
    expect(churn['meshctl_xds_cache_misses_total{type="cds"}'] ?? 0).toBe(0);
    expect(churn['meshctl_xds_cache_misses_total{type="view"}'] ?? 0).toBe(0);
    expect(churn['meshctl_xds_cache_misses_total{type="eds"}'] ?? 0).toBeGreaterThan(0);
  });
});
