/**
 * Hostile and unlucky ADS clients (issue 17): stream storms, half-open and idle connections, a
 * connection cap, forged log lines, oversized subscriptions, consumers that never read, a
 * Service deleted and put back, a control plane killed with clients connected, a client that
 * NACKs everything, and shutdown under all of it. After each fault: the connected clients still
 * hold the last good config, the debug port answers, memory stays under a loose bound.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { connect as http2Connect } from "node:http2";
import { createRequire } from "node:module";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadXdsProtos, TYPE_URLS, type XdsServerEvent } from "../src/index.js";
import { resolveServeProcessEntry } from "../src/load/target-meshctl.js";
import {
  connectAdsTestClient,
  endpointSlice,
  k8sService,
  toYaml,
  waitFor,
  writeMeshFiles,
} from "../src/testing/index.js";
import { createLab, type Lab, TARGET } from "./helpers.js";

const NODE = (i: number | string) => `sidecar~127.0.0.1~p${i}.demo~demo.svc.cluster.local`;
// biome-ignore lint/suspicious/noControlCharactersInRegex: what must never reach a log line
const CONTROL_CHARS = /[\n\r\u001b]/;
const ECHO_CLUSTER = "outbound|7070||echo.demo.svc.cluster.local";
/** Loose: the whole test process (vitest, grpc clients and the server). */
const RSS_BOUND = 1.5 * 1024 * 1024 * 1024;

type AdsCall = grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
type AdsChannel = grpc.Client & { StreamAggregatedResources: () => AdsCall };

function adsChannel(address: string, options: grpc.ChannelOptions = {}): AdsChannel {
  const Ctor = grpc.makeClientConstructor(loadXdsProtos().adsService, "AggregatedDiscoveryService");
  return new Ctor(address, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": -1,
    ...options,
  }) as unknown as AdsChannel;
}

/** Opens a SotW CDS stream; resolves with "ok" on the first response or the status code. */
function openStream(channel: AdsChannel, node: string): { call: AdsCall; outcome: Promise<"ok" | number> } {
  const call = channel.StreamAggregatedResources() as AdsCall;
  const outcome = new Promise<"ok" | number>((resolve) => {
    call.once("data", () => resolve("ok"));
    call.once("error", (e: grpc.ServiceError) => resolve(e.code));
  });
  call.write({ node: { id: node }, type_url: TYPE_URLS.cds });
  return { call, outcome };
}

async function debugAnswers(port: number | undefined): Promise<boolean> {
  const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  return r.status === 200;
}

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function rawConnect(address: string): Promise<Socket> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const s = netConnect(Number(port), host as string, () => resolve(s));
    s.on("error", reject);
    s.resume(); // a paused socket never sees the server's FIN
  });
}

function metric(text: string, name: string): number {
  // A counter that never moved is not rendered: 0.
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
}

const echoMesh = (dir: string) =>
  writeMeshFiles(dir, {
    "echo.yaml": [
      k8sService({ name: "echo", namespace: "demo", port: 7070 }),
      ...endpointSlice({ name: "echo", namespace: "demo", service: "echo", endpoints: [{ port: 8080 }] }),
    ],
  });

describe("admission: stream storms from one client", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab(echoMesh, { maxStreamsPerClient: 50, maxStreamsPerSecond: 1000 });
  });
  afterAll(async () => lab?.close());

  test("streams beyond the per-client limit get RESOURCE_EXHAUSTED and are released on close", async () => {
    const keeper = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: NODE("keeper"),
    });
    keeper.send({ type_url: TYPE_URLS.cds });
    const kept = await keeper.next();
    expect(kept.resources.map((r) => r.name)).toContain(ECHO_CLUSTER);

    const channels = Array.from({ length: 4 }, () => adsChannel(lab.xds.address));
    const opened = Array.from({ length: 120 }, (_, i) => openStream(channels[i % 4] as AdsChannel, NODE(i)));
    const outcomes = await Promise.all(opened.map((o) => o.outcome));
    // The keeper holds one of the 50.
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(49);
    expect(outcomes.filter((o) => o === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(71);
    expect(await debugAnswers(lab.xds.debugPort)).toBe(true);
    expect(metric(lab.xds.metrics(), "meshctl_xds_rejected_streams_total")).toBe(71);

    for (const o of opened) o.call.cancel();
    for (const c of channels) c.close();
    await waitFor(() => lab.xds.clients().length === 1, { what: "the storm's streams to be released" });
    // Released: a new stream is admitted again, and the keeper still holds its config.
    const again = adsChannel(lab.xds.address);
    expect(await openStream(again, NODE("again")).outcome).toBe("ok");
    again.close();
    expect(keeper.responses.at(-1)?.resources.map((r) => r.name)).toContain(ECHO_CLUSTER);
    expect(process.memoryUsage().rss).toBeLessThan(RSS_BOUND);
    keeper.close();
  });

  test("requests sent before a new stream's first response wait with it and are answered in order", async () => {
    // A new stream's first request waits in the start queue (time-sliced generation); whatever
    // the stream sends meanwhile must neither be lost nor overtake it.
    const c = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: NODE("eager"),
    });
    c.send({ type_url: TYPE_URLS.cds });
    c.send({ type_url: TYPE_URLS.eds, resource_names: [ECHO_CLUSTER] });
    const first = await c.next();
    const second = await c.next();
    expect([first.type_url, second.type_url]).toEqual([TYPE_URLS.cds, TYPE_URLS.eds]);
    expect(second.resources.map((r) => r.name)).toEqual([ECHO_CLUSTER]);
    c.close();
  });
});

