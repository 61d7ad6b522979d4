import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { findProgram, isMeshctlError, runCommand } from "@meshctl/core";
import { isRequired } from "@meshctl/core/testing";
import { beforeAll, describe, expect, test } from "vitest";
import { benchPackageDir } from "./pod-process.js";
import { checkLabPrerequisites, LAB_AGENT_SCRIPT, runLab } from "./runner.js";
import { ENVOY_SHM_DIR } from "./sidecar.js";

const isRoot = process.getuid?.() === 0;
const envoy = await findProgram("envoy");
const envoyOnPath = Boolean(envoy);
// CI sets MESHCTL_REQUIRE=envoy: there a missing Envoy fails the run instead of skipping it.
const envoyRequired = isRequired("envoy");
const reason = !isRoot
  ? "the lab needs root"
  : !envoyOnPath && !envoyRequired
    ? "no envoy binary on PATH: the Envoy sidecar path is untested here"
    : "";
if (reason) console.log(`skipped Envoy sidecar lab test: ${reason}`);

/** Envoy's hot-restart shared-memory files on the machine, whoever made them. */
async function envoyShmFiles(): Promise<string[]> {
  return (await readdir(ENVOY_SHM_DIR)).filter((f) => f.startsWith("envoy_shared_memory_"));
}

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

  test("a short run meshes both pods with Envoy, measures, and leaves no Envoy shared memory", {
    timeout: 120_000,
  }, async () => {
    if (!envoy) throw new Error(`MESHCTL_REQUIRE=${process.env.MESHCTL_REQUIRE} requires envoy: not on PATH`);
    const before = new Set(await envoyShmFiles());
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
    // Two Envoys ran (client and server sidecar); with hot restart on, each left a file.
    expect((await envoyShmFiles()).filter((f) => !before.has(f))).toEqual([]);
  });
});
