import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findProgram, isMeshctlError, runCommand } from "@meshctl/core";
import { isRequired } from "@meshctl/core/testing";
import { beforeAll, describe, expect, test } from "vitest";
import { LAB_AGENT_SCRIPT } from "./agent-protocol.js";
import { checkLabPrerequisites, resolveLabOptions, runLab } from "./index.js";
import { labPackageDir } from "./preflight.js";
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

const pkgDir = labPackageDir();
const agent = join(pkgDir, "dist", LAB_AGENT_SCRIPT);

describe.skipIf(!isRoot)("lab sidecar selection (preflight)", () => {
  test("the default sidecar is Envoy; without an envoy binary the error names it and how to install it", {
    timeout: 30_000,
  }, async () => {
    expect(resolveLabOptions({}).sidecar).toBe("envoy");
    // A PATH holding every program the lab drives except envoy.
    const bin = await mkdtemp(join(tmpdir(), "mcl-test-path-"));
    const path = process.env.PATH;
    try {
      for (const p of ["ip", "iptables-restore", "nsenter", "setpriv", "ss", "haproxy"]) {
        const found = await findProgram(p);
        if (found) await symlink(found, join(bin, p));
      }
      process.env.PATH = bin;
      const error = await checkLabPrerequisites({ sidecar: "envoy", scenarios: ["sidecar"] }).catch(
        (e: unknown) => e,
      );
      expect(isMeshctlError(error) && error.code).toBe("LAB_MISSING_PROGRAM");
      expect(isMeshctlError(error) && error.details).toMatchObject({ missing: ["envoy"] });
      expect(isMeshctlError(error) && error.suggestions.join(" ")).toMatch(/install-envoy\.sh/);
      // Something called envoy that is not Envoy is refused, naming it.
      await writeFile(join(bin, "envoy"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
      const notEnvoy = await checkLabPrerequisites({ sidecar: "envoy", scenarios: ["sidecar"] }).catch(
        (e: unknown) => e,
      );
      expect(isMeshctlError(notEnvoy) && notEnvoy.code).toBe("LAB_SIDECAR_UNSUPPORTED");
      expect(isMeshctlError(notEnvoy) && notEnvoy.message).toMatch(/not a usable Envoy/);
      await rm(join(bin, "envoy"));
      // haproxy stays available on request.
      if (await findProgram("haproxy")) {
        expect((await checkLabPrerequisites({ sidecar: "haproxy", scenarios: ["sidecar"] })).sidecar).toBe(
          "haproxy",
        );
      }
    } finally {
      process.env.PATH = path;
      await rm(bin, { recursive: true, force: true });
    }
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
      rates: [100],
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
