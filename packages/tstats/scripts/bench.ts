/**
 * tstats benchmark: the per-request cost of telemetry in the gRPC path, three ways in one run
 * (no telemetry, tstats with cached peers, decode-every-request as the Wasm path did), on a
 * grpc-js echo (client and server in this process, so each request pays both reporters).
 * Rounds interleave the modes; CPU per request comes from process.cpuUsage(), latency is measured
 * open-loop at a fixed rate. Also: memory per 1,000 cached peers and exposition time for 10,000 series.
 *
 *   flock /tmp/meshctl-bench.lock node packages/tstats/scripts/run-bench.mjs \
 *     [--rate 300] [--seconds 2] [--rounds 8] [--cpu-calls 3000] [--json out.json]
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type Interceptor, Metadata, type ServerInterceptor } from "@grpc/grpc-js";
import {
  createTstatsClientInterceptor,
  createTstatsServerInterceptor,
  encodePeerMetadataHeader,
  ISTIO_HTTP_LABELS,
  localWorkload,
  MetricRegistry,
  renderLabelText,
  TstatsRecorder,
  withMessageSizes,
  workloadLabelValues,
  workloadMetadata,
} from "../src/index.js";
import { ECHO_SERVICE, type EchoClient, echoClient, startEchoServer } from "../test/echo-service.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "300" },
    seconds: { type: "string", default: "2" },
    rounds: { type: "string", default: "8" },
    "cpu-calls": { type: "string", default: "3000" },
    json: { type: "string" },
    /** Skip the end-to-end gRPC rounds (quick check of the in-process figures). */
    "skip-grpc": { type: "boolean", default: false },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CPU_CALLS = Number(values["cpu-calls"]);

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

type Mode = "none" | "tstats" | "decode-every-request";
const MODES: Mode[] = ["none", "tstats", "decode-every-request"];

function workload(name: string) {
  return localWorkload({
    instanceName: `${name}-5f7d-x2k9`,
    namespace: "default",
    workloadName: `${name}-v1`,
    clusterId: "Kubernetes",
    app: name,
    version: "v1",
    identity: `spiffe://cluster.local/ns/default/sa/${name}`,
    owner: `kubernetes://apis/apps/v1/namespaces/default/deployments/${name}-v1`,
    nodeId: `sidecar~10.0.0.1~${name}-5f7d-x2k9.default~default.svc.cluster.local`,
    istioVersion: "1.24.0",
  });
}

interface Target {
  readonly client: EchoClient;
  close(): Promise<void>;
}

async function startTarget(mode: Mode): Promise<Target> {
  const service = withMessageSizes(ECHO_SERVICE);
  let serverInterceptors: ServerInterceptor[] = [];
  let clientInterceptors: Interceptor[] = [];
  if (mode !== "none") {
    const recorderMode = mode === "tstats" ? "cached" : "decode-every-request";
    const registry = new MetricRegistry({ istioVersion: "1.24.0" });
    const server = new TstatsRecorder({ local: workload("echo"), registry, mode: recorderMode });
    const client = new TstatsRecorder({ local: workload("frontend"), registry, mode: recorderMode });
    serverInterceptors = [createTstatsServerInterceptor(server)];
    clientInterceptors = [
      createTstatsClientInterceptor(client, { target: "echo.default.svc.cluster.local:8080" }),
    ];
  }
  const server = await startEchoServer({ service, interceptors: serverInterceptors });
  const client = echoClient(server.port, { service, interceptors: clientInterceptors });
  return {
    client,
    close: async () => {
      client.close();
      await server.close();
    },
  };
}

function call(client: EchoClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.echo({ text: "hello, mesh" }, new Metadata(), (err) => (err ? reject(err) : resolve()));
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Phase {
  mode: Mode;
  requests: number;
  cpuUsPerRequest: number;
  p50Us: number;
  p99Us: number;
  achievedRps: number;
}

/**
 * Open loop: calls are started on a fixed schedule, whatever the previous ones are doing. A timer
 * wakes up about every millisecond and starts every call that is due (no busy-wait, which would
 * show up in the CPU figure); latency is measured from each call's actual start.
 */
async function runPhase(mode: Mode, target: Target): Promise<Phase> {
  const total = Math.round(RATE * SECONDS);
  const intervalMs = 1000 / RATE;
  const latencies: number[] = [];
  let started = 0;
  let done = 0;
  const startWall = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - startWall) / intervalMs) + 1);
      while (started < due) {
        started++;
        const t0 = performance.now();
        call(target.client).then(() => {
          latencies.push((performance.now() - t0) * 1000);
          if (++done === total) resolve();
        }, reject);
      }
      if (started < total) setTimeout(tick, 1);
    };
    tick();
  });
  const cpu = process.cpuUsage(cpu0);
  const elapsed = (performance.now() - startWall) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    mode,
    requests: total,
    cpuUsPerRequest: (cpu.user + cpu.system) / total,
    p50Us: percentile(latencies, 50),
    p99Us: percentile(latencies, 99),
    achievedRps: total / elapsed,
  };
}

