import { describe, expect, test } from "vitest";
import { renderConfigDump } from "./config-dump.js";
import { defaultMeshDirectory } from "./default-mesh.js";
import { loadMeshDirectory } from "./model/directory-source.js";

describe("embedded example mesh and config-dump", () => {
  test("the example mesh loads without diagnostics", async () => {
    const snap = await loadMeshDirectory(defaultMeshDirectory());
    expect(snap.diagnostics).toEqual([]);
    expect(snap.model.services.map((s) => s.hostname)).toEqual([
      "billing.example.internal",
      "echo.demo.svc.cluster.local",
    ]);
  });

  test("renderConfigDump shows what a gRPC client receives, decoded", async () => {
    const dump = await renderConfigDump({
      configDir: defaultMeshDirectory(),
      nodeId: "grpc~127.0.0.1~client.demo~demo.svc.cluster.local",
      type: "rds",
    });
    expect(Object.keys(dump.types)).toEqual(["rds"]);
    const route = dump.types.rds?.resources.find(
      (r) => r.name === "outbound|7070||echo.demo.svc.cluster.local",
    );
    expect(route?.resource["@type"]).toBe("type.googleapis.com/envoy.config.route.v3.RouteConfiguration");
    expect(JSON.stringify(route?.resource)).toContain("outbound|7070|v2|echo.demo.svc.cluster.local");
  });

  test("renderConfigDump for an Envoy sidecar includes the 15001/15006 listeners", async () => {
    const dump = await renderConfigDump({
      configDir: defaultMeshDirectory(),
      nodeId: "sidecar~127.0.0.1~web.demo~demo.svc.cluster.local",
      type: "lds",
    });
    expect(dump.types.lds?.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(["virtualOutbound", "virtualInbound"]),
    );
  });

  test("a missing directory is a usage error with a stable code", async () => {
    await expect(renderConfigDump({ configDir: "/nonexistent/mcx", nodeId: "x" })).rejects.toMatchObject({
      code: "XDS_CONFIG_DIR_MISSING",
      kind: "usage",
    });
  });
});
