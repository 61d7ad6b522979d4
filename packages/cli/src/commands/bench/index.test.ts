import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { findProgram } from "@meshctl/core";
import { describe, expect, test } from "vitest";
import { runMeshctl } from "../../../test/helpers.js";

const isRoot = process.getuid?.() === 0;
const haproxy = await findProgram("haproxy");
const envoy = await findProgram("envoy");
const built = existsSync(fileURLToPath(new URL("../../../dist/index.js", import.meta.url)));
const labReason = !built
  ? "the CLI is not built"
  : !isRoot
    ? "the lab needs root"
    : !haproxy
      ? "haproxy is not installed"
      : "";
if (labReason) console.log(`skipped meshctl bench lab run: ${labReason}`);

async function mclNamespaces(): Promise<string[]> {
  const entries = await readdir("/run/netns").catch(() => [] as string[]);
  return entries.filter((e) => e.startsWith("mcl-"));
}

describe.skipIf(!built)("meshctl bench (the lab) through the built binary", () => {
  test("an unknown scenario is a usage error naming the valid ones", async () => {
    const { code, stdout } = await runMeshctl(["bench", "--scenarios", "direct,warp", "--json"]);
    expect(code).toBe(2);
    const { error } = JSON.parse(stdout) as { error: { code: string; suggestions: string[] } };
    expect(error.code).toBe("LAB_OPTION_INVALID");
    expect(error.suggestions.join(" ")).toContain("sidecar-ebpf");
  });

  test("--sidecar accepts only auto, envoy and haproxy", async () => {
    const { code, stdout, stderr } = await runMeshctl(["bench", "--sidecar", "nginx", "--json"]);
    expect(code).toBe(2);
    expect(`${stdout}${stderr}`).toMatch(/auto, envoy, haproxy/);
  });

  test.skipIf(!isRoot || Boolean(envoy))(
    "--sidecar envoy without an envoy binary names the missing program",
    { timeout: 30_000 },
    async () => {
      const { code, stdout } = await runMeshctl([
        "bench",
        "--sidecar",
        "envoy",
        "--scenarios",
        "sidecar",
        "--json",
      ]);
      expect(code).not.toBe(0);
      const { error } = JSON.parse(stdout) as { error: { code: string; details: { missing: string[] } } };
      expect(error.code).toBe("LAB_MISSING_PROGRAM");
      expect(error.details.missing).toEqual(["envoy"]);
    },
  );

  test.skipIf(Boolean(labReason))("--cleanup --json reports what it removed", async () => {
    const { code, stdout } = await runMeshctl(["bench", "--cleanup", "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      kind: "cleanup",
      removed: expect.any(Array),
      active: expect.any(Array),
    });
  });

  test.skipIf(Boolean(labReason))(
    "a short lab run prints the versioned JSON result and leaves nothing behind",
    { timeout: 90_000 },
    async () => {
      const before = await mclNamespaces();
      const args = [
        "bench",
        "--scenarios",
        "direct,sidecar",
        "--duration",
        "1",
        "--warmup",
        "0.5",
        "--rounds",
        "1",
        "--qps",
        "200",
        "--json",
      ];
      const { code, stdout, stderr } = await runMeshctl(args, {}, 80_000);
      expect(code, stderr).toBe(0);
      const result = JSON.parse(stdout) as {
        kind: string;
        schema: string;
        summaries: { scenario: string }[];
        comparisons: { id: string }[];
      };
      expect(result.kind).toBe("lab");
      expect(result.schema).toBe("meshctl.bench.lab/v1");
      expect(result.summaries.map((s) => s.scenario)).toEqual(["direct", "sidecar"]);
      expect(result.comparisons.map((c) => c.id)).toContain("sidecar-overhead");
      expect(await mclNamespaces()).toEqual(before);
    },
  );
});