/** Closed loop, 16 calls in flight: CPU per call from process.cpuUsage(). */
async function cpuSlice(target: Target, calls: number): Promise<number> {
  let started = 0;
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (started++ < calls) await call(target.client);
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / calls;
}

/**
 * CPU nanoseconds this process used since `start`. CPU time, not wall time: on a shared machine
 * wall time also counts the time other processes held the cores.
 */
function cpuNsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) * 1000;
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * The gRPC interceptor path without the network: the client interceptor chain is wired to the
 * server interceptor chain in memory (metadata cloned per hop, as a transport would create new
 * objects), so one "call" runs both tstats interceptors exactly as grpc-js drives them, minus
 * HTTP/2. This isolates telemetry's per-call cost from the transport's (and this machine's) noise.
 */
function interceptorPathCall(mode: Mode): () => void {
  let clientIcs: Interceptor[] = [];
  let serverIcs: ServerInterceptor[] = [];
  if (mode !== "none") {
    const recorderMode = mode === "tstats" ? "cached" : "decode-every-request";
    const registry = new MetricRegistry();
    clientIcs = [
      createTstatsClientInterceptor(
        new TstatsRecorder({ local: workload("frontend"), registry, mode: recorderMode }),
        { target: "echo.default.svc.cluster.local:8080" },
      ),
    ];
    serverIcs = [
      createTstatsServerInterceptor(
        new TstatsRecorder({ local: workload("echo"), registry, mode: recorderMode }),
      ),
    ];
  }
  const method = ECHO_SERVICE.echo!;
  const request = Buffer.from('{"text":"hello, mesh"}');
  const response = Buffer.from('{"text":"hello, mesh"}');
  const oneCall = (): void => {
    // biome-ignore lint/suspicious/noExplicitAny: grpc-js listener types are internal
    let clientListener: any;
    // biome-ignore lint/suspicious/noExplicitAny: as above
    let serverListener: any;
    const fakeServer = {
      start(l: unknown) {
        serverListener = l;
      },
      sendMetadata(md: Metadata) {
        clientListener.onReceiveMetadata(md.clone());
      },
      sendMessage(msg: unknown, cb: () => void) {
        clientListener.onReceiveMessage(msg);
        cb();
      },
      sendStatus(st: { code: number; details?: string; metadata?: Metadata }) {
        clientListener.onReceiveStatus({
          code: st.code,
          details: st.details ?? "",
          metadata: st.metadata?.clone() ?? new Metadata(),
        });
      },
      startRead() {},
      getPeer: () => "ipv4:127.0.0.1:40000",
      getDeadline: () => Number.POSITIVE_INFINITY,
      getHost: () => "echo.default.svc.cluster.local:8080",
      getAuthContext: () => ({}),
      getConnectionInfo: () => ({}),
      getMetricsRecorder: () => ({}),
    };
    // biome-ignore lint/suspicious/noExplicitAny: the fake implements the interface structurally
    let serverCall: any = fakeServer;
    for (const ic of [...serverIcs].reverse()) serverCall = ic(method as never, serverCall);
    serverCall.start({
      onReceiveMetadata() {},
      onReceiveMessage() {},
      onReceiveHalfClose() {
        serverCall.sendMetadata(new Metadata());
        serverCall.sendMessage(response, () => undefined);
        serverCall.sendStatus({ code: 0, details: "OK", metadata: new Metadata() });
      },
      onCancel() {},
    });
    const fakeClient = {
      start(md: Metadata, l: unknown) {
        clientListener = l;
        serverListener.onReceiveMetadata(md.clone());
      },
      sendMessageWithContext(_ctx: unknown, msg: unknown) {
        serverListener.onReceiveMessage(msg);
      },
      sendMessage(msg: unknown) {
        serverListener.onReceiveMessage(msg);
      },
      halfClose() {
        serverListener.onReceiveHalfClose();
      },
      startRead() {},
      cancelWithStatus() {},
      getPeer: () => "ipv4:127.0.0.1:8080",
      getAuthContext: () => ({}),
    };
    // biome-ignore lint/suspicious/noExplicitAny: as above
    let next: any = () => fakeClient;
    for (const ic of [...clientIcs].reverse()) {
      const inner = next;
      next = (opts: never) => ic(opts, inner);
    }
    const call = next({ method_definition: method });
    call.start(new Metadata(), { onReceiveMetadata() {}, onReceiveMessage() {}, onReceiveStatus() {} });
    call.sendMessage(request);
    call.halfClose();
  };
  return oneCall;
}

/** ns per in-memory call for each mode; modes alternate run by run so drift hits all alike. */
function interceptorPathNsPerCall(): Record<Mode, number> {
  const calls = Object.fromEntries(MODES.map((m) => [m, interceptorPathCall(m)])) as Record<Mode, () => void>;
  const samples: Record<Mode, number[]> = { none: [], tstats: [], "decode-every-request": [] };
  const n = 20_000;
  for (let r = 0; r < 8; r++) {
    for (const m of MODES) {
      const fn = calls[m];
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) fn();
      if (r > 0) samples[m].push(cpuNsSince(c0) / n);
    }
  }
  return Object.fromEntries(MODES.map((m) => [m, median(samples[m])])) as Record<Mode, number>;
}

