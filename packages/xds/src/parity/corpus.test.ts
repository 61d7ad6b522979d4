import { describe, expect, test } from "vitest";
import { derivePlatform, PARITY_NODE_NAME } from "./corpus.js";
import { parityNode } from "./fetch.js";

const node = {
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name: "n-east",
    labels: { "topology.kubernetes.io/region": "us-east", "topology.kubernetes.io/zone": "us-east-1a" },
  },
};

function deployment(name: string, nodeName?: string) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...(nodeName ? { nodeName } : {}),
          containers: [{ name: "app", ports: [{ containerPort: 80 }] }],
        },
      },
    },
  };
}

const service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web" },
  spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80 }] },
};

describe("derivePlatform with Nodes", () => {
  const p = derivePlatform([node, deployment("web", "n-east"), deployment("other"), service], {
    index: 0,
    namespace: "demo",
  });

  test("a Node is cluster-scoped and adds no namespace", () => {
    const n = p.objects.find((o) => o.kind === "Node");
    expect(n?.metadata).toEqual({ name: "n-east", labels: node.metadata.labels });
    expect(p.objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata?.name)).toEqual(["demo"]);
  });

  test("pods run where their template says (else on the locality-less parity node)", () => {
    expect(p.pods.map((x) => [x.name, x.nodeName])).toEqual([
      ["web-0", "n-east"],
      ["other-0", PARITY_NODE_NAME],
    ]);
  });

  test("the EndpointSlice carries the node name and its zone, as the endpointslice controller writes them", () => {
    const slice = p.objects.find((o) => o.kind === "EndpointSlice") as {
      endpoints: Record<string, unknown>[];
    };
    expect(slice.endpoints[0]).toMatchObject({ nodeName: "n-east", zone: "us-east-1a" });
  });

  test("the Node's locality is known by name, and goes in a proxy's xDS Node", () => {
    const locality = p.localities.get("n-east");
    expect(locality).toEqual({ region: "us-east", zone: "us-east-1a", subzone: "" });
    const xdsNode = parityNode({
      id: "web-sidecar",
      kind: "envoy",
      nodeId: "sidecar~10.100.0.10~web-0.demo~demo.svc.cluster.local",
      namespace: "demo",
      labels: {},
      ...(locality ? { locality } : {}),
    });
    expect(xdsNode.locality).toEqual({ region: "us-east", zone: "us-east-1a", sub_zone: "" });
  });
});
