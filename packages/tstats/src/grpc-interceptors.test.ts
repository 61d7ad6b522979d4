import { Metadata, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, test } from "vitest";
import { callEcho, ECHO_SERVICE, echoClient, startEchoServer } from "../test/echo-service.js";
import { labelsOf, localFixture, parseExposition, REFERENCE_HTTP_LABELS } from "../test/fixtures.js";
import {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  withMessageSizes,
} from "./grpc-interceptors.js";
import { TstatsRecorder } from "./recorder.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function totals(recorder: TstatsRecorder) {
  return parseExposition(recorder.registry.renderPrometheus()).filter(
    (s) => s.name === "istio_requests_total",
  );
}

async function setup(options: { clientTstats?: boolean; serverTstats?: boolean; sizes?: boolean } = {}) {
  const serverRecorder = new TstatsRecorder({ local: localFixture("echo") });
  const clientRecorder = new TstatsRecorder({ local: localFixture("frontend") });
  const service = options.sizes ? withMessageSizes(ECHO_SERVICE) : ECHO_SERVICE;
  const server = await startEchoServer({
    service,
    interceptors:
      options.serverTstats === false
        ? []
        : [
            createTstatsServerInterceptor(serverRecorder, {
              service: { host: "echo.default.svc.cluster.local", name: "echo", namespace: "default" },
            }),
          ],
  });
  cleanups.push(() => server.close());
  const client = echoClient(server.port, {
    service,
    interceptors:
      options.clientTstats === false
        ? []
        : [
            createTstatsClientInterceptor(clientRecorder, {
              target: "xds:///echo.default.svc.cluster.local:8080",
            }),
          ],
  });
  cleanups.push(() => client.close());
  return { serverRecorder, clientRecorder, server, client };
}

describe("proxyless gRPC interceptors", () => {
  test("exchange peer metadata both ways and record both reporters with Istio's labels", async () => {
    const { serverRecorder, clientRecorder, server, client } = await setup({ sizes: true });
    for (let i = 0; i < 3; i++) {
      const reply = await callEcho(client, { text: `hi ${i}` });
      expect(reply.res).toEqual({ text: `hi ${i}` });
      // The client application does not see the server's exchange headers either.
      expect(reply.headerKeys.filter((k) => k.startsWith("x-envoy-peer-metadata"))).toEqual([]);
    }

    // The application never sees the exchange headers.
    expect(server.seenKeys.flat().filter((k) => k.startsWith("x-envoy-peer-metadata"))).toEqual([]);

    const dest = totals(serverRecorder);
    expect(dest).toHaveLength(1);
    expect(dest[0]!.value).toBe(3);
    expect(dest[0]!.labels.map(([k]) => k)).toEqual(REFERENCE_HTTP_LABELS);
    expect(labelsOf(dest[0]!)).toMatchObject({
      reporter: "destination",
      source_workload: "frontend-v1",
      source_canonical_service: "frontend",
      source_workload_namespace: "default",
      destination_workload: "echo-v1",
      destination_service: "echo.default.svc.cluster.local",
      request_protocol: "grpc",
      response_code: "200",
      grpc_response_status: "0",
      connection_security_policy: "none",
    });

    const src = totals(clientRecorder);
    expect(src).toHaveLength(1);
    expect(src[0]!.value).toBe(3);
    expect(labelsOf(src[0]!)).toMatchObject({
      reporter: "source",
      source_workload: "frontend-v1",
      destination_workload: "echo-v1",
      destination_canonical_service: "echo",
      destination_canonical_revision: "v1",
      destination_app: "echo",
      destination_service: "echo.default.svc.cluster.local",
      destination_service_name: "echo",
      destination_service_namespace: "default",
      grpc_response_status: "0",
      connection_security_policy: "unknown",
    });

    // Decoded once per side, then served from the cache.
    expect(serverRecorder.peerCacheStats()).toMatchObject({ size: 1, misses: 1, hits: 2 });
    expect(clientRecorder.peerCacheStats()).toMatchObject({ size: 1, misses: 1, hits: 2 });

    // Sizes: JSON {"text":"hi 0"} is 15 bytes + 5-byte gRPC prefix, per message.
    const text = serverRecorder.registry.renderPrometheus();
    const reqBytes = parseExposition(text).find((s) => s.name === "istio_request_bytes_sum")!;
    expect(reqBytes.value).toBe(3 * (15 + 5));
    const msgs = parseExposition(text).filter((s) => s.name.endsWith("_messages_total"));
    expect(msgs.map((s) => [s.name, s.value])).toEqual([
      ["istio_request_messages_total", 3],
      ["istio_response_messages_total", 3],
    ]);
  });

  test("errors carry the peer metadata in trailers-only responses", async () => {
    const { serverRecorder, clientRecorder, client } = await setup();
    expect((await callEcho(client, { text: "x", fail: status.NOT_FOUND })).code).toBe(status.NOT_FOUND);
    expect(labelsOf(totals(serverRecorder)[0]!)).toMatchObject({
      source_workload: "frontend-v1",
      grpc_response_status: "5",
    });
    expect(labelsOf(totals(clientRecorder)[0]!)).toMatchObject({
      destination_workload: "echo-v1",
      grpc_response_status: "5",
      response_code: "200",
    });
  });

  test("a client without tstats is an unknown source and gets no metadata back", async () => {
    const { serverRecorder, client } = await setup({ clientTstats: false });
    const { headerKeys, code } = await callEcho(client, { text: "a" });
    expect(code).toBe(status.OK);
    expect(headerKeys.filter((k) => k.startsWith("x-envoy-peer-metadata"))).toEqual([]);
    expect(labelsOf(totals(serverRecorder)[0]!)).toMatchObject({
      source_workload: "unknown",
      source_canonical_revision: "latest",
    });
  });

  test("a server without tstats leaves the client's destination unknown", async () => {
    const { clientRecorder, client } = await setup({ serverTstats: false });
    await callEcho(client, { text: "a" });
    expect(labelsOf(totals(clientRecorder)[0]!)).toMatchObject({
      reporter: "source",
      destination_workload: "unknown",
      destination_canonical_revision: "latest",
      // Derived from the target, not from the peer.
      destination_service: "echo.default.svc.cluster.local",
    });
  });

  test("client streaming counts every request message", async () => {
    const { serverRecorder, client } = await setup({ sizes: true });
    const reply = await new Promise<unknown>((resolve, reject) => {
      const call = client.collect(new Metadata(), (err, res) => (err ? reject(err) : resolve(res)));
      for (const t of ["a", "b", "c", "d"]) call.write({ text: t });
      call.end();
    });
    expect(reply).toEqual({ text: "a,b,c,d" });
    const s = parseExposition(serverRecorder.registry.renderPrometheus());
    expect(s.find((x) => x.name === "istio_request_messages_total")!.value).toBe(4);
    expect(s.find((x) => x.name === "istio_response_messages_total")!.value).toBe(1);
  });
});

