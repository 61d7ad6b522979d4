import { InterceptingCall, type Interceptor, Metadata, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, test } from "vitest";
import { callEcho, type EchoClient, echoClient, startEchoServer } from "../test/echo-service.js";
import { labelsOf, localFixture, parseExposition } from "../test/fixtures.js";
import {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  type TstatsClientInterceptorOptions,
  type TstatsServerInterceptorOptions,
} from "./grpc-interceptors.js";
import { encodePeerMetadataHeader, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER } from "./peer-metadata.js";
import { TstatsRecorder } from "./recorder.js";
import {
  fnv1a32Hex,
  PEER_CACHE_TOKEN_HEADER,
  peerCacheToken,
  peerCacheTokenMatches,
  SentMetadataTracker,
} from "./response-exchange.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const SERVICE = { host: "echo.default.svc.cluster.local", name: "echo", namespace: "default" };

/** Counts per destination_workload of the client's reporter="source" requests. */
function clientCounts(recorder: TstatsRecorder): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of parseExposition(recorder.registry.renderPrometheus())) {
    if (s.name !== "istio_requests_total") continue;
    const l = labelsOf(s);
    out[l.destination_workload!] = (out[l.destination_workload!] ?? 0) + s.value;
  }
  return out;
}

/** What crossed the wire: request header names sent, response header names received, per call. */
interface Wire {
  readonly requests: string[][];
  readonly responses: string[][];
}

/** Placed after the tstats interceptor, so it sees the headers as they go out and come in. */
function wireSpy(wire: Wire): Interceptor {
  return (options, next) =>
    new InterceptingCall(next(options), {
      start(md, _listener, n) {
        wire.requests.push(Object.keys(md.getMap()));
        n(md, {
          onReceiveMetadata(m, nm) {
            wire.responses.push(Object.keys(m.getMap()));
            nm(m);
          },
        });
      },
    });
}

async function startServer(
  name: string,
  options: TstatsServerInterceptorOptions & { port?: number; onEcho?: () => void } = {},
) {
  const recorder = new TstatsRecorder({ local: localFixture(name) });
  const server = await startEchoServer({
    interceptors: [
      createTstatsServerInterceptor(recorder, { service: SERVICE, exchange: "once-per-client", ...options }),
    ],
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.onEcho ? { onEcho: options.onEcho } : {}),
  });
  cleanups.push(() => server.close());
  return { recorder, server };
}

function client(
  port: number,
  recorder: TstatsRecorder,
  options: TstatsClientInterceptorOptions = {},
  wire?: Wire,
): EchoClient {
  const c = echoClient(port, {
    interceptors: [
      createTstatsClientInterceptor(recorder, {
        target: "xds:///echo.default.svc.cluster.local:8080",
        exchange: "once-per-client",
        ...options,
      }),
      ...(wire ? [wireSpy(wire)] : []),
    ],
  });
  cleanups.push(() => c.close());
  return c;
}

async function calls(c: EchoClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await callEcho(c, { text: `m${i}` })).code).toBe(status.OK);
}

