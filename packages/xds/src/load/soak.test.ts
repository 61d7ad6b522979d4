import { describe, expect, test } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ChurnPlanner, seededRandom } from "./churn.js";
import { ChurnTracker } from "./churn-tracker.js";
import type { SimulatedProxy } from "./simulated-proxy.js";
import { diffHeldState, pickSoakVictims, resolveXdsSoakOptions, victimGuardNames } from "./soak.js";
import { BAD_EDIT_KINDS, BadEditPlanner, DELETE_RESTORE_MS } from "./soak-bad-edits.js";
import { downsampleRss, type RssSample, rssGrowth, tQuantile975 } from "./soak-growth.js";
import { formatXdsSoakReport, sparkline } from "./soak-report.js";
import type { XdsSoakReport } from "./soak-types.js";
import { generateSyntheticMesh, renderServiceFile } from "./synthetic-mesh.js";

/** RSS every 5 s for `seconds`, in lifetimes of `lifetime` s, `mibPerHour` growth, ±`noise` MiB. */
function series(opts: {
  seconds: number;
  lifetime?: number;
  mibPerHour: number;
  noise: number;
  base?: (segment: number) => number;
}): RssSample[] {
  const random = seededRandom(7);
  const out: RssSample[] = [];
  for (let t = 0; t <= opts.seconds; t += 5) {
    const segment = opts.lifetime ? Math.floor(t / opts.lifetime) : 0;
    const since = opts.lifetime ? t - segment * opts.lifetime : t;
    const base = opts.base?.(segment) ?? 300;
    out.push({
      tSeconds: t,
      rssMiB: base + (opts.mibPerHour * since) / 3600 + (random() * 2 - 1) * opts.noise,
      segment,
    });
  }
  return out;
}

describe("tQuantile975", () => {
  // Student's t 0.975 quantiles from printed tables (Abramowitz & Stegun 26.7).
  test.each([
    [1, 12.706],
    [2, 4.303],
    [3, 3.182],
    [5, 2.571],
    [10, 2.228],
    [30, 2.042],
    [120, 1.98],
  ])("df %i -> %f", (df, expected) => {
    expect(Math.abs(tQuantile975(df) - expected) / expected).toBeLessThan(0.005);
  });
});

describe("rssGrowth", () => {
  test("exact linear data: the slope in MiB/h, a zero-width interval, growth", () => {
    const samples = series({ seconds: 1800, mibPerHour: 120, noise: 0 });
    const g = rssGrowth(samples, { fromSeconds: 900 });
    expect(g.slopeMiBPerHour).toBeCloseTo(120, 6);
    expect(g.ci95MiBPerHour?.[0]).toBeCloseTo(120, 6);
    expect(g.verdict).toBe("growth");
    // Second half only, minus the 30 s warm-up that does not apply (the lifetime began at 0).
    expect(g.points).toBe(181);
    expect(g.segmentsUsed).toBe(1);
  });

  test("a flat, noisy series is no growth, its interval holding 0", () => {
    const g = rssGrowth(series({ seconds: 1800, mibPerHour: 0, noise: 5 }), { fromSeconds: 900 });
    expect(g.verdict).toBe("no-growth");
    const [lo, hi] = g.ci95MiBPerHour ?? [Number.NaN, Number.NaN];
    expect(lo).toBeLessThanOrEqual(0);
    expect(hi).toBeGreaterThanOrEqual(0);
  });

  test("restarts reset RSS: flat lifetimes at different levels are no growth, each with its own intercept", () => {
    // Each new process starts 40 MiB lower than the last: a fit across lifetimes would see a fall.
    const samples = series({
      seconds: 1800,
      lifetime: 300,
      mibPerHour: 0,
      noise: 2,
      base: (s) => 400 - 40 * s,
    });
    const g = rssGrowth(samples, { fromSeconds: 900 });
    expect(g.verdict).toBe("no-growth");
    expect(Math.abs(g.slopeMiBPerHour ?? 99)).toBeLessThan(10);
    expect(g.segmentsUsed).toBe(3);
  });

  test("a leak inside every lifetime is growth, though each restart drops RSS back", () => {
    const samples = series({ seconds: 1800, lifetime: 300, mibPerHour: 200, noise: 2 });
    const g = rssGrowth(samples, { fromSeconds: 900 });
    expect(g.verdict).toBe("growth");
    expect(g.slopeMiBPerHour).toBeGreaterThan(180);
    expect(g.slopeMiBPerHour).toBeLessThan(220);
  });

  test("slow growth under the threshold is no growth even when the interval excludes 0", () => {
    const g = rssGrowth(series({ seconds: 3600, mibPerHour: 5, noise: 0.1 }), { fromSeconds: 1800 });
    expect(g.ci95MiBPerHour?.[0]).toBeGreaterThan(0);
    expect(g.verdict).toBe("no-growth");
  });

  test("too little data after the warm-up: insufficient-data", () => {
    const g = rssGrowth(series({ seconds: 120, lifetime: 60, mibPerHour: 0, noise: 1 }), { fromSeconds: 60 });
    expect(g).toMatchObject({ verdict: "insufficient-data", slopeMiBPerHour: null, ci95MiBPerHour: null });
  });
});

