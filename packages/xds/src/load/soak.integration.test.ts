import { describe, expect, test } from "vitest";
import { runXdsSoak } from "./soak.js";
import type { XdsSoakPhase } from "./soak-types.js";

// A bounded soak against meshctl's control plane in a child process (serve-main): real gRPC
// streams, real files, a real SIGKILL. The invariants are the soak's own; figures are not asserted.
describe("runXdsSoak against meshctl", () => {
  test("30 s of churn, bad edits and a SIGKILL restart: last good keeps serving, every change arrives", {
    timeout: 90_000,
  }, async () => {
    const phases = new Set<XdsSoakPhase>();
    const report = await runXdsSoak(
      {
        proxies: 60,
        proxiesPerChannel: 5,
        services: 100,
        namespaces: 10,
        durationSeconds: 30,
        churnRate: 10,
        badEditEverySeconds: 2.5,
        badEditRevertSeconds: 5,
        restartEverySeconds: 16,
        sampleEverySeconds: 1,
        timeoutSeconds: 30,
        oversizeBytes: 5 * 1024 * 1024,
      },
      (p) => phases.add(p.phase),
    );
    expect(report.stoppedEarly).toBeNull();
    expect(report.crashes).toEqual([]);
    expect(report.initial.notConverged).toBe(0);
    expect(report.proxies).toMatchObject({ total: 60, channels: 12 });

    // Restarts: every one survived (all proxies back, each holding exactly the config it had).
    expect(report.restarts.attempted).toBe(1);
    expect(report.restarts.survived).toBe(report.restarts.attempted);
    expect(report.restarts.mismatchSamples).toEqual([]);
    expect(report.restarts.details[0]?.notReconverged).toBe(0);
    expect(report.restarts.maxReconvergeMs).toBeGreaterThan(0);

    // Bad edits: the victims' clusters and endpoints never changed at any proxy.
    expect(report.inputs.badEditsTotal).toBeGreaterThanOrEqual(5);
    expect(report.lastGood.checks).toBeGreaterThanOrEqual(report.inputs.badEditsTotal);
    expect(report.lastGood.samples).toEqual([]);
    expect(report.lastGood.violations).toBe(0);

    // Churn: every change reached every proxy that should have it.
    const churn = Object.values(report.inputs.churn).reduce((a, b) => a + b, 0);
    expect(churn).toBeGreaterThan(50);
    expect(report.changeToAck.expectedReceipts).toBeGreaterThan(0);
    expect(report.changeToAck.leftBehindSamples).toEqual([]);
    expect(report.changeToAck.received).toBe(report.changeToAck.expectedReceipts);
    expect(report.changeToAck.overall.max).toBeGreaterThan(0);
    expect(report.inputs.total).toBe(churn + report.inputs.serviceDeletions + report.inputs.badEditsTotal);

    // The other figures are there.
    expect(report.configVersions.acked).toBeGreaterThan(1);
    expect(report.configVersions.modelUpdates).toBeGreaterThan(0);
    expect(report.pushes.triggers.full + report.pushes.triggers.eds).toBeGreaterThan(0);
    expect(Object.keys(report.pushes.responses).length).toBeGreaterThan(0);
    expect(report.memory.series.length).toBeGreaterThan(10);
    expect(report.memory.series.length).toBeLessThanOrEqual(120);
    expect(new Set(report.memory.series.map((s) => s.segment))).toEqual(new Set([0, 1]));
    expect(report.memory.peakRssMiB).toBeGreaterThan(10);
    expect(["no-growth", "growth", "insufficient-data"]).toContain(report.memory.growth.verdict);
    expect(report.cpuSeconds.server).toBeGreaterThan(0);
    expect(report.debugPort.probes).toBeGreaterThan(10);
    expect(report.debugPort.failures).toBe(0);
    expect(report.streams.errorsOutsideRestarts).toBe(0);
    expect(report.streams.errorsDuringRestarts).toBeGreaterThan(0);
    expect([...phases]).toEqual(["prepare", "start-server", "connect", "soak", "restart", "drain", "report"]);
  });
});
