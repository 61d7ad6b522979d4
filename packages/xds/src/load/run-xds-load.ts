/**
 * `runXdsLoad`: a pilot-load-style harness. It generates a synthetic mesh, starts (or points
 * at) an xDS server, connects N simulated proxies over real gRPC streams that ACK what they
 * receive, measures the initial convergence, drives churn, and returns one JSON report.
 * It depends only on the wire protocol and files/HTTP, so any xDS server is measured alike.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { CHURN_KINDS, type ChurnKind, ChurnPlanner } from "./churn.js";
import { ChurnTracker } from "./churn-tracker.js";
import {
  checkLoadNumber as checkNumber,
  countFleet,
  createFleet,
  emitProgress,
  sleep,
  loadUsage as usage,
  waitForFleet,
} from "./fleet.js";
import type {
  TrafficSummary,
  XdsLoadOptions,
  XdsLoadPhase,
  XdsLoadProgress,
  XdsLoadReport,
} from "./load-types.js";
import { XDS_LOAD_TARGETS } from "./load-types.js";
import { ProcessSampler, type ProcessUsage } from "./process-sampler.js";
import { planProxies } from "./proxy-plan.js";
import { XDS_KINDS } from "./proxy-subscriptions.js";
import { ResourceDecoder } from "./resource-names.js";
import { scrapeServerMetrics, serverCacheHitRate } from "./server-metrics.js";
import type { AdsClient, SimulatedProxy } from "./simulated-proxy.js";
import { summarizePercentiles } from "./stats.js";
import { generateSyntheticMesh, meshVisible } from "./synthetic-mesh.js";
import type { LoadTargetDriver, TargetEndpoint } from "./target.js";
import { writeMeshFiles } from "./target.js";
import { ExternalTarget } from "./target-external.js";
import { GoControlPlaneTarget } from "./target-go-control-plane.js";
import { IstiodTarget } from "./target-istiod.js";
import { IstiodKubeTarget, MeshctlKubeTarget } from "./target-kube.js";
import { MeshctlTarget } from "./target-meshctl.js";

interface ResolvedOptions {
  readonly target: (typeof XDS_LOAD_TARGETS)[number];
  readonly proxies: number;
  readonly grpcFraction: number;
  readonly deltaFraction: number;
  readonly grpcTargets: number;
  readonly churnRate: number;
  readonly churnSeconds: number;
  readonly churnKinds: readonly ChurnKind[];
  readonly proxiesPerChannel: number;
  readonly timeoutSeconds: number;
  readonly drainSeconds: number;
  readonly seed: number;
}

function resolveOptions(o: XdsLoadOptions): ResolvedOptions {
  const target = o.target ?? (o.server ? "external" : "meshctl");
  if (!XDS_LOAD_TARGETS.includes(target))
    throw usage(`Unknown target "${target}".`, `Pick one of ${XDS_LOAD_TARGETS.join(", ")}.`);
  if (target === "external" && !o.server)
    throw usage("The external target needs the server's address.", "Pass --server host:port.");
  if (o.server && target !== "external")
    throw usage(
      `--server points at a running server, but --target is ${target}.`,
      "Drop --target or --server.",
    );
  if (o.server && !/^[^\s:]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$/.test(o.server))
    throw usage(`--server must be host:port, got "${o.server}".`);
  const r: ResolvedOptions = {
    target,
    proxies: o.proxies ?? 2000,
    grpcFraction: o.grpcFraction ?? 0.25,
    deltaFraction: o.deltaFraction ?? 0.5,
    grpcTargets: o.grpcTargets ?? 3,
    churnRate: o.churnRate ?? 100,
    churnSeconds: o.churnSeconds ?? 60,
    churnKinds: o.churnKinds ?? ["endpoints"],
    proxiesPerChannel: o.proxiesPerChannel ?? 1,
    timeoutSeconds: o.timeoutSeconds ?? 120,
    drainSeconds: o.drainSeconds ?? 15,
    seed: o.seed ?? 1,
  };
  checkNumber("proxies", r.proxies, 1, 100_000, true);
  checkNumber("grpc-fraction", r.grpcFraction, 0, 1);
  checkNumber("delta-fraction", r.deltaFraction, 0, 1);
  checkNumber("grpc-targets", r.grpcTargets, 1, 1000, true);
  checkNumber("churn-rate", r.churnRate, 0, 100_000);
  checkNumber("churn-seconds", r.churnSeconds, 0, 86_400);
  checkNumber("proxies-per-channel", r.proxiesPerChannel, 1, 100_000, true);
  checkNumber("timeout", r.timeoutSeconds, 1, 86_400);
  checkNumber("drain-seconds", r.drainSeconds, 0, 3600);
  if (o.connectRate !== undefined) checkNumber("connect-rate", o.connectRate, 0.001, 1_000_000);
  if (o.serverPid !== undefined) checkNumber("server-pid", o.serverPid, 1, 2 ** 31, true);
  for (const k of r.churnKinds)
    if (!CHURN_KINDS.includes(k))
      throw usage(`Unknown churn kind "${k}".`, `Use some of ${CHURN_KINDS.join(", ")} (comma-separated).`);
  if (r.churnKinds.length === 0)
    throw usage("--churn-kinds is empty.", `Use some of ${CHURN_KINDS.join(", ")}.`);
  return r;
}

function createDriver(o: XdsLoadOptions, target: ResolvedOptions["target"]): LoadTargetDriver {
  const serverOptions = o.serverOptions ?? {};
  const entry = o.serveEntry === undefined ? {} : { entry: o.serveEntry };
  switch (target) {
    case "meshctl":
      return new MeshctlTarget({ serverOptions, ...entry });
    case "go-control-plane":
      return new GoControlPlaneTarget();
    case "istiod":
      return new IstiodTarget({ serverOptions });
    case "meshctl-kube":
      return new MeshctlKubeTarget({ serverOptions, ...entry });
    case "istiod-kube":
      return new IstiodKubeTarget({ serverOptions });
    default:
      return new ExternalTarget({
        address: o.server as string,
        ...(o.serverPid !== undefined ? { pid: o.serverPid } : {}),
        ...(o.metricsUrl !== undefined ? { metricsUrl: o.metricsUrl } : {}),
        ...(o.configDir !== undefined ? { configDir: o.configDir } : {}),
      });
  }
}

function summarizeTraffic(proxies: readonly SimulatedProxy[], phase: 0 | 1): TrafficSummary {
  const bytesByType = { cds: 0, eds: 0, lds: 0, rds: 0 };
  let bytesSum = 0;
  let bytesMax = 0;
  let respSum = 0;
  let respMax = 0;
  for (const p of proxies) {
    const t = p.traffic[phase];
    let bytes = 0;
    for (const k of XDS_KINDS) {
      bytesByType[k] += t.bytes[k];
      bytes += t.bytes[k];
    }
    bytesSum += bytes;
    bytesMax = Math.max(bytesMax, bytes);
    respSum += t.responses;
    respMax = Math.max(respMax, t.responses);
  }
  const n = Math.max(1, proxies.length);
  return {
    bytesPerProxy: { mean: Math.round(bytesSum / n), max: bytesMax },
    responsesPerProxy: { mean: Math.round((respSum / n) * 10) / 10, max: respMax },
    bytesByType,
  };
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return Math.round(((u.user + u.system) / 1e6) * 100) / 100;
}

/**
 * Runs one load test and returns its report. Never prints: progress goes to `onProgress`
 * (about 4 times a second and at every phase change).
 *
 * @example
 * const report = await runXdsLoad({ proxies: 200, services: 200, churnSeconds: 10 }, (p) => {
 *   process.stderr.write(`\r${p.phase} ${p.converged}/${p.proxies}`);
 * });
 * report.initial.convergenceMs.p99; report.churn.byKind.endpoints?.latencyMs.p50;
 */
