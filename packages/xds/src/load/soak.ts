/**
 * `runXdsSoak`: hours of mixed input against meshctl's control plane, and whether it stays
 * correct and bounded (issue 17). It starts serve-main as a child process on a synthetic mesh
 * directory, connects N simulated proxies, then for the soak's duration:
 *  - churn (endpoints, services, routes) at a steady rate, timed from change to ACK;
 *  - bad edits (soak-bad-edits.ts) at a lower rate, each against a victim service that churn
 *    never touches, so the victim's clusters and endpoints must stay byte for byte at every proxy
 *    that had them: checked after the edit and after its revert, and any push that removes them
 *    counts at once;
 *  - SIGKILL and restart of the control plane on the same directory and port: the input pauses
 *    around it, every proxy must reconnect and hold exactly the config it had before;
 *  - RSS samples, growth fitted per process lifetime (soak-growth.ts), and a probe of the debug
 *    port with each sample.
 * It never prints; progress goes to `onProgress`.
 */
import { mkdtemp, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MEMORY_METRICS } from "../server/metrics.js";
import { CHURN_KINDS, ChurnPlanner, outboundCluster } from "./churn.js";
import { ChurnTracker, type TrackedChange } from "./churn-tracker.js";
import {
  checkLoadNumber as checkNumber,
  countFleet,
  createFleet,
  emitProgress,
  sleep,
  loadUsage as usage,
  waitForFleet,
} from "./fleet.js";
import { clockTicksPerSecond, readProcessCpuTicks, readProcessMemory } from "./process-sampler.js";
import { planProxies } from "./proxy-plan.js";
import { XDS_KINDS, type XdsKind } from "./proxy-subscriptions.js";
import { ResourceDecoder } from "./resource-names.js";
import { scrapeServerMetrics } from "./server-metrics.js";
import type { AdsClient, SimulatedProxy, SimulatedProxyHooks } from "./simulated-proxy.js";
import {
  BAD_EDIT_KINDS,
  type BadEdit,
  type BadEditFileOp,
  type BadEditKind,
  BadEditPlanner,
} from "./soak-bad-edits.js";
import { downsampleRss, type RssSample, rssGrowth } from "./soak-growth.js";
import type {
  BadEditKindResult,
  RestartResult,
  XdsSoakOptions,
  XdsSoakPhase,
  XdsSoakProgress,
  XdsSoakReport,
} from "./soak-types.js";
import type { PercentileSummary } from "./stats.js";
import { generateSyntheticMesh, meshVisible, type SyntheticService } from "./synthetic-mesh.js";
import { writeFileAtomic, writeMeshFiles } from "./target.js";
import { MeshctlTarget } from "./target-meshctl.js";

const MAX_SAMPLES = 10;
/** The server's V8 heap in use, scraped with its metrics: a leak shows here without RSS's allocator slack. */
const HEAP_METRIC = MEMORY_METRICS.heapUsed;
/**
 * Where the server's RSS goes, scraped with its metrics: the main isolate's committed heap, the
 * parse worker's heap (its own isolate), and external memory (Buffers, C++ objects). What RSS
 * has beyond these is "native": the allocator's pages, HTTP/2 sessions, code and stacks.
 */
const MEMORY_PARTS = {
  heapTotal: MEMORY_METRICS.heapTotal,
  parseWorkerHeap: MEMORY_METRICS.parseWorkerHeap,
  external: MEMORY_METRICS.external,
} as const;
type MemoryPart = keyof typeof MEMORY_PARTS | "native";
/** The server's default quiet time (--debounce-after): a file gone for less is never pushed as deleted. */
const DEBOUNCE_GUARANTEE_MS = 100;
/** How long a late-restored victim has, past the check's deadline, to be whole again at every proxy. */
const LATE_RESTORE_GRACE_MS = 10_000;

