import { describe, expect, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseMeshFile } from "../model/parse-documents.js";
import { ChurnPlanner } from "./churn.js";
import { generateSyntheticMesh, markerAddress, SHARED_NAMESPACE } from "./synthetic-mesh.js";

describe("generateSyntheticMesh", () => {
  test("defaults: 1000 services x 10 endpoints in 49 namespaces + shared, 10 % routed, Sidecar per namespace", () => {
    const { files, description } = generateSyntheticMesh();
    expect(description.services).toHaveLength(1000);
    expect(description.namespaces).toHaveLength(50);
    expect(description.namespaces[0]).toBe("ns-00");
    expect(description.namespaces[48]).toBe("ns-48");
    expect(description.namespaces[49]).toBe(SHARED_NAMESPACE);
    expect(description.services.filter((s) => s.routed)).toHaveLength(100);
    expect(description.services.every((s) => s.endpoints.length === 10)).toBe(true);
    const sidecars = Object.keys(files).filter((f) => f.endsWith("/sidecar.yaml"));
    expect(sidecars).toHaveLength(50);
    expect(files["ns-07/sidecar.yaml"]).toContain("shared/*");
    expect(Object.keys(files)).toHaveLength(1050);
    expect(files["ns-00/svc-0.yaml"]).toContain("- svc-0.ns-00.svc.cluster.local");
  });

  test("--no-scoping omits the Sidecars", () => {
    const { files } = generateSyntheticMesh({ services: 10, namespaces: 3, scoping: false });
    expect(Object.keys(files).filter((f) => f.endsWith("sidecar.yaml"))).toEqual([]);
    expect(Object.keys(files)).toHaveLength(10);
  });

  test("every endpoint address is unique, inside 10.16.0.0/12, and no churn marker collides", () => {
    const { description } = generateSyntheticMesh({ services: 2000, endpoints: 20 });
    const all = description.services.flatMap((s) => s.endpoints.map((e) => e.address));
    expect(new Set(all).size).toBe(40_000);
    const outside = all.filter((a) => {
      const [x, y] = a.split(".").map(Number);
      return x !== 10 || (y ?? 0) < 16 || (y ?? 0) >= 32;
    });
    expect(outside).toEqual([]);
    const base = new Set(all);
    const collisions: string[] = [];
    for (let seq = 0; seq < 70_000; seq++) {
      const m = markerAddress(seq);
      if (base.has(m) || Number(m.split(".")[1]) < 128) collisions.push(m);
    }
    expect(collisions).toEqual([]);
    expect(markerAddress(1)).not.toBe(markerAddress(2));
  });

  test("a hand-rendered service file is the YAML of the intended objects", () => {
    const { description, files } = generateSyntheticMesh({ services: 10, namespaces: 2, routedFraction: 1 });
    const svc = description.services[3];
    if (!svc) throw new Error("no service");
    const docs = parseAllDocuments(files[svc.file] ?? "").map((d) => d.toJSON());
    expect(docs.map((d) => d.kind)).toEqual(["ServiceEntry", "VirtualService", "DestinationRule"]);
    expect(docs[0]).toEqual({
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: svc.name, namespace: svc.namespace },
      spec: {
        hosts: [svc.host],
        location: "MESH_INTERNAL",
        resolution: "STATIC",
        ports: [{ number: 8080, name: "http-web", protocol: "HTTP" }],
        endpoints: svc.endpoints.map((e) => ({ address: e.address, labels: { version: e.version } })),
      },
    });
    expect(docs[1].spec.http[0].route.map((r: { weight: number }) => r.weight)).toEqual([...svc.weights]);
    expect(docs[2].spec.subsets).toEqual([
      { name: "v1", labels: { version: "v1" } },
      { name: "v2", labels: { version: "v2" } },
    ]);
  });

  test("meshctl's parser accepts every file without a diagnostic", () => {
    const { files } = generateSyntheticMesh({ services: 30, namespaces: 4, routedFraction: 0.5 });
    for (const [rel, text] of Object.entries(files)) {
      const parsed = parseMeshFile(rel, text);
      expect(parsed.diagnostics, rel).toEqual([]);
      expect(parsed.valid, rel).toBe(true);
    }
  });

  test("churn keeps the files valid and markers unique; endpoint churn never takes a reserved address", () => {
    const { description } = generateSyntheticMesh({
      services: 5,
      namespaces: 2,
      routedFraction: 0.4,
      endpoints: 3,
    });
    const reserved = new Set(description.services.map((s) => s.endpoints[0]?.address ?? ""));
    const planner = new ChurnPlanner(description, {
      kinds: ["endpoints", "routes", "services"],
      reservedAddresses: reserved,
    });
    const markers = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const change = planner.next();
      markers.add(change.marker);
      for (const [rel, text] of Object.entries(change.files))
        expect(parseMeshFile(rel, text).diagnostics).toEqual([]);
      if (change.kind === "endpoints") {
        expect(change.service.endpoints.map((e) => e.address)).toContain(change.marker);
        // Slot 0 holds a reserved (proxy) address in this test: it is never replaced.
        if (change.service.index < 5)
          expect(reserved.has(change.service.endpoints[0]?.address ?? "")).toBe(true);
        expect(change.affectedNames[0]).toBe(`outbound|8080||${change.service.host}`);
      }
      if (change.kind === "routes") expect(change.files[change.service.file]).toContain(change.marker);
    }
    expect(markers.size).toBe(60);
  });
});