describe("hostile connections", () => {
  let lab: Lab;
  const events: XdsServerEvent[] = [];
  beforeAll(async () => {
    lab = await createLab(async () => {}, {
      handshakeTimeoutMs: 300,
      connectionIdleMs: 300,
      maxConnections: 4,
      maxResourceNames: 100,
      nackBackoffMs: 100,
      onEvent: (e) => events.push(e),
    });
  });
  afterAll(async () => lab?.close());

  test("a raw TCP connection that never speaks, and HTTP/2 without a stream, are closed", async () => {
    const keeper = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: NODE("k"),
    });
    keeper.send({ type_url: TYPE_URLS.cds });
    await keeper.next();

    const silent = await rawConnect(lab.xds.address);
    expect(await closedWithin(silent, 10_000)).toBe(true);
    const h2 = http2Connect(`http://${lab.xds.address}`);
    h2.on("error", () => {});
    const h2Closed = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 10_000);
      h2.once("close", () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    expect(await h2Closed).toBe(true);
    expect(metric(lab.xds.metrics(), "meshctl_xds_handshake_timeouts_total")).toBeGreaterThanOrEqual(1);
    // The real client kept its stream (it opened one in time) and its config.
    expect(lab.xds.clients().map((c) => c.nodeId)).toEqual([NODE("k")]);
    expect(await debugAnswers(lab.xds.debugPort)).toBe(true);
    keeper.close();
  });

  test("connections beyond --max-connections are closed at once", async () => {
    const sockets = await Promise.all(Array.from({ length: 4 }, () => rawConnect(lab.xds.address)));
    const extra = await rawConnect(lab.xds.address);
    // Closed by the cap long before the 300 ms handshake timeout could matter.
    expect(await closedWithin(extra, 250)).toBe(true);
    expect(metric(lab.xds.metrics(), "meshctl_xds_rejected_connections_total")).toBeGreaterThanOrEqual(1);
    for (const s of sockets) s.destroy();
    await waitFor(() => metric(lab.xds.metrics(), "meshctl_xds_connections") === 0, { what: "sockets gone" });
  });

  test("client text in the log cannot forge lines: NACK details, node ids and type URLs are escaped", async () => {
    const c = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: `${NODE("x")}\n2026-01-01T00:00:00Z connect fake`,
    });
    c.send({ type_url: TYPE_URLS.cds });
    const r = await c.next();
    c.send({
      type_url: TYPE_URLS.cds,
      version_info: r.version_info,
      response_nonce: r.nonce,
      error_detail: { code: 3, message: "bad cluster\n2026-01-01T00:00:00Z push to all: ok\u001b[2J" },
    });
    c.send({ type_url: "type.googleapis.com/evil\r\nfake line" });
    await waitFor(
      () => events.some((e) => e.type === "nack") && events.some((e) => e.type === "unknown-type"),
      {
        what: "the NACK and the unknown type to be logged",
      },
    );
    const logged = JSON.stringify(events.filter((e) => e.type !== "config-applied"));
    for (const e of events) {
      if (e.type === "config-applied") continue;
      for (const v of Object.values(e)) if (typeof v === "string") expect(v).not.toMatch(CONTROL_CHARS);
    }
    expect(logged).toContain("bad cluster\\\\n2026");
    c.close();
  });

  test("subscriptions beyond the per-stream limits close the stream with a clear status", async () => {
    const tooMany = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "delta",
      nodeId: NODE("d1"),
    });
    tooMany.send({
      type_url: TYPE_URLS.eds,
      resource_names_subscribe: Array.from({ length: 101 }, (_, i) => `cluster-${i}`),
    });
    await expect(tooMany.next()).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/101 resource names \(limit 100/),
    });
    // Growing a subscription request by request hits the same limit.
    const growing = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "delta",
      nodeId: NODE("d2"),
    });
    for (let i = 0; i < 3; i++)
      growing.send({
        type_url: TYPE_URLS.eds,
        resource_names_subscribe: Array.from({ length: 40 }, (_, j) => `c-${i}-${j}`),
      });
    // Its first requests are answered; the one that crosses the limit ends the stream.
    const ended = (async () => {
      for (;;) await growing.next();
    })();
    await expect(ended).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    const longName = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "delta",
      nodeId: NODE("d3"),
    });
    longName.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["x".repeat(2000)] });
    await expect(longName.next()).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    for (const c of [tooMany, growing, longName]) c.close();
    await waitFor(() => lab.xds.clients().length === 0, { what: "the closed streams to be forgotten" });
    expect(await debugAnswers(lab.xds.debugPort)).toBe(true);
  });
});

