import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { probeXdsControlPlane } from "../src/index.js";
import { endpointSlice, k8sService, waitFor, writeMeshFiles } from "../src/testing/index.js";
import { countServers, createLab, type Lab, TARGET } from "./helpers.js";

describe("proxyless gRPC through xds:/// (round robin)", () => {
  let lab: Lab;
  const ports: number[] = [];

  beforeAll(async () => {
    lab = await createLab(async () => {});
    for (const id of ["a", "b", "c"]) ports.push((await lab.startEcho({ id })).port);
    await writeMeshFiles(lab.dir, {
      "echo.yaml": [
        k8sService({ name: "echo", namespace: "demo", port: 7070 }),
        ...endpointSlice({
          name: "echo",
          namespace: "demo",
          service: "echo",
          endpoints: ports.map((port) => ({ port })),
        }),
      ],
    });
  });
  afterAll(async () => lab?.close());

  test("spreads calls evenly over all endpoints", async () => {
    const client = await lab.client(TARGET);
    await client.echo("warm up", {}, 10_000);
    // Round robin only spans READY subchannels: wait until all three have answered once.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        seen.add((await client.echo()).server);
        return seen.size === 3;
      },
      { timeoutMs: 10_000, what: "all endpoints to answer" },
    );
    const counts = await countServers(client, 30);
    expect(counts).toEqual({ a: 10, b: 10, c: 10 });
  });

  test("the client is listed with ACKed versions for all four types", async () => {
    const [status] = lab.xds.clients();
    expect(status?.proxyType).toBe("grpc");
    for (const kind of ["lds", "rds", "cds", "eds"]) {
      expect(status?.types[kind]?.ackedVersion, kind).toBeTruthy();
      expect(status?.types[kind]?.nacks, kind).toBe(0);
    }
    expect(status?.types.lds?.subscribed).toEqual(["echo.demo.svc.cluster.local:7070"]);
    expect(status?.types.cds?.subscribed).toEqual(["outbound|7070||echo.demo.svc.cluster.local"]);
  });

  test("debug HTTP dumps the config that node received", async () => {
    const nodeId = lab.xds.clients()[0]?.nodeId ?? "";
    const res = await fetch(
      `http://127.0.0.1:${lab.xds.debugPort}/debug/config_dump?node=${encodeURIComponent(nodeId)}&type=eds`,
    );
    expect(res.status).toBe(200);
    const dump = (await res.json()) as {
      types: {
        eds: { resources: { name: string; resource: { endpoints: { lb_endpoints: unknown[] }[] } }[] };
      };
    };
    const cla = dump.types.eds.resources.find((r) => r.name === "outbound|7070||echo.demo.svc.cluster.local");
    expect(cla?.resource.endpoints[0]?.lb_endpoints).toHaveLength(3);
    const missing = await fetch(`http://127.0.0.1:${lab.xds.debugPort}/debug/config_dump?node=nobody`);
    expect(missing.status).toBe(404);
  });

  test("probeXdsControlPlane reads clients through the debug port, and reports an absent one", async () => {
    const probe = await probeXdsControlPlane({ url: `http://127.0.0.1:${lab.xds.debugPort}` });
    expect(probe).toMatchObject({ reachable: true, error: null, rejectedFiles: [] });
    expect(probe.clients).toHaveLength(1);
    const absent = await probeXdsControlPlane({ url: "http://127.0.0.1:1", timeoutMs: 500 });
    expect(absent.reachable).toBe(false);
    expect(absent.error).toBeTruthy();
  });
});
