/**
 * Several control-plane replicas behind one Service (as in a cluster): with a max connection
 * age, every client connection gets an HTTP/2 GOAWAY after that age, and the client's ADS stream
 * reconnects through the Service, which may send it to another replica. Here the Service is a
 * round-robin TCP balancer (kube-proxy's job) in front of two real servers.
 */
import { connect as http2Connect } from "node:http2";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  renderBootstrap,
  startXdsServer,
  staticMeshSource,
  type XdsServerEvent,
  type XdsServerHandle,
} from "../src/index.js";
import { createEchoClient, type EchoClient, waitFor } from "../src/testing/index.js";

const MAX_AGE_MS = 1500;
const GRACE_MS = 500;

const mesh = () => [
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "echo", namespace: "demo" },
    spec: { ports: [{ name: "grpc", port: 7070 }] },
  },
  {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "echo-1", namespace: "demo", labels: { "kubernetes.io/service-name": "echo" } },
    ports: [{ name: "grpc", port: 7070 }],
    endpoints: [{ addresses: ["10.213.30.1"] }],
  },
];

/** A TCP round robin over `ports` (what a ClusterIP Service does per connection). */
async function startRoundRobin(ports: readonly number[]): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let next = 0;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(ports[next++ % ports.length] as number, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("replicas behind one Service: max connection age", () => {
  const replicas: XdsServerHandle[] = [];
  const events: { replica: number; event: XdsServerEvent }[] = [];
  let balancer: { port: number; close(): Promise<void> } | undefined;
  let client: EchoClient | undefined;

  beforeAll(async () => {
    for (const replica of [0, 1])
      replicas.push(
        await startXdsServer({
          source: staticMeshSource(mesh()),
          port: 0,
          debugPort: false,
          debounceAfterMs: 20,
          maxConnectionAgeMs: MAX_AGE_MS,
          maxConnectionAgeGraceMs: GRACE_MS,
          onEvent: (event) => events.push({ replica, event }),
        }),
      );
    balancer = await startRoundRobin(replicas.map((r) => r.port));
  });

  afterAll(async () => {
    client?.close();
    await balancer?.close();
    for (const r of replicas) await r.close();
  });

  test("a connection gets a GOAWAY (NO_ERROR) once it is older than the max age", async () => {
    const replica = replicas[0] as XdsServerHandle;
    const session = http2Connect(`http://127.0.0.1:${replica.port}`);
    try {
      const opened = Date.now();
      const goaway = new Promise<{ code: number; afterMs: number }>((resolve) =>
        session.on("goaway", (code) => resolve({ code, afterMs: Date.now() - opened })),
      );
      session.on("error", () => {});
      // Keep a stream open, as an ADS client does (an unknown method: answered, not closed early).
      const stream = session.request({
        ":method": "POST",
        ":path": "/mcx.Unknown/Stream",
        "content-type": "application/grpc",
      });
      stream.on("error", () => {});
      const got = await Promise.race([
        goaway,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no GOAWAY")), MAX_AGE_MS * 3)),
      ]);
      expect(got.code).toBe(0); // NGHTTP2_NO_ERROR
      // gRPC adds up to ±10 % jitter to the age.
      expect(got.afterMs).toBeGreaterThanOrEqual(MAX_AGE_MS * 0.85);
    } finally {
      session.destroy();
    }
  });

  test("a grpc-js-xds client's ADS stream moves to the other replica and gets its config again", async () => {
    const bootstrap = renderBootstrap({
      kind: "grpc",
      name: "client",
      namespace: "demo",
      server: `127.0.0.1:${balancer?.port}`,
    });
    client = await createEchoClient("xds:///echo.demo.svc.cluster.local:7070", { bootstrap });
    // The call only makes the channel resolve (10.213.30.1 does not answer); the ADS stream stays.
    void client.echo("x", {}, 500).catch(() => {});
    const nodeId = (bootstrap.node as { id: string }).id;
    const acked = (r: XdsServerHandle) =>
      r.clients().some((c) => c.nodeId === nodeId && c.types.lds?.ackedVersion !== undefined);
    await waitFor(() => acked(replicas[0] as XdsServerHandle), {
      timeoutMs: 10_000,
      what: "the client on replica 0",
    });
    // After the age (and the grace), the connection closes; the balancer sends the new one on.
    await waitFor(() => acked(replicas[1] as XdsServerHandle), {
      timeoutMs: MAX_AGE_MS * 2 + GRACE_MS + 10_000,
      what: "the client on replica 1",
    });
    expect((replicas[0] as XdsServerHandle).clients().some((c) => c.nodeId === nodeId)).toBe(false);
    const connects = events.filter((e) => e.event.type === "connect" && e.event.nodeId === nodeId);
    expect(connects.map((e) => e.replica).slice(0, 2)).toEqual([0, 1]);
    const left = events.find(
      (e) => e.replica === 0 && e.event.type === "disconnect" && e.event.nodeId === nodeId,
    );
    expect(left).toBeDefined();
  });
});
