import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram } from "@meshctl/core";
import { readTstatsSettings } from "@meshctl/tstats";
import { settings } from "@oclif/core";
import { register } from "tsx/esm/api";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { parse } from "yaml";
import { CLI_ROOT } from "../../../test/helpers.js";
import { tstatsFeatureStatus } from "../../services/tstats-feature.js";
import DisableTstats from "../disable/tstats.js";
import EnableTstats from "../enable/tstats.js";
import TstatsBuild, { type TstatsBuildCommandResult } from "./build.js";
import TstatsRender, { type TstatsRenderResult } from "./render.js";
import TstatsServe, { type TstatsServeResult } from "./serve.js";

const clang = await findProgram("clang");

/** Runs a command expected to fail with --json: its exit code and the error it printed. */
async function runFailing(
  command: { run: (argv: string[], opts: { root: string }) => Promise<unknown> },
  argv: string[],
): Promise<{ exit: number; error: { code: string; kind: string; message: string } }> {
  const printed: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  const failure = (await command.run([...argv, "--json"], { root: CLI_ROOT }).then(
    () => {
      throw new Error(`expected ${argv.join(" ")} to fail`);
    },
    (e: unknown) => e,
  )) as { code?: string; oclif?: { exit?: number } };
  expect(failure.code).toBe("EEXIT");
  return { exit: failure.oclif?.exit ?? -1, error: (JSON.parse(printed.join("")) as { error: never }).error };
}

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

describe("meshctl tstats render", () => {
  test("renders an EnvoyFilter by default", async () => {
    const result = (await TstatsRender.run(["--namespace", "mesh-root", "--json"], {
      root: CLI_ROOT,
    })) as TstatsRenderResult;
    expect(result.format).toBe("envoyfilter");
    const doc = parse(result.format === "envoyfilter" ? result.manifest : "") as {
      kind: string;
      metadata: { namespace: string };
    };
    expect(doc.kind).toBe("EnvoyFilter");
    expect(doc.metadata.namespace).toBe("mesh-root");
  });

  test("--format xds gives the filters per place", async () => {
    const result = (await TstatsRender.run(["--format", "xds", "--tcp-reporting-seconds", "7", "--json"], {
      root: CLI_ROOT,
    })) as TstatsRenderResult;
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

describe("meshctl tstats build", () => {
  test.skipIf(!clang)(
    "compiles the native module into --out and lists it with size and sha256",
    {
      timeout: 120_000,
    },
    async () => {
      const out = join(dir, "obj");
      const result = (await TstatsBuild.run(["--out", out, "--target", "native", "--json"], {
        root: CLI_ROOT,
      })) as TstatsBuildCommandResult;
      expect(result).toMatchObject({ outDir: out, target: "native" });
      expect(result.files).toHaveLength(1);
      const [file] = result.files;
      const bytes = await readFile(join(out, "libtstats.so"));
      expect(file).toEqual({
        kind: "native",
        path: join(out, "libtstats.so"),
        bytes: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
      // An ELF shared object.
      expect(bytes.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    },
  );

  test("a missing compiler is an environment error naming what to install", async () => {
    const saved = process.env.CLANG;
    process.env.CLANG = join(dir, "no-such-clang");
    try {
      const { exit, error } = await runFailing(TstatsBuild, [
        "--out",
        join(dir, "obj"),
        "--target",
        "native",
      ]);
      expect(exit).toBe(3);
      expect(error).toMatchObject({ code: "TSTATS_MODULE_BUILD_FAILED", kind: "environment" });
      expect(error.message).toContain("no-such-clang not found");
    } finally {
      if (saved === undefined) delete process.env.CLANG;
      else process.env.CLANG = saved;
    }
  });
});

describe("meshctl enable|disable tstats", () => {
  test("--module picks native (default), wasm or istio; disable keeps it", async () => {
    await EnableTstats.run(["--config-dir", dir, "--json"], { root: CLI_ROOT });
    expect(await readTstatsSettings(dir)).toMatchObject({ enabled: true, module: "native" });
    const wasm = await EnableTstats.run(
      ["--config-dir", dir, "--module", "wasm", "--module-path", "/opt/mesh/tstats.wasm", "--json"],
      { root: CLI_ROOT },
    );
    expect(wasm).toMatchObject({ settings: { module: "wasm", modulePath: "/opt/mesh/tstats.wasm" } });
    await DisableTstats.run(["--config-dir", dir, "--json"], { root: CLI_ROOT });
    expect(await readTstatsSettings(dir)).toMatchObject({
      enabled: false,
      module: "wasm",
      modulePath: "/opt/mesh/tstats.wasm",
    });
    const status = await tstatsFeatureStatus(dir);
    expect(status.details).toMatchObject({ module: "wasm" });
    const badModule = await runFailing(EnableTstats, ["--config-dir", dir, "--module", "ebpf"]);
    expect(badModule.exit).toBe(2);
    expect(badModule.error.message).toMatch(/--module=ebpf to be one of: native, wasm, istio/);
    const relative = await runFailing(EnableTstats, [
      "--config-dir",
      dir,
      "--module-path",
      "relative/libtstats.so",
    ]);
    expect(relative).toMatchObject({ exit: 2, error: { code: "TSTATS_SETTINGS_INVALID" } });
  });

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