describe("downsampleRss", () => {
  test("at most 120 points, peaks kept, never merging two process lifetimes", () => {
    const samples = series({ seconds: 1800, lifetime: 300, mibPerHour: 0, noise: 1 });
    const spike = samples[100] as RssSample;
    samples[100] = { ...spike, rssMiB: 999 };
    const out = downsampleRss(samples, 120);
    expect(out.length).toBeLessThanOrEqual(120);
    expect(Math.max(...out.map((s) => s.rssMiB))).toBe(999);
    for (let i = 1; i < out.length; i++)
      expect((out[i] as RssSample).segment).toBeGreaterThanOrEqual((out[i - 1] as RssSample).segment);
    expect(new Set(out.map((s) => s.segment)).size).toBe(7);
  });

  test("short series pass through", () => {
    const samples = series({ seconds: 50, mibPerHour: 0, noise: 0 });
    expect(downsampleRss(samples)).toHaveLength(samples.length);
  });
});

describe("BadEditPlanner", () => {
  const mesh = generateSyntheticMesh({ services: 60, namespaces: 6 });
  const victims = pickSoakVictims(
    mesh.description.services.filter((s) => s.namespace !== "shared"),
    4,
  );

  test("victims are unrouted and outside the shared namespace; their guards are the cluster and its endpoints", () => {
    expect(victims).toHaveLength(4);
    expect(victims.every((v) => !v.routed && v.namespace !== "shared")).toBe(true);
    expect(victimGuardNames(victims[0] as (typeof victims)[number])).toEqual([
      { kind: "cds", name: `outbound|8080||${victims[0]?.host}` },
      { kind: "eds", name: `outbound|8080||${victims[0]?.host}` },
    ]);
  });

  test("round robin over the kinds, victims rotating so a kind meets different victims", () => {
    const planner = new BadEditPlanner(victims, { oversizeBytes: 1000 });
    const edits = Array.from({ length: 20 }, () => planner.next());
    expect(edits.map((e) => e.kind)).toEqual([...BAD_EDIT_KINDS, ...BAD_EDIT_KINDS]);
    const yamlVictims = new Set(edits.filter((e) => e.kind === "yaml-syntax").map((e) => e.victim.index));
    expect(yamlVictims.size).toBe(2);
  });

  test("each edit is bad in its own way, and its revert puts the directory back", () => {
    const planner = new BadEditPlanner(victims, { oversizeBytes: 6 * 1024 * 1024 });
    const byKind = new Map(BAD_EDIT_KINDS.map(() => planner.next()).map((e) => [e.kind, e]));
    const written = (kind: (typeof BAD_EDIT_KINDS)[number]) => {
      const op = byKind.get(kind)?.steps[0]?.ops[0];
      if (op?.op !== "write") throw new Error(`${kind}: expected a write`);
      return op;
    };
    // yaml-syntax: the victim's own file, no longer YAML; the revert writes its content back.
    const syntax = byKind.get("yaml-syntax");
    expect(written("yaml-syntax").file).toBe(syntax?.victim.file);
    expect(parseAllDocuments(String(written("yaml-syntax").data)).some((d) => d.errors.length > 0)).toBe(
      true,
    );
    expect(syntax?.revert).toEqual([
      { op: "write", file: syntax?.victim.file, data: renderServiceFile(syntax?.victim as never) },
    ]);
    // empty-documents: the same objects plus empty documents.
    const docs = parseAllDocuments(String(written("empty-documents").data)).map((d) => d.toJS());
    expect(docs.filter((d) => d !== null)).toEqual([
      parse(renderServiceFile(byKind.get("empty-documents")?.victim as never)),
    ]);
    expect(docs.length).toBeGreaterThan(1);
    // delete-restore: delete, then the same content back within 100 ms; nothing left to revert.
    const dr = byKind.get("delete-restore");
    expect(dr?.steps.map((s) => [s.atMs, s.ops[0]?.op])).toEqual([
      [0, "delete"],
      [DELETE_RESTORE_MS, "write"],
    ]);
    expect(DELETE_RESTORE_MS).toBeLessThan(100);
    expect(dr?.revert).toEqual([]);
    // New files are deleted by the revert.
    for (const kind of [
      "binary-garbage",
      "oversize-file",
      "duplicate-service",
      "alias-bomb",
      "deep-nesting",
    ] as const) {
      const op = written(kind);
      expect(op.file).toMatch(/\/zz-soak-\d{6}-[a-z-]+\.yaml$/);
      expect(byKind.get(kind)?.revert).toEqual([{ op: "delete", file: op.file }]);
    }
    expect(written("binary-garbage").data).toBeInstanceOf(Uint8Array);
    expect(String(written("oversize-file").data).length).toBeGreaterThanOrEqual(6 * 1024 * 1024);
    // duplicate-service: the victim's name, namespace and host on another port.
    const dup = parse(String(written("duplicate-service").data));
    const victim = byKind.get("duplicate-service")?.victim;
    expect(dup.metadata).toEqual({ name: victim?.name, namespace: victim?.namespace });
    expect(dup.spec.hosts).toEqual([victim?.host]);
    expect(dup.spec.ports[0].number).toBe(9999);
    // alias-bomb: the YAML library refuses to expand it.
    expect(() => parse(String(written("alias-bomb").data))).toThrow(/alias/i);
    expect(String(written("deep-nesting").data)).toContain("[".repeat(10_000));
    const unknown = parse(String(written("unknown-fields").data));
    expect(unknown.spec.bogusField).toBe(1);
    expect(unknown.spec.http[0].nonsense).toBe(true);
    const missing = parse(String(written("missing-route-host").data));
    expect(missing.spec.http[0].route[0].destination.host).toMatch(/^missing-/);
  });
});

