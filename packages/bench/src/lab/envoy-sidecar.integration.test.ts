import { existsSync } from "node:fs";
import { join } from "node:path";
import { findProgram, isMeshctlError, runCommand } from "@meshctl/core";
import { beforeAll, describe, expect, test } from "vitest";
import { benchPackageDir } from "./pod-process.js";
import { checkLabPrerequisites, LAB_AGENT_SCRIPT, runLab } from "./runner.js";

const isRoot = process.getuid?.() === 0;
const envoy = await findProgram("envoy");
const envoyOnPath = Boolean(envoy);
const reason = !isRoot
  ? "the lab needs root"
  : !envoyOnPath
    ? "no envoy binary on PATH: the Envoy sidecar path is untested here"
    : "";
if (reason) console.log(`skipped Envoy sidecar lab test: ${reason}`);

const pkgDir = benchPackageDir();
const agent = join(pkgDir, "dist", LAB_AGENT_SCRIPT);

describe.skipIf(!isRoot)("lab sidecar selection (preflight)", () => {
  test.skipIf(envoyOnPath)(
    "asking for Envoy without an envoy binary names the missing program",
    { timeout: 30_000 },
    async () => {
      const error = await checkLabPrerequisites({ sidecar: "envoy", scenarios: ["sidecar"] }).catch(
        (e: unknown) => e,
      );
      expect(isMeshctlError(error) && error.code).toBe("LAB_MISSING_PROGRAM");
      expect(isMeshctlError(error) && error.details).toMatchObject({ missing: ["envoy"] });
    },
  );

  test("auto picks envoy exactly when it is on PATH", { timeout: 30_000 }, async () => {
    if (!existsSync(agent)) await runCommand("npx", ["tsup"], { cwd: pkgDir, timeoutMs: 180_000 });
    const pre = await checkLabPrerequisites({ sidecar: "auto", scenarios: ["sidecar"] });
    expect(pre.sidecar).toBe(envoyOnPath ? "envoy" : "haproxy");
  });
});

describe.skipIf(Boolean(reason))("mesh lab with the Envoy sidecar (real envoy, meshctl xDS)", () => {
  beforeAll(async () => {
    if (!existsSync(agent)) await runCommand("npx", ["tsup"], { cwd: pkgDir, timeoutMs: 180_000 });
  }, 200_000);

  test("a short run meshes both pods with Envoy and measures", { timeout: 120_000 }, async () => {
    const result = await runLab({
      scenarios: ["direct", "sidecar"],
      sidecar: "envoy",
      durationSeconds: 1,
      warmupSeconds: 0.5,
      rounds: 1,
      qps: 100,
      connections: 2,
    });
    expect(result.environment.sidecar).toMatch(/^envoy/);
    const sidecar = result.measurements.find((m) => m.scenario === "sidecar");
    expect(sidecar?.requests).toBeGreaterThan(0);
    expect(sidecar?.errors).toBe(0);
  });
});
