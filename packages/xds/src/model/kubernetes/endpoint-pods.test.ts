import { describe, expect, test } from "vitest";
import { assembleMeshModel } from "../assemble.js";
import { type MeshItem, parseMeshObject } from "../parse-documents.js";

// istiod's rules (pilot/pkg/serviceregistry/kube/controller: endpointslice.go getPod, the
// EndpointBuilder, getPodLocality), written from its source, not from this code.
const items = (objects: object[]): MeshItem[] =>
  objects.map((o) => {
    const parsed = parseMeshObject(o);
    if (!parsed.item) throw new Error(JSON.stringify(parsed.diagnostics));
    return parsed.item;
  });
const service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "echo", namespace: "demo" },
  spec: { ports: [{ name: "grpc", port: 7070 }] },
};
const slice = (endpoints: object[]) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name: "echo-1",
    namespace: "demo",
    labels: { "kubernetes.io/service-name": "echo", version: "from-slice" },
  },
  ports: [{ name: "grpc", port: 7070 }],
  endpoints,
});
const pod = (name: string, labels: Record<string, string>, extra: object = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "demo", labels },
  spec: { nodeName: "n1", containers: [] },
  ...extra,
});
const node = {
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name: "n1",
    labels: { "topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "z-node" },
  },
};
const ref = (name: string) => ({ kind: "Pod", namespace: "demo", name });
const endpointsOf = (objects: object[], mode: "pods" | "slice") =>
  assembleMeshModel(items(objects), { endpointLabels: mode }).model.endpoints.get(
    "echo.demo.svc.cluster.local",
  );

describe("EndpointSlice endpoints take their labels and locality from Pods (endpointLabels: pods)", () => {
  test("labels from the targetRef Pod, never from the slice; locality from the Pod's Node", () => {
    const eps = endpointsOf(
      [
        service,
        node,
        pod("a", { version: "v1" }),
        slice([{ addresses: ["10.0.0.1"], targetRef: ref("a"), zone: "z-slice" }]),
      ],
      "pods",
    );
    expect(eps?.map((e) => [e.labels, e.locality])).toEqual([
      [{ version: "v1" }, { region: "r", zone: "z-node", subzone: "" }],
    ]);
  });

  test("an endpoint whose Pod is not known yet waits for it; one without a targetRef has no labels", () => {
    const eps = endpointsOf(
      [
        service,
        slice([
          { addresses: ["10.0.0.1"], targetRef: ref("later") },
          { addresses: ["10.0.0.2"], zone: "z-slice" },
        ]),
      ],
      "pods",
    );
    expect(eps?.map((e) => [e.address, e.labels, e.locality.zone])).toEqual([["10.0.0.2", {}, "z-slice"]]);
  });

  test("without a targetRef, the Pod is found by its IP", () => {
    const eps = endpointsOf(
      [
        service,
        pod("a", { version: "v2" }, { status: { podIP: "10.0.0.3" } }),
        slice([{ addresses: ["10.0.0.3"] }]),
      ],
      "pods",
    );
    expect(eps?.[0]?.labels).toEqual({ version: "v2" });
  });

  test("istio-locality on the Pod wins; without a Node, the Pod's own topology labels", () => {
    const labelled = endpointsOf(
      [
        service,
        node,
        pod("a", { "istio-locality": "r2.z2.s2" }),
        slice([{ addresses: ["10.0.0.1"], targetRef: ref("a") }]),
      ],
      "pods",
    );
    expect(labelled?.[0]?.locality).toEqual({ region: "r2", zone: "z2", subzone: "s2" });
    const noNode = endpointsOf(
      [
        service,
        pod("a", { "topology.kubernetes.io/zone": "z-pod" }),
        slice([{ addresses: ["10.0.0.1"], targetRef: ref("a"), zone: "z-slice" }]),
      ],
      "pods",
    );
    expect(noNode?.[0]?.locality.zone).toBe("z-pod");
  });

  test("YAML directories (endpointLabels: slice) keep the slice's labels when no Pod is given", () => {
    const eps = endpointsOf(
      [service, slice([{ addresses: ["10.0.0.1"], targetRef: ref("absent") }])],
      "slice",
    );
    expect(eps?.map((e) => e.labels)).toEqual([{ version: "from-slice" }]);
  });

  test("a Pod label change changes the endpoints (a new version), an unrelated Pod does not", () => {
    const base = [service, node, slice([{ addresses: ["10.0.0.1"], targetRef: ref("a") }])];
    const first = assembleMeshModel(items([...base, pod("a", { version: "v1" }), pod("other", { x: "1" })]), {
      endpointLabels: "pods",
    });
    const unrelated = assembleMeshModel(
      items([...base, pod("a", { version: "v1" }), pod("other", { x: "2" })]),
      { endpointLabels: "pods", previous: first },
    );
    expect(unrelated.model.endpoints.get("echo.demo.svc.cluster.local")).toBe(
      first.model.endpoints.get("echo.demo.svc.cluster.local"),
    );
    const relabelled = assembleMeshModel(
      items([...base, pod("a", { version: "v2" }), pod("other", { x: "2" })]),
      { endpointLabels: "pods", previous: unrelated },
    );
    expect(relabelled.model.endpoints.get("echo.demo.svc.cluster.local")?.[0]?.labels).toEqual({
      version: "v2",
    });
  });
});