describe("ChurnPlanner.exclude", () => {
  test("excluded services are never changed", () => {
    const { description } = generateSyntheticMesh({ services: 20, namespaces: 2, routedFraction: 0.5 });
    const planner = new ChurnPlanner(description, { kinds: ["endpoints", "routes"], seed: 3 });
    for (let i = 0; i < 18; i++) planner.exclude(i);
    const touched = new Set(Array.from({ length: 200 }, () => planner.next().service.index));
    expect([...touched].every((i) => i >= 18)).toBe(true);
  });
});

describe("ChurnTracker.withdrawService", () => {
  test("receipts of a deleted service are no longer due, and count neither as received nor left behind", () => {
    const { description } = generateSyntheticMesh({ services: 4, namespaces: 1 });
    const planner = new ChurnPlanner(description, { kinds: ["endpoints"], seed: 1 });
    const change = planner.next();
    const proxy = {
      identity: { index: 0 },
      subscriptions: { shape: "envoy-sotw", subscription: () => new Set(change.affectedNames) },
    } as unknown as SimulatedProxy;
    const tracker = new ChurnTracker(() => true);
    const tracked = tracker.expect(change, [proxy]);
    expect(tracker.pending).toBe(1);
    tracker.withdrawService(change.service.index);
    expect(tracker.pending).toBe(0);
    expect(tracked.expected).toBe(0);
    expect(tracker.results(["endpoints"]).endpoints).toMatchObject({ expectedReceipts: 0, leftBehind: 0 });
  });
});

