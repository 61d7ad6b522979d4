import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  destinationRule,
  endpointSlice,
  k8sService,
  virtualService,
  waitFor,
  writeMeshFiles,
} from "../src/testing/index.js";
import { countServers, createLab, type Lab, TARGET } from "./helpers.js";

describe("VirtualService routing for proxyless gRPC", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await createLab(async () => {});
    const v1 = await lab.startEcho({ id: "v1" });
    const v2 = await lab.startEcho({ id: "v2" });
    // Fails every even call (0, 2, 4, ...) with UNAVAILABLE.
    const flaky = await lab.startEcho({
      id: "flaky",
      fail: (n) => (n % 2 === 0 ? grpc.status.UNAVAILABLE : undefined),
    });
    await writeMeshFiles(lab.dir, {
      "services.yaml": [
        k8sService({ name: "echo", namespace: "demo", port: 7070 }),
        ...endpointSlice({
          name: "echo-v1",
          namespace: "demo",
          service: "echo",
          labels: { version: "v1" },
          endpoints: [{ port: v1.port }],
        }),
        ...endpointSlice({
          name: "echo-v2",
          namespace: "demo",
          service: "echo",
          labels: { version: "v2" },
          endpoints: [{ port: v2.port }],
        }),
        ...endpointSlice({
          name: "echo-flaky",
          namespace: "demo",
          service: "echo",
          labels: { version: "flaky" },
          endpoints: [{ port: flaky.port }],
        }),
      ],
      "routing.yaml": [
        destinationRule({
          name: "echo",
          namespace: "demo",
          host: "echo",
          subsets: [
            { name: "v1", labels: { version: "v1" } },
            { name: "v2", labels: { version: "v2" } },
            { name: "flaky", labels: { version: "flaky" } },
          ],
        }),
        virtualService({
          name: "echo",
          namespace: "demo",
          hosts: ["echo"],
          http: [
            {
              name: "beta-users",
              match: [{ headers: { "x-user": { exact: "beta" } } }],
              route: [{ destination: { host: "echo", subset: "v2" } }],
            },
            {
              name: "abort",
              match: [{ headers: { "x-fault": { exact: "abort" } } }],
              fault: { abort: { percentage: { value: 100 }, grpcStatus: "RESOURCE_EXHAUSTED" } },
              route: [{ destination: { host: "echo", subset: "v1" } }],
            },
            {
              name: "delay",
              match: [{ headers: { "x-fault": { exact: "delay" } } }],
              fault: { delay: { percentage: { value: 100 }, fixedDelay: "400ms" } },
              route: [{ destination: { host: "echo", subset: "v1" } }],
            },
            {
              name: "flaky-with-retries",
              match: [{ headers: { "x-target": { exact: "flaky" } } }],
              retries: { attempts: 3, retryOn: "unavailable" },
              route: [{ destination: { host: "echo", subset: "flaky" } }],
            },
            {
              name: "flaky-no-retries",
              match: [{ headers: { "x-target": { exact: "flaky-raw" } } }],
              route: [{ destination: { host: "echo", subset: "flaky" } }],
            },
            {
              name: "canary",
              route: [
                { destination: { host: "echo", subset: "v1" }, weight: 80 },
                { destination: { host: "echo", subset: "v2" }, weight: 20 },
              ],
            },
          ],
        }),
      ],
    });
    await waitFor(() => lab.xds.mesh().model.virtualServices.length === 1, { what: "routing config" });
    await waitFor(() => lab.xds.settled(), { what: "the change to be pushed" });
  });
  afterAll(async () => lab?.close());

  test("80/20 weighted split between subsets (1000 calls, within 5 standard deviations)", async () => {
    const client = await lab.client(TARGET);
    await client.echo("warm up", {}, 10_000);
    const n = 1000;
    const counts = await countServers(client, n);
    expect(Object.keys(counts).sort()).toEqual(["v1", "v2"]);
    // Binomial(n, 0.8): sd = sqrt(n * 0.8 * 0.2) ≈ 12.6; 5 sd ≈ 63 calls. A false failure is < 1e-6 likely.
    const sd = Math.sqrt(n * 0.8 * 0.2);
    expect(Math.abs((counts.v1 ?? 0) - 0.8 * n)).toBeLessThan(5 * sd);
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(n);
  });

  test("header match routes beta users to v2 only", async () => {
    const client = await lab.client(TARGET);
    expect(await countServers(client, 50, { "x-user": "beta" })).toEqual({ v2: 50 });
  });

  test("fault abort returns the configured gRPC status without reaching a server", async () => {
    const client = await lab.client(TARGET);
    await client.echo("warm up", {}, 10_000);
    const v1 = lab.servers.find((s) => s.id === "v1");
    const before = v1?.calls ?? 0;
    const err = await client.echo("x", { "x-fault": "abort" }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(v1?.calls).toBe(before);
  });

  test("fault delay holds the call for the fixed delay", async () => {
    const client = await lab.client(TARGET);
    await client.echo("warm up", {}, 10_000);
    const start = performance.now();
    const reply = await client.echo("x", { "x-fault": "delay" });
    expect(reply.server).toBe("v1");
    expect(performance.now() - start).toBeGreaterThanOrEqual(390);
  });

  test("retries make every call succeed against an endpoint failing every other call", async () => {
    const client = await lab.client(TARGET);
    await client.echo("warm up", {}, 10_000);
    const flaky = lab.servers.find((s) => s.id === "flaky");
    const before = flaky?.calls ?? 0;
    const counts = await countServers(client, 20, { "x-target": "flaky" });
    expect(counts).toEqual({ flaky: 20 });
    expect((flaky?.calls ?? 0) - before).toBeGreaterThan(20); // some calls needed a retry
    // The same endpoint without a retry policy fails some calls.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => client.echo("x", { "x-target": "flaky-raw" })),
    );
    expect(outcomes.some((o) => o.status === "rejected")).toBe(true);
  });
});