describe("peer-cache token", () => {
  test("is bound to the node id it was made for", () => {
    const id = "sidecar~10.0.0.1~frontend-1.default~default.svc.cluster.local";
    const token = peerCacheToken(id, "0a1b2c3d", 5);
    expect(token).toBe(`1.${fnv1a32Hex(id)}.0a1b2c3d.5`);
    expect(peerCacheTokenMatches(token, id)).toBe(true);
    expect(
      peerCacheTokenMatches(token, "sidecar~10.0.0.9~gateway-1.istio-system~istio-system.svc.cluster.local"),
    ).toBe(false);
    expect(peerCacheTokenMatches("garbage", id)).toBe(false);
  });

  test("FNV-1a matches its published test vectors", () => {
    expect(fnv1a32Hex("")).toBe("811c9dc5");
    expect(fnv1a32Hex("a")).toBe("e40c292c");
    expect(fnv1a32Hex("foobar")).toBe("bf9cf968");
  });

  test("the server tracker sends the full header once per token, and again after forgetting it", () => {
    const id = "sidecar~a";
    const t = peerCacheToken(id, "i", 0);
    const tracker = new SentMetadataTracker(4);
    expect(tracker.needsFullMetadata(t, id)).toBe(true);
    expect(tracker.needsFullMetadata(t, id)).toBe(false);
    // No token (an Envoy sidecar) or no id: Istio's rule, full every time.
    expect(tracker.needsFullMetadata(undefined, id)).toBe(true);
    expect(tracker.needsFullMetadata(t, undefined)).toBe(true);
    // A token replayed with another id (an intermediary rewrote the id) is never trusted.
    expect(tracker.needsFullMetadata(t, "sidecar~gateway")).toBe(true);
    expect(tracker.needsFullMetadata(t, "sidecar~gateway")).toBe(true);
    // Capacity 4: five more tokens push the first one out; it gets the full header again.
    for (let i = 1; i <= 5; i++) tracker.needsFullMetadata(peerCacheToken(id, "i", i), id);
    expect(tracker.needsFullMetadata(t, id)).toBe(true);
    expect(tracker.fullSent).toBe(11);
    expect(tracker.idOnlySent).toBe(1);
  });

  test("the client's token changes when its peer cache drops entries, and not otherwise", () => {
    const r = new TstatsRecorder({ local: localFixture("frontend"), peerCacheSize: 1 });
    const t0 = r.peerCacheToken();
    expect(t0).toMatch(/^1\.[0-9a-f]{8}\.[0-9a-f]{8}\.0$/);
    r.resolvePeer(encodePeerMetadataHeader(localFixture("a")), "id-a");
    r.resolvePeer(encodePeerMetadataHeader(localFixture("a")), "id-a");
    expect(r.peerCacheToken()).toBe(t0);
    r.resolvePeer(encodePeerMetadataHeader(localFixture("b")), "id-b"); // evicts id-a
    expect(r.peerCacheToken()).not.toBe(t0);
    expect(
      new TstatsRecorder({ local: localFixture("x"), mode: "decode-every-request" }).peerCacheToken(),
    ).toBe(undefined);
  });

  test("an outcome whose peer never arrives is recorded with the unknown peer, and counted", () => {
    const r = new TstatsRecorder({ local: localFixture("frontend") });
    const site = r.callSite({ reporter: "source", service: SERVICE });
    const outcome = {
      protocol: "grpc",
      responseCode: 200,
      grpcStatus: 0,
      durationMs: 1,
      requestBytes: 1,
      responseBytes: 1,
    } as const;
    r.recordWhenPeerKnown("id-gone", site, outcome);
    expect(clientCounts(r)).toEqual({});
    expect(r.exchangeStats()).toMatchObject({ clientMisses: 1, pending: 1 });
    r.expirePending();
    expect(clientCounts(r)).toEqual({ unknown: 1 });
    expect(r.exchangeStats()).toMatchObject({ pending: 0, recordedUnknown: 1, recordedLate: 0 });
  });
});