describe("diffHeldState", () => {
  const state = (eds: Record<string, string>) => ({
    cds: new Map<string, Uint8Array>(),
    lds: new Map<string, Uint8Array>(),
    rds: new Map<string, Uint8Array>(),
    eds: new Map(Object.entries(eds).map(([k, v]) => [k, Buffer.from(v)])),
  });
  test("equal configs: no difference; missing, extra and changed resources are named", () => {
    expect(diffHeldState(state({ a: "1", b: "2" }), state({ b: "2", a: "1" }))).toEqual([]);
    expect(diffHeldState(state({ a: "1", b: "2" }), state({ a: "9", c: "3" }))).toEqual([
      "eds missing b",
      "eds extra c",
      "eds changed a",
    ]);
  });
});

describe("resolveXdsSoakOptions", () => {
  test("defaults: 2,000 proxies, 30 minutes, 20 changes/s, a bad edit every 5 s, a restart every 5 min", () => {
    expect(resolveXdsSoakOptions()).toMatchObject({
      proxies: 2000,
      durationSeconds: 1800,
      churnRate: 20,
      badEditEverySeconds: 5,
      restartEverySeconds: 300,
      proxiesPerChannel: 10,
    });
  });
  test("bad values are usage errors", () => {
    expect(() => resolveXdsSoakOptions({ proxies: 0 })).toThrow(/--proxies/);
    expect(() => resolveXdsSoakOptions({ badEditKinds: ["nope" as never] })).toThrow(/Unknown bad edit/);
    expect(() => resolveXdsSoakOptions({ durationSeconds: Number.NaN })).toThrow(/--duration/);
  });
});

