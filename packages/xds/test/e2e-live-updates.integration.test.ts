import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  destinationRule,
  endpointSlice,
  k8sService,
  toYaml,
  waitFor,
  writeMeshFiles,
} from "../src/testing/index.js";
import { countServers, createLab, type Lab, TARGET } from "./helpers.js";

function meshWith(ports: number[]) {
  return [
    k8sService({ name: "echo", namespace: "demo", port: 7070 }),
    ...endpointSlice({
      name: "echo",
      namespace: "demo",
      service: "echo",
      endpoints: ports.map((port) => ({ port })),
    }),
  ];
}

describe("live updates from the watched directory", () => {
  let lab: Lab;
  let breakClusters = false;
  const port: Record<string, number> = {};

  beforeAll(async () => {
    lab = await createLab(async () => {}, {
      nackBackoffMs: 200,
      testHooks: {
        // Provokes a NACK: grpc-js rejects clusters with an lb_policy it does not support.
        transformResource: (kind, _name, value) =>
          breakClusters && kind === "cds" ? { ...value, lb_policy: "MAGLEV" } : value,
      },
    });
    for (const id of ["a", "b", "c"]) port[id] = (await lab.startEcho({ id })).port;
    await writeMeshFiles(lab.dir, { "echo.yaml": meshWith([port.a as number]) });
    await waitFor(() => lab.xds.mesh().model.services.length === 1, { what: "initial mesh" });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
  });
  afterAll(async () => lab?.close());

  test("adding and removing endpoints reaches a running client within a second, as EDS only", async () => {
    const client = await lab.client(TARGET);
    await client.echo("warm up", {}, 10_000);
    expect(await countServers(client, 5)).toEqual({ a: 5 });
    const status = () => lab.xds.clients().find((c) => c.nodeId.includes("~client."));
    const before = status()?.types;

    await writeMeshFiles(lab.dir, { "echo.yaml": meshWith([port.a as number, port.b as number]) });
    const added = performance.now();
    await waitFor(async () => (await client.echo()).server === "b", {
      timeoutMs: 1000,
      intervalMs: 5,
      what: "endpoint b to receive traffic",
    });
    expect(performance.now() - added).toBeLessThan(1000);

    await writeMeshFiles(lab.dir, { "echo.yaml": meshWith([port.b as number]) });
    const removed = performance.now();
    await waitFor(
      async () => {
        const counts = await countServers(client, 4);
        return counts.b === 4;
      },
      { timeoutMs: 1000, intervalMs: 5, what: "endpoint a to stop receiving traffic" },
    );
    expect(performance.now() - removed).toBeLessThan(1000);
    // Incremental EDS: the grpc-js-xds client got new ClusterLoadAssignments, and its
    // listeners, routes and clusters were not sent again.
    const after = status()?.types;
    expect(after?.eds?.pushes).toBeGreaterThan(before?.eds?.pushes ?? 0);
    for (const kind of ["lds", "rds", "cds"] as const)
      expect(after?.[kind]?.pushes).toBe(before?.[kind]?.pushes);
  });

  test("a broken YAML edit is reported with file and line and leaves traffic untouched", async () => {
    const client = await lab.client(TARGET, "client-broken");
    await client.echo("warm up", {}, 10_000);
    const before = lab.xds.clients().find((c) => c.nodeId.includes("client-broken"));
    const pushesBefore = before?.types.eds?.pushes;

    await writeFile(
      join(lab.dir, "echo.yaml"),
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n  namespace: demo\nspec:\n  ports:\n    - port: [oops\n",
    );
    const snap = await waitFor(
      () => (lab.xds.mesh().rejectedFiles.includes("echo.yaml") ? lab.xds.mesh() : undefined),
      { what: "the broken file to be rejected" },
    );
    const diag = snap.diagnostics.find((d) => d.file === "echo.yaml" && d.severity === "error");
    expect(diag?.line).toBeGreaterThanOrEqual(8);
    expect(diag?.reason).toMatch(/YAML/);
    // The last good version still serves: same services, same endpoint.
    expect(snap.model.services.map((s) => s.hostname)).toEqual(["echo.demo.svc.cluster.local"]);
    expect(await countServers(client, 10)).toEqual({ b: 10 });
    const after = lab.xds.clients().find((c) => c.nodeId.includes("client-broken"));
    expect(after?.types.eds?.pushes).toBe(pushesBefore);

    // A semantically invalid edit of one object is rejected too, with the field's line; that
    // object keeps its last good version while the (unchanged) EndpointSlice beside it stays.
    await writeFile(
      join(lab.dir, "echo.yaml"),
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n  namespace: demo\nspec:\n  ports:\n    - port: 99999\n---\n${toYaml(meshWith([port.b as number]).slice(1))}`,
    );
    const snap2 = await waitFor(() => lab.xds.mesh().diagnostics.find((d) => d.reason.includes("65535")), {
      what: "validation error",
    });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
    expect(snap2).toMatchObject({ file: "echo.yaml", line: 8, path: "spec.ports[0].port" });
    expect(await countServers(client, 5)).toEqual({ b: 5 });

    // Fixing the file applies again.
    await writeMeshFiles(lab.dir, { "echo.yaml": meshWith([port.c as number]) });
    await waitFor(async () => (await client.echo()).server === "c", {
      timeoutMs: 3000,
      what: "the fixed file to apply",
    });
    expect(lab.xds.mesh().rejectedFiles).toEqual([]);
  });

  test("a NACKed cluster is recorded and not resent in a loop", async () => {
    const client = await lab.client(TARGET, "client-nack");
    await client.echo("warm up", {}, 10_000);
    const status = () => lab.xds.clients().find((c) => c.nodeId.includes("client-nack"));
    const cdsPushes = status()?.types.cds?.pushes ?? 0;

    breakClusters = true;
    // A routing change regenerates the clusters (an endpoint change alone would only send EDS).
    await writeMeshFiles(lab.dir, {
      "echo.yaml": [
        ...meshWith([port.c as number, port.a as number]),
        destinationRule({
          name: "echo",
          namespace: "demo",
          host: "echo",
          trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } },
        }),
      ],
    });
    const nacked = await waitFor(() => (status()?.types.cds?.nacks === 1 ? status() : undefined), {
      timeoutMs: 3000,
      what: "a CDS NACK",
    });
    expect(nacked?.types.cds?.lastNackError).toMatch(/lb_policy/);
    // Wait well past the NACK backoff: no further CDS responses, no further NACKs.
    await new Promise((r) => setTimeout(r, 1000));
    expect(status()?.types.cds?.pushes).toBe(cdsPushes + 1);
    expect(status()?.types.cds?.nacks).toBe(1);
    // The client keeps its last accepted cluster; traffic flows.
    await client.echo("still works");

    const metrics = await fetch(`http://127.0.0.1:${lab.xds.debugPort}/metrics`).then((r) => r.text());
    // Every connected client rejected the same clusters once (3 clients in this file).
    expect(metrics).toMatch(/meshctl_xds_nacks_total\{type="cds"\} 3/);
    const clients = (await fetch(`http://127.0.0.1:${lab.xds.debugPort}/debug/clients`).then((r) =>
      r.json(),
    )) as { clients: { nodeId: string; types: { cds: { lastNackError: string } } }[] };
    expect(clients.clients.find((c) => c.nodeId.includes("client-nack"))?.types.cds.lastNackError).toMatch(
      /lb_policy/,
    );

    // A good config is accepted again.
    breakClusters = false;
    await writeMeshFiles(lab.dir, { "echo.yaml": meshWith([port.c as number]) });
    await waitFor(
      () =>
        status()?.types.cds?.pushes === cdsPushes + 2 &&
        status()?.types.cds?.ackedVersion === status()?.types.cds?.lastVersionSent,
      {
        timeoutMs: 3000,
        what: "the fixed cluster to be ACKed",
      },
    );
  });
});