/** The telemetry work alone, without gRPC: resolve the peer and record one call, per request. */
function microbench(mode: "cached" | "decode-every-request"): number {
  const recorder = new TstatsRecorder({ local: workload("echo"), mode });
  const site = recorder.callSite({ reporter: "destination" });
  const header = encodePeerMetadataHeader(workload("frontend"));
  const id = workload("frontend").nodeId;
  const n = 200_000;
  const run = () => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      recorder.recordHttp(site, recorder.resolvePeer(header, id), {
        protocol: "grpc",
        responseCode: 200,
        grpcStatus: 0,
        durationMs: 0.4,
        requestBytes: 32,
        responseBytes: 32,
        requestMessages: 1,
        responseMessages: 1,
      });
    }
    return cpuNsSince(c0) / n;
  };
  run();
  return median([run(), run(), run(), run(), run()]);
}

function peers(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const w = workloadMetadata({
      instanceName: `svc${i}-5f7d-x2k9`,
      namespace: `ns${i % 50}`,
      workloadName: `svc${i}-v1`,
      clusterId: "Kubernetes",
      canonicalService: `svc${i}`,
      canonicalRevision: "v1",
      app: `svc${i}`,
      version: "v1",
      owner: `kubernetes://apis/apps/v1/namespaces/ns${i % 50}/deployments/svc${i}-v1`,
    });
    return {
      header: encodePeerMetadataHeader(w),
      id: `sidecar~10.1.${i >> 8}.${i & 255}~svc${i}-5f7d-x2k9.ns${i % 50}~ns${i % 50}.svc.cluster.local`,
    };
  });
}

function memoryPer1000Peers(): { cacheOnlyKiB: number; withSeriesKiB: number } {
  const N = 10_000;
  const list = peers(N);
  const measure = (withSeries: boolean) => {
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const recorder = new TstatsRecorder({ local: workload("echo"), peerCacheSize: N });
    const site = recorder.callSite({ reporter: "destination" });
    for (const p of list) {
      const peer = recorder.resolvePeer(p.header, p.id);
      if (withSeries) {
        recorder.recordHttp(site, peer, {
          protocol: "grpc",
          responseCode: 200,
          grpcStatus: 0,
          durationMs: 1,
          requestBytes: 10,
          responseBytes: 10,
        });
      }
    }
    gc();
    gc();
    const after = process.memoryUsage().heapUsed;
    if (recorder.peerCacheStats().size !== N) throw new Error("cache did not hold every peer");
    return (after - before) / (N / 1000) / 1024;
  };
  return { cacheOnlyKiB: measure(false), withSeriesKiB: measure(true) };
}

interface ExpositionFigure {
  readonly what: string;
  readonly series: number;
  readonly ms: number;
  readonly bytes: number;
}

