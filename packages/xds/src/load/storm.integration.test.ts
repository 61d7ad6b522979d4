import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { describe, expect, test } from "vitest";
import { runXdsStorm, type XdsStormPhase } from "./storm.js";

// A small storm against meshctl's control plane in a child process (serve-main): real gRPC
// streams from one process, the real admission control, the real debug port. Behaviour is
// asserted (who is admitted, who is refused, that everything is released); latencies are not.
describe("runXdsStorm against meshctl", () => {
  test("300 streams against a per-client limit of 200: 100 RESOURCE_EXHAUSTED, the rest answered, all released", {
    timeout: 120_000,
  }, async () => {
    const phases: XdsStormPhase[] = [];
    const report = await runXdsStorm(
      {
        streams: 300,
        services: 20,
        namespaces: 4,
        idleSeconds: 1,
        holdSeconds: 1,
        releaseSeconds: 3,
        outcomeTimeoutSeconds: 60,
        serverOptions: { maxStreamsPerClient: 200 },
      },
      (p) => {
        if (phases.at(-1) !== p.phase) phases.push(p.phase);
      },
    );
    expect(phases).toEqual([
      "prepare",
      "start-server",
      "idle",
      "connect",
      "storm",
      "hold",
      "release",
      "report",
    ]);
    expect(report.stoppedEarly).toBeNull();
    expect(report.config).toMatchObject({
      streams: 300,
      channels: 1,
      limits: { maxStreamsPerClient: 200, maxStreamsPerSecond: 500, maxStreamsPerConnection: 1000 },
    });

    // Admission: the per-client limit refuses exactly the streams beyond it; the rate limit
    // (500/s, a full bucket) refuses none of 300.
    expect(report.streams).toMatchObject({
      opened: 300,
      ok: 200,
      resourceExhausted: 100,
      other: 0,
      noOutcome: 0,
      droppedBeforeRelease: 0,
    });
    expect(report.streams.otherSamples).toEqual([]);
    expect(report.streams.allOutcomesMs).toBeGreaterThan(0);
    expect(report.streams.okMs.count).toBe(200);
    expect(report.streams.resourceExhaustedMs.count).toBe(100);

    // The server counted what the harness saw, held at most its limit, and released everything.
    expect(report.server.rejectedStreams).toBe(100);
    expect(report.server.peakOpenStreams).toBeLessThanOrEqual(200);
    expect(report.server.openStreamsAfterRelease).toBe(0);
    expect(report.server.connectionsAfterRelease).toBe(0);
    expect(report.server.releasedWithinMs).not.toBeNull();

    // The debug port answered every probe, before, during and after.
    for (const w of [
      report.debugPort.idle,
      report.debugPort.storm,
      report.debugPort.hold,
      report.debugPort.release,
    ]) {
      expect(w.failures).toBe(0);
      expect(w.failureSamples).toEqual([]);
    }
    expect(report.debugPort.idle.count).toBeGreaterThan(5);
    expect(report.debugPort.release.count).toBeGreaterThan(5);
    expect(report.debugPort.storm.count).toBeGreaterThan(0);
    expect(report.debugPort.worstStormMs).toBe(report.debugPort.storm.max);

    // RSS was read before, during and after.
    expect(report.memory.beforeMiB).toBeGreaterThan(0);
    expect(report.memory.peakMiB).toBeGreaterThanOrEqual(report.memory.beforeMiB as number);
    expect(report.memory.afterReleaseMiB).toBeGreaterThan(0);
    expect(report.memory.afterReleaseReadMs).toBeGreaterThanOrEqual(3000);
    expect(report.notes).toEqual([]);
  });

  test("a stop during the hold releases the streams, stops the server and still reports", {
    timeout: 90_000,
  }, async () => {
    const stormDirs = () => new Set(readdirSync(tmpdir()).filter((d) => d.startsWith("meshctl-xds-storm-")));
    const dirsBefore = stormDirs();
    const controller = new AbortController();
    const t0 = performance.now();
    const report = await runXdsStorm(
      {
        streams: 50,
        services: 10,
        namespaces: 2,
        idleSeconds: 0.5,
        holdSeconds: 60,
        signal: controller.signal,
      },
      (p) => {
        if (p.phase === "hold") controller.abort(new Error("SIGINT"));
      },
    );
    // Far less than the 60 s hold and 10 s release.
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(report.stoppedEarly).toBe("stopped by SIGINT");
    expect(report.streams).toMatchObject({ opened: 50, ok: 50, noOutcome: 0 });
    // The temp directory goes after the server stopped (the clean-up awaits its exit first).
    expect([...stormDirs()].filter((d) => !dirsBefore.has(d))).toEqual([]);
  });
});