describe("proxyless gRPC over mutual TLS", () => {
  test("principals come from the SPIFFE SANs, the namespace from the principal, policy mutual_tls", async () => {
    const { createSpiffeCerts } = await import("../test/spiffe-certs.js");
    const { credentials, makeGenericClientConstructor, Server, ServerCredentials } = await import(
      "@grpc/grpc-js"
    );
    const certs = await createSpiffeCerts();
    cleanups.push(() => certs.cleanup());
    const serverId = "spiffe://cluster.local/ns/default/sa/echo";
    const clientId = "spiffe://cluster.local/ns/frontend/sa/frontend";
    const [sc, cc] = await Promise.all([certs.issue("echo", serverId), certs.issue("frontend", clientId)]);

    const serverRecorder = new TstatsRecorder({ local: localFixture("echo") });
    const server = new Server({
      interceptors: [createTstatsServerInterceptor(serverRecorder, { localPrincipal: serverId })],
    });
    server.addService(ECHO_SERVICE, {
      echo: (call: { request: unknown }, cb: (e: null, r: unknown) => void) => cb(null, call.request),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        ServerCredentials.createSsl(certs.ca, [{ private_key: sc.key, cert_chain: sc.cert }], true),
        (e, p) => (e ? reject(e) : resolve(p)),
      ),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));

    // The client's peer metadata claims namespace "default"; its certificate says "frontend".
    const clientRecorder = new TstatsRecorder({ local: localFixture("frontend") });
    const Ctor = makeGenericClientConstructor(ECHO_SERVICE, "Echo");
    const client = new Ctor(`localhost:${port}`, credentials.createSsl(certs.ca, cc.key, cc.cert), {
      interceptors: [
        createTstatsClientInterceptor(clientRecorder, {
          target: "echo.default.svc.cluster.local:8080",
          localPrincipal: clientId,
        }),
      ],
    }) as unknown as Parameters<typeof callEcho>[0];
    cleanups.push(() => client.close());
    expect((await callEcho(client, { text: "tls" })).code).toBe(status.OK);

    expect(labelsOf(totals(serverRecorder)[0]!)).toMatchObject({
      reporter: "destination",
      source_principal: clientId,
      source_workload_namespace: "frontend",
      destination_principal: serverId,
      connection_security_policy: "mutual_tls",
    });
    expect(labelsOf(totals(clientRecorder)[0]!)).toMatchObject({
      reporter: "source",
      source_principal: clientId,
      connection_security_policy: "unknown",
    });
  }, 60_000);
});
