import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTstatsSettings } from "@meshctl/tstats";
import { settings } from "@oclif/core";
import { register } from "tsx/esm/api";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { parse } from "yaml";
import { CLI_ROOT } from "../../../test/helpers.js";
import { tstatsFeatureStatus } from "../../services/tstats-feature.js";
import DisableTstats from "../disable/tstats.js";
import EnableTstats from "../enable/tstats.js";
import TstatsBuild, { type TstatsBuildResult } from "./build.js";
import TstatsServe, { type TstatsServeResult } from "./serve.js";

// As in commands.test.ts: oclif loads the CLI config from the package root; sibling packages
// resolve to .ts sources under vitest's "@meshctl/source" condition, so Node loads them via tsx.
settings.enableAutoTranspile = false;
register();

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mct-tstats-cli-"));
  // Commands print their result; keep the test output readable.
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe("meshctl tstats build", () => {
  test("renders an EnvoyFilter by default", async () => {
    const result = (await TstatsBuild.run(["--namespace", "mesh-root", "--json"], {
      root: CLI_ROOT,
    })) as TstatsBuildResult;
    expect(result.format).toBe("envoyfilter");
    const doc = parse(result.format === "envoyfilter" ? result.manifest : "") as {
      kind: string;
      metadata: { namespace: string };
    };
    expect(doc.kind).toBe("EnvoyFilter");
    expect(doc.metadata.namespace).toBe("mesh-root");
  });

  test("--format xds gives the filters per place", async () => {
    const result = (await TstatsBuild.run(["--format", "xds", "--tcp-reporting-seconds", "7", "--json"], {
      root: CLI_ROOT,
    })) as TstatsBuildResult;
    if (result.format !== "xds") throw new Error("expected xds");
    expect(result.filters.http.inbound.map((f) => f.name)).toEqual([
      "istio.metadata_exchange",
      "istio.stats",
    ]);
    expect(result.filters.http.inbound[1]!.typed_config).toMatchObject({
      "@type": "type.googleapis.com/stats.PluginConfig",
      tcp_reporting_duration: "7s",
    });
  });
});

describe("meshctl enable|disable tstats", () => {
  test("persist the setting the control plane and `meshctl status` read", async () => {
    const on = await EnableTstats.run(["--config-dir", dir, "--additional-labels", "role, tier", "--json"], {
      root: CLI_ROOT,
    });
    expect(on).toMatchObject({ feature: "tstats", enabled: true, path: join(dir, "tstats.json") });
    expect(await readTstatsSettings(dir)).toMatchObject({
      enabled: true,
      filters: { additionalLabels: ["role", "tier"], tcpReportingSeconds: 5 },
    });
    expect((await tstatsFeatureStatus(dir)).state).toBe("enabled");

    const off = await DisableTstats.run(["--config-dir", dir, "--json"], { root: CLI_ROOT });
    expect(off).toMatchObject({ enabled: false });
    const file = JSON.parse(await readFile(join(dir, "tstats.json"), "utf8")) as {
      enabled: boolean;
      filters: unknown;
    };
    // Options survive a disable, so a later enable without flags is not needed to restore them.
    expect(file).toMatchObject({ enabled: false, filters: { additionalLabels: ["role", "tier"] } });
    expect((await tstatsFeatureStatus(dir)).state).toBe("disabled");
  });
});

describe("meshctl tstats serve", () => {
  test("serves the exporter for the given time and reports the demo calls", async () => {
    const run = TstatsServe.run(
      ["--port", "0", "--demo-traffic", "50", "--duration-seconds", "1", "--json"],
      { root: CLI_ROOT },
    );
    const result = (await run) as TstatsServeResult;
    expect(result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/stats\/prometheus$/);
    expect(result.local).toMatchObject({ workload: "echo-v1", namespace: "default" });
    expect(result.demoCalls).toBeGreaterThan(10);
  });
});
