import { describe, expect, test } from "vitest";
import type { MeshSourceEvent } from "./source.js";
import { staticMeshSource } from "./static-source.js";

const service = (port: number | string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "echo", namespace: "demo" },
  spec: { ports: [{ name: "grpc", port }] },
});
const slice = (address: string) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "echo-0", namespace: "demo", labels: { "kubernetes.io/service-name": "echo" } },
  addressType: "IPv4",
  ports: [{ name: "grpc", port: 7070 }],
  endpoints: [{ addresses: [address] }],
});

describe("staticMeshSource", () => {
  test("plain objects are validated like YAML, diagnostics name Kind/namespace/name and the field", async () => {
    const source = staticMeshSource([service(70000), slice("10.0.0.1")]);
    const snap = await source.start(() => {});
    expect(snap.model.services).toEqual([]);
    expect(snap.diagnostics[0]).toMatchObject({
      severity: "error",
      file: "Service/demo/echo",
      line: 0,
      path: "spec.ports[0].port",
    });
  });

  test("update() reports endpoint-only changes as such, and a bad update keeps the last good object", async () => {
    const source = staticMeshSource([service(7070), slice("10.0.0.1")]);
    const events: MeshSourceEvent[] = [];
    await source.start((e) => events.push(e));
    source.update([service(7070), slice("10.0.0.2")]);
    expect(events[0]).toMatchObject({
      type: "config-applied",
      change: { full: false, keys: [{ kind: "Endpoints", name: "echo.demo.svc.cluster.local" }] },
    });
    expect(events[0]?.type === "config-applied" && [...events[0].change.dependencies].sort()).toEqual([
      "addr:10.0.0.1",
      "addr:10.0.0.2",
      "eps:echo.demo.svc.cluster.local",
    ]);
    source.update([service("not-a-port"), slice("10.0.0.2")]);
    expect(events[1]).toMatchObject({ type: "diagnostics-changed" });
    expect(source.current().model.services[0]?.ports[0]?.port).toBe(7070);
    source.update([service(8080), slice("10.0.0.2")]);
    expect(events[2]).toMatchObject({
      type: "config-applied",
      change: { full: true, keys: [{ kind: "Service", namespace: "demo", name: "echo" }] },
    });
  });
});
