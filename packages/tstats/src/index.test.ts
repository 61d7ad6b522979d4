import { expect, test } from "vitest";
import * as tstats from "./index.js";

test("the public entry exposes the integration points other packages use", () => {
  for (const name of [
    "TstatsRecorder",
    "MetricRegistry",
    "createTstatsClientInterceptor",
    "createTstatsServerInterceptor",
    "withMessageSizes",
    "startTstatsExporter",
    "createPrometheusHandler",
    "buildTstatsHttpFilters",
    "buildTstatsNetworkFilters",
    "buildTstatsClusterFilters",
    "buildTstatsFilterSet",
    "encodeTstatsFilterSet",
    "renderEnvoyFilterManifest",
    "readTstatsSettings",
    "writeTstatsSettings",
    "loadLocalWorkloadFromBootstrap",
    "trackTcpSocket",
    "startTstatsDemo",
    "buildTstatsModuleFilter",
    "buildTstatsWasmFilter",
    "tstatsModuleFiltersForNode",
    "tstatsModuleFiles",
    "buildTstatsModules",
    "tstatsEnvoyFilters",
  ]) {
    expect(typeof (tstats as Record<string, unknown>)[name], name).toBe("function");
  }
});