describe("slow consumers", () => {
  let lab: Lab;
  const big = (round: number) => {
    const objects = [];
    for (let s = 0; s < 150; s++) {
      objects.push(k8sService({ name: `svc-${s}`, namespace: "demo", port: 7070 }));
      objects.push(
        ...endpointSlice({
          name: `svc-${s}`,
          namespace: "demo",
          service: `svc-${s}`,
          endpoints: Array.from({ length: 20 }, (_, e) => ({
            address: `10.${s % 250}.${e}.${round % 250}`,
            port: 7070,
          })),
        }),
      );
    }
    return objects;
  };
  beforeAll(async () => {
    lab = await createLab(async (dir) => writeMeshFiles(dir, { "big.yaml": big(0) }), {
      writeTimeoutMs: 500,
      pushConcurrency: 1,
      debounceAfterMs: 20,
    });
  });
  afterAll(async () => lab?.close());

  test("a stream that never reads loses its connection; pushes to the others go on", {
    timeout: 120_000,
  }, async () => {
    const reader = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: NODE("r"),
    });
    reader.send({ type_url: TYPE_URLS.cds });
    const cds = await reader.next(10_000);
    reader.send({ type_url: TYPE_URLS.cds, version_info: cds.version_info, response_nonce: cds.nonce });
    reader.send({ type_url: TYPE_URLS.eds, resource_names: cds.resources.map((r) => r.name) });
    await reader.next(10_000);

    // Never reads: a raw HTTP/2 stream, paused, so its flow-control window fills and stays full.
    const h2 = http2Connect(`http://${lab.xds.address}`);
    h2.on("error", () => {});
    const slow = h2.request({
      ":method": "POST",
      ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      "content-type": "application/grpc",
      te: "trailers",
    });
    slow.on("error", () => {});
    slow.pause();
    const serialize = (loadXdsProtos().adsService as grpc.ServiceDefinition).StreamAggregatedResources
      ?.requestSerialize as (v: unknown) => Buffer;
    const frame = (msg: unknown) => {
      const body = serialize(msg);
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      return Buffer.concat([head, body]);
    };
    slow.write(frame({ node: { id: NODE("slow") }, type_url: TYPE_URLS.cds }));
    slow.write(frame({ type_url: TYPE_URLS.eds, resource_names: cds.resources.map((r) => r.name) }));
    let slowClosed = false;
    h2.once("close", () => {
      slowClosed = true;
    });

    for (
      let round = 1;
      round <= 80 && metric(lab.xds.metrics(), "meshctl_xds_slow_consumers_total") < 1;
      round++
    ) {
      const generation = lab.xds.mesh().generation;
      // Replaced by a rename: the source takes it on first sight (an in-place write is read twice).
      await writeFile(join(lab.dir, ".big.tmp"), toYaml(big(round)));
      await rename(join(lab.dir, ".big.tmp"), join(lab.dir, "big.yaml"));
      await waitFor(() => lab.xds.mesh().generation > generation && lab.xds.settled(), {
        timeoutMs: 15_000,
        what: `round ${round} pushed`,
      });
    }
    expect(metric(lab.xds.metrics(), "meshctl_xds_slow_consumers_total")).toBe(1);
    await waitFor(() => slowClosed, { what: "the slow consumer's connection to close" });
    expect(lab.xds.clients().map((c) => c.nodeId)).toEqual([NODE("r")]);

    // The reader still gets the newest endpoints with one push slot in total.
    await writeMeshFiles(lab.dir, { "big.yaml": big(99) });
    await waitFor(
      () => reader.responses.some((r) => JSON.stringify(r.resources[0]?.value ?? {}).includes("10.0.0.99")),
      { timeoutMs: 10_000, what: "the reader to get the last change" },
    );
    expect(await debugAnswers(lab.xds.debugPort)).toBe(true);
    expect(process.memoryUsage().rss).toBeLessThan(RSS_BOUND);
    reader.close();
    // close() does not wait for drains forever.
    const t0 = performance.now();
    await lab.xds.close();
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe("a Service deleted and put back", () => {
  let lab: Lab;
  const service = () => [k8sService({ name: "echo", namespace: "demo", port: 7070 })];
  const endpoints = (port: number) =>
    endpointSlice({ name: "echo", namespace: "demo", service: "echo", endpoints: [{ port }] });
  let echoPort = 0;
  beforeAll(async () => {
    lab = await createLab(async () => {}, { debounceAfterMs: 50 });
    echoPort = (await lab.startEcho({ id: "a" })).port;
    await writeMeshFiles(lab.dir, { "echo.yaml": service(), "echo-eps.yaml": endpoints(echoPort) });
    await waitFor(() => lab.xds.mesh().model.services.length === 1 && lab.xds.settled(), { what: "mesh" });
  });
  afterAll(async () => lab?.close());

  test("a grpc-js-xds client with meshctl's bootstrap recovers without a restart", async () => {
    const client = await lab.client(TARGET);
    expect((await client.echo("before", {}, 10_000)).server).toBe("a");
    await writeMeshFiles(lab.dir, { "echo.yaml": null });
    await waitFor(() => lab.xds.mesh().model.services.length === 0 && lab.xds.settled(), {
      what: "deletion pushed",
    });
    // The deletion reached the client (its LDS/CDS were sent without echo)...
    await waitFor(
      () =>
        !JSON.stringify(lab.xds.clients().find((c) => c.proxyType !== "sidecar")?.types ?? {}).includes(
          "echo.demo",
        ),
      { what: "the client to be told", timeoutMs: 5000 },
    ).catch(() => {});
    await writeMeshFiles(lab.dir, { "echo.yaml": service() });
    await waitFor(() => lab.xds.mesh().model.services.length === 1 && lab.xds.settled(), {
      what: "restore pushed",
    });
    // ...and with ignore_resource_deletion it never dropped them: the next RPC succeeds.
    await waitFor(async () => (await client.echo("after", {}, 2000)).server === "a", {
      what: "an RPC after the restore",
      timeoutMs: 10_000,
    });
    expect(await debugAnswers(lab.xds.debugPort)).toBe(true);
  });

  test("deleted and restored within the debounce window: no deletion is ever sent", async () => {
    const delta = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "delta",
      nodeId: NODE("dd"),
    });
    delta.send({ type_url: TYPE_URLS.cds, resource_names_subscribe: ["*"] });
    const first = await delta.next();
    expect(first.resources.map((r) => r.name)).toContain(ECHO_CLUSTER);
    const sotw = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: NODE("ss"),
    });
    sotw.send({ type_url: TYPE_URLS.cds });
    await sotw.next();

    await writeMeshFiles(lab.dir, { "echo.yaml": null });
    await writeMeshFiles(lab.dir, { "echo.yaml": service() });
    await waitFor(() => lab.xds.mesh().model.services.length === 1 && lab.xds.settled(), { what: "settled" });
    const more = await delta.collectFor(300);
    for (const r of more) expect(r.removed_resources).not.toContain(ECHO_CLUSTER);
    for (const r of sotw.responses) expect(r.resources.map((x) => x.name)).toContain(ECHO_CLUSTER);
    delta.close();
    sotw.close();
  });
});