/** The options with their defaults, checked. Exported for tests and the script's help. */
export function resolveXdsSoakOptions(o: XdsSoakOptions = {}) {
  const r = {
    proxies: o.proxies ?? 2000,
    grpcFraction: o.grpcFraction ?? 0.25,
    deltaFraction: o.deltaFraction ?? 0.5,
    proxiesPerChannel: o.proxiesPerChannel ?? 10,
    services: o.services ?? 1000,
    endpoints: o.endpoints ?? 10,
    namespaces: o.namespaces ?? 50,
    durationSeconds: o.durationSeconds ?? 1800,
    churnRate: o.churnRate ?? 20,
    churnKinds: o.churnKinds ?? CHURN_KINDS,
    maxAddedServices: o.maxAddedServices ?? 100,
    badEditEverySeconds: o.badEditEverySeconds ?? 5,
    badEditKinds: o.badEditKinds ?? BAD_EDIT_KINDS,
    badEditRevertSeconds: o.badEditRevertSeconds ?? 10,
    victims: o.victims ?? 10,
    checkDelayMs: o.checkDelayMs ?? 2000,
    restartEverySeconds: o.restartEverySeconds ?? 300,
    sampleEverySeconds: o.sampleEverySeconds ?? 5,
    timeoutSeconds: o.timeoutSeconds ?? 120,
    warmupSeconds: o.warmupSeconds ?? 60,
    growthThresholdMiBPerHour: o.growthThresholdMiBPerHour ?? 20,
    oversizeBytes: o.oversizeBytes ?? 6 * 1024 * 1024,
    seed: o.seed ?? 1,
  };
  checkNumber("proxies", r.proxies, 1, 100_000, true);
  checkNumber("grpc-fraction", r.grpcFraction, 0, 1);
  checkNumber("delta-fraction", r.deltaFraction, 0, 1);
  checkNumber("proxies-per-channel", r.proxiesPerChannel, 1, 1000, true);
  checkNumber("services", r.services, 2, 100_000, true);
  checkNumber("duration", r.durationSeconds, 1, 7 * 86_400);
  checkNumber("churn-rate", r.churnRate, 0, 10_000);
  checkNumber("max-added-services", r.maxAddedServices, 1, 100_000, true);
  checkNumber("bad-edit-every", r.badEditEverySeconds, 0, 86_400);
  checkNumber("bad-edit-revert", r.badEditRevertSeconds, 0.1, 86_400);
  checkNumber("restart-every", r.restartEverySeconds, 0, 7 * 86_400);
  checkNumber("sample-every", r.sampleEverySeconds, 0.1, 3600);
  checkNumber("timeout", r.timeoutSeconds, 1, 3600);
  checkNumber("warmup", r.warmupSeconds, 0, 86_400);
  checkNumber("check-delay", r.checkDelayMs, 0, 600_000);
  checkNumber("oversize-bytes", r.oversizeBytes, 1, 1024 ** 3, true);
  if (r.churnKinds.length === 0)
    throw usage("--churn-kinds is empty.", `Use some of ${CHURN_KINDS.join(", ")}.`);
  for (const k of r.churnKinds)
    if (!CHURN_KINDS.includes(k))
      throw usage(`Unknown churn kind "${k}".`, `Use some of ${CHURN_KINDS.join(", ")}.`);
  for (const k of r.badEditKinds)
    if (!BAD_EDIT_KINDS.includes(k))
      throw usage(`Unknown bad edit "${k}".`, `Use some of ${BAD_EDIT_KINDS.join(", ")}.`);
  if (r.badEditKinds.length === 0 && r.badEditEverySeconds > 0)
    throw usage("--bad-edit-kinds is empty.", "Pass --bad-edit-every 0 to run without bad edits.");
  // Victims are taken from the unrouted services, and never from all of them.
  checkNumber("victims", r.victims, 1, Math.max(1, Math.floor(r.services / 2)), true);
  return r;
}

/** Picks the victims: unrouted services spread over the namespaces (never `shared`, which every proxy sees). */
export function pickSoakVictims(services: readonly SyntheticService[], count: number): SyntheticService[] {
  const pool = services.filter((s) => !s.routed);
  const out: SyntheticService[] = [];
  const step = Math.max(1, Math.floor(pool.length / count));
  for (let i = 0; i < pool.length && out.length < count; i += step) out.push(pool[i] as SyntheticService);
  return out;
}

/** The resources of a victim that must never change: its cluster and its endpoints. */
export function victimGuardNames(victim: SyntheticService): { kind: XdsKind; name: string }[] {
  const name = outboundCluster(victim.host);
  return [
    { kind: "cds", name },
    { kind: "eds", name },
  ];
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

type HeldState = Record<XdsKind, Map<string, Uint8Array>>;

function captureHeld(p: SimulatedProxy): HeldState {
  const out = {} as HeldState;
  for (const k of XDS_KINDS) out[k] = new Map(p.subscriptions.held(k));
  return out;
}

/** What differs between a proxy's config before and after (empty when equal). */
export function diffHeldState(before: HeldState, after: HeldState): string[] {
  const out: string[] = [];
  for (const k of XDS_KINDS) {
    const a = before[k];
    const b = after[k];
    const missing = [...a.keys()].filter((n) => !b.has(n));
    const extra = [...b.keys()].filter((n) => !a.has(n));
    const changed = [...a.keys()].filter(
      (n) => b.has(n) && !bytesEqual(a.get(n) as Uint8Array, b.get(n) as Uint8Array),
    );
    if (missing.length)
      out.push(
        `${k} missing ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ` (+${missing.length - 3})` : ""}`,
      );
    if (extra.length)
      out.push(
        `${k} extra ${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ` (+${extra.length - 3})` : ""}`,
      );
    if (changed.length)
      out.push(
        `${k} changed ${changed.slice(0, 3).join(", ")}${changed.length > 3 ? ` (+${changed.length - 3})` : ""}`,
      );
  }
  return out;
}

function sumMetric(samples: Readonly<Record<string, number>>, name: string, label?: string): number {
  let total = 0;
  for (const [key, value] of Object.entries(samples)) {
    const base = key.includes("{") ? key.slice(0, key.indexOf("{")) : key;
    if (base !== name) continue;
    if (label !== undefined && !key.includes(label)) continue;
    total += value;
  }
  return total;
}

function responsesByType(samples: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(samples)) {
    const m = /^meshctl_xds_pushes_total\{type="([^"]+)"\}$/.exec(key);
    if (m?.[1]) out[m[1]] = (out[m[1]] ?? 0) + value;
  }
  return out;
}

/** Adds the counters of one process lifetime's last scrape to the running totals. */
function addSamples(total: Record<string, number>, samples: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(samples)) total[k] = (total[k] ?? 0) + v;
}

function emptyKindResults(
  kinds: readonly BadEditKind[],
): Record<string, { edits: number; checks: number; violations: number }> {
  return Object.fromEntries(kinds.map((k) => [k, { edits: 0, checks: 0, violations: 0 }]));
}

interface Scheduled {
  readonly at: number;
  /** Checks and reverts (an edit's own steps run on their own timers: stepsInFlight). */
  readonly kind: "check" | "revert";
  readonly run: () => Promise<void>;
}

/**
 * Runs one soak and returns its report.
 *
 * @example
 * const report = await runXdsSoak({ proxies: 300, durationSeconds: 120, restartEverySeconds: 60 }, (p) =>
 *   process.stderr.write(`${p.soakElapsedMs / 1000}s ${p.converged}/${p.proxies}\n`),
 * );
 * report.lastGood.violations; // 0
 * report.restarts.survived === report.restarts.attempted; // true
 */
