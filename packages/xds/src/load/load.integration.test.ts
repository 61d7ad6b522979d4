import { describe, expect, test } from "vitest";
import { runXdsLoad } from "./run-xds-load.js";

// A bounded smoke run against meshctl's control plane in a child process (serve-main).
describe("runXdsLoad against meshctl", () => {
  test("20 proxies converge and receive every endpoint change", { timeout: 60_000 }, async () => {
    const phases = new Set<string>();
    const report = await runXdsLoad(
      {
        target: "meshctl",
        proxies: 20,
        grpcFraction: 0.3,
        deltaFraction: 0.5,
        proxiesPerChannel: 2,
        services: 20,
        namespaces: 4,
        churnRate: 20,
        churnSeconds: 3,
        churnKinds: ["endpoints"],
        timeoutSeconds: 20,
      },
      (p) => phases.add(p.phase),
    );
    expect(report.proxies).toMatchObject({ total: 20, grpc: 6, envoyDelta: 7, envoySotw: 7, channels: 10 });
    expect(report.initial).toMatchObject({ converged: 20, notConverged: 0 });
    expect(report.initial.allConvergedMs).toBeGreaterThan(0);
    expect(report.churn.ran).toBe(true);
    expect(report.churn.applied).toBeGreaterThanOrEqual(50);
    const endpoints = report.churn.byKind.endpoints;
    expect(endpoints?.expectedReceipts).toBeGreaterThan(0);
    expect(endpoints?.leftBehind).toBe(0);
    expect(endpoints?.received).toBe(endpoints?.expectedReceipts);
    expect(endpoints?.latencyMs.p50).toBeGreaterThan(0);
    expect(report.traffic.initial.bytesPerProxy.mean).toBeGreaterThan(0);
    expect(report.traffic.churn.bytesByType.eds).toBeGreaterThan(0);
    expect(report.server?.cpuSeconds.total).toBeGreaterThan(0);
    expect(report.server?.peakRssMiB).toBeGreaterThan(10);
    expect(report.harness.cpuSeconds.total).toBeGreaterThan(0);
    expect(report.streams).toMatchObject({ rejected: 0, errors: 0 });
    expect(Object.keys(report.serverMetrics).some((k) => k.startsWith("meshctl_xds_"))).toBe(true);
    // Endpoint-only churn: nothing but ClusterLoadAssignments is generated, and each changed
    // CLA is serialized once however many proxies receive it.
    const churn = report.serverMetricsChurn;
    const misses = (type: string) => churn[`meshctl_xds_cache_misses_total{type="${type}"}`] ?? 0;
    expect(misses("cds")).toBe(0);
    expect(misses("view")).toBe(0);
    expect(misses("inbound")).toBe(0);
    expect(misses("eds")).toBeGreaterThan(0);
    expect(misses("eds")).toBeLessThan(endpoints?.received ?? 0);
    expect(churn['meshctl_xds_proxy_pushes_total{type="full"}'] ?? 0).toBe(0);
    expect(churn['meshctl_xds_pushes_total{type="cds"}'] ?? 0).toBe(0);
    expect(churn['meshctl_xds_pushes_total{type="lds"}'] ?? 0).toBe(0);
    expect([...phases]).toEqual(["prepare", "start-server", "connect", "churn", "drain", "report"]);
  });
});