describe("formatXdsSoakReport", () => {
  const pct = { count: 10, p50: 100, p90: 200, p99: 300, max: 400 };
  const report: XdsSoakReport = {
    schemaVersion: 1,
    config: {
      proxies: 2000,
      services: 1000,
      namespaces: 50,
      durationSeconds: 1800,
      churnRate: 20,
      churnKinds: ["endpoints"],
      badEditEverySeconds: 5,
      badEditKinds: ["yaml-syntax"],
      restartEverySeconds: 300,
      proxiesPerChannel: 10,
      seed: 1,
    },
    soakSeconds: 1800,
    stoppedEarly: null,
    proxies: { total: 2000, envoySotw: 750, envoyDelta: 750, grpc: 500, channels: 200 },
    initial: { allConvergedMs: 5100, notConverged: 0 },
    inputs: {
      total: 36_400,
      churn: { endpoints: 36_000 },
      serviceDeletions: 0,
      badEdits: { "yaml-syntax": 360 },
      badEditsTotal: 360,
    },
    configVersions: { acked: 5000, modelUpdates: 36_000 },
    pushes: {
      triggers: { full: 10, eds: 9000 },
      proxyPushes: { full: 100, eds: 90_000 },
      responses: { eds: 90_000 },
    },
    changeToAck: {
      overall: pct,
      byKind: {
        endpoints: {
          changes: 36_000,
          expectedReceipts: 10,
          received: 10,
          leftBehind: 0,
          latencyMs: pct,
          afterWriteMs: pct,
        },
      },
      expectedReceipts: 10,
      received: 10,
      leftBehind: 0,
      leftBehindSamples: [],
    },
    crashes: [],
    lastGood: {
      unchecked: 0,
      lateRestores: 0,
      checks: 720,
      violations: 0,
      byKind: { "yaml-syntax": { edits: 360, checks: 720, violations: 0 } },
      samples: [],
    },
    restarts: {
      attempted: 5,
      survived: 5,
      maxReconvergeMs: 9000,
      details: [
        {
          atSeconds: 300,
          downMs: 3000,
          reconvergeMs: 9000,
          notReconverged: 0,
          mismatchedProxies: 0,
          survived: true,
        },
      ],
      mismatchSamples: [],
    },
    memory: {
      series: [
        { tSeconds: 0, rssMiB: 400, segment: 0 },
        { tSeconds: 5, rssMiB: 480, segment: 0 },
      ],
      peakRssMiB: 480,
      growth: {
        verdict: "no-growth",
        slopeMiBPerHour: 1.5,
        ci95MiBPerHour: [-2, 5],
        thresholdMiBPerHour: 20,
        points: 150,
        segmentsUsed: 3,
        fromSeconds: 900,
      },
      heapUsed: {
        series: [{ tSeconds: 5, rssMiB: 210, segment: 0 }],
        growth: {
          verdict: "no-growth",
          slopeMiBPerHour: -0.5,
          ci95MiBPerHour: [-3, 2],
          thresholdMiBPerHour: 20,
          points: 150,
          segmentsUsed: 3,
          fromSeconds: 900,
        },
      },
      parts: (() => {
        const part = (mib: number, slope: number) => ({
          series: [{ tSeconds: 5, rssMiB: mib, segment: 0 }],
          growth: {
            verdict: "no-growth" as const,
            slopeMiBPerHour: slope,
            ci95MiBPerHour: [slope - 2, slope + 2] as [number, number],
            thresholdMiBPerHour: 20,
            points: 150,
            segmentsUsed: 3,
            fromSeconds: 900,
          },
        });
        return {
          heapTotal: part(260, 1),
          parseWorkerHeap: part(12, 0),
          external: part(30, 0.5),
          native: part(178, 2),
        };
      })(),
    },
    cpuSeconds: { server: 500, harness: 300 },
    debugPort: { probes: 360, failures: 0 },
    streams: {
      errorsOutsideRestarts: 0,
      errorsDuringRestarts: 10_000,
      rejected: 12,
      reconnects: 10_000,
      errorSamples: ["x"],
    },
    notes: [],
  };

  test("one line per figure the issue asks for", () => {
    const text = formatXdsSoakReport(report);
    expect(text).toContain(
      "inputs tried            36,400 (churn 36,000, service deletions 0, bad edits 360)",
    );
    expect(text).toContain("config versions served  5,000 ACKed by proxies; 36,000 model updates");
    expect(text).toContain("pushes (debounced)      full 10, eds 9,000");
    expect(text).toContain("change→ACK              p50 100 ms, p99 300 ms, max 400 ms");
    expect(text).toContain("restarts survived       5 / 5, re-converged in at most 9,000 ms");
    expect(text).toContain("no-growth: 1.5 MiB/h, 95 % [-2, 5] (150 samples, 3 lifetimes)");
    expect(text).toMatch(/V8 heap \(2nd half\)\s+no-growth: -0\.5 MiB\/h, 95 % \[-3, 2\]/);
    expect(text).toMatch(
      /RSS parts \(2nd half\)\s+heapTotal 260 MiB \(1 MiB\/h\), parseWorkerHeap 12 MiB \(0 MiB\/h\), external 30 MiB \(0\.5 MiB\/h\), native 178 MiB \(2 MiB\/h\)/,
    );
    expect(text).toContain("last-good violations    0 in 720 checks\n");
    // Stream errors inside restarts are by design: no samples of them.
    expect(text).not.toContain("samples:");
  });

  test("a violation is marked", () => {
    const bad = {
      ...report,
      lastGood: {
        ...report.lastGood,
        violations: 2,
        samples: ["p1: cds x missing"],
      },
    };
    const text = formatXdsSoakReport(bad);
    expect(text).toContain("2 in 720 checks  <-- must be 0");
    expect(text).toContain("p1: cds x missing");
  });

  test("a crash is marked with the bad edit before it and the server's last words", () => {
    const crashed = {
      ...report,
      crashes: [{ atSeconds: 42, lastBadEdit: "alias-bomb" as const, stderr: "RangeError: x" }],
    };
    expect(formatXdsSoakReport(crashed)).toContain(
      "crashes                 1  <-- must be 0 (42 s after alias-bomb: RangeError: x)",
    );
  });

  test("sparkline spans eight levels", () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe("▁▂▃▄▅▆▇█");
    expect(sparkline([3, 3])).toBe("▁▁");
  });
});
