/**
 * The README's way to run the CLI must pipe cleanly: `npx meshctl diagnose --json | jq` broke
 * when the documented form was `npm run meshctl --`, whose banner npm prints on stdout (issue 17).
 * This runs the form the README documents, from the repository root, and parses its stdout.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { CLI_BIN, CLI_ROOT } from "../test/helpers.js";

const REPO = join(CLI_ROOT, "..", "..");
const built = existsSync(CLI_BIN) && existsSync(join(CLI_ROOT, "dist", "index.js"));
const linked = existsSync(join(REPO, "node_modules", ".bin", "meshctl"));

function sh(
  command: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { cwd: REPO, timeout: 90_000, maxBuffer: 16 * 2 ** 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The README's documented `diagnose --json` command line, as words, without the pipe. */
function documentedDiagnoseJson(): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const line = readme.split("\n").find((l) => /meshctl\b.*\bdiagnose --json/.test(l));
  if (!line) throw new Error("README.md documents no `meshctl ... diagnose --json` command");
  return (line.split("|")[0] as string).replace(/#.*$/, "").trim().split(/\s+/);
}

describe.skipIf(!built || !linked)("the README's CLI invocation", () => {
  test("is `npx meshctl`, and its --json stdout is one JSON document", async () => {
    const words = documentedDiagnoseJson();
    expect(words.slice(0, 2)).toEqual(["npx", "meshctl"]);
    const r = await sh(words[0] as string, words.slice(1));
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { schemaVersion: number };
    expect(report.schemaVersion).toBe(1);
  }, 120_000);

  test("`npm run -s meshctl --` (the silent form the README names) is clean too", async () => {
    const r = await sh("npm", ["run", "-s", "meshctl", "--", "vpp", "config", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: "profile" });
  }, 60_000);
});