function timeRender(what: string, registry: MetricRegistry): ExpositionFigure {
  registry.renderPrometheus();
  const runs: number[] = [];
  let text = "";
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    text = registry.renderPrometheus();
    runs.push(performance.now() - t0);
  }
  const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
  return { what, series, ms: median(runs), bytes: text.length };
}

/** Prometheus counts a series per exposition line (each histogram bucket is one). */
function expositionTimes(): ExpositionFigure[] {
  const list = peers(10_000);
  const out: ExpositionFigure[] = [];
  // 10,000 istio_requests_total series with Istio's full 25-label set (label sets that only counted).
  const counters = new TstatsRecorder({ local: workload("echo"), peerCacheSize: list.length });
  const site = counters.callSite({ reporter: "destination" });
  for (const p of list) {
    const peer = counters.resolvePeer(p.header, p.id);
    const values = [
      ...workloadLabelValues(counters.local, site, peer.workload),
      "http",
      "200",
      "",
      "-",
      "none",
    ];
    counters.registry.httpSeries(renderLabelText(ISTIO_HTTP_LABELS, values), false).requests++;
  }
  out.push(timeRender("10,000 istio_requests_total series", counters.registry));
  // The full HTTP family (counter + 3 histograms of 22 lines + 2 gRPC counters = 69 series per label set).
  const grpc = new TstatsRecorder({ local: workload("echo"), peerCacheSize: list.length });
  const gsite = grpc.callSite({ reporter: "destination" });
  for (const p of list.slice(0, 145)) {
    grpc.recordHttp(gsite, grpc.resolvePeer(p.header, p.id), {
      protocol: "grpc",
      responseCode: 200,
      grpcStatus: 0,
      durationMs: 3,
      requestBytes: 100,
      responseBytes: 800,
      requestMessages: 1,
      responseMessages: 1,
    });
  }
  out.push(timeRender("145 gRPC label sets x full family", grpc.registry));
  // TCP: 2,500 label sets x 4 counters.
  const tcp = new TstatsRecorder({ local: workload("echo"), peerCacheSize: list.length });
  const tsite = tcp.callSite({ reporter: "destination" });
  for (const p of list.slice(0, 2500)) {
    const s = tcp.tcpSeries(tsite, tcp.resolvePeer(p.header, p.id));
    s.opened++;
    s.sentBytes += 1000;
  }
  out.push(timeRender("2,500 TCP label sets x 4 counters", tcp.registry));
  return out;
}