export async function runXdsSoak(
  options: XdsSoakOptions = {},
  onProgress?: (event: XdsSoakProgress) => void,
): Promise<XdsSoakReport> {
  const o = resolveXdsSoakOptions(options);
  const runStart = performance.now();
  const now = () => performance.now() - runStart;
  const notes: string[] = [];
  const signal = options.signal;
  let stoppedEarly: string | null = null;
  const stopRequested = () => {
    if (stoppedEarly === null && signal?.aborted)
      stoppedEarly = `stopped by ${String(signal.reason instanceof Error ? signal.reason.message : (signal.reason ?? "a signal"))}`;
    return stoppedEarly !== null;
  };

  let phase: XdsSoakPhase = "prepare";
  let proxies: SimulatedProxy[] = [];
  let soakStart = Number.NaN;
  const durationMs = o.durationSeconds * 1000;
  const counts = {
    churn: Object.fromEntries(o.churnKinds.map((k) => [k, 0])) as Record<string, number>,
    serviceDeletions: 0,
    badEdits: Object.fromEntries(o.badEditKinds.map((k) => [k, 0])) as Record<string, number>,
    badEditsTotal: 0,
    changes: 0,
  };
  const lastGood = {
    checks: 0,
    violations: 0,
    unchecked: 0,
    lateRestores: 0,
    byKind: emptyKindResults(o.badEditKinds),
    samples: [] as string[],
  };
  const restarts: RestartResult[] = [];
  const crashes: { atSeconds: number; lastBadEdit: BadEditKind | null; stderr: string }[] = [];
  let lastBadEdit: BadEditKind | undefined;
  const mismatchSamples: string[] = [];
  const leftBehindSamples: string[] = [];
  const noteLeftBehind = (when: string) => {
    for (const d of tracker.pendingDetails(MAX_SAMPLES - leftBehindSamples.length)) {
      const proxy = proxies[d.proxyIndex];
      // What the proxy holds instead, so a report tells a lost push from a late one.
      const held = d.change.affectedNames.map((name) => {
        const bytes = proxy?.subscriptions.held(d.change.resourceKind).get(name);
        if (!bytes) return `${name}: not held`;
        const needle = d.change.needle;
        return `${name}: ${needle && Buffer.from(bytes).indexOf(needle) >= 0 ? "holds the change" : "holds other content"}`;
      });
      leftBehindSamples.push(
        `${when}: ${proxy?.identity.nodeId ?? d.proxyIndex} (${proxy?.identity.shape}) never got ${d.change.kind} change #${d.change.seq} of ${d.change.service.host} (${d.change.marker}), made ${Math.round((now() - d.t0) / 100) / 10} s before; ${held.join("; ")}`,
      );
    }
  };
  const rss: RssSample[] = [];
  /** V8 heap in use (the server's nodejs_heap_size_used_bytes), in the same shape as RSS. */
  const heap: RssSample[] = [];
  const parts: Record<MemoryPart, RssSample[]> = {
    heapTotal: [],
    parseWorkerHeap: [],
    external: [],
    native: [],
  };
  let lastRss: number | null = null;
  const debugPort = { probes: 0, failures: 0 };
  let inRestart = false;
  let errorsDuringRestarts = 0;
  /** Stream errors at the last loop turn with the server up (a crash is noticed a turn later). */
  let errorsAtLastTick = 0;

  const progress = () =>
    emitProgress(onProgress, () => ({
      phase,
      elapsedMs: Math.round(now()),
      soakElapsedMs: Number.isNaN(soakStart) ? 0 : Math.round(Math.min(durationMs, now() - soakStart)),
      durationMs,
      proxies: o.proxies,
      ...countFleet(proxies, (p) => p.streamConvergedAt !== undefined),
      changes: counts.changes,
      badEdits: counts.badEditsTotal,
      restarts: restarts.length,
      violations: lastGood.violations,
      rssMiB: lastRss,
    }));
  const setPhase = (p: XdsSoakPhase) => {
    phase = p;
    progress();
  };
  setPhase("prepare");

  const mesh = generateSyntheticMesh({
    services: o.services,
    endpoints: o.endpoints,
    namespaces: o.namespaces,
  });
  const description = mesh.description;
  const identities = planProxies(description, {
    proxies: o.proxies,
    grpcFraction: o.grpcFraction,
    deltaFraction: o.deltaFraction,
    seed: o.seed,
  });
  const victims = pickSoakVictims(
    description.services.filter((s) => s.namespace !== "shared"),
    o.victims,
  );
  if (victims.length === 0) throw usage("No service can be a bad-edit victim.", "Use more services.");
  const guardOwner = new Map<string, SyntheticService>();
  for (const v of victims) for (const g of victimGuardNames(v)) guardOwner.set(`${g.kind}\0${g.name}`, v);
  /** The latest bad edit against each victim: a removal of its resources is blamed on it. */
  const lastEditOn = new Map<number, BadEditKind>();
  /** Delete-restore edits: when the victim's file was deleted and (once done) restored. */
  const deletedAt = new Map<number, { at: number; restoredAt?: number }>();
  const stepsInFlight = new Set<Promise<void>>();

  const driver = new MeshctlTarget({
    ...(options.serverOptions ? { serverOptions: options.serverOptions } : {}),
    ...(options.serveEntry !== undefined ? { entry: options.serveEntry } : {}),
  });
  const ticksPerSecond = await clockTicksPerSecond();
  const meshDir = await mkdtemp(join(tmpdir(), "meshctl-xds-soak-"));
  const channels: AdsClient[] = [];
  let ticker: NodeJS.Timeout | undefined;
  const tracker = new ChurnTracker((p, c) =>
    meshVisible(description, p.identity.namespace, c.service.namespace),
  );
  const versions = new Set<string>();
  let segment = 0;
  const metricTotals: Record<string, number> = {};
  let segmentMetrics: Record<string, number> = {};
  let serverPid: number | undefined;
  let cpuTicksDone = 0;
  let segmentTicks = 0;
  const harnessCpuStart = process.cpuUsage();
  let initialAllConverged: number | null = null;
  let hardStopAt = Number.POSITIVE_INFINITY;
  let draining = false;
  let notConverged = 0;

  const violation = (kind: BadEditKind | undefined, text: string) => {
    lastGood.violations++;
    if (kind) (lastGood.byKind[kind] as { violations: number }).violations++;
    const stamped = `${Number.isNaN(soakStart) ? 0 : Math.round((now() - soakStart) / 100) / 10} s: ${text}`;
    // The first violations and the latest ones: a run that goes wrong late shows both.
    if (lastGood.samples.length < MAX_SAMPLES / 2) lastGood.samples.push(stamped);
    else {
      latestViolations.push(stamped);
      if (latestViolations.length > MAX_SAMPLES / 2) latestViolations.shift();
    }
  };
  const latestViolations: string[] = [];

  const hooks: SimulatedProxyHooks = {
    decoder: new ResourceDecoder(),
    now,
    phase: () => 0,
    onResources: (proxy, kind, received, at) => tracker.onResources(proxy, kind, received, at),
    onConverged: () => {},
    onRemoved: (proxy, kind, names) => {
      for (const name of names) {
        const victim = guardOwner.get(`${kind}\0${name}`);
        if (!victim) continue;
        const blamed = lastEditOn.get(victim.index);
        const gone = deletedAt.get(victim.index);
        if (
          blamed === "delete-restore" &&
          gone &&
          (gone.restoredAt ?? now()) - gone.at > DEBOUNCE_GUARANTEE_MS
        ) {
          lastGood.lateRestores++;
          continue;
        }
        violation(
          blamed,
          `${proxy.identity.nodeId}: ${kind} ${name} removed by a push (last edit: ${blamed ?? "none"})`,
        );
      }
    },
    onVersion: (_proxy, kind, version) => {
      if (version !== "") versions.add(`${segment}/${kind}/${version}`);
    },
    backoffMs: 250,
    maxBackoffMs: 5000,
    maxReconnects: Number.MAX_SAFE_INTEGER,
  };

  /** Baseline bytes of every victim resource at every proxy that holds it. */
  const baseline = new Map<
    number,
    { proxy: SimulatedProxy; kind: XdsKind; name: string; bytes: Uint8Array }[]
  >();
  const checkVictim = (victim: SyntheticService, kind: BadEditKind, when: string) => {
    lastGood.checks++;
    (lastGood.byKind[kind] as { checks: number }).checks++;
    for (const b of baseline.get(victim.index) ?? []) {
      if (b.proxy.streamConvergedAt === undefined) {
        lastGood.unchecked++; // reconnecting: checked at its restart
        continue;
      }
      const held = b.proxy.subscriptions.held(b.kind).get(b.name);
      if (!held) violation(kind, `${b.proxy.identity.nodeId}: ${b.kind} ${b.name} missing ${when} ${kind}`);
      else if (!bytesEqual(held, b.bytes))
        violation(kind, `${b.proxy.identity.nodeId}: ${b.kind} ${b.name} changed ${when} ${kind}`);
    }
  };

  /** A delete-restore restored later than the debounce, whose resources are not all back yet. */
  const lateRestoreUnsettled = (edit: BadEdit): boolean => {
    if (edit.kind !== "delete-restore") return false;
    const gone = deletedAt.get(edit.victim.index);
    if (!gone || (gone.restoredAt ?? now()) - gone.at <= DEBOUNCE_GUARANTEE_MS) return false;
    return (baseline.get(edit.victim.index) ?? []).some(
      (b) => b.proxy.streamConvergedAt !== undefined && !b.proxy.subscriptions.held(b.kind).has(b.name),
    );
  };

  const fileOp = async (op: BadEditFileOp) => {
    const path = join(meshDir, op.file);
    if (op.op === "delete") await unlink(path).catch(() => {});
    else await writeFileAtomic(path, op.data);
  };

  const sampleServer = async () => {
    const pid = serverPid;
    if (pid === undefined || Number.isNaN(soakStart)) return;
    const mem = readProcessMemory(pid);
    if (mem && mem.rssKiB > 0) {
      lastRss = Math.round((mem.rssKiB / 1024) * 10) / 10;
      rss.push({ tSeconds: Math.round((now() - soakStart) / 100) / 10, rssMiB: mem.rssKiB / 1024, segment });
    }
    segmentTicks = readProcessCpuTicks(pid) ?? segmentTicks;
    const endpointSegment = segment;
    debugPort.probes++;
    const scraped = await scrapeServerMetrics(metricsUrl, ["meshctl_xds_", "nodejs_"], 5000);
    if (scraped.error) {
      if (!inRestart) debugPort.failures++;
    } else if (endpointSegment === segment && !Number.isNaN(soakStart)) {
      const tSeconds = Math.round((now() - soakStart) / 100) / 10;
      const mib = (name: string) => {
        const bytes = scraped.samples[name];
        return bytes === undefined ? undefined : bytes / 1024 / 1024;
      };
      const heapMiB = mib(HEAP_METRIC);
      if (heapMiB !== undefined) heap.push({ tSeconds, rssMiB: heapMiB, segment });
      let accounted = 0;
      let complete = true;
      for (const [part, metric] of Object.entries(MEMORY_PARTS) as [keyof typeof MEMORY_PARTS, string][]) {
        const v = mib(metric);
        if (v === undefined) complete = false;
        else {
          parts[part].push({ tSeconds, rssMiB: v, segment });
          accounted += v;
        }
      }
      if (complete && mem && mem.rssKiB > 0)
        parts.native.push({ tSeconds, rssMiB: mem.rssKiB / 1024 - accounted, segment });
      for (const name of Object.keys(scraped.samples))
        if (name.startsWith("nodejs_")) delete scraped.samples[name];
      segmentMetrics = scraped.samples;
    }
  };

  let metricsUrl = "";
  try {
    await writeMeshFiles(meshDir, mesh.files);
    setPhase("start-server");
    const endpoint = await driver.start(meshDir);
    serverPid = endpoint.pid;
    metricsUrl = endpoint.metricsUrl ?? "";

    const fleet = createFleet(identities, endpoint.address, o.proxiesPerChannel, hooks, {
      "grpc.initial_reconnect_backoff_ms": 250,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
    proxies = fleet.proxies;
    channels.push(...fleet.channels);
    setPhase("connect");
    ticker = setInterval(progress, 1000);
    ticker.unref();
    const initialStart = now();
    for (const p of proxies) p.connect();
    const initialDeadline = initialStart + o.timeoutSeconds * 1000;
    notConverged = await waitForFleet(
      proxies,
      (p) => p.streamConvergedAt !== undefined,
      now,
      initialDeadline,
      stopRequested,
    );
    if (notConverged === 0)
      initialAllConverged = Math.round(
        Math.max(...proxies.map((p) => (p.convergedAt as number) - initialStart)),
      );
    else notes.push(`${notConverged} proxies did not converge within ${o.timeoutSeconds} s at start.`);

    for (const v of victims) {
      const list: { proxy: SimulatedProxy; kind: XdsKind; name: string; bytes: Uint8Array }[] = [];
      for (const proxy of proxies)
        for (const g of victimGuardNames(v)) {
          const bytes = proxy.subscriptions.held(g.kind).get(g.name);
          if (bytes) list.push({ proxy, kind: g.kind, name: g.name, bytes });
        }
      baseline.set(v.index, list);
    }
    if ([...baseline.values()].every((l) => l.length === 0))
      notes.push("No proxy holds a victim service's resources: the last-good checks had nothing to check.");

    // ------------------------------------------------------------ the soak
    const planner =
      o.churnRate > 0
        ? new ChurnPlanner(description, {
            kinds: o.churnKinds,
            seed: o.seed,
            reservedAddresses: new Set(identities.map((p) => p.ip)),
          })
        : undefined;
    for (const v of victims) planner?.exclude(v.index);
    const badPlanner =
      o.badEditEverySeconds > 0
        ? new BadEditPlanner(victims, { kinds: o.badEditKinds, seed: o.seed, oversizeBytes: o.oversizeBytes })
        : undefined;
    const addedServices: SyntheticService[] = [];
    let scheduled: Scheduled[] = [];
    const schedule = (s: Scheduled) => {
      scheduled.push(s);
      scheduled.sort((a, b) => a.at - b.at);
    };
    const runDue = async () => {
      for (;;) {
        const t = now();
        const next = scheduled.find((s) => s.at <= t);
        if (!next) return;
        scheduled = scheduled.filter((s) => s !== next);
        await next.run();
      }
    };
    /** Waits for every step of the edits under way (delete-restore's restore). */
    const finishSteps = async () => {
      while (stepsInFlight.size > 0) await Promise.all([...stepsInFlight]);
    };

    /** Bad edits waiting for the next churn change, their sentinel: once every proxy has it, the server has read past the edit. */
    let awaitingSentinel: { sentinel?: TrackedChange }[] = [];
    const applyChurn = async () => {
      if (!planner) return;
      const change = planner.next();
      const tracked = tracker.expect(change, proxies);
      if (tracked.expected > 0) {
        for (const a of awaitingSentinel) a.sentinel = tracked;
        awaitingSentinel = [];
      }
      tracked.t0 = now();
      await writeMeshFiles(meshDir, change.files);
      tracked.written = now();
      counts.changes++;
      counts.churn[change.kind] = (counts.churn[change.kind] ?? 0) + 1;
      if (change.kind === "services") {
        addedServices.push(change.service);
        if (addedServices.length > o.maxAddedServices) {
          const old = addedServices.shift() as SyntheticService;
          planner.exclude(old.index);
          tracker.withdrawService(old.index);
          await unlink(join(meshDir, old.file)).catch(() => {});
          counts.serviceDeletions++;
        }
      }
    };

    const applyBadEdit = async (edit: BadEdit) => {
      counts.badEditsTotal++;
      counts.badEdits[edit.kind] = (counts.badEdits[edit.kind] ?? 0) + 1;
      (lastGood.byKind[edit.kind] as { edits: number }).edits++;
      lastEditOn.set(edit.victim.index, edit.kind);
      lastBadEdit = edit.kind;
      const start = now();
      for (const step of edit.steps) {
        const run = async () => {
          for (const op of step.ops) await fileOp(op);
          if (edit.kind !== "delete-restore") return;
          // When the victim's file was really gone, to tell a late restore from a pushed deletion.
          if (step.atMs === 0) deletedAt.set(edit.victim.index, { at: now() });
          else {
            const gone = deletedAt.get(edit.victim.index);
            if (gone) gone.restoredAt = now();
          }
        };
        if (step.atMs === 0) await run();
        else {
          // Its own timer, not the loop's next turn: a restore must land within the debounce.
          const timer = new Promise<void>((resolve) => setTimeout(resolve, step.atMs)).then(run);
          stepsInFlight.add(timer);
          void timer.finally(() => stepsInFlight.delete(timer));
        }
      }
      const lastStep = Math.max(...edit.steps.map((s) => s.atMs));
      // The check waits at least checkDelayMs, and until a churn change made after the edit has
      // reached every proxy (the server has read past the edit), for at most 15 s more.
      const marker: { sentinel?: TrackedChange } = {};
      awaitingSentinel.push(marker);
      const latest = start + lastStep + o.checkDelayMs + 15_000;
      const check = async () => {
        const s = marker.sentinel;
        const pendingSentinel = planner !== undefined && (s === undefined || s.received < s.expected);
        if (!draining && pendingSentinel && now() < latest)
          schedule({ at: now() + 200, kind: "check", run: check });
        else if (!draining && lateRestoreUnsettled(edit) && now() < latest + LATE_RESTORE_GRACE_MS)
          // A restore that landed after the debounce let the deletion through: the proxies then
          // resubscribe (EDS after CDS), which can trail the sentinel. It must still come back.
          schedule({ at: now() + 200, kind: "check", run: check });
        else checkVictim(edit.victim, edit.kind, "after");
      };
      schedule({ at: start + lastStep + o.checkDelayMs, kind: "check", run: check });
      schedule({
        at: start + Math.max(lastStep + o.checkDelayMs, o.badEditRevertSeconds * 1000),
        kind: "revert",
        run: async () => {
          for (const op of edit.revert) await fileOp(op);
          // A late restore's resubscription (EDS after CDS) may still be on its way: it gets the
          // same bounded grace as the first check; a resource that never comes back still fails.
          const deadline = now() + o.checkDelayMs + LATE_RESTORE_GRACE_MS;
          const recheck = async () => {
            if (!draining && lateRestoreUnsettled(edit) && now() < deadline)
              schedule({ at: now() + 200, kind: "check", run: recheck });
            else checkVictim(edit.victim, edit.kind, "after reverting");
          };
          schedule({ at: now() + o.checkDelayMs, kind: "check", run: recheck });
        },
      });
    };

    const totalErrors = () => proxies.reduce((s, p) => s + p.errorCount, 0);

    /** The control plane died on its own (a bad edit crashed it): record it, start it again, let proxies re-converge. */
    const recoverFromCrash = async (): Promise<boolean> => {
      setPhase("restart");
      const atSeconds = Math.round((now() - soakStart) / 100) / 10;
      const lines = driver.lastStderr().split("\n").filter(Boolean);
      crashes.push({
        atSeconds,
        lastBadEdit: lastBadEdit ?? null,
        stderr: lines.slice(-3).join(" | ").slice(0, 500),
      });
      addSamples(metricTotals, segmentMetrics);
      segmentMetrics = {};
      cpuTicksDone += segmentTicks;
      segmentTicks = 0;
      if (tracker.pending > 0) {
        noteLeftBehind(`at crash ${crashes.length}`);
        tracker.abandon();
      }
      inRestart = true;
      // Streams ended when the process died, before the loop noticed: those belong to the crash.
      const errorsBefore = errorsAtLastTick;
      const tCrash = now();
      serverPid = undefined;
      segment++;
      try {
        const ep = await driver.restart();
        serverPid = ep.pid;
        metricsUrl = ep.metricsUrl ?? metricsUrl;
      } catch (error) {
        inRestart = false;
        stoppedEarly = `the control plane crashed and did not start again: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
        return false;
      }
      const deadline = Math.min(hardStopAt, now() + o.timeoutSeconds * 1000);
      await waitForFleet(
        proxies,
        (p) => p.streamConvergedAt !== undefined && p.streamConvergedAt > tCrash,
        now,
        deadline,
        stopRequested,
      );
      errorsDuringRestarts += totalErrors() - errorsBefore;
      inRestart = false;
      setPhase("soak");
      return true;
    };

    const restart = async (): Promise<boolean> => {
      setPhase("restart");
      // Quiesce: edits under way finish, receipts in flight arrive, so before == after is exact.
      await finishSteps();
      // Quiet: no receipt due, every proxy holding all it subscribed to, and no response for a
      // second (a full push follows its CDS with EDS and RDS, which no receipt tracks).
      const q0 = now();
      const quiet = () =>
        tracker.pending === 0 &&
        proxies.every(
          (p) =>
            p.subscriptions.converged && (p.lastResponseAt === undefined || now() - p.lastResponseAt > 1000),
        );
      // Bounded by the convergence timeout: a loaded server may be tens of seconds behind, and a
      // restart compared against a state it had not pushed yet would count the catch-up as a loss.
      while (!quiet() && now() - q0 < o.timeoutSeconds * 1000) await sleep(50);
      // What did not arrive by now is left behind: the full state after the reconnect is no receipt.
      if (tracker.pending > 0) {
        noteLeftBehind(`before restart ${restarts.length + 1}`);
        tracker.abandon();
      }
      const atSeconds = Math.round((now() - soakStart) / 100) / 10;
      const before = new Map<SimulatedProxy, HeldState>();
      for (const p of proxies) if (p.streamConvergedAt !== undefined) before.set(p, captureHeld(p));
      await sampleServer();
      addSamples(metricTotals, segmentMetrics);
      segmentMetrics = {};
      cpuTicksDone += readProcessCpuTicks(serverPid as number) ?? segmentTicks;
      segmentTicks = 0;
      inRestart = true;
      const errorsBefore = totalErrors();
      const tKill = now();
      await driver.kill("SIGKILL");
      serverPid = undefined;
      segment++;
      let downMs: number;
      try {
        const ep = await driver.restart();
        serverPid = ep.pid;
        metricsUrl = ep.metricsUrl ?? metricsUrl;
        downMs = Math.round(now() - tKill);
      } catch (error) {
        inRestart = false;
        restarts.push({
          atSeconds,
          downMs: Math.round(now() - tKill),
          reconvergeMs: null,
          notReconverged: proxies.length,
          mismatchedProxies: 0,
          survived: false,
        });
        stoppedEarly = `the control plane did not restart: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
        return false;
      }
      const deadline = Math.min(hardStopAt, now() + o.timeoutSeconds * 1000);
      const reconverged = (p: SimulatedProxy) =>
        p.streamConvergedAt !== undefined && p.streamConvergedAt > tKill;
      // RSS is sampled on through the reconnect storm.
      let nextStormSample = now();
      while (now() < deadline && !stopRequested() && !proxies.every(reconverged)) {
        if (now() >= nextStormSample) {
          await sampleServer();
          nextStormSample += o.sampleEverySeconds * 1000;
        }
        await sleep(50);
      }
      const late = proxies.filter((p) => !reconverged(p)).length;
      const reconvergeMs =
        late === 0
          ? Math.round(Math.max(...proxies.map((p) => (p.streamConvergedAt as number) - tKill)))
          : null;
      let mismatched = 0;
      for (const [p, state] of before) {
        if (!reconverged(p)) continue;
        const diff = diffHeldState(state, captureHeld(p));
        if (diff.length === 0) continue;
        mismatched++;
        if (mismatchSamples.length < MAX_SAMPLES)
          mismatchSamples.push(`restart ${restarts.length + 1}: ${p.identity.nodeId}: ${diff.join("; ")}`);
      }
      errorsDuringRestarts += totalErrors() - errorsBefore;
      inRestart = false;
      restarts.push({
        atSeconds,
        downMs,
        reconvergeMs,
        notReconverged: late,
        mismatchedProxies: mismatched,
        survived: late === 0 && mismatched === 0,
      });
      setPhase("soak");
      return true;
    };

    setPhase("soak");
    soakStart = now();
    const soakEnd = soakStart + durationMs;
    // Nothing after the soak may take more than 2 minutes: a restart or drain in progress is cut short.
    hardStopAt = soakEnd + 120_000;
    const churnInterval = o.churnRate > 0 ? 1000 / o.churnRate : Number.POSITIVE_INFINITY;
    let nextChurn = soakStart;
    let nextBad = badPlanner ? soakStart + o.badEditEverySeconds * 1000 : Number.POSITIVE_INFINITY;
    let nextRestart =
      o.restartEverySeconds > 0 ? soakStart + o.restartEverySeconds * 1000 : Number.POSITIVE_INFINITY;
    let nextSample = soakStart;
    let sampling: Promise<void> | undefined;
    errorsAtLastTick = totalErrors();
    while (!stopRequested()) {
      const t = now();
      if (t >= soakEnd) break;
      if (driver.running) errorsAtLastTick = totalErrors();
      else {
        await sampling;
        if (!(await recoverFromCrash())) break;
        nextChurn = Math.max(nextChurn, now());
        nextBad = Math.max(nextBad, now());
        continue;
      }
      if (t >= nextRestart) {
        await sampling;
        if (!(await restart())) break;
        nextRestart += o.restartEverySeconds * 1000;
        // The input paused: pick up from now rather than burst to catch up.
        nextChurn = Math.max(nextChurn, now());
        nextBad = Math.max(nextBad, now());
        continue;
      }
      // Behind by more than a second (a slow disk): skip ahead instead of bursting.
      if (t - nextChurn > 1000) nextChurn = t;
      // At most a quarter second of churn per turn: on a loaded machine writes can fall behind
      // the rate, and bad edits, restarts and samples must still get their turn.
      const churnTurn = now();
      while (now() >= nextChurn && now() < soakEnd && now() - churnTurn < 250) {
        await applyChurn();
        nextChurn += churnInterval;
      }
      if (badPlanner && now() >= nextBad) {
        await applyBadEdit(badPlanner.next());
        nextBad += o.badEditEverySeconds * 1000;
      }
      await runDue();
      if (now() >= nextSample && sampling === undefined) {
        sampling = sampleServer().finally(() => {
          sampling = undefined;
        });
        nextSample += o.sampleEverySeconds * 1000;
      }
      const wake = Math.min(
        nextChurn,
        nextBad,
        nextRestart,
        nextSample,
        scheduled[0]?.at ?? Number.POSITIVE_INFINITY,
        soakEnd,
      );
      await sleep(Math.min(50, wake - now()));
    }
    const soakSeconds = Math.round((Math.min(now(), soakEnd) - soakStart) / 100) / 10;
    await sampling;

    // ------------------------------------------------------------ drain: reverts, last checks, receipts
    setPhase("drain");
    draining = true;
    const drainDeadline = Math.min(hardStopAt, now() + Math.max(15_000, o.checkDelayMs * 3 + 1000));
    if (signal?.aborted !== true) {
      // Every bad edit is reverted now and checked once more (a revert schedules its own
      // check: the next round runs it), and the last receipts arrive.
      for (let round = 0; round < 3 && scheduled.length > 0 && now() < drainDeadline; round++) {
        const pending = scheduled;
        scheduled = [];
        for (const s of pending) if (s.kind !== "check") await s.run();
        await sleep(Math.min(o.checkDelayMs, drainDeadline - now()));
        for (const s of pending) if (s.kind === "check") await s.run();
      }
      while (tracker.pending > 0 && now() < drainDeadline) await sleep(20);
    }
    if (tracker.pending > 0) noteLeftBehind("at the end");
    tracker.close();
    await sampleServer();
    addSamples(metricTotals, segmentMetrics);
    if (serverPid !== undefined) cpuTicksDone += readProcessCpuTicks(serverPid) ?? segmentTicks;

    // ------------------------------------------------------------ report
    setPhase("report");
    const byKind = tracker.results(o.churnKinds);
    const kindResults = Object.values(byKind);
    let rejected = 0;
    let reconnects = 0;
    let errors = 0;
    const errorSamples: string[] = [];
    for (const p of proxies) {
      rejected += p.rejected;
      reconnects += p.reconnects;
      errors += p.errorCount;
      for (const e of p.errors)
        if (errorSamples.length < MAX_SAMPLES) errorSamples.push(`${p.identity.nodeId}: ${e}`);
    }
    const reconverges = restarts.map((r) => r.reconvergeMs).filter((v): v is number => v !== null);
    const growthOptions = {
      fromSeconds: soakSeconds / 2,
      warmupSeconds: o.warmupSeconds,
      thresholdMiBPerHour: o.growthThresholdMiBPerHour,
    };
    const growth = rssGrowth(rss, growthOptions);
    const heapGrowth = rssGrowth(heap, growthOptions);
    if (growth.verdict === "insufficient-data")
      notes.push(
        `RSS growth: not enough samples in the second half (a process lifetime counts from ${o.warmupSeconds} s after its start, with 5 samples over 30 s); run longer or restart less often.`,
      );
    const overall: PercentileSummary = tracker.overallLatency();
    return {
      schemaVersion: 1,
      config: {
        proxies: o.proxies,
        services: o.services,
        namespaces: o.namespaces,
        durationSeconds: o.durationSeconds,
        churnRate: o.churnRate,
        churnKinds: o.churnKinds,
        badEditEverySeconds: o.badEditEverySeconds,
        badEditKinds: o.badEditKinds,
        restartEverySeconds: o.restartEverySeconds,
        proxiesPerChannel: o.proxiesPerChannel,
        seed: o.seed,
      },
      soakSeconds,
      stoppedEarly,
      proxies: {
        total: proxies.length,
        envoySotw: identities.filter((p) => p.shape === "envoy-sotw").length,
        envoyDelta: identities.filter((p) => p.shape === "envoy-delta").length,
        grpc: identities.filter((p) => p.shape === "grpc").length,
        channels: channels.length,
      },
      initial: { allConvergedMs: initialAllConverged, notConverged },
      inputs: {
        total: counts.changes + counts.serviceDeletions + counts.badEditsTotal,
        churn: counts.churn,
        serviceDeletions: counts.serviceDeletions,
        badEdits: counts.badEdits,
        badEditsTotal: counts.badEditsTotal,
      },
      configVersions: {
        acked: versions.size,
        modelUpdates: sumMetric(metricTotals, "meshctl_xds_model_updates_total"),
      },
      pushes: {
        triggers: {
          full: sumMetric(metricTotals, "meshctl_xds_push_triggers_total", 'type="full"'),
          eds: sumMetric(metricTotals, "meshctl_xds_push_triggers_total", 'type="eds"'),
        },
        proxyPushes: {
          full: sumMetric(metricTotals, "meshctl_xds_proxy_pushes_total", 'type="full"'),
          eds: sumMetric(metricTotals, "meshctl_xds_proxy_pushes_total", 'type="eds"'),
        },
        responses: responsesByType(metricTotals),
      },
      changeToAck: {
        overall,
        byKind,
        expectedReceipts: kindResults.reduce((s, r) => s + r.expectedReceipts, 0),
        received: kindResults.reduce((s, r) => s + r.received, 0),
        leftBehind: kindResults.reduce((s, r) => s + r.leftBehind, 0),
        leftBehindSamples,
      },
      lastGood: {
        checks: lastGood.checks,
        violations: lastGood.violations,
        unchecked: lastGood.unchecked,
        lateRestores: lastGood.lateRestores,
        byKind: lastGood.byKind as Record<string, BadEditKindResult>,
        samples: [...lastGood.samples, ...latestViolations],
      },
      restarts: {
        attempted: restarts.length,
        survived: restarts.filter((r) => r.survived).length,
        maxReconvergeMs: reconverges.length > 0 ? Math.max(...reconverges) : null,
        details: restarts,
        mismatchSamples,
      },
      crashes,
      memory: {
        series: downsampleRss(rss, 120),
        peakRssMiB: rss.length > 0 ? Math.round(Math.max(...rss.map((s) => s.rssMiB)) * 10) / 10 : null,
        growth,
        heapUsed: { series: downsampleRss(heap, 120), growth: heapGrowth },
        parts: (() => {
          const fitted = (samples: RssSample[]) => ({
            series: downsampleRss(samples, 120),
            growth: rssGrowth(samples, growthOptions),
          });
          return {
            heapTotal: fitted(parts.heapTotal),
            parseWorkerHeap: fitted(parts.parseWorkerHeap),
            external: fitted(parts.external),
            native: fitted(parts.native),
          };
        })(),
      },
      cpuSeconds: {
        server: Math.round((cpuTicksDone / ticksPerSecond) * 100) / 100,
        harness: (() => {
          const u = process.cpuUsage(harnessCpuStart);
          return Math.round(((u.user + u.system) / 1e6) * 100) / 100;
        })(),
      },
      debugPort,
      streams: {
        errorsOutsideRestarts: errors - errorsDuringRestarts,
        errorsDuringRestarts,
        rejected,
        reconnects,
        errorSamples,
      },
      notes,
    };
  } finally {
    if (ticker) clearInterval(ticker);
    for (const p of proxies) p.close();
    for (const c of channels) c.close();
    await driver.stop();
    await rm(meshDir, { recursive: true, force: true });
  }
}