describe("a client that NACKs everything", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab(async () => {}, { nackBackoffMs: 500, debounceAfterMs: 20 });
  });
  afterAll(async () => lab?.close());

  test("gets no resend storm: silence without changes, at most one response per type per change", async () => {
    const c = await connectAdsTestClient({ address: lab.xds.address, protocol: "sotw", nodeId: NODE("n") });
    let nacks = 0;
    const nackAll = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const r = await c.next(until - Date.now()).catch(() => undefined);
        if (!r) break;
        nacks++;
        c.send({
          type_url: r.type_url,
          version_info: "",
          response_nonce: r.nonce,
          error_detail: { code: 3, message: "no" },
        });
      }
    };
    c.send({ type_url: TYPE_URLS.cds });
    await nackAll(1500);
    expect(nacks).toBe(1); // the first response, NACKed; nothing came back for it
    for (let i = 0; i < 5; i++) {
      await writeMeshFiles(lab.dir, {
        "eps.yaml": endpointSlice({
          name: "x",
          namespace: "demo",
          service: "echo",
          endpoints: [{ port: 9000 + i }],
        }),
      });
      await waitFor(() => lab.xds.settled(), { what: `change ${i}` });
    }
    await nackAll(2000);
    // CDS only is watched: each change may bring one CDS response at most (here none: clusters are unchanged).
    expect(nacks).toBeLessThanOrEqual(1 + 5);
    expect(await debugAnswers(lab.xds.debugPort)).toBe(true);
    c.close();
  });
});