describe("once-per-client response exchange over gRPC", () => {
  test("the server sends its full metadata once, then only its id; labels are the same as with Istio's exchange", async () => {
    const once = await startServer("echo");
    const onceClient = new TstatsRecorder({ local: localFixture("frontend") });
    const wire: Wire = { requests: [], responses: [] };
    await calls(client(once.server.port, onceClient, {}, wire), 4);

    const every = await startServer("echo", { exchange: "every-request" });
    const everyClient = new TstatsRecorder({ local: localFixture("frontend") });
    const wireEvery: Wire = { requests: [], responses: [] };
    await calls(client(every.server.port, everyClient, { exchange: "every-request" }, wireEvery), 4);

    const mx = (keys: string[]) =>
      keys.filter((k) => k.startsWith("x-envoy-peer-metadata") || k === PEER_CACHE_TOKEN_HEADER).sort();
    expect(wire.requests.map(mx)).toEqual(
      Array(4).fill([PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, PEER_CACHE_TOKEN_HEADER]),
    );
    expect(wire.responses.map(mx)).toEqual([
      [PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER],
      [PEER_METADATA_ID_HEADER],
      [PEER_METADATA_ID_HEADER],
      [PEER_METADATA_ID_HEADER],
    ]);
    // Compatibility mode: exactly Istio's headers, both on every request and response.
    expect(wireEvery.requests.map(mx)).toEqual(
      Array(4).fill([PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER]),
    );
    expect(wireEvery.responses.map(mx)).toEqual(
      Array(4).fill([PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER]),
    );

    // Identical exposition text on both sides.
    expect(
      onceClient.registry.renderPrometheus().replace(/_duration_milliseconds_(bucket|sum)[^\n]*\n/g, ""),
    ).toBe(
      everyClient.registry.renderPrometheus().replace(/_duration_milliseconds_(bucket|sum)[^\n]*\n/g, ""),
    );
    expect(clientCounts(onceClient)).toEqual({ "echo-v1": 4 });
    expect(once.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 1,
      responsesWithIdOnly: 3,
    });
    expect(onceClient.exchangeStats()).toMatchObject({ clientMisses: 0, pending: 0 });
    // The applications never see any exchange header (checked on the server by echo-service).
    expect(once.server.seenKeys.flat().filter((k) => mx([k]).length > 0)).toEqual([]);
  });

  test("the default on both sides is Istio's exchange: both headers on every request and response, no token", async () => {
    const serverRecorder = new TstatsRecorder({ local: localFixture("echo") });
    const srv = await startEchoServer({ interceptors: [createTstatsServerInterceptor(serverRecorder)] });
    cleanups.push(() => srv.close());
    const r = new TstatsRecorder({ local: localFixture("frontend") });
    const wire: Wire = { requests: [], responses: [] };
    const c = echoClient(srv.port, { interceptors: [createTstatsClientInterceptor(r), wireSpy(wire)] });
    cleanups.push(() => c.close());
    await calls(c, 3);
    const both = [PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER];
    const mx = (keys: string[]) =>
      keys.filter((k) => both.includes(k) || k === PEER_CACHE_TOKEN_HEADER).sort();
    expect(wire.requests.map(mx)).toEqual(Array(3).fill(both));
    expect(wire.responses.map(mx)).toEqual(Array(3).fill(both));
    expect(clientCounts(r)).toEqual({ "echo-v1": 3 });
  });

  test("a server in every-request mode, or an Envoy-like peer, answers a once-per-client client in full every time", async () => {
    const every = await startServer("echo", { exchange: "every-request" });
    const r = new TstatsRecorder({ local: localFixture("frontend") });
    const wire: Wire = { requests: [], responses: [] };
    await calls(client(every.server.port, r, {}, wire), 3);
    expect(wire.responses.every((k) => k.includes(PEER_METADATA_HEADER))).toBe(true);
    expect(clientCounts(r)).toEqual({ "echo-v1": 3 });
  });

  test("a token that does not belong to the request's id (rewritten by a proxy) gets full metadata every time", async () => {
    const srv = await startServer("echo");
    const plain = echoClient(srv.server.port);
    cleanups.push(() => plain.close());
    const gatewayId = "sidecar~10.0.0.9~gateway-1.istio-system~istio-system.svc.cluster.local";
    const clientToken = peerCacheToken(localFixture("frontend").nodeId, "0a1b2c3d", 0);
    for (let i = 0; i < 3; i++) {
      const md = new Metadata();
      md.set(PEER_METADATA_HEADER, encodePeerMetadataHeader(localFixture("gateway")));
      md.set(PEER_METADATA_ID_HEADER, gatewayId);
      md.set(PEER_CACHE_TOKEN_HEADER, clientToken);
      const keys = await new Promise<string[]>((resolve, reject) => {
        let seen: string[] = [];
        const call = plain.echo({ text: "x" }, md, (err) =>
          err ? reject(err) : resolve(seen),
        ) as NodeJS.EventEmitter;
        call.on("metadata", (m: Metadata) => {
          seen = Object.keys(m.getMap());
        });
      });
      expect(keys).toContain(PEER_METADATA_HEADER);
    }
    expect(srv.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 3,
      responsesWithIdOnly: 0,
    });
  });

  test("client cache eviction renews the token, so each server sends its full metadata again; counts stay exact", async () => {
    const a = await startServer("echo-a");
    const b = await startServer("echo-b");
    // Room for one peer: every switch between the two servers evicts the other one.
    const r = new TstatsRecorder({ local: localFixture("frontend"), peerCacheSize: 1 });
    const ca = client(a.server.port, r);
    const cb = client(b.server.port, r);
    for (let i = 0; i < 3; i++) {
      await calls(ca, 2);
      await calls(cb, 2);
    }
    expect(clientCounts(r)).toEqual({ "echo-a-v1": 6, "echo-b-v1": 6 });
    expect(r.exchangeStats()).toMatchObject({ clientMisses: 0, recordedUnknown: 0 });
    // Every eviction renews the token for all servers, so both resend: A answers round 1 in full
    // then by id; every later call to either server follows an eviction or a new token.
    expect(a.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 5,
      responsesWithIdOnly: 1,
    });
    expect(b.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 6,
      responsesWithIdOnly: 0,
    });
  });

  test("an id that misses (evicted while the call was in flight) is recorded late with the right peer", async () => {
    const r = new TstatsRecorder({ local: localFixture("frontend"), peerCacheSize: 1 });
    let evict = false;
    const srv = await startServer("echo", {
      onEcho: () => {
        // While this call is in flight, the client's only cache slot goes to another peer.
        if (evict) r.resolvePeer(encodePeerMetadataHeader(localFixture("other")), "id-other");
      },
    });
    const c = client(srv.server.port, r);
    await calls(c, 1); // full: the client caches the server
    evict = true;
    await calls(c, 1); // id only, but the entry is gone: a miss, the outcome waits
    expect(r.exchangeStats()).toMatchObject({ clientMisses: 1, pending: 1 });
    expect(clientCounts(r)).toEqual({ "echo-v1": 1 });
    evict = false;
    await calls(c, 1); // the renewed token brings the full header: both calls recorded
    expect(clientCounts(r)).toEqual({ "echo-v1": 3 });
    expect(r.exchangeStats()).toMatchObject({
      clientMisses: 1,
      pending: 0,
      recordedLate: 1,
      recordedUnknown: 0,
    });
  });

  test("a reconnect keeps the token valid; a restarted server sends its full metadata again", async () => {
    const first = await startServer("echo");
    const port = first.server.port;
    const r = new TstatsRecorder({ local: localFixture("frontend") });
    await calls(client(port, r), 2);
    // A new channel (new HTTP/2 connection) from the same client cache: the id alone still resolves.
    await calls(client(port, r), 2);
    expect(first.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 1,
      responsesWithIdOnly: 3,
    });

    await first.server.close();
    const restarted = await startServer("echo", { port });
    await calls(client(port, r), 2);
    expect(restarted.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 1,
      responsesWithIdOnly: 1,
    });
    expect(clientCounts(r)).toEqual({ "echo-v1": 6 });
    expect(r.exchangeStats()).toMatchObject({ clientMisses: 0, recordedUnknown: 0 });
  });

  test("trailers-only (error) responses follow the same rule", async () => {
    const srv = await startServer("echo");
    const r = new TstatsRecorder({ local: localFixture("frontend") });
    const c = client(srv.server.port, r);
    for (let i = 0; i < 3; i++)
      expect((await callEcho(c, { text: "x", fail: status.NOT_FOUND })).code).toBe(status.NOT_FOUND);
    expect(srv.recorder.exchangeStats()).toMatchObject({
      responsesWithFullMetadata: 1,
      responsesWithIdOnly: 2,
    });
    const s = parseExposition(r.registry.renderPrometheus()).find((x) => x.name === "istio_requests_total")!;
    expect(s.value).toBe(3);
    expect(labelsOf(s)).toMatchObject({ destination_workload: "echo-v1", grpc_response_status: "5" });
  });
});