export async function runXdsLoad(
  options: XdsLoadOptions = {},
  onProgress?: (event: XdsLoadProgress) => void,
): Promise<XdsLoadReport> {
  const o = resolveOptions(options);
  const runStart = performance.now();
  const now = () => performance.now() - runStart;
  const notes: string[] = [];
  let phase: XdsLoadPhase = "prepare";
  let proxies: SimulatedProxy[] = [];
  let applied = 0;
  let tracker: ChurnTracker | undefined;
  const progress = () =>
    emitProgress(onProgress, () => ({
      phase,
      elapsedMs: Math.round(now()),
      proxies: o.proxies,
      ...countFleet(proxies, (p) => p.convergedAt !== undefined),
      changesApplied: applied,
      pendingReceipts: tracker?.pending ?? 0,
    }));
  const setPhase = (p: XdsLoadPhase) => {
    phase = p;
    progress();
  };
  setPhase("prepare");

  const mesh = generateSyntheticMesh({
    ...(options.services !== undefined ? { services: options.services } : {}),
    ...(options.endpoints !== undefined ? { endpoints: options.endpoints } : {}),
    ...(options.namespaces !== undefined ? { namespaces: options.namespaces } : {}),
    ...(options.routedFraction !== undefined ? { routedFraction: options.routedFraction } : {}),
    scoping: options.scoping ?? true,
  });
  const description = mesh.description;
  const identities = planProxies(description, {
    proxies: o.proxies,
    grpcFraction: o.grpcFraction,
    deltaFraction: o.deltaFraction,
    grpcTargets: o.grpcTargets,
    seed: o.seed,
  });
  const driver = createDriver(options, o.target);
  const ownDir = options.configDir === undefined;
  const meshDir = options.configDir ?? (await mkdtemp(join(tmpdir(), "meshctl-xds-load-")));
  const channels: AdsClient[] = [];
  let sampler: ProcessSampler | undefined;
  let ticker: NodeJS.Timeout | undefined;
  try {
    if (driver.canChurn || ownDir) await writeMeshFiles(meshDir, mesh.files);
    setPhase("start-server");
    const endpoint: TargetEndpoint = await driver.start(meshDir, {
      description,
      proxies: identities,
      files: mesh.files,
    });
    const pids: Record<string, number> = {};
    if (endpoint.pid !== undefined) pids.server = endpoint.pid;
    for (const [name, pid] of Object.entries(endpoint.componentPids ?? {})) pids[name] = pid;
    sampler =
      Object.keys(pids).length > 0
        ? await ProcessSampler.start(pids, 500, endpoint.countStartCpu ?? [])
        : undefined;

    // ------------------------------------------------------------ initial convergence
    const decoder = new ResourceDecoder();
    const visible = (p: SimulatedProxy, c: { service: { namespace: string } }) =>
      meshVisible(description, p.identity.namespace, c.service.namespace);
    let trafficPhase: 0 | 1 = 0;
    const hooks = {
      decoder,
      now,
      phase: () => trafficPhase,
      onResources: (
        proxy: SimulatedProxy,
        kind: Parameters<ChurnTracker["onResources"]>[1],
        received: Parameters<ChurnTracker["onResources"]>[2],
        at: number,
      ) => tracker?.onResources(proxy, kind, received, at),
      onConverged: () => {},
    };
    const fleet = createFleet(identities, endpoint.address, o.proxiesPerChannel, hooks);
    proxies = fleet.proxies;
    channels.push(...fleet.channels);
    setPhase("connect");
    ticker = setInterval(progress, 250);
    ticker.unref();
    const harnessStart = process.cpuUsage();
    const initialStart = now();
    if (options.connectRate === undefined) for (const p of proxies) p.connect();
    else {
      const rate = options.connectRate;
      for (let i = 0; i < proxies.length; i++) {
        const due = initialStart + (i * 1000) / rate;
        if (due - now() > 1) await sleep(due - now());
        proxies[i]?.connect();
      }
    }
    const deadline = initialStart + o.timeoutSeconds * 1000;
    await waitForFleet(proxies, (p) => p.convergedAt !== undefined, now, deadline);
    const convergence = proxies.flatMap((p) =>
      p.convergedAt === undefined ? [] : [p.convergedAt - initialStart],
    );
    const notConverged = proxies.length - convergence.length;
    if (notConverged > 0)
      notes.push(`${notConverged} proxies did not converge within ${o.timeoutSeconds} s.`);
    sampler?.mark("initial");
    const harnessInitial = cpuSecondsSince(harnessStart);
    const metricPrefixes = endpoint.metricsPrefix ?? ["meshctl_xds_", "pilot_"];
    const afterInitial = endpoint.metricsUrl
      ? (await scrapeServerMetrics(endpoint.metricsUrl, metricPrefixes)).samples
      : {};
    const harnessChurnStart = process.cpuUsage();

    // ------------------------------------------------------------ churn
    let skippedReason: string | null = null;
    if (o.churnRate === 0 || o.churnSeconds === 0) skippedReason = "churn disabled (rate or duration 0)";
    else if (!driver.canChurn)
      skippedReason =
        "the harness cannot change this server's config: pass --config-dir (the directory it watches)";
    let churnSecondsRun = 0;
    let drainMs = 0;
    if (skippedReason === null) {
      trafficPhase = 1;
      const reserved = new Set(identities.map((p) => p.ip));
      const planner = new ChurnPlanner(description, {
        kinds: o.churnKinds,
        seed: o.seed,
        reservedAddresses: reserved,
      });
      tracker = new ChurnTracker(visible);
      setPhase("churn");
      const churnStart = now();
      const churnEnd = churnStart + o.churnSeconds * 1000;
      while (now() < churnEnd) {
        const due = churnStart + (applied * 1000) / o.churnRate;
        if (due >= churnEnd) break;
        if (due - now() > 1) await sleep(due - now());
        const change = planner.next();
        const tracked = tracker.expect(change, proxies);
        tracked.t0 = now();
        const markWritten = () => {
          tracked.written = now();
        };
        if (driver.settle) await driver.apply(change, markWritten);
        else {
          await driver.apply(change);
          markWritten();
        }
        applied++;
      }
      churnSecondsRun = (now() - churnStart) / 1000;
      await driver.settle?.();
      setPhase("drain");
      const drainStart = now();
      while (tracker.pending > 0 && now() - drainStart < o.drainSeconds * 1000) await sleep(20);
      drainMs = Math.round(now() - drainStart);
      tracker.close();
      sampler?.mark("churn");
    } else notes.push(`Churn skipped: ${skippedReason}.`);
    const harnessChurn = cpuSecondsSince(harnessChurnStart);

    // ------------------------------------------------------------ report
    setPhase("report");
    let serverMetrics: Record<string, number> = {};
    if (endpoint.metricsUrl) {
      const scraped = await scrapeServerMetrics(endpoint.metricsUrl, metricPrefixes);
      serverMetrics = scraped.samples;
      if (scraped.error) notes.push(`Metrics not scraped: ${scraped.error}`);
    }
    const usage = sampler?.stop() ?? {};
    sampler = undefined;
    const { server, ...components } = usage as Record<string, ProcessUsage>;
    let rejected = 0;
    let reconnects = 0;
    let errors = 0;
    const errorSamples: string[] = [];
    for (const p of proxies) {
      rejected += p.rejected;
      reconnects += p.reconnects;
      errors += p.errorCount;
      for (const e of p.errors) if (errorSamples.length < 10) errorSamples.push(`${p.identity.nodeId}: ${e}`);
    }
    const allConverged =
      notConverged === 0 && convergence.length > 0 ? Math.round(Math.max(...convergence)) : null;
    const startMs = endpoint.startMs === undefined ? null : Math.round(endpoint.startMs);
    return {
      schemaVersion: 1,
      target: {
        name: driver.name,
        address: endpoint.address,
        pid: endpoint.pid ?? null,
        metricsUrl: endpoint.metricsUrl ?? null,
        details: driver.details?.() ?? {},
      },
      mesh: {
        services: description.services.length,
        namespaces: description.namespaces.length,
        endpointsPerService: description.endpointsPerService,
        routedServices: description.services.filter((s) => s.routed).length,
        scoping: description.scoping,
        files: Object.keys(mesh.files).length,
      },
      proxies: {
        total: proxies.length,
        envoySotw: identities.filter((p) => p.shape === "envoy-sotw").length,
        envoyDelta: identities.filter((p) => p.shape === "envoy-delta").length,
        grpc: identities.filter((p) => p.shape === "grpc").length,
        channels: channels.length,
      },
      initial: {
        timeoutSeconds: o.timeoutSeconds,
        converged: convergence.length,
        notConverged,
        convergenceMs: summarizePercentiles(convergence),
        allConvergedMs: allConverged,
        serverStartMs: startMs,
        syncMs: startMs !== null && allConverged !== null ? startMs + allConverged : null,
      },
      churn: {
        ran: skippedReason === null,
        skippedReason,
        kinds: o.churnKinds,
        targetRate: o.churnRate,
        achievedRate: churnSecondsRun > 0 ? Math.round((applied / churnSecondsRun) * 10) / 10 : 0,
        seconds: Math.round(churnSecondsRun * 10) / 10,
        applied,
        drainMs,
        byKind: tracker?.results(o.churnKinds) ?? {},
      },
      traffic: { initial: summarizeTraffic(proxies, 0), churn: summarizeTraffic(proxies, 1) },
      streams: { rejected, reconnects, errors, errorSamples },
      server: server ?? null,
      serverComponents: components,
      harness: {
        cpuSeconds: {
          initial: harnessInitial,
          churn: harnessChurn,
          total: Math.round((harnessInitial + harnessChurn) * 100) / 100,
        },
        decodedResources: decoder.decoded,
        reusedDecodes: decoder.reused,
      },
      serverMetrics,
      serverMetricsChurn: Object.fromEntries(
        Object.entries(serverMetrics).map(([k, v]) => [k, v - (afterInitial[k] ?? 0)]),
      ),
      serverCacheHitRate: serverCacheHitRate(serverMetrics),
      notes,
      durationSeconds: Math.round(now() / 100) / 10,
    };
  } finally {
    if (ticker) clearInterval(ticker);
    for (const p of proxies) p.close();
    for (const c of channels) c.close();
    sampler?.stop();
    await driver.stop();
    if (ownDir) await rm(meshDir, { recursive: true, force: true });
  }
}