describe("kill -9 of the control plane with clients connected, then restart", () => {
  const CLIENTS = 300;
  let child: ChildProcess | undefined;
  let dir: string;
  let lab: Lab | undefined;

  function spawnServe(
    port: number,
  ): Promise<{ address: string; debugPort: number; pid: number; proc: ChildProcess }> {
    const entry = resolveServeProcessEntry() as string;
    const args = entry.endsWith(".ts")
      ? [
          "--conditions=@meshctl/source",
          "--import",
          pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href,
          entry,
        ]
      : [entry];
    const spec = { configDir: dir, port, debugPort: 0, options: { maxStreamsPerSecond: 100 } };
    const proc = spawn(process.execPath, [...args, JSON.stringify(spec)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new Promise((resolve, reject) => {
      let out = "";
      proc.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n")[0];
        if (out.includes("\n") && line) resolve({ ...JSON.parse(line), proc });
      });
      proc.once("exit", (code) => reject(new Error(`serve-main exited ${code}`)));
    });
  }

  beforeAll(async () => {
    // The lab only provides a mesh directory with the example mesh; its own server is unused.
    lab = await createLab(echoMesh);
    dir = lab.dir;
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await lab?.close();
  });

  test("clients keep their config, the reconnect storm is absorbed, SIGTERM stops it at once", async () => {
    const first = await spawnServe(0);
    child = first.proc;
    const port = Number(first.address.split(":")[1]);
    const channel = adsChannel(first.address, {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
    });
    let exhausted = 0;
    // A reconnecting client: re-opens its stream with jittered backoff; keeps the last config it got.
    const clients = Array.from({ length: CLIENTS }, (_, i) => {
      const state = {
        config: [] as string[],
        served: 0,
        stopped: false,
        call: undefined as AdsCall | undefined,
      };
      const open = (attempt: number) => {
        if (state.stopped) return;
        const call = channel.StreamAggregatedResources() as AdsCall;
        state.call = call;
        call.on("data", (msg: { resources: { value: Buffer }[]; nonce: string }) => {
          state.config = msg.resources.map((r) => r.value.toString("latin1"));
          state.served++;
          attempt = 0;
          call.write({ type_url: TYPE_URLS.cds, response_nonce: msg.nonce });
        });
        call.on("error", (e: grpc.ServiceError) => {
          if (e.code === grpc.status.RESOURCE_EXHAUSTED) exhausted++;
          const backoff = Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random());
          setTimeout(() => open(attempt + 1), backoff).unref();
        });
        call.write({ node: { id: NODE(i) }, type_url: TYPE_URLS.cds });
      };
      open(0);
      return state;
    });
    await waitFor(() => clients.every((c) => c.served >= 1), {
      timeoutMs: 30_000,
      what: "all clients served",
    });
    const configs = clients.map((c) => c.config.join());

    first.proc.kill("SIGKILL");
    await new Promise((r) => first.proc.once("exit", r));
    for (const c of clients) c.served = 0;
    // While the control plane is down, every client still holds its config.
    expect(clients.map((c) => c.config.join())).toEqual(configs);

    const second = await spawnServe(port);
    child = second.proc;
    await waitFor(() => clients.every((c) => c.served >= 1), {
      timeoutMs: 30_000,
      what: "all clients re-served after the restart",
    });
    // 300 streams against 100/s: some were refused and retried.
    expect(exhausted).toBeGreaterThan(0);
    expect(await debugAnswers(second.debugPort)).toBe(true);
    const rssMb =
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${second.pid}/status`, "utf8"))?.[1]) / 1024;
    expect(rssMb).toBeLessThan(1024);

    // SIGTERM with 300 clients connected: serve-main exits within the close grace.
    const exited = new Promise<number | null>((resolve) => second.proc.once("exit", (code) => resolve(code)));
    const t0 = performance.now();
    second.proc.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    for (const c of clients) {
      c.stopped = true;
      c.call?.cancel();
    }
    channel.close();
  }, 120_000);
});
