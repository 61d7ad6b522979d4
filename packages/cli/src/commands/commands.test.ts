import { settings } from "@oclif/core";
import { runCommand } from "@oclif/test";
import { register } from "tsx/esm/api";
import { describe, expect, test } from "vitest";
import { CLI_ROOT } from "../../test/helpers.js";
import { COMMANDS } from "./index.js";

// Commands run through oclif's test helper, loaded from the built CLI (explicit discovery).
const load = { root: CLI_ROOT };
// Load the built dist/index.js (what users run), not the .ts sources oclif would try to transpile.
// Vitest runs workers with the "@meshctl/source" condition, so the built CLI's imports of sibling
// packages resolve to their .ts sources: let Node load those through tsx.
settings.enableAutoTranspile = false;
register();
const capture = {};

describe("commands through oclif", () => {
  test("every command has a summary and supports --json", () => {
    for (const [id, command] of Object.entries(COMMANDS)) {
      expect(command.summary, id).toBeTruthy();
      expect((command as { enableJsonFlag?: boolean }).enableJsonFlag, id).toBe(true);
    }
  });

  test("diagnose --json returns the report", async () => {
    const { stdout, error } = await runCommand(["diagnose", "--json"], load, capture);
    expect(error).toBeUndefined();
    const report = JSON.parse(stdout) as { schemaVersion: number; checks: { id: string }[] };
    expect(report.schemaVersion).toBe(1);
    expect(report.checks.map((c) => c.id)).toContain("kernel.version");
  });

  test("install without a usable kubeconfig is a usage error (exit 2) naming it", async () => {
    const { stdout, error } = await runCommand(
      ["install", "--kubeconfig", "/nonexistent/kubeconfig", "--json"],
      load,
      capture,
    );
    expect(error?.oclif?.exit).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: "KUBE_CONFIG_INVALID", kind: "usage" } });
  });

  test("an unknown feature is a usage error listing the features", async () => {
    const { stderr, error } = await runCommand(["enable", "warp-drive"], load, capture);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain('Unknown feature "warp-drive"');
    expect(stderr).toContain("ebpf, tstats, vpp");
  });

  test("status lists every feature", async () => {
    const { stdout } = await runCommand(["status", "--json"], load, capture);
    const result = JSON.parse(stdout) as { features: { feature: string; state: string }[] };
    expect(result.features.map((f) => f.feature)).toEqual(["ebpf", "tstats", "vpp"]);
  });
});