async function main() {
  process.stdout.write(
    `tstats benchmark: ${ROUNDS} interleaved rounds; latency open loop at ${RATE} rps for ${SECONDS}s per mode per round; CPU closed loop ${CPU_CALLS} calls per mode per round\n`,
  );
  // In-process figures first, on a fresh heap and before the real gRPC path has run the
  // interceptors with other object shapes.
  const path = interceptorPathNsPerCall();
  const microCached = microbench("cached");
  const microDecode = microbench("decode-every-request");
  const memory = memoryPer1000Peers();
  const exposition = expositionTimes();
  // All three targets stay up for the whole run, so rounds switch modes without setup in between.
  const targets = Object.fromEntries(
    await Promise.all(MODES.map(async (m) => [m, await startTarget(m)] as const)),
  ) as Record<Mode, Target>;
  const phases: Phase[] = [];
  const cpu: Record<Mode, number[]> = { none: [], tstats: [], "decode-every-request": [] };
  try {
    for (const m of MODES) for (let i = 0; i < 500; i++) await call(targets[m].client);
    for (let round = 0; round < (values["skip-grpc"] ? 0 : ROUNDS); round++) {
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
      for (const mode of order) cpu[mode].push(await cpuSlice(targets[mode], CPU_CALLS));
      for (const mode of order) {
        const p = await runPhase(mode, targets[mode]);
        phases.push(p);
      }
      process.stdout.write(
        `  round ${round + 1}: ${MODES.map((m) => `${m} cpu ${cpu[m].at(-1)!.toFixed(1)} us p50 ${phases.findLast((p) => p.mode === m)!.p50Us.toFixed(0)} us`).join(" | ")}\n`,
      );
    }
  } finally {
    for (const t of Object.values(targets)) await t.close();
  }
  const p50 = (m: Mode) => phases.filter((p) => p.mode === m).map((p) => p.p50Us);
  const p99 = (m: Mode) => phases.filter((p) => p.mode === m).map((p) => p.p99Us);
  const summary = Object.fromEntries(
    MODES.map((mode) => [
      mode,
      { cpuUsPerRequest: median(cpu[mode]), p50Us: median(p50(mode)), p99Us: median(p99(mode)) },
    ]),
  ) as Record<Mode, { cpuUsPerRequest: number; p50Us: number; p99Us: number }>;
  // Paired per round: each round's mode against the same round's "none".
  const pairedCpu = (m: Mode) => median(cpu[m].map((v, i) => v - cpu.none[i]!));
  const pairedP50 = (m: Mode) => median(p50(m).map((v, i) => (v / p50("none")[i]! - 1) * 100));
  const addedTstats = pairedCpu("tstats");
  const addedDecode = pairedCpu("decode-every-request");
  const p50Overhead = pairedP50("tstats");
  const p50OverheadDecode = pairedP50("decode-every-request");

  const result = {
    config: { rate: RATE, seconds: SECONDS, rounds: ROUNDS, cpuCalls: CPU_CALLS, node: process.version },
    grpc: summary,
    /** Medians of per-round differences against the same round's "none". */
    addedCpuUsPerRequest: {
      tstats: addedTstats,
      decodeEveryRequest: addedDecode,
      ratio: addedDecode / addedTstats,
    },
    p50OverheadPercent: { tstats: p50Overhead, decodeEveryRequest: p50OverheadDecode },
    cpuSamples: cpu,
    interceptorPathNsPerCall: {
      ...path,
      addedTstats: path.tstats - path.none,
      addedDecodeEveryRequest: path["decode-every-request"] - path.none,
      ratio: (path["decode-every-request"] - path.none) / (path.tstats - path.none),
    },
    telemetryOnlyNsPerRequest: {
      cached: microCached,
      decodeEveryRequest: microDecode,
      ratio: microDecode / microCached,
    },
    memoryPer1000PeersKiB: memory,
    exposition,
    phases,
  };

  const f = (n: number, d = 1) => n.toFixed(d);
  process.stdout.write(
    [
      "",
      "gRPC echo end to end (client + server in one process; both reporters per call), medians of rounds:",
      `  none                  cpu ${f(summary.none.cpuUsPerRequest)} us/req   p50 ${f(summary.none.p50Us, 0)} us   p99 ${f(summary.none.p99Us, 0)} us`,
      `  tstats (cached)       cpu ${f(summary.tstats.cpuUsPerRequest)} us/req   p50 ${f(summary.tstats.p50Us, 0)} us   p99 ${f(summary.tstats.p99Us, 0)} us`,
      `  decode-every-request  cpu ${f(summary["decode-every-request"].cpuUsPerRequest)} us/req   p50 ${f(summary["decode-every-request"].p50Us, 0)} us   p99 ${f(summary["decode-every-request"].p99Us, 0)} us`,
      `  added CPU per request (median of per-round differences): tstats ${f(addedTstats, 2)} us, decode-every-request ${f(addedDecode, 2)} us`,
      `  p50 vs none (median of per-round ratios): tstats ${f(p50Overhead)} %, decode-every-request ${f(p50OverheadDecode)} %`,
      `gRPC interceptor path, client + server, no network (CPU time): none ${f(path.none, 0)} ns/call, tstats ${f(path.tstats, 0)} ns/call, decode-every-request ${f(path["decode-every-request"], 0)} ns/call`,
      `  added per call: tstats ${f(path.tstats - path.none, 0)} ns, decode-every-request ${f(path["decode-every-request"] - path.none, 0)} ns (${f((path["decode-every-request"] - path.none) / (path.tstats - path.none))}x)`,
      `recorder alone (resolve peer + record, one reporter, CPU time): cached ${f(microCached, 0)} ns/req, decode-every-request ${f(microDecode, 0)} ns/req (${f(microDecode / microCached)}x)`,
      `memory per 1,000 cached peers: ${f(memory.cacheOnlyKiB)} KiB (cache only), ${f(memory.withSeriesKiB)} KiB (with one HTTP series each)`,
      ...exposition.map(
        (e) =>
          `exposition: ${e.what}: ${e.series} series, ${(e.bytes / 1e6).toFixed(2)} MB, ${f(e.ms, 2)} ms`,
      ),
      "",
      `JSON ${JSON.stringify(result)}`,
      "",
    ].join("\n"),
  );
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
}

await main();
